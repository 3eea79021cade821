/*
 * store_notify.c - the notifying half of the store: escalation steps
 * (store_escalate.lua), quiet-hours release, rate limits, the outbox stream
 * and the dispatch records around each send.
 */
#include "store.h"
#include "store_int.h"
#include "clock.h"
#include "log.h"

#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- escalation */

/* EVALSHA of the escalation script; NOSCRIPT drops the connection (reloaded on the next call). */
static redisReply *esc_call(struct ch_store *st, struct argv *a, char *err, size_t errlen, int *rc)
{
	redisReply *r;

	if (a->oom) {
		*rc = CH_ENOMEM;
		return NULL;
	}
	r = store__cmd_argv(st, (int)a->n, a->v, a->len);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		store__drop(st);
		ch_fmt(err, errlen, "redis: script cache was flushed; reloading");
		*rc = CH_EAGAIN;
		return NULL;
	}
	if ((*rc = store__reply_error(st, r, "escalation script", err, errlen)))
		return NULL;
	return r;
}

/* Connects, then starts "EVALSHA <escalate> 0 <mode> <prefix>" in a. */
static int esc_begin(struct ch_store *st, struct argv *a, const char *mode, char *err, size_t errlen)
{
	int rc = ch_store_ensure(st, err, errlen);

	if (rc)
		return rc;
	store__argv_str(a, "EVALSHA");
	store__argv_str(a, st->esc_sha);
	store__argv_str(a, "0");
	store__argv_str(a, mode);
	store__argv_str(a, st->prefix);
	return 0;
}

/* Runs a started call whose answer is an integer (def when it is not). */
static int esc_int(struct ch_store *st, struct argv *a, long long def, long long *out, char *err, size_t errlen)
{
	redisReply *r;
	int rc;

	r = esc_call(st, a, err, errlen, &rc);
	store__argv_free(a);
	if (!r)
		return rc;
	*out = r->type == REDIS_REPLY_INTEGER ? r->integer : def;
	freeReplyObject(r);
	return 0;
}

void ch_esc_due_free(struct ch_esc_due *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		free(d[i].alert_id);
		free(d[i].policy);
		free(d[i].doc);
	}
	free(d);
}

int ch_store_esc_claim(struct ch_store *st, int64_t now_ms, int64_t lease_ms, int max, struct ch_esc_due **out,
		       size_t *n, char *err, size_t errlen)
{
	struct argv a = {0};
	struct ch_esc_due *d;
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = esc_begin(st, &a, "claim", err, errlen)))
		return rc;
	store__argv_i64(&a, now_ms);
	store__argv_i64(&a, lease_ms);
	store__argv_i64(&a, max);
	r = esc_call(st, &a, err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 4) {
		freeReplyObject(r);
		ch_fmt(err, errlen, "redis escalation script: unexpected reply");
		return CH_EPROTO;
	}
	d = calloc(r->elements / 4 + 1, sizeof(*d));
	if (!d) {
		freeReplyObject(r);
		return CH_ENOMEM;
	}
	for (size_t i = 0; i < r->elements / 4; i++) {
		d[i].alert_id = store__dup_str(r->element[4 * i]);
		d[i].policy = store__dup_str(r->element[4 * i + 1]);
		d[i].step = store__reply_ll(r->element[4 * i + 2]);
		d[i].doc = store__dup_str(r->element[4 * i + 3]);
		*n = i + 1;
		if (!d[i].alert_id || !d[i].policy || !d[i].doc) {
			ch_esc_due_free(d, *n);
			freeReplyObject(r);
			*n = 0;
			return CH_ENOMEM;
		}
	}
	freeReplyObject(r);
	*out = d;
	return 0;
}

int ch_store_esc_step(struct ch_store *st, int64_t now_ms, const char *actor, const char *alert_id, long long step,
		      int64_t next_at, const char *jobs, const char *text, long long *njobs, char *err, size_t errlen)
{
	struct argv a = {0};
	char now_iso[40];
	int rc;

	*njobs = -1;
	if ((rc = esc_begin(st, &a, "step", err, errlen)))
		return rc;
	ch_clock_format(now_ms, now_iso, sizeof(now_iso));
	store__argv_i64(&a, now_ms);
	store__argv_str(&a, now_iso);
	store__argv_str(&a, actor);
	store__argv_str(&a, alert_id);
	store__argv_i64(&a, step);
	store__argv_i64(&a, step + 1);
	if (next_at)
		store__argv_i64(&a, next_at);
	else
		store__argv_str(&a, "");
	store__argv_str(&a, jobs);
	store__argv_str(&a, text);
	return esc_int(st, &a, -1, njobs, err, errlen);
}

int ch_store_held_release(struct ch_store *st, int64_t now_ms, const char *actor, int max, long long *queued,
			  char *err, size_t errlen)
{
	struct argv a = {0};
	char now_iso[40];
	int rc;

	*queued = 0;
	if ((rc = esc_begin(st, &a, "held", err, errlen)))
		return rc;
	ch_clock_format(now_ms, now_iso, sizeof(now_iso));
	store__argv_i64(&a, now_ms);
	store__argv_str(&a, now_iso);
	store__argv_str(&a, actor);
	store__argv_i64(&a, max);
	return esc_int(st, &a, 0, queued, err, errlen);
}

int ch_store_rate_take(struct ch_store *st, const char *channel, const char *number_id, const int *max,
		       const int64_t *window_ms, size_t n, int64_t now_ms, int64_t *wait_ms, char *err, size_t errlen)
{
	struct argv a = {0};
	int rc;

	long long wait = 0;

	*wait_ms = 0;
	if ((rc = esc_begin(st, &a, "rate", err, errlen)))
		return rc;
	store__argv_str(&a, channel);
	store__argv_str(&a, number_id);
	store__argv_i64(&a, now_ms);
	store__argv_i64(&a, (int64_t)n);
	for (size_t i = 0; i < n; i++) {
		store__argv_i64(&a, max[i]);
		store__argv_i64(&a, window_ms[i]);
	}
	if ((rc = esc_int(st, &a, 0, &wait, err, errlen)))
		return rc;
	*wait_ms = wait > 0 ? wait : 0;
	return 0;
}

int ch_store_esc_stop(struct ch_store *st, const char *alert_id, char *err, size_t errlen)
{
	struct argv a = {0};
	long long ignored;
	int rc;

	if ((rc = esc_begin(st, &a, "stop", err, errlen)))
		return rc;
	store__argv_str(&a, alert_id);
	return esc_int(st, &a, 0, &ignored, err, errlen);
}

/* ---------------------------------------------------------------- outbox */

int ch_store_outbox_init(struct ch_store *st, char *err, size_t errlen)
{
	char *k;
	redisReply *r;
	int rc;

	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "outbox", (char *)NULL)))
		return CH_ENOMEM;
	r = redisCommand(st->c, "XGROUP CREATE %s dispatch 0 MKSTREAM", k);
	free(k);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) == 0) {
		freeReplyObject(r);
		return 0;
	}
	if ((rc = store__reply_error(st, r, "XGROUP CREATE", err, errlen)))
		return rc;
	freeReplyObject(r);
	return 0;
}

void ch_store_jobs_free(struct ch_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(jobs[i].entry_id);
		json_decref(jobs[i].job);
	}
	free(jobs);
}

/* Turns an array of [id, [field, value, ...]] stream entries into jobs. */
static int entries_to_jobs(const redisReply *entries, struct ch_job **out, size_t *n)
{
	struct ch_job *jobs;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!entries || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
		return 0;
	jobs = calloc(entries->elements, sizeof(*jobs));
	if (!jobs)
		return CH_ENOMEM;
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *e = entries->element[i];
		const redisReply *f;
		json_t *job = NULL;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
			continue;
		f = e->element[1];
		/* A nil field list is an entry trimmed away: acknowledge it as empty. */
		for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
			if (strcmp(f->element[j]->str, "job") == 0)
				job = json_loadb(f->element[j + 1]->str, f->element[j + 1]->len, 0, NULL);
		}
		jobs[k].entry_id = store__dup_str(e->element[0]);
		jobs[k].job = job;
		if (!jobs[k].entry_id) {
			json_decref(job);
			continue;
		}
		k++;
	}
	*out = jobs;
	*n = k;
	return 0;
}

int ch_store_outbox_read(struct ch_store *st, const char *consumer, bool pending, int count,
			 struct ch_job **out, size_t *n, char *err, size_t errlen)
{
	char *k;
	char cnt[16];
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "outbox", (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(cnt, sizeof(cnt), "%d", count);
	const char *argv[] = {"XREADGROUP", "GROUP", "dispatch", consumer, "COUNT", cnt, "STREAMS", k,
			      pending ? "0" : ">"};
	r = redisCommandArgv(st->c, (int)CH_ARRAY_LEN(argv), argv, NULL);
	free(k);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0) {
		freeReplyObject(r);
		return ch_store_outbox_init(st, err, errlen);
	}
	if ((rc = store__reply_error(st, r, "XREADGROUP", err, errlen)))
		return rc;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2)
		rc = entries_to_jobs(r->element[0]->element[1], out, n);
	freeReplyObject(r);
	return rc;
}

int ch_store_outbox_claim(struct ch_store *st, const char *consumer, int64_t min_idle_ms, int count,
			  struct ch_job **out, size_t *n, char *err, size_t errlen)
{
	char *k;
	char idle[32], cnt[16];
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "outbox", (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(idle, sizeof(idle), "%lld", (long long)min_idle_ms);
	ch_fmt(cnt, sizeof(cnt), "%d", count);
	const char *argv[] = {"XAUTOCLAIM", k, "dispatch", consumer, idle, "0", "COUNT", cnt};
	r = redisCommandArgv(st->c, (int)CH_ARRAY_LEN(argv), argv, NULL);
	free(k);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0) {
		freeReplyObject(r);
		return ch_store_outbox_init(st, err, errlen);
	}
	if ((rc = store__reply_error(st, r, "XAUTOCLAIM", err, errlen)))
		return rc;
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
		rc = entries_to_jobs(r->element[1], out, n);
	freeReplyObject(r);
	return rc;
}

int ch_store_dispatch_state(struct ch_store *st, const char *idem, char *state, size_t len, char *err,
			    size_t errlen)
{
	char *k;
	redisReply *r;
	int rc;

	state[0] = '\0';
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "dispatch:", idem, (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"GET", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "GET dispatch", err, errlen)))
		return rc;
	if (r->type == REDIS_REPLY_STRING)
		ch_strlcpy(state, r->str, len);
	freeReplyObject(r);
	return 0;
}

/* Dispatch records outlive any retry or restart window by far. */
#define DISPATCH_TTL_S "604800"

int ch_store_dispatch_begin(struct ch_store *st, const char *idem, char *err, size_t errlen)
{
	char *k;
	redisReply *r;
	int rc;

	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "dispatch:", idem, (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"SET", k, "sending", "EX", DISPATCH_TTL_S, "NX"};
	r = redisCommandArgv(st->c, (int)CH_ARRAY_LEN(argv), argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "SET dispatch", err, errlen)))
		return rc;
	freeReplyObject(r);
	return 0;
}

int ch_store_dispatch_finish(struct ch_store *st, const char *entry_id, const char *idem,
			     const char *state, const char *sid, const char *alert_id,
			     const char *timeline_json, const char *next_job, const char *next_told,
			     int64_t next_hold_ms, char *err, size_t errlen)
{
	char *dk = NULL, *ok = NULL, *tk = NULL, *told = NULL, *held = NULL, *ck = NULL;
	redisReply *r;
	int rc, nsent = 0, first_rc = 0;

	(void)sid;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	dk = store__key(st, "dispatch:", idem, (char *)NULL);
	ok = store__key(st, "outbox", (char *)NULL);
	if (alert_id && timeline_json)
		tk = store__alert_key(st, alert_id, ":tl");
	if (alert_id && next_job && next_told)
		told = store__alert_key(st, alert_id, ":told");
	held = store__key(st, "held", (char *)NULL);
	ck = store__key(st, "changes", (char *)NULL);
	if (!dk || !ok || !held || !ck || (alert_id && timeline_json && !tk) || (alert_id && next_job && next_told && !told)) {
		rc = CH_ENOMEM;
		goto out;
	}
	/* One transaction: a fallback is queued if and only if the failure is recorded. */
	const char *multi[] = {"MULTI"};
	redisAppendCommandArgv(st->c, 1, multi, NULL);
	nsent++;
	const char *set[] = {"SET", dk, state, "EX", DISPATCH_TTL_S};
	redisAppendCommandArgv(st->c, (int)CH_ARRAY_LEN(set), set, NULL);
	nsent++;
	if (tk) {
		const char *push[] = {"RPUSH", tk, timeline_json};
		/* The live feed hears of it too (the reader adds the alert document). */
		const char *feed[] = {"XADD", ck, "MAXLEN", "~", "10000", "*", "alert", alert_id, "kind", state, "doc", ""};
		redisAppendCommandArgv(st->c, 3, push, NULL);
		nsent++;
		redisAppendCommandArgv(st->c, (int)CH_ARRAY_LEN(feed), feed, NULL);
		nsent++;
	}
	if (next_job && next_hold_ms > 0) {
		/* Quiet hours: kept aside like any held job (store_escalate.lua 'held' releases it). */
		char score[24];
		ch_fmt(score, sizeof(score), "%lld", (long long)next_hold_ms);
		const char *zadd[] = {"ZADD", held, score, next_job};
		redisAppendCommandArgv(st->c, 4, zadd, NULL);
		nsent++;
	} else if (next_job) {
		const char *add[] = {"XADD", ok, "*", "job", next_job};
		redisAppendCommandArgv(st->c, 5, add, NULL);
		nsent++;
		if (told) {
			const char *hset[] = {"HSET", told, next_told, next_job};
			redisAppendCommandArgv(st->c, 4, hset, NULL);
			nsent++;
		}
	}
	if (entry_id) {
		const char *ack[] = {"XACK", ok, "dispatch", entry_id};
		redisAppendCommandArgv(st->c, 4, ack, NULL);
		nsent++;
	}
	const char *exec[] = {"EXEC"};
	redisAppendCommandArgv(st->c, 1, exec, NULL);
	nsent++;
	for (int i = 0; i < nsent; i++) {
		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		rc = store__reply_error(st, r, "dispatch finish", err, errlen);
		if (rc == CH_EAGAIN) {
			first_rc = rc;
			break;
		}
		if (rc && !first_rc)
			first_rc = rc;
		/* EXEC's array holds each command's own answer: an error there is the real one. */
		for (size_t k = 0; !rc && r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
			if (r->element[k]->type == REDIS_REPLY_ERROR && !first_rc) {
				ch_fmt(err, errlen, "redis dispatch finish: %.*s", (int)r->element[k]->len,
				       r->element[k]->str);
				first_rc = CH_EPROTO;
			}
		}
		if (!rc)
			freeReplyObject(r);
	}
	rc = first_rc;
out:
	free(dk);
	free(ok);
	free(tk);
	free(told);
	free(held);
	free(ck);
	return rc;
}

/* ---------------------------------------------------------------- replies */

/* "Preply:<channel>:<the number's last 11 digits>"; NULL when it has fewer than 5. */
static char *reply_key(struct ch_store *st, const char *channel, const char *phone)
{
	char digits[32];
	size_t n = 0;

	for (const char *p = phone ? phone : ""; *p && n + 1 < sizeof(digits); p++)
		if (*p >= '0' && *p <= '9')
			digits[n++] = *p;
	digits[n] = '\0';
	if (n < 5)
		return NULL;
	return store__key(st, "reply:", channel, ":", n > 11 ? digits + n - 11 : digits, (char *)NULL);
}

int ch_store_reply_note(struct ch_store *st, const char *channel, const char *phone, const char *key, char *err,
			size_t errlen)
{
	char *k = reply_key(st, channel, phone);
	redisReply *r;
	int rc;

	if (!k)
		return CH_EINVAL;
	if ((rc = ch_store_ensure(st, err, errlen))) {
		free(k);
		return rc;
	}
	const char *argv[] = {"SET", k, key, "EX", "86400"};
	r = redisCommandArgv(st->c, 5, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "SET reply", err, errlen)))
		return rc;
	freeReplyObject(r);
	return 0;
}

int ch_store_reply_find(struct ch_store *st, const char *channel, const char *phone, char *key, size_t keylen,
			char *err, size_t errlen)
{
	char *k = reply_key(st, channel, phone);
	redisReply *r;
	int rc;

	key[0] = '\0';
	if (!k)
		return CH_ENOTFOUND;
	if ((rc = ch_store_ensure(st, err, errlen))) {
		free(k);
		return rc;
	}
	const char *argv[] = {"GET", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "GET reply", err, errlen)))
		return rc;
	rc = r->type == REDIS_REPLY_STRING && r->len < keylen ? 0 : CH_ENOTFOUND;
	if (!rc)
		ch_fmt(key, keylen, "%.*s", (int)r->len, r->str);
	freeReplyObject(r);
	return rc;
}
