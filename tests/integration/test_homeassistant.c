/*
 * test_hass.c - Home Assistant MQTT discovery out, through a real broker: a
 * retained config per subject for "Needs attention", "Open alerts" and "Last
 * activity", named after the person and grouped as one device; the retained
 * state turns ON with an alert and OFF when it is resolved, and "Last
 * activity" follows a sign of life; a subject taken out of the selection
 * (a reload) loses its entities.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;
static char disc[64], state_prefix[96];

static void set_homeassistant(const char *subjects)
{
	json_t *cfg = json_load_file(hub.config, 0, NULL);
	json_t *ha = json_pack("{s:s, s:s, s:s}", "discovery_prefix", disc, "state_prefix", state_prefix, "interval", "1s");

	assert_non_null(cfg);
	if (subjects)
		json_object_set_new(ha, "subjects", json_loads(subjects, 0, NULL));
	json_object_set_new(json_object_get(cfg, "mqtt"), "homeassistant", ha);
	assert_int_equal(json_dump_file(cfg, hub.config, JSON_INDENT(1)), 0);
	json_decref(cfg);
}

static int setup(void **state)
{
	char filter[128];

	(void)state;
	snprintf(disc, sizeof(disc), "hat%d", (int)getpid());
	snprintf(state_prefix, sizeof(state_prefix), "carehub/v1/hat%d", (int)getpid());
	t_mqtt_init();
	snprintf(filter, sizeof(filter), "%s/#", disc);
	t_mqtt_subscribe(filter);
	snprintf(filter, sizeof(filter), "%s/#", state_prefix);
	t_mqtt_subscribe(filter);
	/* The default rule pack: its inactivity rules say what a sign of life is. */
	t_hub_config(&hub, "hass", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), NULL);
	set_homeassistant(NULL);
	t_hub_start(&hub, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

struct last_wait {
	char topic[256];
	const char *key;   /* NULL: any message */
	const char *value; /* the key's value as JSON text */
};

/* The last message on w->topic, parsed (new reference), when it satisfies w. */
static json_t *matching(struct last_wait *w)
{
	char *p = t_mqtt_last(w->topic);
	json_t *j = p && *p ? json_loads(p, 0, NULL) : NULL, *want;
	bool ok = j != NULL;

	free(p);
	if (ok && w->key) {
		want = json_loads(w->value, JSON_DECODE_ANY, NULL);
		ok = json_equal(json_object_get(j, w->key), want);
		json_decref(want);
	}
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool has_match(void *arg)
{
	json_t *j = matching(arg);

	json_decref(j);
	return j != NULL;
}

static json_t *wait_json(const char *topic, const char *key, const char *value)
{
	struct last_wait w = {"", key, value};

	snprintf(w.topic, sizeof(w.topic), "%s", topic);
	if (!t_wait(has_match, &w, T_DEADLINE_MS)) {
		char *p = t_mqtt_last(topic);
		fail_msg("%s: last %s, want %s = %s", topic, p ? p : "(nothing)", key ? key : "-", value ? value : "-");
	}
	return matching(&w);
}

static void discovery_configs_per_subject(void **state)
{
	char topic[256], want[256];
	json_t *j;

	(void)state;
	snprintf(topic, sizeof(topic), "%s/binary_sensor/carehub_s-001/attention/config", disc);
	j = wait_json(topic, NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "Needs attention");
	assert_string_equal(json_string_value(json_object_get(j, "device_class")), "problem");
	assert_string_equal(json_string_value(json_object_get(j, "unique_id")), "carehub_s-001_attention");
	snprintf(want, sizeof(want), "%s/s-001/state", state_prefix);
	assert_string_equal(json_string_value(json_object_get(j, "state_topic")), want);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "device"), "name")), "王秀英");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(j, "device"), "identifiers"), 0)),
			    "carehub_s-001");
	snprintf(want, sizeof(want), "carehub/v1/status/%s", hub.name);
	assert_string_equal(json_string_value(json_object_get(j, "availability_topic")), want);
	json_decref(j);
	snprintf(topic, sizeof(topic), "%s/sensor/carehub_s-001/open_alerts/config", disc);
	j = wait_json(topic, NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "value_template")), "{{ value_json.open_alerts }}");
	json_decref(j);
	snprintf(topic, sizeof(topic), "%s/sensor/carehub_s-002/last_activity/config", disc);
	j = wait_json(topic, NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "device_class")), "timestamp");
	json_decref(j);
	/* Nothing has happened yet. */
	snprintf(topic, sizeof(topic), "%s/s-002/state", state_prefix);
	j = wait_json(topic, "attention", "\"OFF\"");
	assert_int_equal(json_integer_value(json_object_get(j, "open_alerts")), 0);
	assert_true(json_is_null(json_object_get(j, "last_activity")));
	json_decref(j);
}

static void attention_follows_the_alert_and_activity_the_signs_of_life(void **state)
{
	char topic[256];
	json_t *j;
	const char *res = "{\"alert\":\"s-002:1\",\"action\":\"resolve\",\"by\":\"centre operator 7\","
			  "\"outcome\":\"false_alarm\",\"note\":\"burnt toast\"}";

	(void)state;
	snprintf(topic, sizeof(topic), "%s/s-002/state", state_prefix);
	t_publish_event("smoke-2", "{\"id\":\"ha-1\",\"device\":\"smoke-2\",\"type\":\"smoke\",\"value\":true}");
	j = wait_json(topic, "attention", "\"ON\"");
	assert_int_equal(json_integer_value(json_object_get(j, "open_alerts")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "alerts"), 0), "rule")),
			    "smoke");
	json_decref(j);
	/* A sign of life (the hallway PIR): "Last activity" is its time. */
	t_publish_event("pir-3", "{\"id\":\"ha-2\",\"device\":\"pir-3\",\"type\":\"motion\",\"value\":true,"
				 "\"ts\":\"2026-11-28T08:15:00+08:00\"}");
	j = wait_json(topic, "last_activity", "\"2026-11-28T00:15:00.000Z\"");
	json_decref(j);
	t_mqtt_publish("carehub/v1/acks", res, strlen(res), 1);
	j = wait_json(topic, "attention", "\"OFF\"");
	assert_int_equal(json_integer_value(json_object_get(j, "open_alerts")), 0);
	json_decref(j);
}

static bool emptied(void *arg)
{
	char *p = t_mqtt_last(arg);
	bool ok = p && !*p;

	free(p);
	return ok;
}

static void a_subject_left_out_loses_its_entities(void **state)
{
	char topic[256];

	(void)state;
	set_homeassistant("[\"s-001\"]");
	t_hub_signal(&hub, SIGHUP);
	snprintf(topic, sizeof(topic), "%s/binary_sensor/carehub_s-002/attention/config", disc);
	assert_true(t_wait(emptied, topic, T_DEADLINE_MS));
	snprintf(topic, sizeof(topic), "%s/s-002/state", state_prefix);
	assert_true(t_wait(emptied, topic, T_DEADLINE_MS));
	/* s-001 stays. */
	snprintf(topic, sizeof(topic), "%s/binary_sensor/carehub_s-001/attention/config", disc);
	assert_false(emptied(topic));
	/* Clean the broker for other tests. */
	set_homeassistant("[]");
	t_hub_signal(&hub, SIGHUP);
	assert_true(t_wait(emptied, topic, T_DEADLINE_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(discovery_configs_per_subject),
		cmocka_unit_test(attention_follows_the_alert_and_activity_the_signs_of_life),
		cmocka_unit_test(a_subject_left_out_loses_its_entities),
	};
	return cmocka_run_group_tests_name("hass", tests, setup, teardown);
}
