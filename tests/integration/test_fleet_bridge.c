/*
 * test_fleet_bridge.c - a Zigbee2MQTT fleet learned from its bridge, through a
 * real broker, hubs sharing a subscription group, Redis and the HTTP API:
 *
 *  - the retained <base>/bridge/devices, published before the hub starts,
 *    reaches it although its other subscriptions are $share'd; the devices
 *    view lists the HEIMAN HS1EB the registry lacks, with a suggested entry;
 *    that entry goes into the registry, `carehubctl reload` applies it, and
 *    the button's `action: single` opens an SOS alert;
 *  - what maps to nothing is counted in /metrics, logged, shown in the
 *    devices view (carehubctl devices --unmapped); an unreadable message from
 *    a registered smoke alarm is a warning; a bad value is dead-lettered while
 *    the rest of its message converts;
 *  - adapters change on SIGHUP while presses keep arriving: subscriptions
 *    follow (a new Tasmota RF bridge's code opens a door alert), and not one
 *    press is lost.
 */
#include "harness.h"
#include "ch.h"

#include <mosquitto.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define TOKEN "test-fleet-token"
#define PRESSES 120

static struct t_hub hub;
static int port;
static char out[262144];
static char base[64], rf_prefix[64], registry_path[700];

/* A bridge/devices document as Zigbee2MQTT publishes it (trimmed): coordinator, HEIMAN HS1EB, an Aqara door. */
static const char bridge_devices[] =
	"[{\"ieee_address\":\"0x00124b0000000001\",\"type\":\"Coordinator\",\"friendly_name\":\"Coordinator\","
	"\"supported\":true,\"definition\":null},"
	"{\"ieee_address\":\"0x00124b0022aabbcc\",\"type\":\"EndDevice\",\"network_address\":4321,\"supported\":true,"
	"\"friendly_name\":\"hall button\",\"model_id\":\"SOS-EM\",\"manufacturer\":\"HEIMAN\",\"power_source\":\"Battery\","
	"\"interview_completed\":true,\"definition\":{\"model\":\"HS1EB/HS1EB-E\",\"vendor\":\"Heiman\","
	"\"description\":\"Smart emergency button\",\"supports_ota\":false,\"exposes\":["
	"{\"type\":\"numeric\",\"name\":\"battery\",\"property\":\"battery\",\"access\":5,\"unit\":\"%\","
	"\"category\":\"diagnostic\"},{\"type\":\"enum\",\"name\":\"action\",\"property\":\"action\",\"access\":1,"
	"\"values\":[\"off\",\"single\",\"double\",\"hold\"]},{\"type\":\"numeric\",\"name\":\"linkquality\","
	"\"property\":\"linkquality\",\"access\":1,\"category\":\"diagnostic\"}]}},"
	"{\"ieee_address\":\"0x00158d000aa11223\",\"type\":\"EndDevice\",\"friendly_name\":\"front door\","
	"\"definition\":{\"model\":\"MCCGQ11LM\",\"vendor\":\"Aqara\",\"description\":\"Door and window sensor\","
	"\"exposes\":[{\"type\":\"binary\",\"property\":\"contact\",\"access\":1}]}}]";

/* Publishes a retained message with a client of our own (the harness publishes plain ones). */
static void retain(const char *topic, const char *payload)
{
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);
	int mid;

	assert_non_null(m);
	assert_int_equal(mosquitto_connect(m, "127.0.0.1", t_mqtt_port(), 10), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_publish(m, &mid, topic, (int)strlen(payload), payload, 1, true), MOSQ_ERR_SUCCESS);
	/* Until the PUBACK is in: the loop has nothing left to write or to wait for. */
	for (int i = 0; i < 200 && (mosquitto_want_write(m) || i < 20); i++)
		mosquitto_loop(m, 10, 1);
	mosquitto_disconnect(m);
	mosquitto_loop(m, 10, 1);
	mosquitto_destroy(m);
}

static long call(const char *body, const char *path)
{
	char url[256];
	const char *headers[] = {"Authorization: Bearer " TOKEN, "Content-Type: application/json", NULL};

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	return t_http_call(url, headers, body, out, sizeof(out));
}

static int ctl(const char *args)
{
	char cmd[2048];
	size_t n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "CAREHUB_API_TOKEN='%s' CAREHUB_URL='http://127.0.0.1:%d' '%s/carehubctl' %s 2>&1", TOKEN,
		 port, t_build_dir(), args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Rewrites the hub's config with these adapters (a JSON array text). */
static void set_adapters(const char *adapters)
{
	json_t *cfg = json_load_file(hub.config, 0, NULL), *ad = json_loads(adapters, 0, NULL);

	assert_non_null(cfg);
	assert_non_null(ad);
	json_object_set_new(json_object_get(cfg, "mqtt"), "adapters", ad);
	assert_int_equal(json_dump_file(cfg, hub.config, JSON_INDENT(1)), 0);
	json_decref(cfg);
}

/* zb (Zigbee2MQTT), optionally the Tasmota RF bridge "rf" and a Homie adapter, as a JSON array text. */
static char *adapters_text(bool with_rf, bool with_homie, char *buf, size_t len)
{
	size_t n = 0;

	ch_fmt_append(buf, len, &n, "[{\"name\":\"zb\",\"kind\":\"zigbee2mqtt\",\"base_topic\":\"%s\"%s}", base,
		      with_rf ? ",\"occupancy_hold\":\"5m\"" : "");
	if (with_rf)
		ch_fmt_append(buf, len, &n,
			      ",{\"name\":\"rf\",\"kind\":\"tasmota\",\"prefix\":\"%s\",\"stat_prefix\":\"%s-stat\","
			      "\"rf_codes\":{\"E8329E\":\"front door\"}}",
			      rf_prefix, rf_prefix);
	if (with_homie)
		ch_fmt_append(buf, len, &n, ",{\"name\":\"homie\",\"kind\":\"homie\",\"base_topic\":\"%s-homie\"}", base);
	ch_fmt_append(buf, len, &n, "]");
	return buf;
}

static int setup(void **state)
{
	char ov_port[64], rules[600], reg_ov[800], fixture[700], buf[2048];
	/* Small batches: the engine takes a bounded number of alert changes per subject per batch,
	 * and this test counts every press of one button. */
	const char *ov[] = {"http.enabled=true", ov_port, "http.token_env=CH_TEST_API_TOKEN", "mqtt.shared_group=fleet",
			    reg_ov, "limits.batch_size=4", NULL};
	json_t *reg;

	(void)state;
	setenv("CH_TEST_API_TOKEN", TOKEN, 1);
	snprintf(base, sizeof(base), "zbt%d", (int)getpid());
	snprintf(rf_prefix, sizeof(rf_prefix), "rft%d", (int)getpid());
	t_mqtt_init();
	port = t_free_port();
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", port);
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_adapters.json", t_src_dir());
	t_hub_config(&hub, "fleet-bridge", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), rules);
	snprintf(fixture, sizeof(fixture), "%s/tests/integration/fixtures/registry.json", t_src_dir());
	snprintf(registry_path, sizeof(registry_path), "%s/registry.json", hub.dir);
	reg = json_load_file(fixture, 0, NULL);
	assert_non_null(reg);
	assert_int_equal(json_dump_file(reg, registry_path, JSON_INDENT(1)), 0);
	json_decref(reg);
	snprintf(reg_ov, sizeof(reg_ov), "registry.file=%s", registry_path);
	set_adapters(adapters_text(false, true, buf, sizeof(buf)));
	/* The bridge published its device list before the hub came: it is retained. */
	snprintf(fixture, sizeof(fixture), "%s/bridge/devices", base);
	retain(fixture, bridge_devices);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	char topic[128];

	(void)state;
	t_hub_stop(&hub);
	snprintf(topic, sizeof(topic), "%s/bridge/devices", base);
	retain(topic, ""); /* the broker forgets it */
	t_mqtt_done();
	return 0;
}

static void pub(const char *topic, const char *payload)
{
	t_mqtt_publish(topic, payload, strlen(payload), 1);
}

/* Publishes payload on <base>/<device>. */
static void pub_dev(const char *device, const char *payload)
{
	char topic[256];

	snprintf(topic, sizeof(topic), "%s/%s", base, device);
	pub(topic, payload);
}

/* ---- waiting on the hub ---- */

static long long alert_count(const char *sid, const char *rule)
{
	char *id = t_redis_str("GET %s{%s}:open:%s", hub.prefix, sid, rule);
	char *doc = id ? t_redis_str("GET %s{%s}:alert:%s", hub.prefix, sid, strrchr(id, ':') + 1) : NULL;
	json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
	long long c = j ? json_integer_value(json_object_get(j, "count")) : 0;

	json_decref(j);
	free(doc);
	free(id);
	return c;
}

struct count_wait {
	const char *sid, *rule;
	long long count;
};

static bool count_reached(void *arg)
{
	struct count_wait *w = arg;
	return alert_count(w->sid, w->rule) >= w->count;
}

static void wait_alert(const char *sid, const char *rule, long long count)
{
	struct count_wait w = {sid, rule, count};
	if (!t_wait(count_reached, &w, T_DEADLINE_MS))
		fail_msg("alert %s/%s: count %lld, want %lld", sid, rule, alert_count(sid, rule), count);
}

/* The devices view's entry of list ("missing" by name, "unmapped" by device and field), a new reference. */
static json_t *view_entry(const char *list, const char *name, const char *field)
{
	json_t *j, *e, *hit = NULL;
	size_t i;

	if (call(NULL, "/v1/devices?unmapped=1") != 200 || !(j = json_loads(out, 0, NULL)))
		return NULL;
	json_array_foreach(json_object_get(j, list), i, e) {
		const char *n = json_string_value(json_object_get(e, field ? "device" : "name"));
		const char *f = json_string_value(json_object_get(e, "field"));
		if (n && strcmp(n, name) == 0 && (!field || (f && strcmp(f, field) == 0)))
			hit = json_incref(e);
	}
	json_decref(j);
	return hit;
}

struct entry_wait {
	const char *list, *name, *field;
};

static bool entry_listed(void *arg)
{
	struct entry_wait *w = arg;
	json_t *e = view_entry(w->list, w->name, w->field);

	json_decref(e);
	return e != NULL;
}

static bool log_says(void *arg)
{
	return t_hub_log_contains(&hub, arg);
}

/* ---- the tests ---- */

static void bridge_devices_become_a_registry_and_an_hs1eb_single_press_an_alert(void **state)
{
	struct entry_wait w = {"missing", "hall button", NULL};
	json_t *e, *reg, *dev, *subj;

	(void)state;
	/* The retained list came through the unshared subscription: the button is missing from the registry. */
	assert_true(t_wait(entry_listed, &w, T_DEADLINE_MS));
	e = view_entry("missing", "hall button", NULL);
	assert_string_equal(json_string_value(json_object_get(e, "model")), "HS1EB/HS1EB-E");
	assert_string_equal(json_string_value(json_object_get(e, "ieee")), "0x00124b0022aabbcc");
	dev = json_deep_copy(json_object_get(e, "suggest"));
	json_decref(e);
	assert_string_equal(json_string_value(json_object_get(dev, "type")), "sos");
	/* The door is registered by its friendly name already: not missing. */
	e = view_entry("missing", "front door", NULL);
	assert_null(e);
	assert_int_equal(ctl("devices --unmapped"), 0);
	assert_non_null(strstr(out, "hall button"));
	assert_non_null(strstr(out, "suggested registry entry: {\"id\":\"hall-button\",\"type\":\"sos\""));

	/* The integrator takes the suggestion into the registry and reloads. */
	json_object_set_new(dev, "location", json_string("hallway"));
	subj = json_pack("{s:s, s:s, s:s, s:s, s:[o], s:[{s:s, s:s, s:s}]}", "id", "s-100", "name", "赵大爷", "address",
			 "上海市宝山区测试路9号", "timezone", "Asia/Shanghai", "devices", dev, "contacts", "name", "赵小妹",
			 "phone", "+8613800000100", "role", "family");
	reg = json_load_file(registry_path, 0, NULL);
	json_array_append_new(json_object_get(reg, "subjects"), subj);
	assert_int_equal(json_dump_file(reg, registry_path, JSON_INDENT(1)), 0);
	json_decref(reg);
	assert_int_equal(ctl("reload"), 0);
	assert_non_null(strstr(out, "reloaded"));

	/* HEIMAN HS1EB says only "single": the registry says it is an SOS button. */
	pub_dev("hall button", "{\"action\":\"single\",\"battery\":100,\"linkquality\":102}");
	wait_alert("s-100", "sos", 1);
	e = view_entry("missing", "hall button", NULL);
	assert_null(e);
}

static void unmapped_fields_are_counted_logged_and_shown(void **state)
{
	struct entry_wait w = {"unmapped", "front door", "trigger_count"};
	json_t *e, *all;
	bool dl = false;
	size_t i;

	(void)state;
	pub_dev("front door", "{\"contact\":true,\"trigger_count\":3,\"linkquality\":90}");
	assert_true(t_wait(entry_listed, &w, T_DEADLINE_MS));
	e = view_entry("unmapped", "front door", "trigger_count");
	assert_string_equal(json_string_value(json_object_get(e, "registered")), "door-1");
	assert_string_equal(json_string_value(json_object_get(e, "model")), "MCCGQ11LM");
	assert_string_equal(json_string_value(json_object_get(e, "sample")), "3");
	assert_true(json_integer_value(json_object_get(e, "count")) >= 1);
	json_decref(e);
	assert_null(view_entry("unmapped", "front door", "linkquality")); /* ignored, not unmapped */
	assert_int_equal(call(NULL, "/metrics"), 200);
	assert_non_null(strstr(out, "carehub_adapter_unmapped_total{adapter=\"zb\",field=\"trigger_count\"} "));
	assert_true(t_hub_log_contains(&hub, "front door sends trigger_count = \"3\", which maps to nothing"));
	assert_int_equal(ctl("devices --unmapped"), 0);
	assert_non_null(strstr(out, "trigger_count"));
	assert_non_null(strstr(out, "registry device door-1 (MCCGQ11LM)"));

	/* A registered smoke alarm whose message the hub cannot read at all: a warning. */
	pub_dev("kitchen_smoke", "{\"alarm_state\":\"alarm\"}");
	assert_true(t_wait(log_says, (void *)"it may be an alarm the hub cannot read", T_DEADLINE_MS));
	assert_true(t_hub_log_contains(&hub, "kitchen_smoke (registered as smoke)"));

	/* A value of the wrong form: dead-lettered, and the reading beside it still counts. */
	pub_dev("living room/pir", "{\"contact\":\"yes\",\"battery\":15}");
	wait_alert("s-001", "battery_low", 1);
	for (int tries = 0; tries < 100 && !dl; tries++) {
		all = t_redis("XRANGE %sdeadletter - +", hub.prefix);
		json_array_foreach(all, i, e) {
			json_t *f = json_array_get(e, 1);
			for (size_t k = 0; k + 1 < json_array_size(f); k += 2)
				if (strcmp(json_string_value(json_array_get(f, k)), "detail") == 0 &&
				    strstr(json_string_value(json_array_get(f, k + 1)), "bad value for contact"))
					dl = true;
		}
		json_decref(all);
		if (!dl)
			t_sleep_ms(50);
	}
	assert_true(dl);
}

static void adapters_reload_live_and_no_press_is_lost(void **state)
{
	char buf[2048], topic[256], rf[256];
	long long before = alert_count("s-100", "sos");
	struct count_wait w = {"s-100", "sos", before + PRESSES};

	(void)state;
	snprintf(topic, sizeof(topic), "%s/hall button", base);
	for (int i = 0; i < PRESSES; i++) {
		/* Mid-stream: a new Tasmota RF bridge, Homie gone; then Homie back. */
		if (i == PRESSES / 3) {
			set_adapters(adapters_text(true, false, buf, sizeof(buf)));
			t_hub_signal(&hub, SIGHUP);
		} else if (i == 2 * PRESSES / 3) {
			set_adapters(adapters_text(true, true, buf, sizeof(buf)));
			t_hub_signal(&hub, SIGHUP);
		}
		pub(topic, "{\"action\":\"double\",\"battery\":100}");
	}
	if (!t_wait(count_reached, &w, T_DEADLINE_MS))
		fail_msg("%lld of %d presses arrived across the reloads", alert_count("s-100", "sos") - before, PRESSES);
	assert_int_equal(alert_count("s-100", "sos"), before + PRESSES); /* each once */
	assert_true(t_hub_log_count(&hub, "reloaded:") >= 3);
	snprintf(buf, sizeof(buf), "mqtt: subscribe $share/fleet/%s/#", rf_prefix);
	assert_true(t_hub_log_contains(&hub, buf));
	snprintf(buf, sizeof(buf), "mqtt: unsubscribe $share/fleet/%s-homie/#", base);
	assert_true(t_hub_log_contains(&hub, buf));

	/* The new bridge is live: a 433 MHz door contact's code opens the door alert. */
	long long doors = alert_count("s-001", "door_open");
	snprintf(rf, sizeof(rf), "%s/rfbridge/RESULT", rf_prefix);
	pub(rf, "{\"Time\":\"2026-11-28T08:00:00\",\"RfReceived\":{\"Sync\":14050,\"Low\":450,\"High\":1350,"
		"\"Data\":\"E8329E\",\"RfKey\":\"None\"}}");
	wait_alert("s-001", "door_open", doors + 1);

	/* A broken configuration: the API says why, the running one stays. */
	set_adapters("[{\"name\":\"zb\",\"kind\":\"zigbee\"}]");
	assert_int_equal(ctl("reload"), 1);
	assert_non_null(strstr(out, "HTTP 422"));
	assert_int_equal(call("{}", "/v1/reload"), 422);
	assert_non_null(strstr(out, "unknown kind \\\"zigbee\\\""));
	pub(topic, "{\"action\":\"hold\"}");
	w.count = before + PRESSES + 1;
	assert_true(t_wait(count_reached, &w, T_DEADLINE_MS));
	set_adapters(adapters_text(true, true, buf, sizeof(buf)));
	assert_int_equal(call("{}", "/v1/reload"), 200);
	assert_int_equal(call(NULL, "/v1/reload"), 405);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bridge_devices_become_a_registry_and_an_hs1eb_single_press_an_alert),
		cmocka_unit_test(unmapped_fields_are_counted_logged_and_shown),
		cmocka_unit_test(adapters_reload_live_and_no_press_is_lost),
	};
	return cmocka_run_group_tests_name("fleet_bridge", tests, setup, teardown);
}
