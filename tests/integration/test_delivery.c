/*
 * test_delivery.c - the host's retry policy against providers that fail:
 * 500, 500, 200 is delivered once after retries with one idempotency key;
 * 400 fails at once and is never retried; an endpoint that hangs holds up
 * neither another channel nor ingest; a notification still waiting for its
 * turn when the alert is resolved is not sent.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;
static struct t_http *flaky, *bad, *slow, *fast;

static int setup(void **state)
{
	static const int p_flaky[] = {500, 500, 200}, p_bad[] = {400}, p_slow[] = {-1}, p_fast[] = {200};
	char channels[2048], rules[512];

	(void)state;
	t_mqtt_init();
	flaky = t_http_start(p_flaky, 3);
	bad = t_http_start(p_bad, 1);
	slow = t_http_start(p_slow, 1);
	fast = t_http_start(p_fast, 1);
	snprintf(channels, sizeof(channels),
		 "{\"flaky\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\", \"backoff_base\": \"50ms\","
		 " \"backoff_cap\": \"200ms\", \"max_attempts\": 5},"
		 " \"bad\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\", \"backoff_base\": \"50ms\"},"
		 " \"slow\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\", \"timeout\": \"60s\"},"
		 " \"fast\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\"}}",
		 t_http_port(flaky), t_http_port(bad), t_http_port(slow), t_http_port(fast));
	const char *policies =
		"{\"by_severity\":{\"critical\":\"fast\",\"high\":\"fast\",\"medium\":\"fast\",\"low\":\"fast\","
		"\"info\":\"fast\"},\"policies\":{"
		"\"flaky\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"flaky\"]}]},"
		"\"bad\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"bad\"]}]},"
		"\"slowfast\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"slow\",\"fast\"]}]},"
		"\"fast\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"fast\"]}]}}}";
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_delivery.json", t_src_dir());
	t_hub_config(&hub, "delivery", channels, policies, rules);
	t_hub_start(&hub, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_http_stop(flaky);
	t_http_stop(bad);
	t_http_stop(slow);
	t_http_stop(fast);
	t_mqtt_done();
	return 0;
}

struct state_wait {
	const char *key;
	const char *want;
};

static bool dispatch_state_is(void *arg)
{
	struct state_wait *w = arg;
	char *s = t_redis_str("GET %sdispatch:%s", hub.prefix, w->key);
	bool ok = s && strcmp(s, w->want) == 0;

	free(s);
	return ok;
}

static void retries_until_delivered(void **state)
{
	struct t_http_req r[3];

	(void)state;
	t_publish_event("smoke-1", "{\"id\":\"d-1\",\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_http_wait(flaky, 3, T_DEADLINE_MS));
	for (int i = 0; i < 3; i++)
		assert_true(t_http_get(flaky, (size_t)i, &r[i]));
	assert_int_equal(r[0].status_sent, 500);
	assert_int_equal(r[2].status_sent, 200);
	/* One key for every attempt: the provider can deduplicate. */
	assert_string_equal(r[0].idem, r[1].idem);
	assert_string_equal(r[1].idem, r[2].idem);
	struct state_wait w = {r[0].idem, "sent"};
	assert_true(t_wait(dispatch_state_is, &w, T_DEADLINE_MS));
	json_t *b0 = json_loads(r[0].body, 0, NULL), *b2 = json_loads(r[2].body, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(b0, "attempt")), 1);
	assert_int_equal(json_integer_value(json_object_get(b2, "attempt")), 3);
	json_decref(b0);
	json_decref(b2);
	assert_int_equal(t_http_count(flaky), 3);
	for (int i = 0; i < 3; i++)
		t_http_req_free(&r[i]);
}

static void client_error_fails_without_retry(void **state)
{
	struct t_http_req r;

	(void)state;
	t_publish_event("gas-1", "{\"id\":\"d-2\",\"device\":\"gas-1\",\"type\":\"gas\",\"value\":true}");
	assert_true(t_http_wait(bad, 1, T_DEADLINE_MS));
	assert_true(t_http_get(bad, 0, &r));
	struct state_wait w = {r.idem, "failed"};
	assert_true(t_wait(dispatch_state_is, &w, T_DEADLINE_MS));
	/* Recorded as failed after exactly one request: a 400 is never retried. */
	assert_int_equal(t_http_count(bad), 1);
	/* The failure is on the alert's timeline with the reason. */
	json_t *tl = t_redis("LRANGE %s{s-001}:alert:2:tl 0 -1", hub.prefix);
	bool seen = false;
	size_t i;
	json_t *e;
	json_array_foreach(tl, i, e) {
		json_t *entry = json_loads(json_string_value(e), 0, NULL);
		const char *what = json_string_value(json_object_get(entry, "what"));
		const char *why = json_string_value(json_object_get(entry, "reason"));
		if (what && strcmp(what, "notify_failed") == 0 && why && strstr(why, "400"))
			seen = true;
		json_decref(entry);
	}
	json_decref(tl);
	assert_true(seen);
	t_http_req_free(&r);
}

static bool alert_open(void *arg)
{
	char *id = t_redis_str("GET %s{s-001}:open:%s", hub.prefix, (const char *)arg);
	bool ok = id != NULL;

	free(id);
	return ok;
}

static void hanging_endpoint_blocks_nothing(void **state)
{
	(void)state;
	t_publish_event("sos-1", "{\"id\":\"d-3\",\"device\":\"sos-1\",\"type\":\"sos\"}");
	/* The slow provider has the request and is sitting on it... */
	assert_true(t_http_wait(slow, 1, T_DEADLINE_MS));
	/* ...while the other channel of the same step delivers. */
	assert_true(t_http_wait(fast, 1, T_DEADLINE_MS));
	/* And ingest goes on: a new event opens an alert and is delivered. */
	t_publish_event("leak-1", "{\"id\":\"d-4\",\"device\":\"leak-1\",\"type\":\"water_leak\",\"value\":true}");
	assert_true(t_wait(alert_open, (void *)"water_leak", T_DEADLINE_MS));
	assert_true(t_http_wait(fast, 2, T_DEADLINE_MS));
	assert_int_equal(t_http_count(slow), 1);
}

struct hub_state_wait {
	const struct t_hub *h;
	const char *state;
};

static bool alert_state_is(void *arg)
{
	struct hub_state_wait *w = arg;
	char *doc = t_redis_str("GET %s{s-001}:alert:1", w->h->prefix);
	json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
	bool ok = json_is_string(json_object_get(j, "state")) &&
		  strcmp(json_string_value(json_object_get(j, "state")), w->state) == 0;

	json_decref(j);
	free(doc);
	return ok;
}

static bool timeline_says(void *arg)
{
	const struct t_hub *h = arg;
	json_t *tl = t_redis("LRANGE %s{s-001}:alert:1:tl 0 -1", h->prefix);
	char *text = json_dumps(tl, 0);
	bool ok = text && strstr(text, "not_sent") != NULL;

	free(text);
	json_decref(tl);
	return ok;
}

/*
 * A notification still waiting for its turn when the alert is resolved is not
 * sent (the all clear, queued at the resolve, says it all): the caseworker's
 * waits behind the family's on a channel that takes one at a time.
 */
static void resolved_before_its_turn_is_not_sent(void **state)
{
	static const int hang_then_ok[] = {-1, 200};
	struct t_http *one = t_http_start(hang_then_ok, 2);
	struct t_hub h;
	char channels[256];
	const char *res = "{\"alert\":\"s-001:1\",\"action\":\"resolve\",\"by\":\"centre\",\"outcome\":\"accidental\"}";
	struct hub_state_wait w = {&h, "resolved"};

	(void)state;
	snprintf(channels, sizeof(channels),
		 "{\"one\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\", \"max_inflight\": 1,"
		 " \"timeout\": \"60s\"}}",
		 t_http_port(one));
	t_hub_config(&h, "skipped", channels,
		     "{\"by_severity\":{\"critical\":\"p\",\"high\":\"p\",\"medium\":\"p\",\"low\":\"p\",\"info\":\"p\"},"
		     "\"policies\":{\"p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\",\"caseworker\"],"
		     "\"channels\":[\"one\"]}]}}}",
		     NULL);
	t_hub_start(&h, NULL);
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_http_wait(one, 1, T_DEADLINE_MS)); /* the family's, held by the provider */
	t_mqtt_publish("carehub/v1/acks", res, strlen(res), 1);
	assert_true(t_wait(alert_state_is, &w, T_DEADLINE_MS));
	t_http_release(one);
	assert_true(t_wait(timeline_says, &h, T_DEADLINE_MS));
	/* The family's went (it was out already), the caseworker's step-0 never did; all clears follow. */
	size_t step0 = 0;
	for (size_t i = 0; i < t_http_count(one); i++) {
		struct t_http_req rq;
		assert_true(t_http_get(one, i, &rq));
		step0 += strstr(rq.idem, ":0:") != NULL;
		t_http_req_free(&rq);
	}
	assert_int_equal(step0, 1);
	t_hub_stop(&h);
	t_http_stop(one);
}

static bool has_n(void *arg)
{
	struct t_http *srv = arg;
	return t_http_count(srv) >= 1;
}

/*
 * A provider that cannot tell a repeat (at_most_once): a request that got no
 * answer is not sent again, nor one a killed hub was in the middle of; each
 * counts as failed, and the step's fallback takes over.
 */
static void at_most_once_never_repeats_a_send_that_may_have_landed(void **state)
{
	static const int hang[] = {-1}, ok[] = {200};
	struct t_http *voice = t_http_start(hang, 1), *slowvoice = t_http_start(hang, 1), *backup = t_http_start(ok, 1);
	struct t_hub h;
	char channels[1024];

	(void)state;
	snprintf(channels, sizeof(channels),
		 "{\"once\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\", \"timeout\": \"1s\","
		 " \"at_most_once\": true},"
		 " \"onceslow\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\", \"timeout\": \"60s\","
		 " \"at_most_once\": true},"
		 " \"backup\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/n\"}}",
		 t_http_port(voice), t_http_port(slowvoice), t_http_port(backup));
	t_hub_config(&h, "atmostonce", channels,
		     "{\"by_severity\":{\"critical\":\"k\",\"high\":\"t\",\"medium\":\"t\",\"low\":\"t\",\"info\":\"t\"},"
		     "\"policies\":{"
		     "\"t\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"once\"],\"fallback\":[\"backup\"]}]},"
		     "\"k\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"onceslow\"],\"fallback\":[\"backup\"]}]}}}",
		     NULL);
	t_hub_start(&h, NULL);

	/* No answer within the timeout: failed at once (no retry), the backup channel instead. */
	t_publish_event("leak-1", "{\"device\":\"leak-1\",\"type\":\"water_leak\",\"value\":true}");
	assert_true(t_wait(has_n, backup, T_DEADLINE_MS));
	assert_int_equal(t_http_count(voice), 1);

	/* Killed while the provider holds the request: after the restart, not sent again. */
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_wait(has_n, slowvoice, T_DEADLINE_MS));
	t_hub_kill(&h);
	t_hub_start(&h, NULL);
	assert_true(t_http_wait(backup, 2, T_DEADLINE_MS));
	t_http_release(slowvoice);
	assert_int_equal(t_http_count(slowvoice), 1);
	assert_true(t_hub_log_contains(&h, "not repeated: at_most_once"));
	t_hub_stop(&h);
	t_http_stop(voice);
	t_http_stop(slowvoice);
	t_http_stop(backup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(retries_until_delivered),
		cmocka_unit_test(client_error_fails_without_retry),
		cmocka_unit_test(hanging_endpoint_blocks_nothing),
		cmocka_unit_test(resolved_before_its_turn_is_not_sent),
		cmocka_unit_test(at_most_once_never_repeats_a_send_that_may_have_landed),
	};
	return cmocka_run_group_tests_name("delivery", tests, setup, teardown);
}
