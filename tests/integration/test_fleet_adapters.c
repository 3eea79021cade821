/*
 * test_adapters.c - fleets speaking their bridge's own format through a real
 * broker: Zigbee2MQTT, Tasmota, Homie 5 and a generic vendor gateway become
 * canonical events (matched to registry devices by alias), a bridge repeating
 * its full state opens nothing new, and bad messages are dead-lettered.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;

static int setup(void **state)
{
	char rules[600];
	const char *ov[] = {
		"mqtt.adapters=["
		"{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\",\"base_topic\":\"zigbee2mqtt\"},"
		"{\"name\":\"tasmota\",\"kind\":\"tasmota\"},"
		"{\"name\":\"homie\",\"kind\":\"homie\"},"
		"{\"name\":\"gw\",\"kind\":\"generic\",\"topic\":\"vendor/+/up\",\"device\":{\"topic_level\":1},"
		"\"fields\":[{\"pointer\":\"/leak\",\"type\":\"water_leak\",\"transform\":{\"map\":{\"ON\":true,\"OFF\":false}}}]}"
		"]",
		NULL};

	(void)state;
	t_mqtt_init();
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_adapters.json", t_src_dir());
	t_hub_config(&hub, "adapters", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), rules);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

struct count_wait {
	const char *sid, *rule;
	long long count; /* 0: just open */
};

static long long alert_count(const char *sid, const char *rule)
{
	char *id = t_redis_str("GET %s{%s}:open:%s", hub.prefix, sid, rule);
	char *doc = id ? t_redis_str("GET %s{%s}:alert:%s", hub.prefix, sid, strrchr(id, ':') + 1) : NULL;
	json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
	long long c = j ? json_integer_value(json_object_get(j, "count")) : -1;

	json_decref(j);
	free(doc);
	free(id);
	return c;
}

static bool count_reached(void *arg)
{
	struct count_wait *w = arg;
	long long c = alert_count(w->sid, w->rule);
	return w->count ? c == w->count : c >= 1;
}

static void pub(const char *topic, const char *payload)
{
	t_mqtt_publish(topic, payload, strlen(payload), 1);
}

static void wait_alert(const char *sid, const char *rule, long long count)
{
	struct count_wait w = {sid, rule, count};
	if (!t_wait(count_reached, &w, T_DEADLINE_MS))
		fail_msg("alert %s/%s: count %lld, want %lld", sid, rule, alert_count(sid, rule), count);
}

static void zigbee2mqtt(void **state)
{
	(void)state;
	/* One message, two events: motion and a low battery; the friendly name has a slash. */
	pub("zigbee2mqtt/living room/pir", "{\"occupancy\":true,\"battery\":15,\"linkquality\":80}");
	wait_alert("s-001", "motion_seen", 1);
	wait_alert("s-001", "battery_low", 1);
	/* A door contact repeated with every battery report opens once (contact false = open). */
	pub("zigbee2mqtt/front door", "{\"contact\":false,\"battery\":90}");
	pub("zigbee2mqtt/front door", "{\"contact\":false,\"battery\":89}");
	pub("zigbee2mqtt/front door", "{\"contact\":false,\"battery\":88}");
	/* The SOS marker comes after the repeats: when it is in, so are they. */
	pub("zigbee2mqtt/0x00158d0001a2b3c4", "{\"action\":\"emergency\"}");
	wait_alert("s-001", "sos", 1);
	assert_int_equal(alert_count("s-001", "door_open"), 1);
	/* A real change: closed, then open again. */
	pub("zigbee2mqtt/front door", "{\"contact\":true,\"battery\":88}");
	pub("zigbee2mqtt/front door", "{\"contact\":false,\"battery\":88}");
	wait_alert("s-001", "door_open", 2);
	/* Availability. */
	pub("zigbee2mqtt/front door/availability", "{\"state\":\"offline\"}");
	wait_alert("s-001", "offline", 1);
}

static void tasmota_homie_generic(void **state)
{
	(void)state;
	pub("tele/zbbridge/SENSOR", "{\"ZbReceived\":{\"0x5A1C\":{\"Device\":\"0x5A1C\",\"Name\":\"kitchen_smoke\","
				    "\"Fire\":1,\"Endpoint\":1,\"LinkQuality\":70}}}");
	wait_alert("s-001", "smoke", 1);
	pub("homie/5/hallway-sensor/sensor/motion", "true");
	wait_alert("s-002", "motion_seen", 1);
	pub("vendor/WM0099/up", "{\"leak\":\"ON\",\"rssi\":-70}");
	wait_alert("s-002", "water_leak", 1);
}

struct dl_wait {
	const char *reason;
};

static bool has_deadletter(void *arg)
{
	struct dl_wait *w = arg;
	json_t *all = t_redis("XRANGE %sdeadletter - +", hub.prefix);
	size_t i;
	json_t *e;
	bool found = false;

	json_array_foreach(all, i, e) {
		json_t *f = json_array_get(e, 1);
		for (size_t k = 0; k + 1 < json_array_size(f); k += 2) {
			if (strcmp(json_string_value(json_array_get(f, k)), "reason") == 0 &&
			    strcmp(json_string_value(json_array_get(f, k + 1)), w->reason) == 0)
				found = true;
		}
	}
	json_decref(all);
	return found;
}

static void bad_messages_dead_lettered(void **state)
{
	struct dl_wait bad = {"not_json"}, ghost = {"unknown_device"};

	(void)state;
	pub("zigbee2mqtt/front door", "{not json");
	pub("zigbee2mqtt/ghost", "{\"occupancy\":true}");
	assert_true(t_wait(has_deadletter, &bad, T_DEADLINE_MS));
	assert_true(t_wait(has_deadletter, &ghost, T_DEADLINE_MS));
	/* Still serving. */
	pub("vendor/WM0017/up", "{\"leak\":\"ON\"}");
	wait_alert("s-001", "water_leak", 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(zigbee2mqtt),
		cmocka_unit_test(tasmota_homie_generic),
		cmocka_unit_test(bad_messages_dead_lettered),
	};
	return cmocka_run_group_tests_name("fleet_adapters", tests, setup, teardown);
}
