/*
 * test_http_limits.c - the HTTP server under a slowloris and beside a frozen
 * Redis, on a real carehubd (issue 17 item 4):
 *   - 70 connections trickling one header byte a second from the same address
 *     as the console: /healthz, the API, the console page and a provider
 *     callback all still answer at once;
 *   - 200 more from another address are cut at the per-address limit, and
 *     the others are not held up by them;
 *   - Redis frozen (SIGSTOP of this test's own redis-server): three /v1/alerts
 *     calls wait on it, and /healthz answers at once all the same.
 */
#include "api_client.h"
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#define TOKEN "limits-admin-token"
#define AT_ONCE_MS 1000 /* "at once", on a shared 2-core machine under sanitizers */

static struct t_hub hub;
static int port;
static pid_t redis_pid;
static struct t_resp r;

static int setup(void **state)
{
	char ov_port[64];
	const char *ov[] = {"http.enabled=true", ov_port, "http.token_env=CH_TEST_LIMITS_TOKEN", "http.timeout=30s", NULL};

	(void)state;
	setenv("CH_TEST_LIMITS_TOKEN", TOKEN, 1);
	t_mqtt_init();
	port = t_free_port();
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", port);
	t_hub_config(&hub, "limits", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), NULL);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (redis_pid > 0)
		kill(redis_pid, SIGCONT);
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

/* Every kind of client answers within AT_ONCE_MS. */
static void everyone_answers(const char *when)
{
	char url[64];

	assert_int_equal(t_api(port, "GET", "/healthz", NULL, NULL, &r), 200);
	print_message("%s: /healthz in %ld ms\n", when, r.ms);
	assert_true(r.ms < AT_ONCE_MS);
	assert_int_equal(t_api_token(port, TOKEN, "GET", "/v1/alerts", NULL, &r), 200);
	assert_true(r.ms < AT_ONCE_MS);
	assert_int_equal(t_api(port, "GET", "/", NULL, NULL, &r), 200);
	assert_true(r.ms < AT_ONCE_MS);
	/* A callback for a channel without callbacks: answered (404), not left waiting. */
	snprintf(url, sizeof(url), "/v1/callbacks/log");
	assert_int_equal(t_api(port, "POST", url, NULL, "{}", &r), 404);
	assert_true(r.ms < AT_ONCE_MS);
}

static void a_slowloris_holds_nobody_up(void **state)
{
	struct t_slow *same, *other;

	(void)state;
	same = t_slow_start("127.0.0.1", port, 70);
	t_sleep_ms(1500); /* let every one of them trickle once: they hold their threads now */
	assert_int_equal(t_slow_open_count(same), 70);
	everyone_answers("70 slow connections from the console's own address");
	/* Another address floods: cut at its limit (128), and the console's address is not affected. */
	other = t_slow_start("127.0.0.2", port, 200);
	t_sleep_ms(2500);
	print_message("of 200 slow connections from 127.0.0.2, %d are held\n", t_slow_open_count(other));
	assert_true(t_slow_open_count(other) <= 128);
	everyone_answers("and 200 more from another address");
	t_slow_stop(other);
	t_slow_stop(same);
	/* The hub counted nothing odd and still works end to end. */
	assert_int_equal(t_api(port, "GET", "/healthz", NULL, NULL, &r), 200);
}

struct slow_read {
	pthread_t th;
	struct t_resp r;
};

static void *read_alerts(void *arg)
{
	struct slow_read *s = arg;

	t_api_token(port, TOKEN, "GET", "/v1/alerts", NULL, &s->r);
	return NULL;
}

static void healthz_never_waits_on_redis(void **state)
{
	char path[600], buf[32];
	struct slow_read reads[3];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/redis.pid", getenv("CH_TEST_SERVICES_DIR"));
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	redis_pid = (pid_t)atol(buf);
	assert_true(redis_pid > 1);
	/* Frozen: connections open, nothing answers (what a stuck or swapping Redis looks like). */
	assert_int_equal(kill(redis_pid, SIGSTOP), 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&reads[i].th, NULL, read_alerts, &reads[i]);
	t_sleep_ms(300); /* they are inside now, waiting on Redis */
	for (int i = 0; i < 5; i++) {
		assert_true(t_api(port, "GET", "/healthz", NULL, NULL, &r) == 200 || r.status == 503);
		print_message("Redis frozen: /healthz %ld in %ld ms\n", r.status, r.ms);
		assert_true(r.ms < AT_ONCE_MS);
		t_sleep_ms(200);
	}
	/* The console's page and an answer to an alert are taken too (the answer waits in the journal). */
	assert_int_equal(t_api(port, "GET", "/", NULL, NULL, &r), 200);
	assert_true(r.ms < AT_ONCE_MS);
	for (int i = 0; i < 3; i++) {
		pthread_join(reads[i].th, NULL);
		/* The reads give up with 503 rather than hanging. */
		assert_int_equal(reads[i].r.status, 503);
	}
	assert_int_equal(kill(redis_pid, SIGCONT), 0);
	redis_pid = 0;
	assert_int_equal(t_api_token(port, TOKEN, "GET", "/v1/alerts", NULL, &r), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_slowloris_holds_nobody_up),
		cmocka_unit_test(healthz_never_waits_on_redis),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
