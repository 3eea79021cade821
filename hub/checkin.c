/*
 * checkin.c - scheduled check-in calls: the "check_in" block, due times in the
 * subject's zone, and each slot's life (see checkin.h).
 *
 * Why pure functions of (config, state, answer, now): the same decisions run
 * in carehubd on state read from Redis, in unit tests on a virtual clock, and
 * under the fuzzer; the I/O (claiming due subjects, queueing the call,
 * compare-and-set of the state) is care.c and store_care.c.
 */
#include "checkin.h"
#include "clock.h"
#include "registry.h"
#include "template.h"
#include "tz.h"
#include "../plugins/carehub_plugin.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHANNEL "ai_call"
#define DEFAULT_MISSED 2
#define DEFAULT_RETRY_MS (10 * 60000LL)
#define DEFAULT_ANSWER_MS (15 * 60000LL)
#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

/* ------------------------------------------------------------------ */
/* The "check_in" block                                                */
/* ------------------------------------------------------------------ */

static int bad(char *ptr, size_t ptrlen, const char *where, char *err, size_t errlen, const char *msg)
{
	ch_strlcpy(ptr, where, ptrlen);
	ch_strlcpy(err, msg, errlen);
	return CH_ECONFIG;
}

/* A duration as seconds (integer) or text ("90s", "2h"), within [min_ms, max_ms]. */
static bool duration_in(json_t *v, int64_t min_ms, int64_t max_ms, int64_t *out)
{
	int64_t ms;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > max_ms / 1000)
			return false;
		ms = json_integer_value(v) * 1000;
	} else if (!json_is_string(v) || ch_parse_duration(json_string_value(v), &ms)) {
		return false;
	}
	if (ms < min_ms || ms > max_ms)
		return false;
	*out = ms;
	return true;
}

/* "HH:MM" (00:00..23:59) to minutes of the day, or -1. */
static int hhmm(const char *s)
{
	if (!s || strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++) {
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	}
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	return h < 24 && m < 60 ? h * 60 + m : -1;
}

static bool channel_name_ok(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return n >= 1 && n < 64;
}

static int parse_at(json_t *at, struct ch_checkin_conf *c, char *ptr, size_t ptrlen, char *err, size_t errlen)
{
	json_t *one = json_is_string(at) ? at : NULL, *v;
	size_t i, n = one ? 1 : json_array_size(at);

	if ((!one && !json_is_array(at)) || n == 0 || n > CH_CHECKIN_MAX_AT)
		return bad(ptr, ptrlen, "/at", err, errlen,
			   "\"at\" is a local time \"HH:MM\" or a list of 1-12 of them, e.g. [\"09:30\", \"18:00\"]");
	for (i = 0; i < n; i++) {
		int m;
		v = one ? one : json_array_get(at, i);
		m = hhmm(json_string_value(v));
		if (m < 0) {
			char p[32];
			ch_fmt(p, sizeof(p), one ? "/at" : "/at/%zu", i);
			return bad(ptr, ptrlen, p, err, errlen, "a check-in time is \"HH:MM\" (00:00-23:59), e.g. \"09:30\"");
		}
		/* Sorted, each once: insertion into a short array. */
		int k = c->nat;
		bool dup = false;
		for (int j = 0; j < c->nat; j++)
			dup = dup || c->at_min[j] == m;
		if (dup)
			continue;
		while (k > 0 && c->at_min[k - 1] > m) {
			c->at_min[k] = c->at_min[k - 1];
			k--;
		}
		c->at_min[k] = m;
		c->nat++;
	}
	return 0;
}

int ch_checkin_conf_parse(json_t *o, struct ch_checkin_conf *out, char *ptr, size_t ptrlen, char *err,
			  size_t errlen)
{
	static const char *const keys[] = {"at", "every", "skip_if_active_within", "channel", "alert_after_missed",
					   "retry_after", "answer_within"};
	struct ch_checkin_conf c = {0};
	const char *k;
	json_t *v;
	char canon[512];
	int rc;

	ch_strlcpy(ptr, "", ptrlen);
	if (!json_is_object(o))
		return bad(ptr, ptrlen, "", err, errlen,
			   "\"check_in\" must be an object, e.g. {\"at\": [\"09:30\"], \"skip_if_active_within\": \"2h\"}");
	json_object_foreach(o, k, v) {
		bool known = false;
		for (size_t i = 0; i < CH_ARRAY_LEN(keys); i++)
			known = known || strcmp(k, keys[i]) == 0;
		if (!known) {
			char p[96];
			ch_fmt(p, sizeof(p), "/%.80s", k);
			return bad(ptr, ptrlen, p, err, errlen,
				   "unknown key in check_in, expected at, every, skip_if_active_within, channel, "
				   "alert_after_missed, retry_after or answer_within");
		}
	}
	if (!json_object_get(o, "at") == !json_object_get(o, "every"))
		return bad(ptr, ptrlen, "", err, errlen, "check_in needs one of \"at\" (local times) or \"every\" (a duration)");
	if (json_object_get(o, "at") && (rc = parse_at(json_object_get(o, "at"), &c, ptr, ptrlen, err, errlen)))
		return rc;
	if ((v = json_object_get(o, "every")) && !duration_in(v, 1000, DAY_MS, &c.every_ms))
		return bad(ptr, ptrlen, "/every", err, errlen, "\"every\" is a duration from 1s to 1d, e.g. \"6h\" or 21600");
	if ((v = json_object_get(o, "skip_if_active_within")) && !duration_in(v, 0, DAY_MS, &c.skip_active_ms))
		return bad(ptr, ptrlen, "/skip_if_active_within", err, errlen,
			   "\"skip_if_active_within\" is a duration up to 1d, e.g. \"2h\"; 0 never skips");
	c.retry_after_ms = DEFAULT_RETRY_MS;
	if ((v = json_object_get(o, "retry_after")) && !duration_in(v, 1000, DAY_MS, &c.retry_after_ms))
		return bad(ptr, ptrlen, "/retry_after", err, errlen, "\"retry_after\" is a duration from 1s to 1d, e.g. \"10m\"");
	c.answer_within_ms = DEFAULT_ANSWER_MS;
	if ((v = json_object_get(o, "answer_within")) && !duration_in(v, 1000, DAY_MS, &c.answer_within_ms))
		return bad(ptr, ptrlen, "/answer_within", err, errlen,
			   "\"answer_within\" is a duration from 1s to 1d, e.g. \"15m\"");
	c.alert_after_missed = DEFAULT_MISSED;
	if ((v = json_object_get(o, "alert_after_missed"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
			return bad(ptr, ptrlen, "/alert_after_missed", err, errlen,
				   "\"alert_after_missed\" is an integer 0..100 (0: never alert)");
		c.alert_after_missed = (int)json_integer_value(v);
	}
	ch_strlcpy(c.channel, DEFAULT_CHANNEL, sizeof(c.channel));
	if ((v = json_object_get(o, "channel"))) {
		if (!json_is_string(v) || !channel_name_ok(json_string_value(v)))
			return bad(ptr, ptrlen, "/channel", err, errlen,
				   "\"channel\" names a channel of the config (1-63 of A-Z a-z 0-9 _ -), e.g. \"ai_call\"");
		ch_strlcpy(c.channel, json_string_value(v), sizeof(c.channel));
	}
	{
		size_t pos = 0;
		for (int i = 0; i < c.nat; i++)
			ch_fmt_append(canon, sizeof(canon), &pos, "%d,", c.at_min[i]);
		ch_fmt_append(canon, sizeof(canon), &pos, "|%lld|%lld|%s|%d|%lld|%lld", (long long)c.every_ms,
			      (long long)c.skip_active_ms, c.channel, c.alert_after_missed, (long long)c.retry_after_ms,
			      (long long)c.answer_within_ms);
		c.hash = ch_fnv1a32(canon);
	}
	*out = c;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Due times                                                           */
/* ------------------------------------------------------------------ */

/*
 * The next instant strictly after t at which local time reaches minute m of
 * the day.  On a spring-forward day a minute inside the gap comes just after
 * it (02:30 is called at 03:00): the window is 90 minutes wide so that it is
 * never empty there (tz.h puts both ends of a minute inside the gap at its
 * end).
 */
static int64_t next_minute_start(const struct ch_tz *tz, int m, int64_t t)
{
	int end = (m + 90) % 1440;
	int64_t e = t;

	for (int i = 0; i < 4; i++) {
		e = ch_tz_next_window_edge(tz, m, end, e);
		if (e == INT64_MAX)
			return e;
		if (ch_tz_in_window(tz, m, end, e))
			return e;
	}
	return INT64_MAX;
}

/* The last local midnight at or before t. */
static int64_t last_midnight(const struct ch_tz *tz, int64_t t)
{
	int64_t e = t - 27 * HOUR_MS, m = t - 24 * HOUR_MS;

	for (int i = 0; i < 8; i++) {
		e = ch_tz_next_window_edge(tz, 0, 1, e);
		if (e == INT64_MAX || e > t)
			break;
		if (ch_tz_in_window(tz, 0, 1, e))
			m = e;
	}
	return m;
}

int64_t ch_checkin_next_due(const struct ch_checkin_conf *c, const struct ch_tz *tz, int64_t after_ms)
{
	int64_t best = INT64_MAX;

	if (c->nat > 0) {
		for (int i = 0; i < c->nat; i++) {
			int64_t t = next_minute_start(tz, c->at_min[i], after_ms);
			if (t < best)
				best = t;
		}
		return best;
	}
	if (c->every_ms <= 0)
		return INT64_MAX;
	/* Slots restart each local day at midnight: "every 6h" is 00, 06, 12, 18 o'clock. */
	int64_t mid = last_midnight(tz, after_ms);
	int64_t next_mid = next_minute_start(tz, 0, after_ms);
	int64_t k = (after_ms - mid) / c->every_ms + 1;
	int64_t due = mid + k * c->every_ms;

	return due < next_mid ? due : next_mid;
}

void ch_checkin_slot_name(int64_t due_ms, char *buf, size_t len)
{
	char iso[40];
	char s[CH_CHECKIN_SLOT_LEN];

	/* "2026-11-28T01:30:00.000Z" -> "20261128T013000Z" */
	ch_clock_format(due_ms, iso, sizeof(iso));
	if (strlen(iso) < 20) {
		ch_strlcpy(buf, "", len);
		return;
	}
	memcpy(s, iso, 4);
	memcpy(s + 4, iso + 5, 2);
	memcpy(s + 6, iso + 8, 2);
	s[8] = 'T';
	memcpy(s + 9, iso + 11, 2);
	memcpy(s + 11, iso + 14, 2);
	memcpy(s + 13, iso + 17, 2);
	s[15] = 'Z';
	s[16] = '\0';
	ch_strlcpy(buf, s, len);
}

static bool slot_ok(const char *s)
{
	if (strlen(s) != CH_CHECKIN_SLOT_LEN - 1 || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++) {
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return false;
	}
	return true;
}

int ch_checkin_key(const char *sid, const char *slot, int try_no, char *buf, size_t len)
{
	return ch_fmt(buf, len, "%s:checkin:%s%s", sid, slot, try_no > 1 ? ":retry" : "");
}

bool ch_checkin_key_parse(const char *key, char *sid, size_t sidlen, char slot[CH_CHECKIN_SLOT_LEN], int *try_no)
{
	static const char mid[] = ":checkin:";
	size_t n = strlen(key), ns = CH_CHECKIN_SLOT_LEN - 1, nm = sizeof(mid) - 1;

	*try_no = 1;
	if (n > 6 && strcmp(key + n - 6, ":retry") == 0) {
		*try_no = 2;
		n -= 6;
	}
	if (n < ns + nm + 1 || memcmp(key + n - ns - nm, mid, nm) != 0 || n - ns - nm >= sidlen)
		return false;
	memcpy(slot, key + n - ns, ns);
	slot[ns] = '\0';
	if (!slot_ok(slot))
		return false;
	memcpy(sid, key, n - ns - nm);
	sid[n - ns - nm] = '\0';
	return true;
}

/* ------------------------------------------------------------------ */
/* One slot's life                                                     */
/* ------------------------------------------------------------------ */

/* A fresh slot after now: the one stored next. */
static void schedule_next(const struct ch_checkin_conf *c, const struct ch_tz *tz, struct ch_checkin_state *s,
			  int64_t now)
{
	int64_t due = ch_checkin_next_due(c, tz, now);

	s->due_ms = due == INT64_MAX ? 0 : due;
	ch_checkin_slot_name(s->due_ms, s->slot, sizeof(s->slot));
	s->phase = CH_CI_DUE;
	s->tries = 0;
	s->next_ms = s->due_ms;
	s->conf_hash = c->hash;
}

static void minutes_ago(int64_t ms, char *buf, size_t len)
{
	char d[32];

	ch_fmt_duration(ms < 1000 ? 1000 : ms / 1000 * 1000, d, sizeof(d));
	ch_fmt(buf, len, "%s ago", d);
}

/* Why the call of this moment should not go, or false. */
static bool skip_reason(const struct ch_checkin_conf *c, const struct ch_checkin_ctx *cx, int64_t since, int64_t now,
			char *why, size_t len)
{
	char ago[40];

	if (!cx->reachable)
		ch_strlcpy(why, "no channel or number to call", len);
	else if (cx->away)
		ch_strlcpy(why, "away", len);
	else if (cx->silenced)
		ch_strlcpy(why, "silenced", len);
	else if (cx->quiet)
		ch_strlcpy(why, "quiet hours", len);
	else if (cx->last_active_ms > 0 && since > 0 && cx->last_active_ms >= since) {
		minutes_ago(now - cx->last_active_ms, ago, sizeof(ago));
		ch_fmt(why, len, "active since the first call (%s)", ago);
	} else if (c->skip_active_ms > 0 && cx->last_active_ms > 0 && now - cx->last_active_ms <= c->skip_active_ms) {
		minutes_ago(now - cx->last_active_ms, ago, sizeof(ago));
		ch_fmt(why, len, "active %s", ago);
	} else
		return false;
	return true;
}

void ch_checkin_tick(const struct ch_checkin_conf *c, const struct ch_tz *tz, const struct ch_checkin_state *st,
		     const struct ch_checkin_ctx *cx, int64_t now_ms, struct ch_checkin_step *out)
{
	int64_t late_max = c->every_ms > 0 && c->every_ms < HOUR_MS ? c->every_ms : HOUR_MS;

	memset(out, 0, sizeof(*out));
	out->next = *st;
	if (!st->slot[0] || (st->conf_hash != c->hash && st->phase == CH_CI_DUE)) {
		/* First schedule, or the block changed: the next slot of the new schedule. */
		schedule_next(c, tz, &out->next, now_ms);
		return;
	}
	if (now_ms < st->next_ms)
		return;
	switch (st->phase) {
	case CH_CI_DUE:
		if (now_ms - st->due_ms > late_max) {
			char ago[40];
			minutes_ago(now_ms - st->due_ms, ago, sizeof(ago));
			ch_fmt(out->reason, sizeof(out->reason), "late: due %s", ago);
		} else if (!skip_reason(c, cx, 0, now_ms, out->reason, sizeof(out->reason))) {
			out->what = CH_CI_CALL;
			out->try_no = 1;
			out->next.phase = CH_CI_CALLING;
			out->next.tries = 1;
			out->next.next_ms = now_ms + c->answer_within_ms;
			return;
		}
		out->what = CH_CI_ANSWER;
		ch_strlcpy(out->outcome, "skipped", sizeof(out->outcome));
		return;
	case CH_CI_CALLING: {
		char d[32];
		ch_fmt_duration(c->answer_within_ms, d, sizeof(d));
		out->what = CH_CI_ANSWER;
		ch_strlcpy(out->outcome, "no_answer", sizeof(out->outcome));
		ch_fmt(out->reason, sizeof(out->reason), "no answer within %s", d);
		return;
	}
	case CH_CI_RETRY:
	default:
		/* After an unanswered call: a sign of life since the slot began makes the retry needless. */
		if (skip_reason(c, cx, st->due_ms, now_ms, out->reason, sizeof(out->reason))) {
			out->what = CH_CI_ANSWER;
			ch_strlcpy(out->outcome, "skipped", sizeof(out->outcome));
			return;
		}
		out->what = CH_CI_CALL;
		out->try_no = 2;
		out->next.phase = CH_CI_CALLING;
		out->next.tries = 2;
		out->next.next_ms = now_ms + c->answer_within_ms;
		return;
	}
}

enum answer_kind { A_WELL, A_HELP, A_NONE, A_SKIP, A_BAD };

static enum answer_kind kind_of(const char *o)
{
	if (strcmp(o, "confirmed_safe") == 0)
		return A_WELL;
	if (strcmp(o, "needs_help") == 0)
		return A_HELP;
	if (strcmp(o, "skipped") == 0)
		return A_SKIP;
	if (strcmp(o, "answered") == 0 || strcmp(o, "no_answer") == 0 || strcmp(o, "busy") == 0 ||
	    strcmp(o, "failed") == 0)
		return A_NONE;
	return A_BAD;
}

static void finish_slot(const struct ch_checkin_conf *c, const struct ch_tz *tz, const struct ch_checkin_state *st,
			const struct ch_checkin_answer *a, int64_t now, const char *value, int missed,
			struct ch_checkin_result *out)
{
	out->final = true;
	ch_strlcpy(out->value, value, sizeof(out->value));
	out->missed = missed;
	out->alert = strcmp(value, "missed") == 0 && c->alert_after_missed > 0 && missed >= c->alert_after_missed;
	out->next = *st;
	out->next.missed = missed;
	ch_strlcpy(out->next.last, value, sizeof(out->next.last));
	ch_strlcpy(out->next.last_slot, a->slot, sizeof(out->next.last_slot));
	out->next.last_ms = now;
	ch_strlcpy(out->next.reason, a->detail, sizeof(out->next.reason));
	/* A late answer about the slot before leaves the current one as it is. */
	if (strcmp(a->slot, st->slot) == 0)
		schedule_next(c, tz, &out->next, now);
}

void ch_checkin_apply(const struct ch_checkin_conf *c, const struct ch_tz *tz, const struct ch_checkin_state *st,
		      const struct ch_checkin_answer *a, int64_t now_ms, struct ch_checkin_result *out)
{
	enum answer_kind k = kind_of(a->outcome);
	bool cur = st->slot[0] && strcmp(a->slot, st->slot) == 0;
	bool prev = !cur && st->last_slot[0] && strcmp(a->slot, st->last_slot) == 0;

	memset(out, 0, sizeof(*out));
	out->next = *st;
	out->missed = st->missed;
	if (k == A_BAD || (!cur && !prev)) {
		out->stale = true;
		return;
	}
	if (prev) {
		/* A late callback: "I need help" always counts; "I am well" undoes a miss. */
		if (k == A_HELP || (k == A_WELL && strcmp(st->last, "missed") == 0)) {
			finish_slot(c, tz, st, a, now_ms, k == A_HELP ? "needs_help" : "well", 0, out);
			out->reached = true;
		} else {
			out->stale = true;
		}
		return;
	}
	switch (k) {
	case A_WELL:
	case A_HELP:
		if (st->tries < 1) {
			out->stale = true; /* nobody was called for this slot */
			return;
		}
		finish_slot(c, tz, st, a, now_ms, k == A_HELP ? "needs_help" : "well", 0, out);
		out->reached = true;
		return;
	case A_SKIP:
		if (st->phase == CH_CI_CALLING) {
			out->stale = true;
			return;
		}
		/* Activity is a sign she is well: the run of misses ends.  Away, a silence or quiet hours say nothing. */
		finish_slot(c, tz, st, a, now_ms, "skipped", strncmp(a->detail, "active", 6) == 0 ? 0 : st->missed, out);
		return;
	case A_NONE:
	default:
		if (st->phase != CH_CI_CALLING || a->try_no != st->tries) {
			out->stale = true;
			return;
		}
		if (st->tries < 2) {
			out->next.phase = CH_CI_RETRY;
			out->next.next_ms = now_ms + c->retry_after_ms;
			ch_strlcpy(out->next.reason, a->detail, sizeof(out->next.reason));
			return;
		}
		finish_slot(c, tz, st, a, now_ms, "missed", st->missed + 1, out);
		return;
	}
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

char *ch_checkin_answer_json(const struct ch_checkin_answer *a)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "subject", a->sid, "slot", a->slot, "try", a->try_no,
			      "outcome", a->outcome, "via", a->via, "ref", a->ref, "detail", a->detail);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static bool copy_str(json_t *o, const char *key, bool required, char *dst, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return !required && ch_strlcpy(dst, "", len) == 0;
	return json_is_string(v) && json_string_length(v) < len && ch_strlcpy(dst, json_string_value(v), len) == 0;
}

int ch_checkin_answer_parse(const char *payload, size_t len, struct ch_checkin_answer *out, char *err,
			    size_t errlen)
{
	json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL), *t;
	int rc = CH_EINVAL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o)) {
		ch_fmt(err, errlen, "check-in answer: not a JSON object");
		goto out;
	}
	t = json_object_get(o, "try");
	if (!copy_str(o, "subject", true, out->sid, sizeof(out->sid)) || !out->sid[0] ||
	    !copy_str(o, "slot", true, out->slot, sizeof(out->slot)) || !slot_ok(out->slot) ||
	    !copy_str(o, "outcome", true, out->outcome, sizeof(out->outcome)) || kind_of(out->outcome) == A_BAD ||
	    !json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > 2 ||
	    !copy_str(o, "via", false, out->via, sizeof(out->via)) || !copy_str(o, "ref", false, out->ref, sizeof(out->ref)) ||
	    !copy_str(o, "detail", false, out->detail, sizeof(out->detail))) {
		ch_fmt(err, errlen, "check-in answer: needs \"subject\", \"slot\" (20261128T013000Z), \"try\" (0-2), "
				    "\"outcome\" (confirmed_safe, needs_help, answered, no_answer, busy, failed, skipped) "
				    "and short \"via\", \"ref\", \"detail\" strings");
		memset(out, 0, sizeof(*out));
		goto out;
	}
	out->try_no = (int)json_integer_value(t);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int ch_checkin_from_callback(const struct ch_registry *reg, const char *channel, const struct ch_callback_result *r,
			     char **doc, char *err, size_t errlen)
{
	struct ch_checkin_answer a = {0};
	const struct ch_subject *subj;
	const char *o;

	*doc = NULL;
	if (!ch_checkin_key_parse(r->idempotency_key, a.sid, sizeof(a.sid), a.slot, &a.try_no) ||
	    !(subj = ch_registry_subject(reg, a.sid)) || !subj->check_in) {
		ch_fmt(err, errlen, "the callback's key is not a check-in call of this hub");
		return CH_ENOTFOUND;
	}
	if (strcmp(subj->check_in->channel, channel) != 0) {
		ch_fmt(err, errlen, "check-in calls of %s go through %s, not %s", a.sid, subj->check_in->channel, channel);
		return CH_EINVAL;
	}
	switch (r->outcome) {
	case CH_CB_CONFIRMED_SAFE: o = "confirmed_safe"; break;
	case CH_CB_NEEDS_HELP: o = "needs_help"; break;
	case CH_CB_ANSWERED: o = "answered"; break;
	case CH_CB_NO_ANSWER: o = "no_answer"; break;
	case CH_CB_BUSY: o = "busy"; break;
	case CH_CB_FAILED: o = "failed"; break;
	case CH_CB_DELIVERED:
		ch_fmt(err, errlen, "a receipt: nothing to do");
		return CH_EAGAIN;
	default:
		ch_fmt(err, errlen, "outcome %d is not one of a call", (int)r->outcome);
		return CH_EINVAL;
	}
	ch_strlcpy(a.outcome, o, sizeof(a.outcome));
	ch_strlcpy(a.via, channel, sizeof(a.via));
	ch_strlcpy(a.ref, r->provider_ref, sizeof(a.ref));
	ch_strlcpy(a.detail, r->outcome == CH_CB_ANSWERED && !r->reason[0] ? "picked up, no key pressed" : r->reason,
		   sizeof(a.detail));
	*doc = ch_checkin_answer_json(&a);
	if (!*doc) {
		ch_fmt(err, errlen, "out of memory");
		return CH_ENOMEM;
	}
	return 0;
}

char *ch_checkin_event_json(const struct ch_checkin_answer *a, const struct ch_checkin_result *r, int64_t now_ms)
{
	char id[80];
	json_t *o;
	char *s;

	ch_fmt(id, sizeof(id), "checkin:%s:%s", a->slot, r->value);
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:{s:s, s:i, s:i, s:b, s:s, s:s}}", "id", id, "device",
		      CH_CHECKIN_DEVICE, "type", "check_in", "ts", (json_int_t)now_ms, "value", r->value, "data", "slot",
		      a->slot, "try", a->try_no, "missed", r->missed, "alert", r->alert, "reason", a->detail, "via",
		      a->via[0] ? a->via : "hub");
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

void ch_checkin_render(const struct ch_templates *tpl, const char *lang, const struct ch_subject *subj,
		       const char *channel, const char *plugin, char *out, size_t len)
{
	struct ch_template_vars v = {.subject = subj->name, .address = subj->address, .contact = subj->name,
				     .role = "self"};

	if (ch_template_render(tpl, lang, channel, plugin, "checkin", &v, out, len))
		ch_strlcpy(out, "", len);
}
