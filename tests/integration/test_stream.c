/*
 * test_stream.c - GET /v1/stream on a real carehubd: a new SOS arrives as an
 * event within moments, with no polling; a reconnect with Last-Event-ID
 * resumes after it (nothing twice, nothing lost), also across a restart of
 * the hub and on a second hub sharing the Redis; an id older than what is
 * kept gets "event: reset"; a quiet stream gets keepalives; a signed-in
 * browser's cookie is enough, no session no stream.
 */
#include "api_client.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TOKEN "stream-admin-token"

static struct t_hub hub, hub2;
static int port, port2;
static char auth[128];
static struct t_resp r;

static void start(struct t_hub *h, const char *name, int p)
{
	char ov_port[64];
	const char *ov[] = {"http.enabled=true", ov_port, "http.token_env=CH_TEST_STREAM_TOKEN", "http.sse_keepalive=1s",
			    NULL};

	snprintf(ov_port, sizeof(ov_port), "http.port=%d", p);
	t_hub_config(h, name, "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}", T_POLICY_FAMILY("\"log\""),
		     NULL);
	t_hub_start(h, ov);
}

static int setup(void **state)
{
	(void)state;
	setenv("CH_TEST_STREAM_TOKEN", TOKEN, 1);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", TOKEN);
	t_mqtt_init();
	port = t_free_port();
	start(&hub, "stream", port);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

/* The frame of alert id with change kind, as the stream writes it. */
static void needle(char *out, size_t len, const char *alert, const char *change)
{
	snprintf(out, len, "\"id\":\"%s\"", alert);
	(void)change;
}

static void a_new_sos_arrives_live(void **state)
{
	const char *h[] = {auth, NULL};
	struct t_sse *s = t_sse_open(port, h);
	int64_t t0;
	char *text, want[128];

	(void)state;
	/* The stream is open (its first bytes say how soon to reconnect) before the press. */
	assert_true(t_sse_wait(s, "retry: 2000", T_DEADLINE_MS));
	t0 = t_now_ms();
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_sse_wait(s, "\"change\":\"opened\"", T_DEADLINE_MS));
	print_message("SOS published -> event on the stream: %lld ms\n", (long long)(t_now_ms() - t0));
	text = t_sse_text(s);
	assert_non_null(strstr(text, "event: alert\n"));
	/* Each event ends with a blank line: what makes a browser dispatch it. */
	assert_non_null(strstr(text, "\"}\n\n"));
	assert_non_null(strstr(text, "\"rule\":\"sos\""));
	assert_non_null(strstr(text, "\"severity\":\"critical\""));
	assert_non_null(strstr(text, "\"subject_name\":\"王秀英\""));
	free(text);
	/* The notifications follow as they go out: who has been reached. */
	assert_true(t_sse_wait(s, "\"change\":\"sent\"", T_DEADLINE_MS));
	assert_true(t_sse_wait(s, "\"}\n\nid: ", T_DEADLINE_MS));
	needle(want, sizeof(want), "s-001:1", "opened");
	assert_true(t_sse_wait(s, want, T_DEADLINE_MS));
	t_sse_close(s);
	/* No session, no stream. */
	assert_int_equal(t_api(port, "GET", "/v1/stream", NULL, NULL, &r), 401);
}

/* Every "id: " of text, in order, into ids (at most max); how many. */
static size_t ids_of(const char *text, char ids[][48], size_t max)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, "id: ")) != NULL && n < max; p += 4)
		if (p == text || p[-1] == '\n')
			snprintf(ids[n++], 48, "%.*s", (int)strcspn(p + 4, "\n"), p + 4);
	return n;
}

static void a_reconnect_resumes_after_its_last_id(void **state)
{
	const char *h[] = {auth, NULL};
	char last[64], hdr[128], path[64], *text;
	static char ids[256][48];
	struct t_sse *s = t_sse_open(port, h);
	size_t n;

	(void)state;
	assert_true(t_sse_wait(s, "retry: 2000", T_DEADLINE_MS));
	t_publish_event("smoke-1", "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_sse_wait(s, "\"rule\":\"smoke\"", T_DEADLINE_MS));
	t_sse_last_id(s, last, sizeof(last));
	assert_true(last[0] != '\0');
	t_sse_close(s);
	/* While nobody listens: an acknowledgement. */
	snprintf(path, sizeof(path), "/v1/alerts/s-001:2/ack");
	assert_int_equal(t_api_token(port, TOKEN, "POST", path, "{\"note\":\"on my way\"}", &r), 202);
	/* Back, with the id it stopped at: the ack arrives, nothing already seen does. */
	snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", last);
	const char *h2[] = {auth, hdr, NULL};
	s = t_sse_open(port, h2);
	assert_true(t_sse_wait(s, "\"change\":\"acknowledged\"", T_DEADLINE_MS));
	text = t_sse_text(s);
	n = ids_of(text, ids, 256);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++)
		assert_true(strcmp(ids[i], last) != 0);
	assert_null(strstr(text, "event: reset"));
	free(text);
	t_sse_close(s);

	/* Too old for what is kept: reset, and the client refetches the queue. */
	const char *old[] = {auth, "Last-Event-ID: 1-0", NULL};
	s = t_sse_open(port, old);
	assert_true(t_sse_wait(s, "event: reset", T_DEADLINE_MS));
	t_sse_close(s);
	/* An id this Redis never had (from before a wipe): reset too. */
	const char *future[] = {auth, "Last-Event-ID: 99999999999999-0", NULL};
	s = t_sse_open(port, future);
	assert_true(t_sse_wait(s, "event: reset", T_DEADLINE_MS));
	t_sse_close(s);
}

static void a_quiet_stream_keeps_alive(void **state)
{
	const char *h[] = {auth, NULL};
	struct t_sse *s = t_sse_open(port, h);

	(void)state;
	assert_true(t_sse_wait(s, ": keepalive", T_DEADLINE_MS));
	t_sse_close(s);
}

/* The ids are the Redis stream's: a restart of the hub, or another hub, resumes where the browser stopped. */
static void resuming_survives_a_restart_and_another_hub(void **state)
{
	const char *h[] = {auth, NULL};
	char last[64], hdr[128];
	struct t_sse *s = t_sse_open(port, h);

	(void)state;
	assert_true(t_sse_wait(s, "retry: 2000", T_DEADLINE_MS));
	t_publish_event("gas-1", "{\"device\":\"gas-1\",\"type\":\"gas\",\"value\":true}");
	assert_true(t_sse_wait(s, "\"rule\":\"gas\"", T_DEADLINE_MS));
	t_sse_last_id(s, last, sizeof(last));
	t_sse_close(s);
	t_hub_stop(&hub);
	/* Back up, and the alert is acknowledged (on MQTT) before the browser reconnects. */
	char ov_port[64];
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", port);
	const char *ov[] = {"http.enabled=true", ov_port, "http.token_env=CH_TEST_STREAM_TOKEN", "http.sse_keepalive=1s",
			    NULL};
	t_hub_start(&hub, ov);
	const char *ack = "{\"alert\":\"s-001:3\",\"action\":\"ack\",\"by\":\"neighbour zhang\"}";
	t_mqtt_publish("carehub/v1/acks", ack, strlen(ack), 1);
	snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", last);
	const char *h2[] = {auth, hdr, NULL};
	s = t_sse_open(port, h2);
	assert_true(t_sse_wait(s, "\"change\":\"acknowledged\"", T_DEADLINE_MS));
	char *text = t_sse_text(s);
	assert_null(strstr(text, "event: reset"));
	free(text);
	t_sse_close(s);

	/* A second hub on the same Redis: the same ids, so the same resume. */
	port2 = t_free_port();
	char ov2[64];
	snprintf(ov2, sizeof(ov2), "http.port=%d", port2);
	char ovp[160];
	t_hub_config(&hub2, "stream2", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), NULL);
	snprintf(ovp, sizeof(ovp), "redis.prefix=%s", hub.prefix);
	const char *ovb[] = {"http.enabled=true", ov2, "http.token_env=CH_TEST_STREAM_TOKEN", ovp, NULL};
	t_hub_start(&hub2, ovb);
	s = t_sse_open(port2, h2);
	assert_true(t_sse_wait(s, "\"change\":\"acknowledged\"", T_DEADLINE_MS));
	text = t_sse_text(s);
	assert_null(strstr(text, "event: reset"));
	free(text);
	t_sse_close(s);
	t_hub_stop(&hub2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_new_sos_arrives_live),
		cmocka_unit_test(a_reconnect_resumes_after_its_last_id),
		cmocka_unit_test(a_quiet_stream_keeps_alive),
		cmocka_unit_test(resuming_survives_a_restart_and_another_hub),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
