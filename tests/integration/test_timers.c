/*
 * test_timers.c - timers are absolute deadlines in Redis: a kill -9 loses
 * none and a restart fires each once, at its time; overdue timers wait for
 * the broker's backlog after a restart (no burst of false inactivity alarms);
 * two hubs on one Redis open one alert.  Inactivity runs as 5 s here
 * (fixtures/rules_timers.json).
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define RULE_MS 5000

static char rules[600], reg[600];

static int setup(void **state)
{
	(void)state;
	t_mqtt_init();
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_timers.json", t_src_dir());
	snprintf(reg, sizeof(reg), "registry.file=%s/tests/integration/fixtures/registry_correlation.json",
		 t_src_dir());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_mqtt_done();
	return 0;
}

static void config(struct t_hub *h, const char *name)
{
	t_hub_config(h, name, "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}", T_POLICY_FAMILY("\"log\""),
		     rules);
}

static void motion(const char *device)
{
	char json[160];

	/* Stamped with the time it happened, so a copy held by the broker keeps its event time. */
	snprintf(json, sizeof(json), "{\"device\":\"%s\",\"type\":\"motion\",\"value\":true,\"ts\":%lld}", device,
		 (long long)t_wall_ms());
	t_publish_event(device, json);
}

/* Documents of the alerts ever opened for (sid, rule), as a JSON array. */
static json_t *alerts(const char *prefix, const char *sid, const char *rule)
{
	long long seq = t_redis_int("GET %s{%s}:seq", prefix, sid);
	json_t *out = json_array();

	for (long long i = 1; i <= seq; i++) {
		char *doc = t_redis_str("GET %s{%s}:alert:%lld", prefix, sid, i);
		json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
		if (j && strcmp(json_string_value(json_object_get(j, "rule")), rule) == 0)
			json_array_append(out, j);
		json_decref(j);
		free(doc);
	}
	return out;
}

static size_t nalerts(const char *prefix, const char *sid, const char *rule)
{
	json_t *a = alerts(prefix, sid, rule);
	size_t n = json_array_size(a);

	json_decref(a);
	return n;
}

struct timer_wait {
	const char *prefix, *sid;
	int64_t at_least;
};

/* The subject's timer is armed at or after at_least: the event is in. */
static bool timer_armed(void *arg)
{
	struct timer_wait *w = arg;
	char *score = t_redis_str("ZSCORE %stimers %s", w->prefix, w->sid);
	bool ok = score && atoll(score) >= w->at_least;

	free(score);
	return ok;
}

struct count_wait {
	const char *prefix, *sid;
	size_t n;
};

static bool has_alerts(void *arg)
{
	struct count_wait *w = arg;
	return nalerts(w->prefix, w->sid, "inactive") >= w->n;
}

static void kill9_with_armed_timer_fires_once_on_time(void **state)
{
	struct t_hub h;
	int64_t t0;

	(void)state;
	config(&h, "tkill");
	const char *ov[] = {reg, NULL};
	t_hub_start(&h, ov);
	t0 = t_wall_ms();
	motion("ck-pir");
	struct timer_wait tw = {h.prefix, "c-kill", t0 + RULE_MS - 100};
	assert_true(t_wait(timer_armed, &tw, T_DEADLINE_MS));
	t_hub_kill(&h);
	assert_int_equal(nalerts(h.prefix, "c-kill", "inactive"), 0);
	t_hub_start(&h, ov);

	struct count_wait cw = {h.prefix, "c-kill", 1};
	assert_true(t_wait(has_alerts, &cw, T_DEADLINE_MS));
	json_t *a = alerts(h.prefix, "c-kill", "inactive");
	json_t *d = json_array_get(a, 0);
	int64_t cond = json_integer_value(json_object_get(d, "condition_at_ms"));
	int64_t open = json_integer_value(json_object_get(d, "opened_at_ms"));
	/* Due 5 s after the motion, and not opened before it was due. */
	assert_true(cond >= t0 + RULE_MS - 100 && cond <= t0 + RULE_MS + 1500);
	assert_true(open >= cond);
	json_decref(a);
	/* Once: the condition persists, the timer does not fire again. */
	t_sleep_ms(RULE_MS + 1000);
	assert_int_equal(nalerts(h.prefix, "c-kill", "inactive"), 1);
	t_hub_stop(&h);
}

/*
 * The motion held by the broker is stamped before the old deadline but arrives
 * after it: a hub that fired timers before draining the backlog would raise a
 * false alarm for a person who moved.
 */
static void restart_waits_for_backlog_before_timers(void **state)
{
	struct t_hub h;
	int64_t t0;

	(void)state;
	config(&h, "tburst");
	const char *ov[] = {reg, NULL};
	t_hub_start(&h, ov);
	t0 = t_wall_ms();
	motion("cb-pir");
	struct timer_wait tw = {h.prefix, "c-burst", t0 + RULE_MS - 100};
	assert_true(t_wait(timer_armed, &tw, T_DEADLINE_MS));
	t_hub_stop(&h);
	/* While the hub is down the person moves (the broker holds it), before the deadline ... */
	while (t_wall_ms() < t0 + RULE_MS - 2000)
		t_sleep_ms(20);
	int64_t t1 = t_wall_ms();
	motion("cb-pir");
	/* ... and the hub comes back after the deadline. */
	while (t_wall_ms() < t0 + RULE_MS + 1000)
		t_sleep_ms(20);
	t_hub_start(&h, ov);
	/* The overdue timer must see the held motion first: nothing before t1 + 5 s. */
	while (t_wall_ms() < t1 + RULE_MS - 300) {
		assert_int_equal(nalerts(h.prefix, "c-burst", "inactive"), 0);
		t_sleep_ms(50);
	}
	/* And then it fires, for the new silence. */
	struct count_wait cw = {h.prefix, "c-burst", 1};
	assert_true(t_wait(has_alerts, &cw, T_DEADLINE_MS));
	json_t *a = alerts(h.prefix, "c-burst", "inactive");
	assert_true(json_integer_value(json_object_get(json_array_get(a, 0), "condition_at_ms")) >= t1 + RULE_MS - 100);
	json_decref(a);
	assert_true(t_hub_log_contains(&h, "broker backlog drained"));
	t_hub_stop(&h);
}

static void two_hubs_open_one_alert(void **state)
{
	struct t_hub a, b;
	char prefix_ov[160];

	(void)state;
	config(&a, "ttwin-a");
	config(&b, "ttwin-b");
	snprintf(prefix_ov, sizeof(prefix_ov), "redis.prefix=%s", a.prefix);
	const char *ova[] = {reg, "mqtt.shared_group=ttwins", NULL};
	const char *ovb[] = {reg, "mqtt.shared_group=ttwins", prefix_ov, NULL};
	t_hub_start(&a, ova);
	t_hub_start(&b, ovb);
	/* Motion on both hubs' shares, several times, then silence. */
	for (int i = 0; i < 6; i++)
		motion("ct-pir");
	struct count_wait cw = {a.prefix, "c-twin", 1};
	assert_true(t_wait(has_alerts, &cw, T_DEADLINE_MS));
	t_sleep_ms(2000);
	assert_int_equal(nalerts(a.prefix, "c-twin", "inactive"), 1);
	t_hub_stop(&a);
	t_hub_stop(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kill9_with_armed_timer_fires_once_on_time),
		cmocka_unit_test(restart_waits_for_backlog_before_timers),
		cmocka_unit_test(two_hubs_open_one_alert),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
