/*
 * test_http_live.c - carehubd's HTTP server (http.enabled): /healthz follows
 * the broker and Redis as the hub sees them (503 while Redis is down, 200 when
 * it is back), /metrics carries the counters and the queue depth, callbacks
 * to an unknown channel are 404, and nothing answers off loopback by default.
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
static int port;

struct buf {
	char data[65536];
};

/* GET or POST (body non-NULL) on the hub; returns the status, body in b. */
static long request(const char *path, const char *body, struct buf *b)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	return t_http_call(url, NULL, body, b->data, sizeof(b->data));
}

static int setup(void **state)
{
	char ov_port[64];
	const char *ov[] = {"http.enabled=true", ov_port, NULL};

	(void)state;
	t_mqtt_init();
	port = t_free_port();
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", port);
	t_hub_config(&hub, "httplive", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), NULL);
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

static bool health_is(void *arg)
{
	static struct buf b;
	return request("/healthz", NULL, &b) == *(long *)arg;
}

static void healthz_follows_redis(void **state)
{
	static struct buf b;
	long want = 200;

	(void)state;
	assert_true(t_wait(health_is, &want, T_DEADLINE_MS));
	assert_int_equal(request("/healthz", NULL, &b), 200);
	assert_non_null(strstr(b.data, "\"status\":\"ok\""));
	assert_non_null(strstr(b.data, "\"mqtt\":true"));
	assert_non_null(strstr(b.data, "\"redis\":true"));

	t_services("stop-redis");
	want = 503;
	assert_true(t_wait(health_is, &want, T_DEADLINE_MS));
	assert_int_equal(request("/healthz", NULL, &b), 503);
	assert_non_null(strstr(b.data, "\"redis\":false"));
	t_services("start-redis");
	want = 200;
	assert_true(t_wait(health_is, &want, T_DEADLINE_MS));
}

static void metrics_and_callbacks(void **state)
{
	static struct buf b;

	(void)state;
	t_publish_event("smoke-1", "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":false}");
	assert_int_equal(request("/metrics", NULL, &b), 200);
	assert_non_null(strstr(b.data, "carehub_events_in_total"));
	assert_non_null(strstr(b.data, "carehub_ingest_queue_depth"));
	assert_non_null(strstr(b.data, "reason=\"not_json\""));
	assert_int_equal(request("/v1/callbacks/nope", "{}", &b), 404);
	/* A channel whose plugin takes no callbacks. */
	assert_int_equal(request("/v1/callbacks/log", "{}", &b), 404);
	assert_int_equal(request("/nothing-here", NULL, &b), 404);
	/* No token in the environment and nobody signed in: 401, not an open door. */
	assert_int_equal(request("/v1/alerts", NULL, &b), 401);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(healthz_follows_redis),
		cmocka_unit_test(metrics_and_callbacks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
