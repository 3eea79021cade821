/*
 * test_hass.c - the Home Assistant discovery documents and configuration:
 * topics and ids Home Assistant accepts (a subject id with '.' or '@'), the
 * entity documents, the state document, what counts as a sign of life, and
 * every configuration error.  The publishing thread is tested against a real
 * broker in tests/integration/test_homeassistant.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hass.h"

static json_t *doc_of(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

static void conf_defaults_and_errors(void **state)
{
	struct ch_hass_conf c;
	char err[256];
	json_t *j;

	(void)state;
	assert_int_equal(ch_hass_conf_parse(NULL, &c, err, sizeof(err)), 0);
	assert_false(c.enabled);
	j = doc_of("{}");
	assert_int_equal(ch_hass_conf_parse(j, &c, err, sizeof(err)), 0);
	assert_true(c.enabled);
	assert_string_equal(c.discovery_prefix, "homeassistant");
	assert_string_equal(c.state_prefix, "carehub/v1/ha");
	assert_int_equal(c.interval_ms, 60000);
	json_decref(j);
	j = doc_of("{\"enabled\":false,\"discovery_prefix\":\"ha/site1\",\"interval\":\"5m\",\"name\":\"id\","
		   "\"subjects\":[\"s-001\"]}");
	assert_int_equal(ch_hass_conf_parse(j, &c, err, sizeof(err)), 0);
	assert_false(c.enabled);
	assert_true(c.by_id);
	assert_int_equal(c.interval_ms, 300000);
	assert_int_equal(json_array_size(c.subjects), 1);
	json_decref(j);

	static const char *const bad[][2] = {
		{"[]", "expected an object"},
		{"{\"enable\":true}", "unknown key"},
		{"{\"enabled\":1}", "enabled: expected true or false"},
		{"{\"discovery_prefix\":\"ha/#\"}", "discovery_prefix"},
		{"{\"state_prefix\":\"/x\"}", "state_prefix"},
		{"{\"subjects\":\"s-001\"}", "subjects"},
		{"{\"subjects\":[1]}", "subjects"},
		{"{\"interval\":\"0s\"}", "interval"},
		{"{\"interval\":\"often\"}", "interval"},
		{"{\"name\":\"nickname\"}", "name: expected"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = doc_of(bad[i][0]);
		assert_int_equal(ch_hass_conf_parse(j, &c, err, sizeof(err)), CH_ECONFIG);
		if (!strstr(err, bad[i][1]) || !strstr(err, "mqtt.homeassistant"))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i][0], err, bad[i][1]);
		json_decref(j);
	}
}

static void discovery_documents(void **state)
{
	struct ch_hass_conf c;
	struct ch_subject s = {.id = (char *)"bj.chaoyang@42", .name = (char *)"李奶奶"};
	char topic[256], err[64];
	json_t *d;

	(void)state;
	json_t *empty = json_object();

	assert_int_equal(ch_hass_conf_parse(empty, &c, err, sizeof(err)), 0);
	json_decref(empty);
	d = ch_hass_discovery(&c, &s, "attention", "carehub/v1/status/hub-1", topic, sizeof(topic));
	assert_non_null(d);
	/* Home Assistant's node ids take [a-zA-Z0-9_-]; the state topic keeps the real id. */
	assert_string_equal(topic, "homeassistant/binary_sensor/carehub_bj_chaoyang_42/attention/config");
	assert_string_equal(json_string_value(json_object_get(d, "unique_id")), "carehub_bj_chaoyang_42_attention");
	assert_string_equal(json_string_value(json_object_get(d, "state_topic")), "carehub/v1/ha/bj.chaoyang@42/state");
	assert_string_equal(json_string_value(json_object_get(d, "payload_on")), "ON");
	assert_string_equal(json_string_value(json_object_get(d, "device_class")), "problem");
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "device"), "name")), "李奶奶");
	assert_string_equal(json_string_value(json_object_get(d, "availability_topic")), "carehub/v1/status/hub-1");
	assert_non_null(json_object_get(d, "json_attributes_topic"));
	json_decref(d);
	d = ch_hass_discovery(&c, &s, "open_alerts", NULL, topic, sizeof(topic));
	assert_string_equal(topic, "homeassistant/sensor/carehub_bj_chaoyang_42/open_alerts/config");
	assert_string_equal(json_string_value(json_object_get(d, "state_class")), "measurement");
	assert_null(json_object_get(d, "availability_topic"));
	json_decref(d);
	c.by_id = true;
	d = ch_hass_discovery(&c, &s, "last_activity", NULL, topic, sizeof(topic));
	assert_string_equal(json_string_value(json_object_get(d, "device_class")), "timestamp");
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "device"), "name")), "bj.chaoyang@42");
	json_decref(d);
}

static void state_document(void **state)
{
	json_t *alerts = doc_of("[{\"id\":\"s-1:3\",\"rule\":\"smoke\",\"severity\":\"critical\",\"state\":\"acknowledged\","
				"\"summary\":\"kitchen smoke\",\"timeline\":[1,2]},"
				"{\"id\":\"s-1:2\",\"rule\":\"sos\",\"state\":\"resolved\"}]");
	json_t *st;

	(void)state;
	st = ch_hass_state(alerts, 1795824900000LL);
	assert_string_equal(json_string_value(json_object_get(st, "attention")), "ON");
	assert_int_equal(json_integer_value(json_object_get(st, "open_alerts")), 1);
	assert_string_equal(json_string_value(json_object_get(st, "last_activity")), "2026-11-28T00:15:00.000Z");
	assert_null(json_object_get(json_array_get(json_object_get(st, "alerts"), 0), "timeline"));
	json_decref(st);
	st = ch_hass_state(NULL, 0);
	assert_string_equal(json_string_value(json_object_get(st, "attention")), "OFF");
	assert_true(json_is_null(json_object_get(st, "last_activity")));
	json_decref(st);
	json_decref(alerts);
}

static struct ch_event event(const char *type, const char *value)
{
	struct ch_event ev;
	struct ch_event_limits lim = {65536, 16, 1000};
	enum ch_reject why;
	char text[256], err[128];

	snprintf(text, sizeof(text), "{\"device\":\"d\",\"type\":\"%s\",\"value\":%s}", type, value);
	if (ch_event_parse(text, strlen(text), &lim, 1795824900000LL, &ev, &why, err, sizeof(err)))
		fail_msg("%s: %s", text, err);
	return ev;
}

static void signs_of_life(void **state)
{
	static const char rules_text[] =
		"{\"rules\":[{\"id\":\"idle\",\"kind\":\"inactivity\",\"for\":\"8h\",\"severity\":\"high\",\"activity\":["
		"{\"type\":\"bed\"},{\"type\":\"water_meter\",\"where\":[[\"value\",\">\",0]]}]}]}";
	struct ch_ruleset *rules;
	char err[256];
	struct {
		const char *type, *value;
		bool with_rules, without;
	} cases[] = {
		{"motion", "true", false, true},  {"motion", "false", false, false}, {"door", "\"open\"", false, true},
		{"bed", "false", true, true},	  {"water_meter", "0.004", true, true}, {"water_meter", "0", false, false},
		{"smoke", "true", false, false},  {"appliance", "true", false, true},
	};

	(void)state;
	if (ch_rules_parse("r.json", rules_text, strlen(rules_text), &rules, err, sizeof(err)))
		fail_msg("%s", err);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ch_event ev = event(cases[i].type, cases[i].value);
		if (ch_hass_is_activity(rules, &ev, NULL) != cases[i].with_rules ||
		    ch_hass_is_activity(NULL, &ev, NULL) != cases[i].without)
			fail_msg("%s %s: with rules %d, without %d", cases[i].type, cases[i].value,
				 ch_hass_is_activity(rules, &ev, NULL), ch_hass_is_activity(NULL, &ev, NULL));
		ch_event_clear(&ev);
	}
	ch_rules_free(rules);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conf_defaults_and_errors),
		cmocka_unit_test(discovery_documents),
		cmocka_unit_test(state_document),
		cmocka_unit_test(signs_of_life),
	};
	return cmocka_run_group_tests_name("hass", tests, NULL, NULL);
}
