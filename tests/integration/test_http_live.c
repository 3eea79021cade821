/*
 * test_http_live.c - carehubd's HTTP server (http.enabled): /healthz follows
 * the broker and Redis as the hub sees them (503 while Redis is down, 200 when
 * it is back), /metrics carries the counters and the queue depth, callbacks
 * to an unknown channel are 404, and nothing answers off loopback by default.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static struct t_hub hub;
static int port;

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

struct buf {
	char data[65536];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t m = size * n;

	if (m > sizeof(b->data) - 1 - b->len)
		m = sizeof(b->data) - 1 - b->len;
	memcpy(b->data + b->len, p, m);
	b->len += m;
	b->data[b->len] = '\0';
	return size * n;
}

/* GET or POST (body non-NULL) on the hub; returns the status, body in b. */
static long request(const char *path, const char *body, struct buf *b)
{
	CURL *c = curl_easy_init();
	char url[256];
	long status = 0;

	b->len = 0;
	b->data[0] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static int setup(void **state)
{
	char ov_port[64];
	const char *ov[] = {"http.enabled=true", ov_port, NULL};

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	t_mqtt_init();
	port = free_port();
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
	curl_global_cleanup();
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
	/* No token in the environment: the API answers 503, not an open door. */
	assert_int_equal(request("/v1/alerts", NULL, &b), 503);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(healthz_follows_redis),
		cmocka_unit_test(metrics_and_callbacks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
