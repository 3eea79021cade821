/*
 * test_channels.c - escalation through real channel plugins against local
 * HTTP servers playing the voice bot platform, the SMS gateway and the case
 * management system, with signed callbacks into carehubd's HTTP server:
 *
 *  - an inactivity alert escalates on time: the check-in call to the person
 *    (no answer), then SMS and a call to the family, then a caseworker task;
 *    the caseworker accepts (acknowledged) and closes it (resolved, genuine);
 *  - "I am fine" from the person's own call resolves the alert as
 *    false_alarm and nothing else goes out; a relative pressing 1 ("I am on
 *    it") acknowledges it;
 *  - "I need help" brings the next step forward at once; an SMS the gateway
 *    refuses falls back to a call, a call the platform reports failed to an
 *    SMS, an SMS reported undeliverable to the next relative, whose 1 on the
 *    call acknowledges it;
 *  - a forged, a stale and an unsigned callback are refused with 401 and
 *    change nothing; a replayed one (the same signed text again, even after a
 *    restart) gets 409 and changes nothing.
 */
#include "harness.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define SECRET "test-callback-secret"
#define SELF "+8613800000001"
#define DAUGHTER "+8613800000011"
#define SON "+8613800000012"

/*
 * high (the inactivity rule): the person at once, the family 2 s later on SMS
 * and by call, the caseworker 2 s after that.  critical (SOS): the person at
 * once, then the family a minute later (only needs_help brings that forward):
 * the first child only, on an SMS gateway that refuses, falling back to a call.
 */
#define POLICY                                                                                              \
	"{\"by_severity\":{\"critical\":\"q\",\"high\":\"p\",\"medium\":\"p\",\"low\":\"p\",\"info\":\"p\"},"    \
	"\"policies\":{\"p\":{\"steps\":["                                                                 \
	"{\"after\":\"0s\",\"roles\":[\"self\"],\"channels\":[\"call\"]},"                                   \
	"{\"after\":\"2s\",\"roles\":[\"family\"],\"channels\":[\"sms\",\"call\"]},"                         \
	"{\"after\":\"4s\",\"roles\":[\"caseworker\"],\"channels\":[\"case\"]}]},"                          \
	"\"q\":{\"steps\":["                                                                               \
	"{\"after\":\"0s\",\"roles\":[\"self\"],\"channels\":[\"call\"]},"                                   \
	"{\"after\":\"60s\",\"roles\":[\"family\"],\"channels\":[\"deadsms\"],\"fallback\":[\"call\",\"sms\"]," \
	"\"contacts\":\"first\"},"                                                                         \
	"{\"after\":\"120s\",\"roles\":[\"caseworker\"],\"channels\":[\"case\"]}]}}}"

static struct t_hub hub;
static struct t_http *voice, *gateway, *refusing, *cases;
static int hub_port;
static char ov_port[64], ov_reg[600];
static const char *ov[] = {"http.enabled=true", ov_port, ov_reg, NULL};

static int setup(void **state)
{
	static const int ok[] = {200}, created[] = {201}, refused[] = {400};
	char chans[4096], rules[600];

	(void)state;
	setenv("CH_TEST_CALLBACK_SECRET", SECRET, 1);
	setenv("CH_TEST_PROVIDER_TOKEN", "provider-token", 1);
	voice = t_http_start(ok, 1);
	t_http_reply(voice, "{\"call_id\":\"call-%d\"}");
	gateway = t_http_start(ok, 1);
	t_http_reply(gateway, "{\"id\":\"msg-%d\"}");
	refusing = t_http_start(refused, 1);
	t_http_reply(refusing, "{\"error\":\"number blocked\"}");
	cases = t_http_start(created, 1);
	t_http_reply(cases, "{\"task_id\":\"task-%d\"}");
	hub_port = t_free_port();
	snprintf(chans, sizeof(chans),
		 "{\"call\": {\"plugin\": \"ai_call\", \"url\": \"http://127.0.0.1:%d/calls\","
		 " \"auth_env\": \"CH_TEST_PROVIDER_TOKEN\", \"secret_env\": \"CH_TEST_CALLBACK_SECRET\","
		 " \"callback_url\": \"http://127.0.0.1:%d/v1/callbacks/call\"},"
		 " \"sms\": {\"plugin\": \"sms\", \"url\": \"http://127.0.0.1:%d/sms\", \"secret_env\": \"CH_TEST_CALLBACK_SECRET\","
		 " \"callback_url\": \"http://127.0.0.1:%d/v1/callbacks/sms\"},"
		 " \"deadsms\": {\"plugin\": \"sms\", \"url\": \"http://127.0.0.1:%d/sms\"},"
		 " \"case\": {\"plugin\": \"caseworker\", \"url\": \"http://127.0.0.1:%d/tasks\","
		 " \"secret_env\": \"CH_TEST_CALLBACK_SECRET\", \"callback_url\": \"http://127.0.0.1:%d/v1/callbacks/case\"}}",
		 t_http_port(voice), hub_port, t_http_port(gateway), hub_port, t_http_port(refusing), t_http_port(cases),
		 hub_port);
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", hub_port);
	snprintf(ov_reg, sizeof(ov_reg), "registry.file=%s/tests/integration/fixtures/registry_channels.json",
		 t_src_dir());
	t_mqtt_init();
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_timers.json", t_src_dir());
	t_hub_config(&hub, "channels", chans, POLICY, rules);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	t_http_stop(voice);
	t_http_stop(gateway);
	t_http_stop(refusing);
	t_http_stop(cases);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

struct buf {
	char data[65536];
};

/* POSTs body to /v1/callbacks/<channel>, signed with key at ts (0: unsigned); the HTTP status. */
static long post_callback(const char *channel, const char *body, const char *key, long long ts, struct buf *b)
{
	char url[256], sig[65], hts[64], hsig[128];
	const char *headers[] = {"Content-Type: application/json", hts, hsig, NULL};

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/callbacks/%s", hub_port, channel);
	if (!ts) {
		headers[1] = NULL;
	} else {
		snprintf(hts, sizeof(hts), "%lld", ts);
		ch_http_sign_hmac(key, hts, body, strlen(body), sig);
		snprintf(hts, sizeof(hts), "X-Carehub-Timestamp: %lld", ts);
		snprintf(hsig, sizeof(hsig), "X-Carehub-Signature: %s", sig);
	}
	return t_http_call(url, headers, body, b->data, sizeof(b->data));
}

static long get(const char *path, struct buf *b)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", hub_port, path);
	return t_http_call(url, NULL, NULL, b->data, sizeof(b->data));
}

static long long now_s(void)
{
	return (long long)(t_wall_ms() / 1000);
}

/* A signed callback with the right secret, now: its HTTP status. */
static long callback(const char *channel, const char *body)
{
	struct buf b;

	return post_callback(channel, body, SECRET, now_s(), &b);
}

/* The i-th request a provider got, as JSON (and its idempotency key). */
static json_t *request_body(struct t_http *s, size_t i, char *idem, size_t len)
{
	struct t_http_req r;
	json_t *j;

	assert_true(t_http_get(s, i, &r));
	if (idem)
		snprintf(idem, len, "%s", r.idem);
	j = json_loads(r.body, 0, NULL);
	t_http_req_free(&r);
	assert_non_null(j);
	return j;
}

/* Index of the first request from `from` on about alert (its key starts "alert:") with field == value
 * (any, when field is NULL), or -1. */
static long find_request(struct t_http *s, size_t from, const char *alert, const char *field, const char *value)
{
	size_t n = t_http_count(s);
	char pre[128];

	snprintf(pre, sizeof(pre), "%s:", alert);
	for (size_t i = from; i < n; i++) {
		char idem[256];
		json_t *j = request_body(s, i, idem, sizeof(idem));
		const char *v = field ? json_string_value(json_object_get(j, field)) : NULL;
		bool hit = strncmp(idem, pre, strlen(pre)) == 0 && (!field || (v && strcmp(v, value) == 0));
		json_decref(j);
		if (hit)
			return (long)i;
	}
	return -1;
}

struct req_wait {
	struct t_http *s;
	const char *alert, *field, *value;
};

static bool has_request(void *arg)
{
	struct req_wait *w = arg;

	return find_request(w->s, 0, w->alert, w->field, w->value) >= 0;
}

/* Waits for a request about alert with field == value; returns its index. */
static size_t wait_request(struct t_http *s, const char *alert, const char *field, const char *value)
{
	struct req_wait w = {s, alert, field, value};

	assert_true(t_wait(has_request, &w, T_DEADLINE_MS));
	return (size_t)find_request(s, 0, alert, field, value);
}

static char *alert_field(const char *alert, const char *field)
{
	char sid[64], *colon;
	char *doc, *v = NULL;
	json_t *j;

	snprintf(sid, sizeof(sid), "%s", alert);
	colon = strrchr(sid, ':');
	assert_non_null(colon);
	*colon = '\0';
	doc = t_redis_str("GET %s{%s}:alert:%s", hub.prefix, sid, colon + 1);
	j = doc ? json_loads(doc, 0, NULL) : NULL;
	if (json_is_string(json_object_get(j, field)))
		v = strdup(json_string_value(json_object_get(j, field)));
	json_decref(j);
	free(doc);
	return v;
}

struct state_wait {
	const char *alert, *state;
};

static bool alert_in_state(void *arg)
{
	struct state_wait *w = arg;
	char *s = alert_field(w->alert, "state");
	bool ok = s && strcmp(s, w->state) == 0;

	free(s);
	return ok;
}

static void wait_state(const char *alert, const char *state)
{
	struct state_wait w = {alert, state};

	assert_true(t_wait(alert_in_state, &w, T_DEADLINE_MS));
}

/* How many timeline entries of alert contain s. */
static int timeline_count(const char *alert, const char *s)
{
	char sid[64], *colon;
	json_t *tl;
	size_t i;
	json_t *e;
	int n = 0;

	snprintf(sid, sizeof(sid), "%s", alert);
	colon = strrchr(sid, ':');
	*colon = '\0';
	tl = t_redis("LRANGE %s{%s}:alert:%s:tl 0 -1", hub.prefix, sid, colon + 1);
	json_array_foreach(tl, i, e) {
		n += json_is_string(e) && strstr(json_string_value(e), s) != NULL;
	}
	json_decref(tl);
	return n;
}

struct tl_wait {
	const char *alert, *s;
};

static bool on_timeline(void *arg)
{
	struct tl_wait *w = arg;

	return timeline_count(w->alert, w->s) > 0;
}

static void wait_timeline(const char *alert, const char *s)
{
	struct tl_wait w = {alert, s};

	assert_true(t_wait(on_timeline, &w, T_DEADLINE_MS));
}

static bool open_alert(void *arg)
{
	char *id = t_redis_str("GET %s{s-001}:open:%s", hub.prefix, (const char *)arg);
	bool ok = id != NULL;

	free(id);
	return ok;
}

/* Opens an alert of rule (inactive: motion then silence; sos: a press) and returns its id. */
static void open_new(const char *rule, char *alert, size_t len)
{
	char *id;

	if (strcmp(rule, "sos") == 0)
		t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	else
		t_publish_event("pir-1", "{\"device\":\"pir-1\",\"type\":\"motion\",\"value\":true}");
	assert_true(t_wait(open_alert, (void *)rule, T_DEADLINE_MS + 5000));
	id = t_redis_str("GET %s{s-001}:open:%s", hub.prefix, rule);
	assert_non_null(id);
	snprintf(alert, len, "%s", id);
	free(id);
}

/* ---------------------------------------------------------------- tests */

static void full_escalation_then_caseworker_takes_it(void **state)
{
	char alert[64], key[256], body[1024];
	json_t *j;
	size_t i;

	(void)state;
	open_new("inactive", alert, sizeof(alert));

	/* Step 0: the check-in call to the person, with the script, the key and where to report. */
	i = wait_request(voice, alert, "to", SELF);
	j = request_body(voice, i, key, sizeof(key));
	assert_non_null(strstr(key, ":0:"));
	assert_string_equal(json_string_value(json_object_get(j, "id")), key);
	/* The default script, in Chinese, spoken to her by name. */
	assert_true(strncmp(json_string_value(json_object_get(j, "script")), "您好，王秀英，", strlen("您好，王秀英，")) == 0);
	assert_string_equal(json_string_value(json_object_get(j, "role")), "self");
	assert_non_null(strstr(json_string_value(json_object_get(j, "callback_url")), "/v1/callbacks/call"));
	json_decref(j);

	/* Nobody picks up: noted, and the escalation goes on. */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"call_id\":\"call-0\",\"status\":\"no_answer\"}", key);
	assert_int_equal(callback("call", body), 200);
	wait_timeline(alert, "no_answer");

	/* Step 1 (2 s): both children by SMS and by call; step 2 (4 s): a task for the caseworker. */
	wait_request(gateway, alert, "to", DAUGHTER);
	wait_request(gateway, alert, "to", SON);
	i = wait_request(voice, alert, "to", DAUGHTER);
	j = request_body(voice, i, NULL, 0);
	/* Her daughter's call speaks to the daughter about her mother. */
	assert_true(strncmp(json_string_value(json_object_get(j, "script")), "您好，李娜，", strlen("您好，李娜，")) == 0);
	json_decref(j);
	wait_request(voice, alert, "to", SON);
	i = wait_request(cases, alert, NULL, NULL);
	j = request_body(cases, i, key, sizeof(key));
	assert_string_equal(json_string_value(json_object_get(j, "external_id")), key);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "subject"), "id")), "s-001");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "task");
	assert_non_null(strstr(json_string_value(json_object_get(j, "summary")), "核实任务"));
	char *text = json_dumps(j, 0);
	assert_null(strstr(text, "+86")); /* the case system keeps its own records: no phone number */
	free(text);
	json_decref(j);

	/* The caseworker takes the task: acknowledged, the escalation stops; then closes it. */
	snprintf(body, sizeof(body), "{\"external_id\":\"%s\",\"task_id\":\"task-0\",\"status\":\"accepted\","
		 "\"by\":\"张社工\"}", key);
	assert_int_equal(callback("case", body), 200);
	wait_state(alert, "acknowledged");
	snprintf(body, sizeof(body), "{\"external_id\":\"%s\",\"task_id\":\"task-0\",\"status\":\"closed\","
		 "\"by\":\"张社工\",\"outcome\":\"genuine\",\"note\":\"visited, she had a cold\"}", key);
	assert_int_equal(callback("case", body), 200);
	wait_state(alert, "resolved");
	char *outcome = alert_field(alert, "outcome"), *by = alert_field(alert, "resolved_by");
	assert_string_equal(outcome, "genuine");
	assert_string_equal(by, "张社工");
	free(outcome);
	free(by);
	/* Everyone told hears the all clear once: each child's SMS, for one. */
	char clear[128];
	snprintf(clear, sizeof(clear), "%s:clear", alert);
	wait_request(gateway, clear, "to", DAUGHTER);
	wait_request(gateway, clear, "to", SON);
	assert_true(timeline_count(alert, "\"what\":\"acknowledged\"") == 1);
	/* The case system hears it too, as an all clear for that alert, not a new task. */
	i = wait_request(cases, clear, NULL, NULL);
	j = request_body(cases, i, NULL, 0);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "all_clear");
	json_decref(j);
	/* /metrics counts it all: alerts by rule and state, sends by channel, callbacks by outcome, latencies. */
	struct buf m;
	assert_int_equal(get("/metrics", &m), 200);
	assert_non_null(strstr(m.data, "carehub_alerts_total{rule=\"inactive\",state=\"opened\"}"));
	assert_non_null(strstr(m.data, "carehub_alerts_total{rule=\"inactive\",state=\"acknowledged\"}"));
	assert_non_null(strstr(m.data, "carehub_sends_total{channel=\"case\",result=\"ok\"}"));
	assert_non_null(strstr(m.data, "carehub_callbacks_total{channel=\"call\",outcome=\"no_answer\"} 1"));
	assert_non_null(strstr(m.data, "carehub_callbacks_total{channel=\"case\",outcome=\"closed\"} 1"));
	assert_null(strstr(m.data, "carehub_first_notify_seconds_count 0\n"));
	assert_null(strstr(m.data, "carehub_send_seconds_count 0\n"));
	/* The SMS is the Chinese template with the outcome in words. */
	i = (size_t)find_request(gateway, 0, clear, "to", DAUGHTER);
	j = request_body(gateway, i, NULL, 0);
	assert_non_null(strstr(json_string_value(json_object_get(j, "text")), "【已解除】王秀英"));
	assert_non_null(strstr(json_string_value(json_object_get(j, "text")), "确认险情"));
	json_decref(j);
}

static size_t requests_about(struct t_http *s, const char *alert)
{
	size_t n = 0;

	for (long i = 0; (i = find_request(s, (size_t)i, alert, NULL, NULL)) >= 0; i++)
		n++;
	return n;
}

static void fine_on_the_call_resolves_as_false_alarm(void **state)
{
	char alert[64], key[256], body[1024];
	size_t i;

	(void)state;
	open_new("inactive", alert, sizeof(alert));
	i = wait_request(voice, alert, "to", SELF);
	json_decref(request_body(voice, i, key, sizeof(key)));

	/* A forged, a replayed (10 min old) and an unsigned report: 401, nothing changes. */
	struct buf b;
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"answered\",\"answer\":\"confirmed_safe\"}", key);
	assert_int_equal(post_callback("call", body, "not-the-secret", now_s(), &b), 401);
	assert_int_equal(post_callback("call", body, SECRET, now_s() - 600, &b), 401);
	assert_int_equal(post_callback("call", body, SECRET, 0, &b), 401);
	assert_true(t_hub_log_contains(&hub, "callback from 127.0.0.1 refused (401): bad signature"));
	char *st = alert_field(alert, "state");
	assert_string_equal(st, "open");
	free(st);

	/* The person says "I am fine": resolved as a false alarm, by her, and nothing else goes out. */
	assert_int_equal(callback("call", body), 200);
	wait_state(alert, "resolved");
	char *outcome = alert_field(alert, "outcome");
	assert_string_equal(outcome, "false_alarm");
	free(outcome);
	/* Past the family's (2 s) and the caseworker's (4 s) steps: still only the one call and its all clear. */
	t_sleep_ms(5000);
	assert_int_equal(requests_about(gateway, alert), 0);
	assert_int_equal(requests_about(cases, alert), 0);
	char step1[128];
	snprintf(step1, sizeof(step1), "%s:1:", alert);
	assert_int_equal(requests_about(voice, step1), 0);
}

static void needs_help_jumps_ahead_and_failures_fall_back(void **state)
{
	char alert[64], key[256], body[1024], fam[256], sms[256], son[256];
	size_t i;
	json_t *j;

	(void)state;
	open_new("sos", alert, sizeof(alert));
	i = wait_request(voice, alert, "to", SELF);
	json_decref(request_body(voice, i, key, sizeof(key)));

	/* The family step is a minute away; "I need help" brings it forward at once. */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"answered\",\"answer\":\"needs_help\"}", key);
	assert_int_equal(callback("call", body), 200);
	wait_timeline(alert, "needs_help");

	/* Only the first child ("contacts": "first"), on the SMS gateway that refuses for good... */
	i = wait_request(refusing, alert, "to", DAUGHTER);
	/* ...so the same person gets the fallback channel, a call, under its own key. */
	i = wait_request(voice, alert, "to", DAUGHTER);
	j = request_body(voice, i, fam, sizeof(fam));
	assert_non_null(strstr(fam, ":1:"));
	assert_non_null(strstr(fam, ":call"));
	json_decref(j);
	wait_timeline(alert, "notify_failed");
	assert_int_equal(find_request(refusing, 0, alert, "to", SON), -1);
	assert_int_equal(find_request(voice, 0, alert, "to", SON), -1);

	/* The platform reports the call could not be made: the next fallback, an SMS to her. */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"call_id\":\"c\",\"status\":\"failed\",\"detail\":\"number unreachable\"}",
		 fam);
	long long sent_at = now_s();
	struct buf rb;
	assert_int_equal(post_callback("call", body, SECRET, sent_at, &rb), 200);
	i = wait_request(gateway, alert, "to", DAUGHTER);
	json_decref(request_body(gateway, i, sms, sizeof(sms)));
	assert_non_null(strstr(sms, ":1:"));
	/* The same report again, signed anew, changes nothing: one SMS. */
	assert_int_equal(post_callback("call", body, SECRET, sent_at - 1, &rb), 200);
	/* The gateway's receipt: undeliverable.  Every channel to her failed: her brother is next. */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"message_id\":\"m1\",\"status\":\"undeliverable\"}", sms);
	assert_int_equal(callback("sms", body), 200);
	wait_request(refusing, alert, "to", SON);
	i = wait_request(voice, alert, "to", SON);
	json_decref(request_body(voice, i, son, sizeof(son)));
	size_t to_daughter = 0;
	for (long k = 0; (k = find_request(gateway, (size_t)k, alert, "to", DAUGHTER)) >= 0; k++)
		to_daughter++;
	assert_int_equal(to_daughter, 1);

	/* Her son presses 1 ("I will call or visit now"): acknowledged by him, not resolved. */
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"answered\",\"answer\":\"confirmed_safe\"}", son);
	assert_int_equal(callback("call", body), 200);
	wait_state(alert, "acknowledged");
	char *by = alert_field(alert, "acknowledged_by");
	assert_string_equal(by, "李强 (family)");
	free(by);

	/* A key of another channel, or of nothing this hub sent: 400. */
	struct buf b;
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"message_id\":\"m\",\"status\":\"delivered\"}", fam);
	assert_int_equal(post_callback("sms", body, SECRET, now_s(), &b), 400);
	assert_int_equal(post_callback("call", "{\"id\":\"s-999:1:0:00000000:call\",\"status\":\"busy\"}", SECRET,
				       now_s(), &b),
			 400);

	/* Over MQTT, as before: resolved by the centre. */
	snprintf(body, sizeof(body), "{\"alert\":\"%s\",\"action\":\"resolve\",\"by\":\"centre\",\"outcome\":\"genuine\"}",
		 alert);
	t_mqtt_publish("carehub/v1/acks", body, strlen(body), 1);
	wait_state(alert, "resolved");
}

/*
 * The replay: one signed needs_help posted four times.  The first
 * brings the family step forward; the copies get 409 and change nothing (the
 * caseworker's step stays two minutes away), also after a restart, because
 * what was taken is remembered in Redis.
 */
static void a_replayed_callback_changes_nothing(void **state)
{
	char alert[64], key[256], body[1024];
	struct buf b;
	long long ts;
	size_t i;

	(void)state;
	open_new("sos", alert, sizeof(alert));
	i = wait_request(voice, alert, "to", SELF);
	json_decref(request_body(voice, i, key, sizeof(key)));
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"answered\",\"answer\":\"needs_help\"}", key);
	ts = now_s();
	assert_int_equal(post_callback("call", body, SECRET, ts, &b), 200);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(post_callback("call", body, SECRET, ts, &b), 409);
		assert_non_null(strstr(b.data, "replayed"));
	}
	wait_timeline(alert, "needs_help");
	wait_request(refusing, alert, "to", DAUGHTER);
	t_hub_stop(&hub);
	t_hub_start(&hub, ov);
	assert_int_equal(post_callback("call", body, SECRET, ts, &b), 409);
	assert_int_equal(timeline_count(alert, "needs_help"), 1);
	assert_int_equal(requests_about(cases, alert), 0);
	get("/metrics", &b);
	assert_non_null(strstr(b.data, "carehub_callbacks_total{channel=\"call\",outcome=\"replayed\"} 1"));

	snprintf(body, sizeof(body), "{\"alert\":\"%s\",\"action\":\"resolve\",\"by\":\"centre\",\"outcome\":\"genuine\"}",
		 alert);
	t_mqtt_publish("carehub/v1/acks", body, strlen(body), 1);
	wait_state(alert, "resolved");
}

/* ------------------------------------------------ a second hub: restarts and rate limits */

/*
 * The person by call (one a number an hour, falling back to SMS when used
 * up), 2 s later the first child on a platform that hangs, 2 s after that
 * the caseworker.
 */
#define POLICY_R                                                                                            \
	"{\"by_severity\":{\"critical\":\"r\",\"high\":\"r\",\"medium\":\"r\",\"low\":\"r\",\"info\":\"r\"},"    \
	"\"policies\":{\"r\":{\"steps\":["                                                                 \
	"{\"after\":\"0s\",\"roles\":[\"self\"],\"channels\":[\"limcall\"],\"fallback\":[\"sms\"],"           \
	"\"when_limited\":\"fallback\"},"                                                                 \
	"{\"after\":\"2s\",\"roles\":[\"family\"],\"channels\":[\"slowcall\"],\"contacts\":\"first\"},"        \
	"{\"after\":\"4s\",\"roles\":[\"caseworker\"],\"channels\":[\"case\"]}]}}}"

static struct t_http *voice2, *gateway2, *slow, *cases2;

static void start_hub_r(void)
{
	static const int ok[] = {200}, hang_then_ok[] = {-1, 200};
	char chans[4096], rules[600];

	if (!voice2) {
		t_hub_stop(&hub);
		voice2 = t_http_start(ok, 1);
		gateway2 = t_http_start(ok, 1);
		slow = t_http_start(hang_then_ok, 2);
		cases2 = t_http_start(ok, 1);
		hub_port = t_free_port();
	}
	snprintf(chans, sizeof(chans),
		 "{\"limcall\": {\"plugin\": \"ai_call\", \"url\": \"http://127.0.0.1:%d/calls\", \"rate_limit\": [[1, \"1h\"]]},"
		 " \"slowcall\": {\"plugin\": \"ai_call\", \"url\": \"http://127.0.0.1:%d/calls\", \"timeout\": \"60s\"},"
		 " \"sms\": {\"plugin\": \"sms\", \"url\": \"http://127.0.0.1:%d/sms\"},"
		 " \"case\": {\"plugin\": \"caseworker\", \"url\": \"http://127.0.0.1:%d/tasks\"}}",
		 t_http_port(voice2), t_http_port(slow), t_http_port(gateway2), t_http_port(cases2));
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", hub_port);
	snprintf(ov_reg, sizeof(ov_reg), "registry.file=%s/tests/integration/fixtures/registry_channels.json",
		 t_src_dir());
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_timers.json", t_src_dir());
	t_hub_config(&hub, "channels-r", chans, POLICY_R, rules);
	t_hub_start(&hub, ov);
}

static int64_t escalated_at(const char *alert, int step)
{
	char sid[64], *colon, want[32];
	json_t *tl, *e;
	size_t i;
	int64_t at = -1;
	int n = 0;

	snprintf(sid, sizeof(sid), "%s", alert);
	colon = strrchr(sid, ':');
	*colon = '\0';
	snprintf(want, sizeof(want), "%d", step);
	tl = t_redis("LRANGE %s{%s}:alert:%s:tl 0 -1", hub.prefix, sid, colon + 1);
	json_array_foreach(tl, i, e) {
		json_t *j = json_loads(json_string_value(e), 0, NULL);
		if (strcmp(json_string_value(json_object_get(j, "what")) ? json_string_value(json_object_get(j, "what")) : "",
			   "escalated") == 0 &&
		    json_integer_value(json_object_get(j, "step")) == step) {
			at = json_integer_value(json_object_get(j, "ts_ms"));
			n++;
		}
		json_decref(j);
	}
	json_decref(tl);
	assert_true(n <= 1); /* a step is taken once, whatever happened to the hub */
	return at;
}

struct esc_wait {
	const char *alert;
	int step;
};

static bool step_taken(void *arg)
{
	struct esc_wait *w = arg;

	return escalated_at(w->alert, w->step) >= 0;
}

static void kill_in_the_middle_of_a_step(void **state)
{
	char alert[64], key[256], again[256];
	int64_t opened;
	size_t i;

	(void)state;
	start_hub_r();
	open_new("inactive", alert, sizeof(alert));
	{
		char sid[64];
		snprintf(sid, sizeof(sid), "%s", alert);
		*strrchr(sid, ':') = '\0';
		char *doc = t_redis_str("GET %s{%s}:alert:%s", hub.prefix, sid, strrchr(alert, ':') + 1);
		json_t *j = json_loads(doc, 0, NULL);
		opened = json_integer_value(json_object_get(j, "opened_at_ms"));
		json_decref(j);
		free(doc);
	}
	wait_request(voice2, alert, "to", SELF);

	/* Step 1: the call to the daughter is with the platform, which has not answered: kill -9 now. */
	i = wait_request(slow, alert, "to", DAUGHTER);
	json_decref(request_body(slow, i, key, sizeof(key)));
	t_hub_kill(&hub);
	start_hub_r();
	t_http_release(slow);

	/* The restarted hub sends the interrupted call again under the same key (the platform
	 * deduplicates by it), never under a new one, and takes step 2 on time. */
	struct esc_wait w2 = {alert, 2};
	assert_true(t_wait(step_taken, &w2, T_DEADLINE_MS));
	int64_t at2 = escalated_at(alert, 2);
	assert_true(at2 >= opened + 4000);
	assert_true(at2 < opened + 4000 + T_DEADLINE_MS);
	wait_request(cases2, alert, NULL, NULL);
	assert_true(t_http_wait(slow, 2, T_DEADLINE_MS));
	for (size_t k = 0; k < t_http_count(slow); k++) {
		json_decref(request_body(slow, k, again, sizeof(again)));
		assert_string_equal(again, key);
	}
	assert_true(escalated_at(alert, 1) >= 0);
	assert_int_equal(find_request(slow, 0, alert, "to", SON), -1);

	char body[256];
	snprintf(body, sizeof(body), "{\"alert\":\"%s\",\"action\":\"resolve\",\"by\":\"centre\",\"outcome\":\"genuine\"}",
		 alert);
	t_mqtt_publish("carehub/v1/acks", body, strlen(body), 1);
	wait_state(alert, "resolved");
	/* Her one call this hour is spent: her all clear comes by SMS instead. */
	char clear[128];
	snprintf(clear, sizeof(clear), "%s:clear", alert);
	wait_request(gateway2, clear, "to", SELF);
}

static void a_number_out_of_calls_falls_back_to_sms(void **state)
{
	char alert[64];

	(void)state;
	/* Her one call this hour went to the previous alert: this one reaches her by SMS at once. */
	open_new("sos", alert, sizeof(alert));
	wait_request(gateway2, alert, "to", SELF);
	assert_int_equal(find_request(voice2, 0, alert, "to", SELF), -1);
	wait_timeline(alert, "rate_limited");
	t_http_stop(voice2);
	t_http_stop(gateway2);
	t_http_stop(slow);
	t_http_stop(cases2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_escalation_then_caseworker_takes_it),
		cmocka_unit_test(fine_on_the_call_resolves_as_false_alarm),
		cmocka_unit_test(needs_help_jumps_ahead_and_failures_fall_back),
		cmocka_unit_test(a_replayed_callback_changes_nothing),
		cmocka_unit_test(kill_in_the_middle_of_a_step),
		cmocka_unit_test(a_number_out_of_calls_falls_back_to_sms),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
