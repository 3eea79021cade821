/*
 * test_outage.c - nothing is lost when Redis goes away, when the broker
 * restarts, or when the hub is killed with events it had acknowledged to the
 * broker but not yet written to Redis (the journal replays them).
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;

static int setup(void **state)
{
	(void)state;
	t_mqtt_init();
	t_hub_config(&hub, "outage", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/notifications.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""),
		     NULL);
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

static bool alert_open(void *arg)
{
	const char **sr = arg;
	char *id = t_redis_str("GET %s{%s}:open:%s", hub.prefix, sr[0], sr[1]);
	bool ok = id != NULL;

	free(id);
	return ok;
}

static bool holding(void *arg)
{
	(void)arg;
	return t_hub_log_contains(&hub, "holding");
}

static void redis_away_and_back(void **state)
{
	const char *sr[] = {"s-002", "smoke"};

	(void)state;
	t_services("stop-redis");
	t_publish_event("smoke-2", "{\"id\":\"o-1\",\"device\":\"smoke-2\",\"type\":\"smoke\",\"value\":true}");
	/* The hub has the event and is holding it while Redis is away. */
	assert_true(t_wait(holding, NULL, T_DEADLINE_MS));
	t_services("start-redis");
	assert_true(t_wait(alert_open, sr, T_DEADLINE_MS));
}

static bool replayed(void *arg)
{
	(void)arg;
	return t_hub_log_contains(&hub, "journal: replaying");
}

static bool holding_again(void *arg)
{
	/* Count "holding" lines: the second outage logs again after the first. */
	FILE *f = fopen(hub.log, "r");
	char line[8192];
	int n = 0;

	(void)arg;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "holding") != NULL;
	fclose(f);
	return n >= 2;
}

static void kill9_with_acknowledged_events_replays_journal(void **state)
{
	const char *sr[] = {"s-001", "sos"};

	(void)state;
	t_services("stop-redis");
	t_publish_event("sos-1", "{\"id\":\"o-2\",\"device\":\"sos-1\",\"type\":\"sos\"}");
	/* The broker handed the event over (and forgot it): only our journal has it. */
	assert_true(t_wait(holding_again, NULL, T_DEADLINE_MS));
	t_hub_kill(&hub);
	t_services("start-redis");
	t_hub_start(&hub, NULL);
	assert_true(t_wait(replayed, NULL, T_DEADLINE_MS));
	assert_true(t_wait(alert_open, sr, T_DEADLINE_MS));
	/* Processed once: one notification job for it. */
	json_t *doc = t_redis("GET %s{s-001}:alert:1", hub.prefix);
	assert_non_null(doc);
	json_t *a = json_loads(json_string_value(doc), 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(a, "count")), 1);
	json_decref(a);
	json_decref(doc);
}

static void broker_restart(void **state)
{
	const char *sr[] = {"s-001", "water_leak"};

	(void)state;
	t_services("restart-mosquitto");
	/* The test client and the hub both reconnect; the hub's session resumes. */
	t_publish_event("leak-1", "{\"id\":\"o-3\",\"device\":\"leak-1\",\"type\":\"water_leak\",\"value\":true}");
	assert_true(t_wait(alert_open, sr, T_DEADLINE_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(redis_away_and_back),
		cmocka_unit_test(kill9_with_acknowledged_events_replays_journal),
		cmocka_unit_test(broker_restart),
	};
	return cmocka_run_group_tests_name("outage", tests, setup, teardown);
}
