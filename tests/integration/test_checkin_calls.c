/*
 * test_checkin_calls.c - scheduled check-in calls end to end: carehubd with real
 * mosquitto and redis-server, a 2-second schedule (a group's, and a
 * subject's own), local HTTP servers playing the voice bot platform, and
 * signed callbacks into carehubd's HTTP server:
 *
 *  - a call goes out carrying its key <subject>:checkin:<slot> (body, header),
 *    the person's number and the check-in script; a subject who opted out of
 *    her group's check-ins is never called;
 *  - "I need help" (2) opens check_in_help at once, through the normal policy;
 *  - no answer to a call and to its retry, twice in a row, opens
 *    check_in_missed (the family and the caseworker, not the centre); her next
 *    "I am well" resolves it;
 *  - a sign of life within skip_if_active_within skips the calls;
 *  - kill -9 while the platform holds a slot's call: after the restart the
 *    same key goes again and no other call is made for that slot;
 *  - the caseworker's digest (every 4 s here) goes out on the log channel;
 *  - the trend report over the API and carehubctl report (a new home: still learning).
 */
#include "harness.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SECRET "test-checkin-secret"

#define POLICY                                                                                             \
	"{\"by_severity\":{\"critical\":\"p\",\"high\":\"p\",\"medium\":\"p\",\"low\":\"p\",\"info\":\"p\"},"   \
	"\"policies\":{\"p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"log\"]}]},"   \
	"\"check_in_missed\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\",\"caseworker\"],"             \
	"\"channels\":[\"log\"]}]}}}"

static struct t_hub hub;
static struct t_http *voice, *voice2;
static size_t after_help; /* the voice platform's requests before this came before "I need help" */
static int hub_port;
static const char *ov[6];
static char ov_port[64], ov_reg[600];

static int setup(void **state)
{
	static const int ok[] = {200}, hang_then_ok[] = {-1, 200};
	char chans[4096];

	(void)state;
	setenv("CH_TEST_CALLBACK_SECRET", SECRET, 1);
	voice = t_http_start(ok, 1);
	t_http_reply(voice, "{\"call_id\":\"call-%d\"}");
	voice2 = t_http_start(hang_then_ok, 2);
	t_http_reply(voice2, "{\"call_id\":\"k-%d\"}");
	hub_port = t_free_port();
	snprintf(chans, sizeof(chans),
		 "{\"call\": {\"plugin\": \"ai_call\", \"url\": \"http://127.0.0.1:%d/calls\","
		 " \"secret_env\": \"CH_TEST_CALLBACK_SECRET\", \"callback_url\": \"http://127.0.0.1:%d/v1/callbacks/call\"},"
		 " \"call2\": {\"plugin\": \"ai_call\", \"url\": \"http://127.0.0.1:%d/calls\", \"timeout\": \"60s\","
		 " \"secret_env\": \"CH_TEST_CALLBACK_SECRET\", \"callback_url\": \"http://127.0.0.1:%d/v1/callbacks/call2\"},"
		 " \"log\": {\"plugin\": \"log\", \"path\": \"%%DIR%%/notifications.jsonl\"}}",
		 t_http_port(voice), hub_port, t_http_port(voice2), hub_port);
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", hub_port);
	snprintf(ov_reg, sizeof(ov_reg), "registry.file=%s/tests/integration/fixtures/registry_checkin.json", t_src_dir());
	ov[0] = "http.enabled=true";
	ov[1] = ov_port;
	ov[2] = ov_reg;
	ov[3] = "care={\"digest\": {\"every\": \"4s\", \"channel\": \"log\"}}";
	ov[4] = "http.token_env=CH_TEST_API_TOKEN";
	ov[5] = NULL;
	setenv("CH_TEST_API_TOKEN", "checkin-test-token", 1);
	t_mqtt_init();
	t_hub_config(&hub, "checkin", chans, POLICY, NULL);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	t_http_release(voice2);
	t_http_stop(voice);
	t_http_stop(voice2);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Request i of server s as JSON; its Idempotency-Key in key. */
static json_t *request(struct t_http *s, size_t i, char *key, size_t len)
{
	struct t_http_req r;
	json_t *j;

	assert_true(t_http_get(s, i, &r));
	snprintf(key, len, "%s", r.idem);
	j = json_loads(r.body, 0, NULL);
	t_http_req_free(&r);
	assert_non_null(j);
	return j;
}

static bool is_call_of(const char *key, const char *sid)
{
	char pre[64];

	snprintf(pre, sizeof(pre), "%s:checkin:", sid);
	return strncmp(key, pre, strlen(pre)) == 0;
}

/* The first request at or after from that calls sid, or -1. */
static long find_call(struct t_http *s, const char *sid, size_t from)
{
	for (size_t i = from; i < t_http_count(s); i++) {
		char key[256];
		json_decref(request(s, i, key, sizeof(key)));
		if (is_call_of(key, sid))
			return (long)i;
	}
	return -1;
}

struct call_wait {
	struct t_http *s;
	const char *sid;
	size_t from;
};

static bool has_call(void *arg)
{
	struct call_wait *w = arg;

	return find_call(w->s, w->sid, w->from) >= 0;
}

/* Waits for the next call to sid from request index from on; its index and key. */
static size_t next_call(struct t_http *s, const char *sid, size_t from, char *key, size_t len)
{
	struct call_wait w = {s, sid, from};
	size_t i;

	assert_true(t_wait(has_call, &w, T_DEADLINE_MS));
	i = (size_t)find_call(s, sid, from);
	json_decref(request(s, i, key, len));
	return i;
}

/* A signed callback from the platform about call key: the HTTP status. */
static long answer(const char *channel, const char *key, const char *status, const char *ans)
{
	char url[256], body[512], sig[65], hts[64], hsig[128], ts[32], out[1024];
	const char *headers[] = {"Content-Type: application/json", hts, hsig, NULL};

	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"call_id\":\"c-1\",\"status\":\"%s\",\"answer\":\"%s\"}", key,
		 status, ans);
	snprintf(ts, sizeof(ts), "%lld", (long long)(t_wall_ms() / 1000));
	ch_http_sign_hmac(SECRET, ts, body, strlen(body), sig);
	snprintf(hts, sizeof(hts), "X-Carehub-Timestamp: %s", ts);
	snprintf(hsig, sizeof(hsig), "X-Carehub-Signature: %s", sig);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/callbacks/%s", hub_port, channel);
	return t_http_call(url, headers, body, out, sizeof(out));
}

static char *open_alert(const char *sid, const char *rule)
{
	return t_redis_str("GET %s{%s}:open:%s", hub.prefix, sid, rule);
}

struct open_wait {
	const char *sid, *rule;
};

static bool alert_opened(void *arg)
{
	struct open_wait *w = arg;
	char *id = open_alert(w->sid, w->rule);

	free(id);
	return id != NULL;
}

static json_t *alert_doc(const char *id)
{
	char sid[64], *colon, *doc;
	json_t *j;

	snprintf(sid, sizeof(sid), "%s", id);
	colon = strrchr(sid, ':');
	assert_non_null(colon);
	*colon = '\0';
	doc = t_redis_str("GET %s{%s}:alert:%s", hub.prefix, sid, colon + 1);
	assert_non_null(doc);
	j = json_loads(doc, 0, NULL);
	free(doc);
	return j;
}

static char *checkin_field(const char *sid, const char *field)
{
	return t_redis_str("HGET %s{%s}:checkin %s", hub.prefix, sid, field);
}

/* ---------------------------------------------------------------- tests */

static void a_call_carries_the_key(void **state)
{
	char key[256], want[64], idem[256];
	json_t *j;
	size_t i;

	(void)state;
	i = next_call(voice, "ci-a", 0, key, sizeof(key));
	j = request(voice, i, idem, sizeof(idem));
	/* <subject>:checkin:<slot>, slot the due instant in UTC: ci-a:checkin:20261128T013000Z */
	assert_int_equal(strlen(key), strlen("ci-a:checkin:20261128T013000Z"));
	assert_string_equal(json_string_value(json_object_get(j, "id")), key);
	assert_string_equal(json_string_value(json_object_get(j, "to")), "+8613800000101");
	assert_string_equal(json_string_value(json_object_get(j, "role")), "self");
	assert_non_null(strstr(json_string_value(json_object_get(j, "script")), "今天打电话来问候您"));
	assert_non_null(strstr(json_string_value(json_object_get(j, "script")), "王秀英"));
	snprintf(want, sizeof(want), "/v1/callbacks/call");
	assert_non_null(strstr(json_string_value(json_object_get(j, "callback_url")), want));
	json_decref(j);
}

static void needs_help_opens_an_alert_at_once(void **state)
{
	struct open_wait w = {"ci-a", "check_in_help"};
	char key[256], *id, *last;
	json_t *doc;

	(void)state;
	after_help = next_call(voice, "ci-a", t_http_count(voice), key, sizeof(key)) + 1;
	assert_int_equal(answer("call", key, "answered", "needs_help"), 200);
	assert_true(t_wait(alert_opened, &w, T_DEADLINE_MS));
	id = open_alert("ci-a", "check_in_help");
	doc = alert_doc(id);
	assert_string_equal(json_string_value(json_object_get(doc, "severity")), "high");
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "last_event"), "value")), "needs_help");
	last = checkin_field("ci-a", "last");
	assert_string_equal(last, "needs_help");
	/* The same callback again (the platform retries) changes nothing. */
	assert_int_equal(answer("call", key, "answered", "needs_help"), 200);
	free(last);
	free(id);
	json_decref(doc);
}

/* No answer to a call and to its retry, twice: check_in_missed; then "I am well" resolves it. */
static void two_missed_open_check_in_missed(void **state)
{
	struct open_wait w = {"ci-a", "check_in_missed"};
	char key[256], *id;
	size_t from = after_help, calls = 0, retries = 0;
	json_t *doc;

	(void)state;
	/* Every call after "I need help" goes unanswered: a slot's call, its retry, the next slot's two. */
	while (calls < 4) {
		from = next_call(voice, "ci-a", from, key, sizeof(key)) + 1;
		assert_false(alert_opened(&w)); /* not before the fourth */
		calls++;
		retries += strstr(key, ":retry") != NULL;
		assert_int_equal(answer("call", key, strstr(key, ":retry") ? "busy" : "no_answer", "none"), 200);
	}
	assert_int_equal(retries, 2);
	assert_true(t_wait(alert_opened, &w, T_DEADLINE_MS));
	id = open_alert("ci-a", "check_in_missed");
	doc = alert_doc(id);
	assert_string_equal(json_string_value(json_object_get(doc, "severity")), "medium");
	assert_string_equal(json_string_value(json_object_get(doc, "policy")), "check_in_missed");
	json_decref(doc);
	/* Her next answer: "I am well" closes it. */
	from = next_call(voice, "ci-a", from, key, sizeof(key)) + 1;
	assert_int_equal(answer("call", key, "answered", "confirmed_safe"), 200);
	for (int64_t end = t_now_ms() + T_DEADLINE_MS;; t_sleep_ms(20)) {
		doc = alert_doc(id);
		if (strcmp(json_string_value(json_object_get(doc, "state")), "resolved") == 0)
			break;
		json_decref(doc);
		assert_true(t_now_ms() < end);
	}
	assert_string_equal(json_string_value(json_object_get(doc, "outcome")), "activity_resumed");
	json_decref(doc);
	free(id);
}

struct skip_wait {
	char slot[40]; /* the last skipped slot seen */
};

/* ci-b's last slot was skipped for activity, and it is not the one seen last time. */
static bool skipped_again(void *arg)
{
	struct skip_wait *w = arg;
	char *last = checkin_field("ci-b", "last"), *slot = checkin_field("ci-b", "last_slot");
	char *reason = checkin_field("ci-b", "reason");
	bool hit = last && slot && reason && strcmp(last, "skipped") == 0 && strncmp(reason, "active", 6) == 0 &&
		   strcmp(slot, w->slot) != 0;

	if (hit)
		snprintf(w->slot, sizeof(w->slot), "%s", slot);
	free(last);
	free(slot);
	free(reason);
	return hit;
}

static void recent_activity_skips_the_call(void **state)
{
	struct skip_wait w = {""};
	char first[40];

	(void)state;
	t_publish_event("ci-b-pir", "{\"device\":\"ci-b-pir\",\"type\":\"motion\",\"value\":true}");
	assert_true(t_wait(skipped_again, &w, T_DEADLINE_MS));
	snprintf(first, sizeof(first), "%s", w.slot);
	/* Two more slots go by, skipped too. */
	assert_true(t_wait(skipped_again, &w, T_DEADLINE_MS));
	assert_true(t_wait(skipped_again, &w, T_DEADLINE_MS));
	/* No call for a later slot (keys sort as their instants); the first skipped slot may have had its
	 * first call before the motion came, but then its retry was skipped. */
	for (size_t i = 0; i < t_http_count(voice); i++) {
		char key[256];
		json_decref(request(voice, i, key, sizeof(key)));
		if (!is_call_of(key, "ci-b"))
			continue;
		int cmp = strncmp(key + strlen("ci-b:checkin:"), first, strlen(first));
		assert_true(cmp < 0 || (cmp == 0 && !strstr(key, ":retry")));
	}
	/* A subject who opted out of her group's schedule was never called. */
	assert_int_equal(find_call(voice, "ci-off", 0), -1);
}

/* kill -9 while the platform holds ci-k's first call: after the restart, the same key again, nothing else. */
static void kill_between_schedule_and_call(void **state)
{
	char key[256], again[256], *tries, *phase;
	struct call_wait w = {voice2, "ci-k", 1}, a = {voice, "ci-a", 0};

	(void)state;
	next_call(voice2, "ci-k", 0, key, sizeof(key));
	t_hub_kill(&hub);
	t_hub_start(&hub, ov);
	assert_true(t_wait(has_call, &w, T_DEADLINE_MS));
	json_decref(request(voice2, (size_t)find_call(voice2, "ci-k", 1), again, sizeof(again)));
	assert_string_equal(again, key);
	/* The restarted hub has made other calls since (its check-in loop has run a few times): still no
	 * second key for ci-k's slot, nor a call for another slot while this one waits for its answer. */
	a.from = t_http_count(voice);
	for (int n = 0; n < 3; n++) {
		assert_true(t_wait(has_call, &a, T_DEADLINE_MS));
		a.from = (size_t)find_call(voice, "ci-a", a.from) + 1;
	}
	for (size_t i = 0; i < t_http_count(voice2); i++) {
		json_decref(request(voice2, i, again, sizeof(again)));
		assert_string_equal(again, key);
	}
	tries = checkin_field("ci-k", "tries");
	phase = checkin_field("ci-k", "phase");
	assert_string_equal(tries, "1");
	assert_string_equal(phase, "1");
	free(tries);
	free(phase);
}

/* The first digest line in the log channel's file, or NULL. */
static json_t *digest_note(void)
{
	char path[700], line[65536];
	json_t *found = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/notifications.jsonl", hub.dir);
	if (!(f = fopen(path, "r")))
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *key = json_string_value(json_object_get(j, "key"));
		if (key && strncmp(key, "digest:", 7) == 0)
			found = json_incref(json_object_get(j, "notification"));
		json_decref(j);
	}
	fclose(f);
	return found;
}

static bool has_digest(void *arg)
{
	json_t *n = digest_note();

	(void)arg;
	json_decref(n);
	return n != NULL;
}

static void caseworker_digest(void **state)
{
	json_t *n, *c;
	const char *text;

	(void)state;
	assert_true(t_wait(has_digest, NULL, T_DEADLINE_MS));
	n = digest_note();
	c = json_object_get(n, "contact");
	assert_string_equal(json_string_value(json_object_get(c, "role")), "caseworker");
	assert_string_equal(json_string_value(json_object_get(c, "name")), "张社工");
	assert_string_equal(json_string_value(json_object_get(json_object_get(n, "alert"), "rule")), "digest");
	text = json_string_value(json_object_get(n, "text"));
	assert_non_null(strstr(text, "【每周关爱简报】"));
	assert_non_null(strstr(text, "1. 王秀英 (ci-a): "));
	json_decref(n);
}

static void trend_report_over_the_api(void **state)
{
	const char *auth[] = {"Authorization: Bearer checkin-test-token", NULL};
	char url[256], body[65536], cmd[1024];
	json_t *j;
	FILE *p;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/subjects/ci-b/report?weeks=2", hub_port);
	assert_int_equal(t_http_call(url, auth, NULL, body, sizeof(body)), 200);
	j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "subject"), "id")), "ci-b");
	assert_string_equal(json_string_value(json_object_get(j, "timezone")), "Asia/Shanghai");
	assert_true(json_is_true(json_object_get(j, "learning"))); /* a home seen today only */
	assert_true(json_is_array(json_object_get(j, "flags")));
	assert_true(json_is_object(json_object_get(j, "daily")));
	json_decref(j);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/subjects/nobody/report", hub_port);
	assert_int_equal(t_http_call(url, auth, NULL, body, sizeof(body)), 404);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/subjects/ci-b/report?weeks=9", hub_port);
	assert_int_equal(t_http_call(url, auth, NULL, body, sizeof(body)), 400);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/subjects/ci-b/report", hub_port);
	assert_int_equal(t_http_call(url, NULL, NULL, body, sizeof(body)), 401);
	snprintf(cmd, sizeof(cmd),
		 "CAREHUB_API_TOKEN=checkin-test-token CAREHUB_URL=http://127.0.0.1:%d '%s/carehubctl' report --subject ci-b "
		 "--weeks 2 2>&1",
		 hub_port, t_build_dir());
	p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(body, 1, sizeof(body) - 1, p);
	body[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(body, "李建国 (ci-b), Asia/Shanghai"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_call_carries_the_key),
		cmocka_unit_test(needs_help_opens_an_alert_at_once),
		cmocka_unit_test(two_missed_open_check_in_missed),
		cmocka_unit_test(recent_activity_skips_the_call),
		cmocka_unit_test(kill_between_schedule_and_call),
		cmocka_unit_test(caseworker_digest),
		cmocka_unit_test(trend_report_over_the_api),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
