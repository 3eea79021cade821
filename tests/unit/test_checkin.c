/*
 * test_checkin.c - scheduled check-in calls as pure decisions (checkin.h) on a
 * virtual clock: the "check_in" block and its refusals, due times in the
 * subject's zone ("at" times across days and a spring-forward gap, "every"
 * restarting at local midnight), keys, and one slot's whole life (call, no
 * answer, the retry, missed, the alert after N, "I am well", "I need help",
 * a late answer, skips for activity, away, a silence, quiet hours and a hub
 * that was down), the answer message and provider callbacks.
 */
#include "checkin.h"
#include "clock.h"
#include "registry.h"
#include "tz.h"
#include "../plugins/carehub_plugin.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S 1000LL
#define M (60 * S)
#define H (60 * M)

static int64_t at(const char *rfc3339)
{
	int64_t ms;

	assert_int_equal(ch_event_parse_rfc3339(rfc3339, &ms), 0);
	return ms;
}

static void conf(const char *json, struct ch_checkin_conf *c)
{
	json_t *j = json_loads(json, 0, NULL);
	char ptr[64], err[256];

	assert_non_null(j);
	if (ch_checkin_conf_parse(j, c, ptr, sizeof(ptr), err, sizeof(err)))
		fail_msg("%s: %s%s", json, ptr, err);
	json_decref(j);
}

static void refused(const char *json, const char *want_ptr, const char *want_words)
{
	json_t *j = json_loads(json, 0, NULL);
	struct ch_checkin_conf c;
	char ptr[64], err[256];

	assert_non_null(j);
	assert_int_equal(ch_checkin_conf_parse(j, &c, ptr, sizeof(ptr), err, sizeof(err)), CH_ECONFIG);
	if (strcmp(ptr, want_ptr) != 0 || !strstr(err, want_words))
		fail_msg("%s: got %s: %s", json, ptr, err);
	json_decref(j);
}

static const struct ch_tz *zone(const char *name)
{
	const struct ch_tz *tz;
	char err[256];

	if (ch_tz_get(name, &tz, err, sizeof(err)))
		fail_msg("%s", err);
	return tz;
}

static void test_conf(void **state)
{
	struct ch_checkin_conf c, d;

	(void)state;
	conf("{\"at\": [\"18:00\", \"09:30\", \"09:30\"]}", &c);
	assert_int_equal(c.nat, 2);
	assert_int_equal(c.at_min[0], 9 * 60 + 30);
	assert_int_equal(c.at_min[1], 18 * 60);
	assert_string_equal(c.channel, "ai_call");
	assert_int_equal(c.alert_after_missed, 2);
	assert_int_equal(c.retry_after_ms, 10 * M);
	assert_int_equal(c.answer_within_ms, 15 * M);
	assert_int_equal(c.skip_active_ms, 0);
	conf("{\"at\": \"09:30\"}", &d);
	assert_int_equal(d.nat, 1);
	assert_int_not_equal(c.hash, d.hash);
	conf("{\"every\": 2, \"skip_if_active_within\": \"90m\", \"channel\": \"call\", \"alert_after_missed\": 3, "
	     "\"retry_after\": \"1s\", \"answer_within\": 3}",
	     &c);
	assert_int_equal(c.every_ms, 2 * S);
	assert_int_equal(c.skip_active_ms, 90 * M);
	assert_int_equal(c.answer_within_ms, 3 * S);
	refused("{}", "", "one of \"at\"");
	refused("{\"at\": \"09:30\", \"every\": \"1h\"}", "", "one of \"at\"");
	refused("{\"at\": [\"09:30\", \"25:00\"]}", "/at/1", "HH:MM");
	refused("{\"at\": []}", "/at", "1-12");
	refused("{\"every\": \"2d\"}", "/every", "1s to 1d");
	refused("{\"every\": \"0s\"}", "/every", "1s to 1d");
	refused("{\"at\": \"09:30\", \"skip_if_active\": \"1h\"}", "/skip_if_active", "unknown key");
	refused("{\"at\": \"09:30\", \"alert_after_missed\": -1}", "/alert_after_missed", "0..100");
	refused("{\"at\": \"09:30\", \"channel\": \"a b\"}", "/channel", "names a channel");
	refused("[]", "", "must be an object");
}

static void test_due_times(void **state)
{
	const struct ch_tz *sh = zone("Asia/Shanghai"), *ny = zone("America/New_York");
	struct ch_checkin_conf c;
	char slot[CH_CHECKIN_SLOT_LEN];

	(void)state;
	conf("{\"at\": [\"09:30\", \"18:00\"]}", &c);
	assert_int_equal(ch_checkin_next_due(&c, sh, at("2026-11-28T00:00:00+08:00")), at("2026-11-28T09:30:00+08:00"));
	/* Strictly after: the 09:30 slot at 09:30 is the one just due, the next is 18:00. */
	assert_int_equal(ch_checkin_next_due(&c, sh, at("2026-11-28T09:30:00+08:00")), at("2026-11-28T18:00:00+08:00"));
	assert_int_equal(ch_checkin_next_due(&c, sh, at("2026-11-28T18:00:00+08:00")), at("2026-11-29T09:30:00+08:00"));
	ch_checkin_slot_name(at("2026-11-28T09:30:00+08:00"), slot, sizeof(slot));
	assert_string_equal(slot, "20261128T013000Z");
	/* Spring forward in New York: 02:30 does not exist on 2026-03-08; the call comes just after the gap. */
	conf("{\"at\": \"02:30\"}", &c);
	assert_int_equal(ch_checkin_next_due(&c, ny, at("2026-03-08T00:00:00-05:00")), at("2026-03-08T03:00:00-04:00"));
	assert_int_equal(ch_checkin_next_due(&c, ny, at("2026-03-09T00:00:00-04:00")), at("2026-03-09T02:30:00-04:00"));
	/* "every" restarts at local midnight: 6h is 00, 06, 12, 18; 5h ends the day at 20:00. */
	conf("{\"every\": \"6h\"}", &c);
	assert_int_equal(ch_checkin_next_due(&c, sh, at("2026-11-28T07:00:00+08:00")), at("2026-11-28T12:00:00+08:00"));
	assert_int_equal(ch_checkin_next_due(&c, sh, at("2026-11-28T23:00:00+08:00")), at("2026-11-29T00:00:00+08:00"));
	conf("{\"every\": \"5h\"}", &c);
	assert_int_equal(ch_checkin_next_due(&c, sh, at("2026-11-28T20:00:00+08:00")), at("2026-11-29T00:00:00+08:00"));
	conf("{\"every\": \"2s\"}", &c);
	assert_int_equal(ch_checkin_next_due(&c, sh, at("2026-11-28T10:00:01+08:00")), at("2026-11-28T10:00:02+08:00"));
}

static void test_keys(void **state)
{
	char key[CH_CHECKIN_KEY_MAX], sid[CH_DEVICE_MAX], slot[CH_CHECKIN_SLOT_LEN];
	int t;

	(void)state;
	assert_int_equal(ch_checkin_key("a:b", "20261128T013000Z", 2, key, sizeof(key)), 0);
	assert_string_equal(key, "a:b:checkin:20261128T013000Z:retry");
	assert_true(ch_checkin_key_parse(key, sid, sizeof(sid), slot, &t));
	assert_string_equal(sid, "a:b");
	assert_string_equal(slot, "20261128T013000Z");
	assert_int_equal(t, 2);
	assert_true(ch_checkin_key_parse("s-001:checkin:20261128T013000Z", sid, sizeof(sid), slot, &t));
	assert_int_equal(t, 1);
	assert_false(ch_checkin_key_parse("s-001:1:0:3297680b:call", sid, sizeof(sid), slot, &t));
	assert_false(ch_checkin_key_parse("s-001:checkin:20261128T01300Z", sid, sizeof(sid), slot, &t));
	assert_false(ch_checkin_key_parse(":checkin:20261128T013000Z", sid, sizeof(sid), slot, &t));
}

/* A subject's slots on a virtual clock. */
struct run {
	struct ch_checkin_conf c;
	const struct ch_tz *tz;
	struct ch_checkin_state st;
	struct ch_checkin_ctx cx;
	int64_t now;
};

static struct ch_checkin_step tick(struct run *r)
{
	struct ch_checkin_step s;

	ch_checkin_tick(&r->c, r->tz, &r->st, &r->cx, r->now, &s);
	if (s.what != CH_CI_ANSWER)
		r->st = s.next;
	return s;
}

static struct ch_checkin_result say(struct run *r, const char *outcome, int try_no, const char *detail)
{
	struct ch_checkin_answer a = {.try_no = try_no};
	struct ch_checkin_result res;

	ch_strlcpy(a.sid, "s-001", sizeof(a.sid));
	ch_strlcpy(a.slot, r->st.slot, sizeof(a.slot));
	ch_strlcpy(a.outcome, outcome, sizeof(a.outcome));
	ch_strlcpy(a.detail, detail ? detail : "", sizeof(a.detail));
	ch_checkin_apply(&r->c, r->tz, &r->st, &a, r->now, &res);
	if (!res.stale)
		r->st = res.next;
	return res;
}

/* Runs the clock to the next thing due and ticks. */
static struct ch_checkin_step next(struct run *r)
{
	r->now = r->st.next_ms;
	return tick(r);
}

static void run_init(struct run *r, const char *json)
{
	memset(r, 0, sizeof(*r));
	conf(json, &r->c);
	r->tz = zone("Asia/Shanghai");
	r->cx.reachable = true;
	r->now = at("2026-11-28T08:00:00+08:00");
	assert_int_equal(tick(r).what, CH_CI_NOTHING); /* the first slot is scheduled */
	assert_int_equal(r->st.due_ms, at("2026-11-28T09:30:00+08:00"));
}

static void test_slot_life(void **state)
{
	struct run r;
	struct ch_checkin_step s;
	struct ch_checkin_result res;
	char first[CH_CHECKIN_SLOT_LEN];

	(void)state;
	run_init(&r, "{\"at\": [\"09:30\", \"18:00\"], \"retry_after\": \"10m\", \"answer_within\": \"15m\"}");
	/* 09:30: the call; no answer: a retry 10 minutes later; busy again: missed. */
	s = next(&r);
	assert_int_equal(s.what, CH_CI_CALL);
	assert_int_equal(s.try_no, 1);
	assert_int_equal(r.st.phase, CH_CI_CALLING);
	assert_int_equal(r.st.next_ms, at("2026-11-28T09:45:00+08:00"));
	r.now += 30 * S;
	res = say(&r, "no_answer", 1, NULL);
	assert_false(res.final);
	assert_int_equal(r.st.phase, CH_CI_RETRY);
	/* A second report about call 1 changes nothing. */
	assert_true(say(&r, "busy", 1, NULL).stale);
	s = next(&r);
	assert_int_equal(s.what, CH_CI_CALL);
	assert_int_equal(s.try_no, 2);
	r.now += 20 * S;
	ch_strlcpy(first, r.st.slot, sizeof(first));
	res = say(&r, "busy", 2, NULL);
	assert_true(res.final);
	assert_string_equal(res.value, "missed");
	assert_int_equal(res.missed, 1);
	assert_false(res.alert);
	assert_int_equal(r.st.due_ms, at("2026-11-28T18:00:00+08:00"));
	/* 18:00: no callback at all within 15 minutes counts as no answer; the retry unanswered too. */
	assert_int_equal(next(&r).what, CH_CI_CALL);
	s = next(&r);
	assert_int_equal(s.what, CH_CI_ANSWER);
	assert_string_equal(s.outcome, "no_answer");
	assert_non_null(strstr(s.reason, "no answer within 15m"));
	say(&r, s.outcome, r.st.tries, s.reason);
	assert_int_equal(next(&r).what, CH_CI_CALL);
	r.now += 5 * S;
	res = say(&r, "answered", 2, "picked up, no key pressed");
	assert_true(res.final);
	assert_int_equal(res.missed, 2);
	assert_true(res.alert); /* alert_after_missed: 2 */
	/* The late "I need help" of the morning's slot still counts. */
	{
		struct ch_checkin_answer a = {.try_no = 1};
		ch_strlcpy(a.slot, r.st.last_slot, sizeof(a.slot));
		ch_strlcpy(a.outcome, "needs_help", sizeof(a.outcome));
		ch_checkin_apply(&r.c, r.tz, &r.st, &a, r.now, &res);
		assert_true(res.final);
		assert_string_equal(res.value, "needs_help");
		assert_true(res.reached);
		ch_strlcpy(a.slot, first, sizeof(a.slot)); /* two slots back: too late */
		ch_checkin_apply(&r.c, r.tz, &r.st, &a, r.now, &res);
		assert_true(res.stale);
	}
	/* The next morning she answers: well, the run of misses ends. */
	assert_int_equal(next(&r).what, CH_CI_CALL);
	res = say(&r, "confirmed_safe", 1, NULL);
	assert_true(res.final && res.reached);
	assert_string_equal(res.value, "well");
	assert_int_equal(res.missed, 0);
	assert_int_equal(r.st.missed, 0);
}

static void test_skips(void **state)
{
	struct run r;
	struct ch_checkin_step s;
	struct ch_checkin_result res;

	(void)state;
	run_init(&r, "{\"at\": [\"09:30\"], \"skip_if_active_within\": \"2h\"}");
	r.st.missed = 1;
	/* Seen in the kitchen at 08:15: no call; a sign of life ends the run of misses. */
	r.cx.last_active_ms = at("2026-11-28T08:15:00+08:00");
	s = next(&r);
	assert_int_equal(s.what, CH_CI_ANSWER);
	assert_string_equal(s.outcome, "skipped");
	if (!strstr(s.reason, "active ") || !strstr(s.reason, " ago"))
		fail_msg("%s", s.reason);
	res = say(&r, s.outcome, 0, s.reason);
	assert_true(res.final);
	assert_string_equal(res.value, "skipped");
	assert_int_equal(res.missed, 0);
	/* Away, silenced, quiet hours: skipped, and they say nothing about her (the count stays). */
	r.cx.last_active_ms = 0;
	r.st.missed = 1;
	r.cx.away = true;
	s = next(&r);
	assert_string_equal(s.reason, "away");
	assert_int_equal(say(&r, s.outcome, 0, s.reason).missed, 1);
	r.cx.away = false;
	r.cx.silenced = true;
	assert_string_equal(next(&r).reason, "silenced");
	say(&r, "skipped", 0, "silenced");
	r.cx.silenced = false;
	r.cx.quiet = true;
	assert_string_equal(next(&r).reason, "quiet hours");
	say(&r, "skipped", 0, "quiet hours");
	r.cx.quiet = false;
	r.cx.reachable = false;
	assert_string_equal(next(&r).reason, "no channel or number to call");
	say(&r, "skipped", 0, "x");
	r.cx.reachable = true;
	/* The hub was down at 09:30 and is back at 11:00: too late for this one. */
	r.now = r.st.next_ms + 90 * M;
	s = tick(&r);
	assert_int_equal(s.what, CH_CI_ANSWER);
	assert_non_null(strstr(s.reason, "late"));
	say(&r, s.outcome, 0, s.reason);
	/* Back at 09:45 instead: still called. */
	r.now = r.st.next_ms + 15 * M;
	assert_int_equal(tick(&r).what, CH_CI_CALL);
	/* No answer; then she moves about before the retry: the retry is needless. */
	say(&r, "no_answer", 1, NULL);
	r.cx.last_active_ms = r.now + 2 * M;
	s = next(&r);
	assert_int_equal(s.what, CH_CI_ANSWER);
	assert_non_null(strstr(s.reason, "active since the first call"));
	res = say(&r, s.outcome, 0, s.reason);
	assert_true(res.final);
	assert_int_equal(res.missed, 0);
	/* An answer about a call nobody made, and an unknown outcome, are stale. */
	assert_true(say(&r, "confirmed_safe", 1, NULL).stale);
	assert_true(say(&r, "maybe", 1, NULL).stale);
}

static void test_schedule_change(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "{\"at\": [\"09:30\"]}");
	conf("{\"at\": [\"07:00\", \"20:00\"]}", &r.c);
	assert_int_equal(tick(&r).what, CH_CI_NOTHING);
	assert_int_equal(r.st.due_ms, at("2026-11-28T20:00:00+08:00"));
	assert_int_equal(r.st.conf_hash, r.c.hash);
}

static void test_messages(void **state)
{
	struct ch_checkin_answer a = {.try_no = 2}, b;
	struct ch_checkin_result r = {.final = true, .missed = 3, .alert = true};
	char err[256], *j;
	const char *bad;
	json_t *ev;

	(void)state;
	ch_strlcpy(a.sid, "s-001", sizeof(a.sid));
	ch_strlcpy(a.slot, "20261128T013000Z", sizeof(a.slot));
	ch_strlcpy(a.outcome, "busy", sizeof(a.outcome));
	ch_strlcpy(a.via, "call", sizeof(a.via));
	ch_strlcpy(a.detail, "line busy", sizeof(a.detail));
	j = ch_checkin_answer_json(&a);
	assert_int_equal(ch_checkin_answer_parse(j, strlen(j), &b, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	free(j);
	assert_int_equal(ch_checkin_answer_parse("{\"subject\":\"s\",\"slot\":\"2026\",\"try\":1,\"outcome\":\"busy\"}", 58,
						 &b, err, sizeof(err)),
			 CH_EINVAL);
	bad = "{\"subject\":\"s\",\"slot\":\"20261128T013000Z\",\"try\":3,\"outcome\":\"busy\"}";
	assert_int_equal(ch_checkin_answer_parse(bad, strlen(bad), &b, err, sizeof(err)), CH_EINVAL);
	bad = "{\"subject\":\"s\",\"slot\":\"20261128T013000Z\",\"try\":1,\"outcome\":\"fine\"}";
	assert_int_equal(ch_checkin_answer_parse(bad, strlen(bad), &b, err, sizeof(err)), CH_EINVAL);
	ch_strlcpy(r.value, "missed", sizeof(r.value));
	j = ch_checkin_event_json(&a, &r, 1795824900000LL);
	ev = json_loads(j, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(ev, "id")), "checkin:20261128T013000Z:missed");
	assert_string_equal(json_string_value(json_object_get(ev, "device")), "checkin");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "check_in");
	assert_true(json_is_true(json_object_get(json_object_get(ev, "data"), "alert")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "missed")), 3);
	json_decref(ev);
	free(j);
}

static void test_callbacks(void **state)
{
	static const char reg_json[] =
		"{\"groups\":[{\"id\":\"g\",\"check_in\":{\"at\":\"09:30\",\"channel\":\"call\"}}],"
		"\"subjects\":[{\"id\":\"s-001\",\"name\":\"A\",\"group\":\"g\"},{\"id\":\"s-002\",\"name\":\"B\"},"
		"{\"id\":\"s-003\",\"name\":\"C\",\"group\":\"g\",\"check_in\":false}]}";
	struct ch_registry *reg;
	struct ch_callback_result r = {.outcome = CH_CB_NEEDS_HELP};
	struct ch_checkin_answer a;
	char err[256], *doc;

	(void)state;
	assert_int_equal(ch_registry_parse("r", reg_json, strlen(reg_json), &reg, err, sizeof(err)), 0);
	assert_non_null(ch_registry_subject(reg, "s-001")->check_in);
	assert_null(ch_registry_subject(reg, "s-002")->check_in);
	assert_null(ch_registry_subject(reg, "s-003")->check_in);
	/* The stored record carries the group's block, so a record read back has it. */
	assert_non_null(json_object_get(ch_registry_subject(reg, "s-001")->json, "check_in"));
	ch_strlcpy(r.idempotency_key, "s-001:checkin:20261128T013000Z:retry", sizeof(r.idempotency_key));
	ch_strlcpy(r.reason, "call answered, answer needs_help", sizeof(r.reason));
	assert_int_equal(ch_checkin_from_callback(reg, "call", &r, &doc, err, sizeof(err)), 0);
	assert_int_equal(ch_checkin_answer_parse(doc, strlen(doc), &a, err, sizeof(err)), 0);
	assert_string_equal(a.outcome, "needs_help");
	assert_int_equal(a.try_no, 2);
	assert_string_equal(a.via, "call");
	free(doc);
	assert_int_equal(ch_checkin_from_callback(reg, "sms", &r, &doc, err, sizeof(err)), CH_EINVAL);
	r.outcome = CH_CB_DELIVERED;
	assert_int_equal(ch_checkin_from_callback(reg, "call", &r, &doc, err, sizeof(err)), CH_EAGAIN);
	r.outcome = CH_CB_NO_ANSWER;
	ch_strlcpy(r.idempotency_key, "s-002:checkin:20261128T013000Z", sizeof(r.idempotency_key));
	assert_int_equal(ch_checkin_from_callback(reg, "call", &r, &doc, err, sizeof(err)), CH_ENOTFOUND);
	ch_strlcpy(r.idempotency_key, "s-001:3:1:0e9de21e:call", sizeof(r.idempotency_key));
	assert_int_equal(ch_checkin_from_callback(reg, "call", &r, &doc, err, sizeof(err)), CH_ENOTFOUND);
	ch_registry_free(reg);
	/* A group naming a bad block, and a subject naming no group, are refused where they are. */
	const char *bad_group = "{\"groups\":[{\"id\":\"g\",\"check_in\":{\"at\":\"9:30\"}}],\"subjects\":[]}";
	const char *no_group = "{\"subjects\":[{\"id\":\"s\",\"name\":\"n\",\"group\":\"x\"}]}";
	assert_int_equal(ch_registry_parse("r", bad_group, strlen(bad_group), &reg, err, sizeof(err)), CH_ECONFIG);
	if (!strstr(err, "HH:MM") || !strstr(err, "r:1:"))
		fail_msg("%s", err);
	assert_int_equal(ch_registry_parse("r", no_group, strlen(no_group), &reg, err, sizeof(err)), CH_ECONFIG);
	assert_non_null(strstr(err, "group \"x\" is not in \"groups\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf),	    cmocka_unit_test(test_due_times), cmocka_unit_test(test_keys),
		cmocka_unit_test(test_slot_life),   cmocka_unit_test(test_skips),     cmocka_unit_test(test_schedule_change),
		cmocka_unit_test(test_messages),    cmocka_unit_test(test_callbacks),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	ch_tz_cache_clear();
	return rc;
}
