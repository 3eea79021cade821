/*
 * test_instances.c - the promises that span processes: two hubs sharing one
 * Redis and one shared subscription open each alert once and send each
 * notification once; a hub killed in the middle of a send resends it after a
 * restart with the same idempotency key, and never after it was recorded sent.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int setup(void **state)
{
	(void)state;
	t_mqtt_init();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_mqtt_done();
	return 0;
}

struct open_wait {
	const char *prefix, *sid, *rule;
	long long count;
};

static bool alert_count_is(void *arg)
{
	struct open_wait *w = arg;
	char *id = t_redis_str("GET %s{%s}:open:%s", w->prefix, w->sid, w->rule);
	char *doc = id ? t_redis_str("GET %s{%s}:alert:%s", w->prefix, w->sid, strrchr(id, ':') + 1) : NULL;
	json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
	bool ok = j && json_integer_value(json_object_get(j, "count")) == w->count;

	json_decref(j);
	free(doc);
	free(id);
	return ok;
}

static bool none_pending(void *arg)
{
	json_t *pending = t_redis("XPENDING %soutbox dispatch", (const char *)arg);
	bool none = pending && json_integer_value(json_array_get(pending, 0)) == 0;

	json_decref(pending);
	return none;
}

static void two_hubs_one_alert_one_send(void **state)
{
	static const int ok[] = {200};
	struct t_http *http = t_http_start(ok, 1);
	struct t_hub a, b;
	char channels[256], prefix_ov[160];
	static const struct {
		const char *device, *type, *sid;
	} evs[] = {{"smoke-1", "smoke", "s-001"}, {"gas-1", "gas", "s-001"},   {"sos-1", "sos", "s-001"},
		   {"leak-1", "water_leak", "s-001"}, {"smoke-2", "smoke", "s-002"}, {"sos-2", "sos", "s-002"}};

	(void)state;
	snprintf(channels, sizeof(channels), "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\"}}",
		 t_http_port(http));
	t_hub_config(&a, "twin-a", channels, NULL, NULL);
	t_hub_config(&b, "twin-b", channels, NULL, NULL);
	/* One Redis keyspace, one shared subscription group. */
	snprintf(prefix_ov, sizeof(prefix_ov), "redis.prefix=%s", a.prefix);
	const char *ova[] = {"mqtt.shared_group=twins", NULL};
	const char *ovb[] = {"mqtt.shared_group=twins", prefix_ov, NULL};
	t_hub_start(&a, ova);
	t_hub_start(&b, ovb);

	/* Each event twice with different ids: the two copies may land on different hubs. */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < CH_TEST_LEN(evs); i++) {
			char json[256];
			snprintf(json, sizeof(json), "{\"id\":\"tw-%d-%zu\",\"device\":\"%s\",\"type\":\"%s\",\"value\":true}",
				 round, i, evs[i].device, evs[i].type);
			t_publish_event(evs[i].device, json);
		}
	}
	for (size_t i = 0; i < CH_TEST_LEN(evs); i++) {
		const char *rule = strcmp(evs[i].type, "water_leak") == 0 ? "water_leak" : evs[i].type;
		struct open_wait w = {a.prefix, evs[i].sid, rule, 2};
		assert_true(t_wait(alert_count_is, &w, T_DEADLINE_MS));
	}
	/* One family contact each: six notifications, six distinct keys, six jobs ever. */
	assert_true(t_http_wait(http, 6, T_DEADLINE_MS));
	assert_int_equal(t_redis_int("XLEN %soutbox", a.prefix), 6);
	struct t_http_req r[6];
	for (size_t i = 0; i < 6; i++)
		assert_true(t_http_get(http, i, &r[i]));
	for (size_t i = 0; i < 6; i++) {
		for (size_t k = i + 1; k < 6; k++)
			assert_string_not_equal(r[i].idem, r[k].idem);
	}
	for (size_t i = 0; i < 6; i++)
		t_http_req_free(&r[i]);
	/* Both jobs consumers finish: nothing pending in the group (each acknowledges after its answer). */
	assert_true(t_wait(none_pending, a.prefix, T_DEADLINE_MS));
	assert_int_equal(t_http_count(http), 6);
	t_hub_stop(&a);
	t_hub_stop(&b);
	t_http_stop(http);
}

static void kill9_mid_send_resends_once_with_the_same_key(void **state)
{
	/* The first request hangs (the hub dies while waiting), then the provider answers. */
	static const int plan[] = {-1, 200};
	struct t_http *http = t_http_start(plan, 2);
	struct t_hub h;
	char channels[256];
	struct t_http_req first, second, third;

	(void)state;
	snprintf(channels, sizeof(channels), "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\"}}",
		 t_http_port(http));
	t_hub_config(&h, "midsend", channels, NULL, NULL);
	t_hub_start(&h, NULL);
	t_publish_event("smoke-1", "{\"id\":\"ms-1\",\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_http_wait(http, 1, T_DEADLINE_MS));
	t_hub_kill(&h);

	/* Restarted, the hub finds the job still pending and sends it again. */
	t_hub_start(&h, NULL);
	assert_true(t_http_wait(http, 2, T_DEADLINE_MS));
	assert_true(t_http_get(http, 0, &first));
	assert_true(t_http_get(http, 1, &second));
	assert_string_equal(first.idem, second.idem);
	char *state_s = NULL;
	for (int64_t end = t_now_ms() + T_DEADLINE_MS; t_now_ms() < end; t_sleep_ms(20)) {
		free(state_s);
		state_s = t_redis_str("GET %sdispatch:%s", h.prefix, second.idem);
		if (state_s && strcmp(state_s, "sent") == 0)
			break;
	}
	assert_non_null(state_s);
	assert_string_equal(state_s, "sent");
	free(state_s);

	/* Another restart: nothing is sent again; a new alert is the only new request. */
	t_hub_stop(&h);
	t_hub_start(&h, NULL);
	t_publish_event("sos-2", "{\"id\":\"ms-2\",\"device\":\"sos-2\",\"type\":\"sos\"}");
	assert_true(t_http_wait(http, 3, T_DEADLINE_MS));
	assert_true(t_http_get(http, 2, &third));
	assert_string_not_equal(third.idem, first.idem);
	assert_non_null(strstr(third.body, "\"s-002\""));
	t_hub_stop(&h);
	assert_int_equal(t_http_count(http), 3);
	t_http_req_free(&first);
	t_http_req_free(&second);
	t_http_req_free(&third);
	t_http_stop(http);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_hubs_one_alert_one_send),
		cmocka_unit_test(kill9_mid_send_resends_once_with_the_same_key),
	};
	return cmocka_run_group_tests_name("instances", tests, setup, teardown);
}
