/*
 * test_correlation.c - the stateful rule kinds end to end, against a real
 * broker and Redis, with the default pack's hours run as seconds
 * (fixtures/rules_correlation.json): inactivity fires once and re-arms,
 * low water fires and a normal flow does not, a door left open at night
 * (wander) fires and a return in time does not, away suspends inactivity.
 *
 * Checking that something did NOT happen needs a window of time: those waits
 * are bounded by the rule's own duration plus a margin, never by "hoping".
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

static int group_setup(void **state)
{
	(void)state;
	t_mqtt_init();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	t_mqtt_done();
	return 0;
}

/* A hub of its own per test: each starts watching its subjects afresh. */
static int setup(void **state)
{
	static int n;
	char rules[600], reg[600], name[32];
	const char *ov[] = {reg, NULL};

	(void)state;
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_correlation.json", t_src_dir());
	snprintf(reg, sizeof(reg), "registry.file=%s/tests/integration/fixtures/registry_correlation.json",
		 t_src_dir());
	snprintf(name, sizeof(name), "corr%d", ++n);
	t_hub_config(&hub, name, "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), rules);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	return 0;
}

static void publish(const char *device, const char *type, const char *value)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"device\":\"%s\",\"type\":\"%s\",\"value\":%s}", device, type, value);
	t_publish_event(device, json);
}

/* How many alerts were ever opened for (sid, rule): documents whose rule matches. */
static long long opened(const char *sid, const char *rule)
{
	long long seq = t_redis_int("GET %s{%s}:seq", hub.prefix, sid), n = 0;

	for (long long i = 1; i <= seq; i++) {
		char *doc = t_redis_str("GET %s{%s}:alert:%lld", hub.prefix, sid, i);
		json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
		if (j && strcmp(json_string_value(json_object_get(j, "rule")), rule) == 0)
			n++;
		json_decref(j);
		free(doc);
	}
	return n;
}

/* The document of the open alert of (sid, rule), or NULL. */
static json_t *open_doc(const char *sid, const char *rule)
{
	char *id = t_redis_str("GET %s{%s}:open:%s", hub.prefix, sid, rule);
	char *doc = id ? t_redis_str("GET %s{%s}:alert:%s", hub.prefix, sid, strrchr(id, ':') + 1) : NULL;
	json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;

	free(doc);
	free(id);
	return j;
}

struct want {
	const char *sid, *rule;
	long long n;
	bool open;
};

static bool opened_n(void *arg)
{
	struct want *w = arg;
	json_t *d = open_doc(w->sid, w->rule);
	bool ok = opened(w->sid, w->rule) >= w->n && (d != NULL) == w->open;

	json_decref(d);
	return ok;
}

static void inactivity_fires_once_and_rearms(void **state)
{
	struct want w = {"c-inact", "inactive", 1, true};
	int64_t t0;
	json_t *d;

	(void)state;
	publish("ci-pir", "motion", "true");
	t0 = t_now_ms();
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
	/* Not before the 3 s of silence have passed. */
	assert_true(t_now_ms() - t0 >= 2900);
	d = open_doc("c-inact", "inactive");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "inactivity");
	assert_non_null(strstr(json_string_value(json_object_get(d, "summary")), "no sign of life for 3s"));
	assert_non_null(json_object_get(d, "reason"));
	json_decref(d);

	/* Once: the silence goes on, no second alert. */
	t_sleep_ms(4000);
	assert_int_equal(opened("c-inact", "inactive"), 1);

	/* Activity resolves it (activity_resumed) and re-arms the rule. */
	publish("ci-pir", "motion", "true");
	w = (struct want){"c-inact", "inactive", 1, false};
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
	json_t *tl = t_redis("LRANGE %s{c-inact}:alert:%lld:tl 0 -1", hub.prefix,
			     t_redis_int("GET %s{c-inact}:seq", hub.prefix));
	char *s = json_dumps(tl, 0);
	assert_non_null(strstr(s, "activity_resumed"));
	free(s);
	json_decref(tl);

	w = (struct want){"c-inact", "inactive", 2, true};
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
}

static void low_water_fires_and_normal_flow_does_not(void **state)
{
	struct want w = {"c-water", "water_low", 1, true};
	int64_t end;

	(void)state;
	/* A normal flow: 0.006 m3 every 0.5 s keeps 4 s over 0.01 m3 (after the 4 s warm-up too). */
	end = t_now_ms() + 6000;
	while (t_now_ms() < end) {
		publish("cw-wm", "water_meter", "0.006");
		t_sleep_ms(500);
	}
	assert_int_equal(opened("c-water", "water_low"), 0);
	/* The taps stay shut: within the window plus a bucket it fires. */
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
	json_t *d = open_doc("c-water", "water_low");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "aggregate");
	json_decref(d);
	/* Water again: resolved. */
	publish("cw-wm", "water_meter", "0.02");
	w = (struct want){"c-water", "water_low", 1, false};
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
}

static void wander_fires_and_return_in_time_does_not(void **state)
{
	struct want w = {"c-wander", "wander", 1, true};

	(void)state;
	/* Out and straight back in. */
	publish("cn-door", "door", "\"open\"");
	publish("cn-pir", "motion", "true");
	t_sleep_ms(3000);
	assert_int_equal(opened("c-wander", "wander"), 0);
	/* Out and not back. */
	publish("cn-door", "door", "\"open\"");
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
	json_t *d = open_doc("c-wander", "wander");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "sequence");
	json_decref(d);
}

static void away_suspends_inactivity(void **state)
{
	struct want w = {"c-away", "inactive", 1, true};

	(void)state;
	publish("ca-pir", "motion", "true");
	/* Leaves by the front door: no motion inside within 1 s means away. */
	publish("ca-door", "door", "\"open\"");
	t_sleep_ms(5000);
	assert_int_equal(opened("c-away", "inactive"), 0);
	/* Home again: the clock starts from the return. */
	publish("ca-pir", "motion", "true");
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
}

static void hospital_admission_suspends_and_discharge_rearms(void **state)
{
	struct want w = {"c-hosp", "inactive", 1, true};
	int64_t t0;

	(void)state;
	publish("ch-pir", "motion", "true");
	/* The case system reports the admission: the empty flat is not an alarm. */
	publish("ch-case", "service.hospital_admission", "true");
	t_sleep_ms(5000);
	assert_int_equal(opened("c-hosp", "inactive"), 0);
	/* Discharged: inactivity counts from the discharge and fires 3 s later. */
	publish("ch-case", "service.hospital_discharge", "true");
	t0 = t_now_ms();
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
	assert_true(t_now_ms() - t0 >= 2900);
}

static void silences_hold_what_they_name_and_nothing_more(void **state)
{
	struct want w = {"c-inact", "inactive", 1, true};
	struct want sos = {"c-quiet", "sos", 1, true};
	const char *on = "{\"subject\":\"c-inact\",\"for\":\"1h\",\"reason\":\"family visiting, sensors off\","
			 "\"by\":\"caseworker\"}";
	const char *q = "{\"subject\":\"c-quiet\",\"for\":\"1h\",\"reason\":\"renovation\"}";
	const char *off = "{\"subject\":\"c-inact\",\"for\":0,\"reason\":\"visit over\"}";
	const char *bad = "{\"subject\":\"c-inact\",\"rule\":\"no-such-rule\",\"for\":\"1h\",\"reason\":\"x\"}";

	(void)state;
	t_mqtt_publish("carehub/v1/silences", on, strlen(on), 1);
	t_mqtt_publish("carehub/v1/silences", q, strlen(q), 1);
	t_mqtt_publish("carehub/v1/silences", bad, strlen(bad), 1);
	publish("ci-pir", "motion", "true");
	/* A subject silence holds inactivity ... */
	t_sleep_ms(5000);
	assert_int_equal(opened("c-inact", "inactive"), 0);
	char *rec = t_redis_str("HGET %s{c-inact}:silences *", hub.prefix);
	assert_non_null(rec);
	assert_non_null(strstr(rec, "family visiting"));
	free(rec);
	/* ... but never a critical alarm. */
	publish("cq-sos", "sos", "true");
	assert_true(t_wait(opened_n, &sos, T_DEADLINE_MS));
	/* A silence naming an unknown rule is refused to the dead letters. */
	assert_true(t_redis_int("XLEN %sdeadletter", hub.prefix) >= 1);
	/* Lifted: the silence of the last 5 s counts, the alert comes at once. */
	t_mqtt_publish("carehub/v1/silences", off, strlen(off), 1);
	assert_true(t_wait(opened_n, &w, T_DEADLINE_MS));
}

static json_t *alert_n(const char *sid, int n)
{
	char *doc = t_redis_str("GET %s{%s}:alert:%d", hub.prefix, sid, n);
	json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;

	free(doc);
	return j;
}

struct state_wait {
	const char *sid;
	int n;
	const char *state;
};

static bool alert_state_is(void *arg)
{
	struct state_wait *w = arg;
	json_t *j = alert_n(w->sid, w->n);
	bool ok = j && strcmp(json_string_value(json_object_get(j, "state")), w->state) == 0;

	json_decref(j);
	return ok;
}

static void people_acknowledge_and_resolve(void **state)
{
	struct want sos = {"c-quiet", "sos", 1, true};
	struct state_wait acked = {"c-quiet", 1, "acknowledged"}, resolved = {"c-quiet", 1, "resolved"};
	const char *ack = "{\"alert\":\"c-quiet:1\",\"action\":\"ack\",\"by\":\"centre operator 7\"}";
	const char *res = "{\"alert\":\"c-quiet:1\",\"action\":\"resolve\",\"by\":\"neighbour zhang\","
			  "\"outcome\":\"false_alarm\",\"note\":\"pressed by mistake\"}";
	const char *no_outcome = "{\"alert\":\"c-quiet:1\",\"action\":\"resolve\",\"by\":\"x\"}";
	const char *unknown = "{\"alert\":\"c-quiet:99\",\"action\":\"ack\",\"by\":\"x\"}";
	json_t *d;

	(void)state;
	publish("cq-sos", "sos", "true");
	assert_true(t_wait(opened_n, &sos, T_DEADLINE_MS));
	t_mqtt_publish("carehub/v1/acks", ack, strlen(ack), 1);
	assert_true(t_wait(alert_state_is, &acked, T_DEADLINE_MS));
	d = alert_n("c-quiet", 1);
	assert_string_equal(json_string_value(json_object_get(d, "acknowledged_by")), "centre operator 7");
	json_decref(d);

	t_mqtt_publish("carehub/v1/acks", no_outcome, strlen(no_outcome), 1);
	t_mqtt_publish("carehub/v1/acks", unknown, strlen(unknown), 1);
	t_mqtt_publish("carehub/v1/acks", res, strlen(res), 1);
	assert_true(t_wait(alert_state_is, &resolved, T_DEADLINE_MS));
	d = alert_n("c-quiet", 1);
	assert_string_equal(json_string_value(json_object_get(d, "outcome")), "false_alarm");
	assert_string_equal(json_string_value(json_object_get(d, "resolved_by")), "neighbour zhang");
	/* The note is kept exactly as sent (issue 12 item 1), beside the outcome. */
	assert_string_equal(json_string_value(json_object_get(d, "note")), "pressed by mistake");
	/* A name typed on MQTT is not an account: only the API's own topic may say who signed in. */
	assert_null(json_object_get(d, "resolved_role"));
	json_decref(d);
	json_t *tl = t_redis("LRANGE %s{c-quiet}:alert:1:tl 0 -1", hub.prefix);
	char *s = json_dumps(tl, 0);
	assert_non_null(strstr(s, "centre operator 7"));
	assert_non_null(strstr(s, "pressed by mistake"));
	free(s);
	json_decref(tl);
	/* Both bad acks went to the dead letters. */
	assert_true(t_redis_int("XLEN %sdeadletter", hub.prefix) >= 2);

	/* The engine knows it is over: the next press is a new alert, not a repeat. */
	publish("cq-sos", "sos", "true");
	sos.n = 2;
	assert_true(t_wait(opened_n, &sos, T_DEADLINE_MS));
	/* A late resolve of the first alert changes nothing about the second. */
	t_mqtt_publish("carehub/v1/acks", res, strlen(res), 1);
	t_sleep_ms(500);
	d = alert_n("c-quiet", 2);
	assert_string_equal(json_string_value(json_object_get(d, "state")), "open");
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(inactivity_fires_once_and_rearms, setup, teardown),
		cmocka_unit_test_setup_teardown(low_water_fires_and_normal_flow_does_not, setup, teardown),
		cmocka_unit_test_setup_teardown(wander_fires_and_return_in_time_does_not, setup, teardown),
		cmocka_unit_test_setup_teardown(away_suspends_inactivity, setup, teardown),
		cmocka_unit_test_setup_teardown(hospital_admission_suspends_and_discharge_rearms, setup, teardown),
		cmocka_unit_test_setup_teardown(silences_hold_what_they_name_and_nothing_more, setup, teardown),
		cmocka_unit_test_setup_teardown(people_acknowledge_and_resolve, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
