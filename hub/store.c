/*
 * store.c - Redis through hiredis: connection upkeep, the ingest script, the
 * registry, the outbox stream and dispatch records.
 *
 * Every operation is one pipelined round trip where it can be.  A context that
 * saw an error is freed and rebuilt on the next call, never reused.
 */
#include "store.h"
#include "clock.h"
#include "log.h"

#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store_ingest.lua.h"
#include "store_timers.lua.h"
#include "store_escalate.lua.h"

struct ch_store {
	redisContext *c;
	char *host;
	int port;
	int db;
	char *password;
	char *prefix;
	int timeout_ms;
	char ingest_sha[48];
	char timers_sha[48];
	char esc_sha[48];
};

/* ---------------------------------------------------------------- connection */

static void drop(struct ch_store *st)
{
	if (st->c) {
		redisFree(st->c);
		st->c = NULL;
	}
}

static int reply_error(struct ch_store *st, redisReply *r, const char *what, char *err, size_t errlen)
{
	if (!r) {
		ch_fmt(err, errlen, "redis %s: %s", what, st->c && st->c->errstr[0] ? st->c->errstr : "connection lost");
		drop(st);
		return CH_EAGAIN;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		ch_fmt(err, errlen, "redis %s: %.*s", what, (int)r->len, r->str);
		/* LOADING / MASTERDOWN / READONLY are passing states of a restarting server. */
		int transient = strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0 ||
				strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "BUSY", 4) == 0;
		freeReplyObject(r);
		if (transient)
			drop(st);
		return transient ? CH_EAGAIN : CH_EPROTO;
	}
	return 0;
}

static redisReply *cmd_argv(struct ch_store *st, int argc, const char **argv, const size_t *lens)
{
	return redisCommandArgv(st->c, argc, argv, lens);
}

int ch_store_ensure(struct ch_store *st, char *err, size_t errlen)
{
	struct timeval tv = {st->timeout_ms / 1000, (st->timeout_ms % 1000) * 1000};
	redisReply *r;
	int rc;

	if (st->c)
		return 0;
	st->c = redisConnectWithTimeout(st->host, st->port, tv);
	if (!st->c || st->c->err) {
		ch_fmt(err, errlen, "redis %s:%d: %s", st->host, st->port, st->c ? st->c->errstr : "out of memory");
		drop(st);
		return CH_EAGAIN;
	}
	redisSetTimeout(st->c, tv);
	redisEnableKeepAlive(st->c);
	if (st->password) {
		r = redisCommand(st->c, "AUTH %s", st->password);
		if ((rc = reply_error(st, r, "AUTH", err, errlen)))
			goto fail;
		freeReplyObject(r);
	}
	if (st->db) {
		r = redisCommand(st->c, "SELECT %d", st->db);
		if ((rc = reply_error(st, r, "SELECT", err, errlen)))
			goto fail;
		freeReplyObject(r);
	}
	r = redisCommand(st->c, "SCRIPT LOAD %s", store_ingest_lua);
	if ((rc = reply_error(st, r, "SCRIPT LOAD", err, errlen)))
		goto fail;
	ch_strlcpy(st->ingest_sha, r->str, sizeof(st->ingest_sha));
	freeReplyObject(r);
	r = redisCommand(st->c, "SCRIPT LOAD %s", store_timers_lua);
	if ((rc = reply_error(st, r, "SCRIPT LOAD", err, errlen)))
		goto fail;
	ch_strlcpy(st->timers_sha, r->str, sizeof(st->timers_sha));
	freeReplyObject(r);
	r = redisCommand(st->c, "SCRIPT LOAD %s", store_escalate_lua);
	if ((rc = reply_error(st, r, "SCRIPT LOAD", err, errlen)))
		goto fail;
	ch_strlcpy(st->esc_sha, r->str, sizeof(st->esc_sha));
	freeReplyObject(r);
	return 0;
fail:
	drop(st);
	/* A refused AUTH is a configuration problem, but retrying costs nothing
	 * and lets an operator fix Redis without restarting the hub. */
	return rc == CH_EPROTO ? CH_EAGAIN : rc;
}

int ch_store_open(const struct ch_store_opts *o, struct ch_store **out, char *err, size_t errlen)
{
	struct ch_store *st = calloc(1, sizeof(*st));

	if (!st)
		return CH_ENOMEM;
	st->host = ch_strdup(o->host ? o->host : "127.0.0.1");
	st->port = o->port;
	st->db = o->db;
	st->password = ch_strdup(o->password);
	st->prefix = ch_strdup(o->prefix ? o->prefix : "ch:");
	st->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
	if (!st->host || !st->prefix) {
		ch_store_close(st);
		return CH_ENOMEM;
	}
	*out = st;
	return ch_store_ensure(st, err, errlen);
}

void ch_store_close(struct ch_store *st)
{
	if (!st)
		return;
	drop(st);
	free(st->host);
	if (st->password) {
		memset(st->password, 0, strlen(st->password));
		free(st->password);
	}
	free(st->prefix);
	free(st);
}

bool ch_store_connected(const struct ch_store *st)
{
	return st->c != NULL;
}

const char *ch_store_prefix(const struct ch_store *st)
{
	return st->prefix;
}

/* ---------------------------------------------------------------- argv builder */

struct argv {
	const char **v;
	size_t *len;
	char **owned; /* numbers formatted here */
	size_t n, cap, nowned, capowned;
	bool oom;
};

static void argv_push(struct argv *a, const char *s, size_t len)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		const char **v = realloc(a->v, cap * sizeof(*v));
		size_t *l = v ? realloc(a->len, cap * sizeof(*l)) : NULL;
		if (v)
			a->v = v;
		if (!v || !l) {
			a->oom = true;
			return;
		}
		a->len = l;
		a->cap = cap;
	}
	a->v[a->n] = s ? s : "";
	a->len[a->n] = s ? len : 0;
	a->n++;
}

static void argv_str(struct argv *a, const char *s)
{
	argv_push(a, s, s ? strlen(s) : 0);
}

static void argv_i64(struct argv *a, int64_t v)
{
	char buf[32], *p;

	ch_fmt(buf, sizeof(buf), "%lld", (long long)v);
	p = ch_strdup(buf);
	if (!p || (a->nowned == a->capowned && a->capowned > 1024 * 1024)) {
		free(p);
		a->oom = true;
		return;
	}
	if (a->nowned == a->capowned) {
		size_t cap = a->capowned ? a->capowned * 2 : 32;
		char **o = realloc(a->owned, cap * sizeof(*o));
		if (!o) {
			free(p);
			a->oom = true;
			return;
		}
		a->owned = o;
		a->capowned = cap;
	}
	a->owned[a->nowned++] = p;
	argv_str(a, p);
}

static void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

/* The prefix followed by the NULL-terminated list of parts; NULL when too long. */
static char *key(const struct ch_store *st, ...)
{
	char buf[512];
	size_t n = strlen(st->prefix);
	const char *part;
	va_list ap;

	if (n >= sizeof(buf))
		return NULL;
	memcpy(buf, st->prefix, n);
	va_start(ap, st);
	while ((part = va_arg(ap, const char *))) {
		size_t m = strlen(part);
		if (n + m >= sizeof(buf)) {
			va_end(ap);
			return NULL;
		}
		memcpy(buf + n, part, m);
		n += m;
	}
	va_end(ap);
	buf[n] = '\0';
	return ch_strdup(buf);
}

/* "P{sid}:alert:<n><suffix>" for an alert id "sid:n"; NULL if malformed or out of memory. */
static char *alert_key(const struct ch_store *st, const char *alert_id, const char *suffix)
{
	char sid[128], tail[48];
	long n;

	if (ch_store_alert_id_split(alert_id, sid, sizeof(sid), &n) ||
	    ch_fmt(tail, sizeof(tail), "%ld%s", n, suffix))
		return NULL;
	return key(st, "{", sid, "}:alert:", tail, (char *)NULL);
}

/* ---------------------------------------------------------------- ingest */

static char *dup_str(const redisReply *r)
{
	char *p;

	if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
		return NULL;
	p = malloc(r->len + 1);
	if (p) {
		memcpy(p, r->str, r->len);
		p[r->len] = '\0';
	}
	return p;
}

static uint8_t *dup_bytes(const redisReply *r, size_t *len)
{
	uint8_t *p;

	*len = 0;
	if (!r || r->type != REDIS_REPLY_STRING || r->len == 0)
		return NULL;
	p = malloc(r->len);
	if (p) {
		memcpy(p, r->str, r->len);
		*len = r->len;
	}
	return p;
}

static long long reply_ll(const redisReply *r)
{
	long v = 0;

	if (r && r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r && r->type == REDIS_REPLY_STRING && ch_parse_long(r->str, 0, LONG_MAX, &v) == 0)
		return v;
	return 0;
}

/* {njobs, records...}: see store_ingest.lua. */
static int parse_ingest_reply(redisReply *r, size_t ngroups, struct ch_ingest_result *res, char *err,
			      size_t errlen)
{
	size_t k = 1, g = 0;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
		ch_fmt(err, errlen, "redis ingest script: unexpected reply");
		return CH_EPROTO;
	}
	res->jobs = (size_t)reply_ll(r->element[0]);
	if (ngroups) {
		res->groups = calloc(ngroups, sizeof(*res->groups));
		if (!res->groups)
			return CH_ENOMEM;
	}
	res->transitions = calloc(r->elements / 5 + 1, sizeof(*res->transitions));
	if (!res->transitions)
		return CH_ENOMEM;
	while (k < r->elements) {
		const redisReply *tag = r->element[k];
		char t = tag->type == REDIS_REPLY_STRING && tag->len == 1 ? tag->str[0] : '?';

		if (t == 'T' && k + 4 < r->elements) {
			struct ch_transition *x = &res->transitions[res->ntransitions++];
			x->kind = dup_str(r->element[k + 1]);
			x->sid = dup_str(r->element[k + 2]);
			x->alert_id = dup_str(r->element[k + 3]);
			x->doc = dup_str(r->element[k + 4]);
			if (!x->kind || !x->sid || !x->alert_id || !x->doc)
				return CH_ENOMEM;
			k += 5;
		} else if (t == 'V' && k + 2 < r->elements && g < ngroups) {
			res->groups[g].status = CH_GROUP_APPLIED;
			res->groups[g++].version = reply_ll(r->element[k + 2]);
			k += 3;
		} else if (t == 'C' && k + 3 < r->elements && g < ngroups) {
			struct ch_group_result *x = &res->groups[g++];
			x->status = CH_GROUP_CONFLICT;
			x->version = reply_ll(r->element[k + 2]);
			x->state = dup_bytes(r->element[k + 3], &x->state_len);
			k += 4;
		} else if (t == 'D' && k + 2 < r->elements && g < ngroups) {
			struct ch_group_result *x = &res->groups[g++];
			x->status = CH_GROUP_DUPS;
			x->dups = dup_str(r->element[k + 2]);
			if (!x->dups)
				return CH_ENOMEM;
			k += 3;
		} else {
			ch_fmt(err, errlen, "redis ingest script: unexpected record at %zu", k);
			return CH_EPROTO;
		}
	}
	res->ngroups = g;
	if (g != ngroups) {
		ch_fmt(err, errlen, "redis ingest script: %zu of %zu groups answered", g, ngroups);
		return CH_EPROTO;
	}
	return 0;
}

void ch_ingest_result_clear(struct ch_ingest_result *res)
{
	for (size_t i = 0; i < res->ntransitions; i++) {
		free(res->transitions[i].kind);
		free(res->transitions[i].sid);
		free(res->transitions[i].alert_id);
		free(res->transitions[i].doc);
	}
	free(res->transitions);
	for (size_t i = 0; i < res->ngroups; i++) {
		free(res->groups[i].state);
		free(res->groups[i].dups);
	}
	free(res->groups);
	memset(res, 0, sizeof(*res));
}

static void append_deadletter(struct ch_store *st, const char *stream, const struct ch_dead_letter *dl,
			      size_t maxlen)
{
	char maxbuf[32], arr[32], olen[32];
	const char *argv[] = {"XADD", stream, "MAXLEN", "~", maxbuf, "*", "reason", dl->reason,
			      "detail", dl->detail ? dl->detail : "", "topic", dl->topic ? dl->topic : "",
			      "arrival_ms", arr, "size", olen, "payload", dl->payload ? dl->payload : ""};
	size_t lens[CH_ARRAY_LEN(argv)];

	ch_fmt(maxbuf, sizeof(maxbuf), "%zu", maxlen);
	ch_fmt(arr, sizeof(arr), "%lld", (long long)dl->arrival_ms);
	ch_fmt(olen, sizeof(olen), "%zu", dl->orig_len);
	for (size_t i = 0; i < CH_ARRAY_LEN(argv); i++)
		lens[i] = strlen(argv[i]);
	lens[CH_ARRAY_LEN(argv) - 1] = dl->payload ? dl->len : 0;
	redisAppendCommandArgv(st->c, (int)CH_ARRAY_LEN(argv), argv, lens);
}

int ch_store_ingest(struct ch_store *st, const struct ch_store_group *groups, size_t ngroups,
		    const struct ch_dead_letter *dls, size_t ndl, int64_t now_ms, const char *actor,
		    size_t deadletter_max, struct ch_ingest_result *res, char *err, size_t errlen)
{
	struct argv a = {0};
	char now_iso[40];
	char *dlkey = NULL;
	redisReply *r;
	int rc, script_rc = 0;
	size_t nev = ngroups;

	memset(res, 0, sizeof(*res));
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (ngroups) {
		ch_clock_format(now_ms, now_iso, sizeof(now_iso));
		argv_str(&a, "EVALSHA");
		argv_str(&a, st->ingest_sha);
		argv_str(&a, "0");
		argv_str(&a, st->prefix);
		argv_i64(&a, now_ms);
		argv_str(&a, now_iso);
		argv_str(&a, actor);
		argv_i64(&a, (int64_t)ngroups);
		for (size_t i = 0; i < ngroups; i++) {
			const struct ch_store_group *g = &groups[i];

			argv_str(&a, g->sid);
			if (g->expect < 0)
				argv_str(&a, "*");
			else
				argv_i64(&a, g->expect);
			argv_push(&a, g->state ? (const char *)g->state : "", g->state ? g->state_len : 0);
			if (g->deadline < 0)
				argv_str(&a, "");
			else
				argv_i64(&a, g->deadline);
			argv_i64(&a, (int64_t)g->nev);
			for (size_t e = 0; e < g->nev; e++) {
				argv_str(&a, g->evs[e].device);
				argv_str(&a, g->evs[e].dedup_id);
				argv_i64(&a, g->evs[e].dedup_ttl_ms);
				argv_i64(&a, g->evs[e].ts_ms);
				argv_str(&a, "");
			}
			argv_i64(&a, (int64_t)g->nacts);
			for (size_t k = 0; k < g->nacts; k++) {
				const struct ch_store_action *x = &g->acts[k];
				argv_str(&a, x->kind);
				argv_str(&a, x->key);
				argv_str(&a, x->doc ? x->doc : "{}");
				argv_str(&a, x->jobs ? x->jobs : "[]");
				argv_str(&a, x->text);
				argv_str(&a, x->outcome);
				argv_str(&a, x->severity);
				argv_str(&a, x->event_json);
				argv_str(&a, x->alert_id ? x->alert_id : "");
				argv_str(&a, x->by ? x->by : "");
				argv_str(&a, x->esc_at ? x->esc_policy : "");
				if (x->esc_at)
					argv_i64(&a, x->esc_at);
				else
					argv_str(&a, "");
			}
		}
		if (a.oom) {
			argv_free(&a);
			return CH_ENOMEM;
		}
		redisAppendCommandArgv(st->c, (int)a.n, a.v, a.len);
	}
	if (ndl) {
		dlkey = key(st, "deadletter", (char *)NULL);
		if (!dlkey) {
			argv_free(&a);
			return CH_ENOMEM;
		}
		for (size_t i = 0; i < ndl; i++)
			append_deadletter(st, dlkey, &dls[i], deadletter_max);
	}
	free(dlkey);

	/* Read every reply even after an error so the connection stays in step. */
	if (nev) {
		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
			/* Script cache flushed under us: reload and rerun just the script. */
			freeReplyObject(r);
			for (size_t i = 0; i < ndl; i++) {
				redisReply *x;
				if (redisGetReply(st->c, (void **)&x) == REDIS_OK)
					freeReplyObject(x);
			}
			ndl = 0;
			drop(st);
			argv_free(&a);
			ch_fmt(err, errlen, "redis: script cache was flushed; reloading");
			return CH_EAGAIN;
		}
		script_rc = reply_error(st, r, "ingest script", err, errlen);
		if (!script_rc) {
			script_rc = parse_ingest_reply(r, ngroups, res, err, errlen);
			freeReplyObject(r);
		}
		if (script_rc == CH_EAGAIN) {
			argv_free(&a);
			ch_ingest_result_clear(res);
			return CH_EAGAIN;
		}
	}
	argv_free(&a);
	for (size_t i = 0; i < ndl; i++) {
		char dlerr[256];
		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		rc = reply_error(st, r, "XADD deadletter", dlerr, sizeof(dlerr));
		if (rc == CH_EAGAIN) {
			ch_strlcpy(err, dlerr, errlen);
			ch_ingest_result_clear(res);
			return CH_EAGAIN;
		}
		if (rc)
			ch_log_rl("deadletter-write", 10000, CH_LOG_ERROR, "%s", dlerr);
		else
			freeReplyObject(r);
	}
	if (script_rc)
		ch_ingest_result_clear(res);
	return script_rc;
}

/* ---------------------------------------------------------------- escalation */

/* EVALSHA of the escalation script; NOSCRIPT drops the connection (reloaded on the next call). */
static redisReply *esc_call(struct ch_store *st, struct argv *a, char *err, size_t errlen, int *rc)
{
	redisReply *r;

	if (a->oom) {
		*rc = CH_ENOMEM;
		return NULL;
	}
	r = cmd_argv(st, (int)a->n, a->v, a->len);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		drop(st);
		ch_fmt(err, errlen, "redis: script cache was flushed; reloading");
		*rc = CH_EAGAIN;
		return NULL;
	}
	if ((*rc = reply_error(st, r, "escalation script", err, errlen)))
		return NULL;
	return r;
}

/* Connects, then starts "EVALSHA <escalate> 0 <mode> <prefix>" in a. */
static int esc_begin(struct ch_store *st, struct argv *a, const char *mode, char *err, size_t errlen)
{
	int rc = ch_store_ensure(st, err, errlen);

	if (rc)
		return rc;
	argv_str(a, "EVALSHA");
	argv_str(a, st->esc_sha);
	argv_str(a, "0");
	argv_str(a, mode);
	argv_str(a, st->prefix);
	return 0;
}

/* Runs a started call whose answer is an integer (def when it is not). */
static int esc_int(struct ch_store *st, struct argv *a, long long def, long long *out, char *err, size_t errlen)
{
	redisReply *r;
	int rc;

	r = esc_call(st, a, err, errlen, &rc);
	argv_free(a);
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
	argv_i64(&a, now_ms);
	argv_i64(&a, lease_ms);
	argv_i64(&a, max);
	r = esc_call(st, &a, err, errlen, &rc);
	argv_free(&a);
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
		d[i].alert_id = dup_str(r->element[4 * i]);
		d[i].policy = dup_str(r->element[4 * i + 1]);
		d[i].step = reply_ll(r->element[4 * i + 2]);
		d[i].doc = dup_str(r->element[4 * i + 3]);
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
	argv_i64(&a, now_ms);
	argv_str(&a, now_iso);
	argv_str(&a, actor);
	argv_str(&a, alert_id);
	argv_i64(&a, step);
	argv_i64(&a, step + 1);
	if (next_at)
		argv_i64(&a, next_at);
	else
		argv_str(&a, "");
	argv_str(&a, jobs);
	argv_str(&a, text);
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
	argv_i64(&a, now_ms);
	argv_str(&a, now_iso);
	argv_str(&a, actor);
	argv_i64(&a, max);
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
	argv_str(&a, channel);
	argv_str(&a, number_id);
	argv_i64(&a, now_ms);
	argv_i64(&a, (int64_t)n);
	for (size_t i = 0; i < n; i++) {
		argv_i64(&a, max[i]);
		argv_i64(&a, window_ms[i]);
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
	argv_str(&a, alert_id);
	return esc_int(st, &a, 0, &ignored, err, errlen);
}

/* ---------------------------------------------------------------- engine state */

void ch_state_blobs_free(struct ch_state_blob *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++) {
		free(b[i].sid);
		free(b[i].state);
	}
	free(b);
}

int ch_store_states_read(struct ch_store *st, const char *const *sids, size_t n, struct ch_state_blob *out,
			 char *err, size_t errlen)
{
	int rc = 0;

	memset(out, 0, n * sizeof(*out));
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		char *k = key(st, "{", sids[i], "}:eng", (char *)NULL);
		const char *argv[] = {"HMGET", k ? k : "", "v", "s"};

		redisAppendCommandArgv(st->c, 4, argv, NULL);
		free(k);
	}
	for (size_t i = 0; i < n; i++) {
		redisReply *r;
		int e;

		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		e = reply_error(st, r, "HMGET engine state", err, errlen);
		if (e) {
			if (!rc)
				rc = e;
			if (e == CH_EAGAIN)
				break; /* the connection is gone */
			continue;
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
			out[i].version = reply_ll(r->element[0]);
			out[i].state = dup_bytes(r->element[1], &out[i].len);
		}
		freeReplyObject(r);
	}
	if (rc) {
		for (size_t i = 0; i < n; i++) {
			free(out[i].state);
			out[i].state = NULL;
		}
	}
	return rc;
}

int ch_store_timers_claim(struct ch_store *st, int64_t now_ms, int64_t lease_ms, int max,
			  struct ch_state_blob **out, size_t *n, char *err, size_t errlen)
{
	char now[32], lease[32], cnt[16];
	const char *argv[] = {"EVALSHA", st->timers_sha, "0", st->prefix, now, lease, cnt};
	struct ch_state_blob *b;
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	argv[1] = st->timers_sha;
	ch_fmt(now, sizeof(now), "%lld", (long long)now_ms);
	ch_fmt(lease, sizeof(lease), "%lld", (long long)lease_ms);
	ch_fmt(cnt, sizeof(cnt), "%d", max);
	r = cmd_argv(st, (int)CH_ARRAY_LEN(argv), argv, NULL);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		drop(st);
		ch_fmt(err, errlen, "redis: script cache was flushed; reloading");
		return CH_EAGAIN;
	}
	if ((rc = reply_error(st, r, "timers claim", err, errlen)))
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 3) {
		freeReplyObject(r);
		ch_fmt(err, errlen, "redis timers script: unexpected reply");
		return CH_EPROTO;
	}
	b = calloc(r->elements / 3 + 1, sizeof(*b));
	if (!b) {
		freeReplyObject(r);
		return CH_ENOMEM;
	}
	for (size_t i = 0; i < r->elements / 3; i++) {
		b[i].sid = dup_str(r->element[3 * i]);
		b[i].version = reply_ll(r->element[3 * i + 1]);
		b[i].state = dup_bytes(r->element[3 * i + 2], &b[i].len);
		*n = i + 1;
		if (!b[i].sid) {
			ch_state_blobs_free(b, *n);
			freeReplyObject(r);
			*n = 0;
			return CH_ENOMEM;
		}
	}
	freeReplyObject(r);
	*out = b;
	return 0;
}

/* ---------------------------------------------------------------- registry */

int ch_store_registry_upsert(struct ch_store *st, json_t *const *subjects, size_t n, char *err,
			     size_t errlen)
{
	struct argv a = {0};
	char *k;
	char **docs;
	redisReply *r;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	k = key(st, "registry:subjects", (char *)NULL);
	docs = calloc(n, sizeof(*docs));
	if (!k || !docs) {
		free(k);
		free(docs);
		return CH_ENOMEM;
	}
	argv_str(&a, "HSET");
	argv_str(&a, k);
	for (size_t i = 0; i < n; i++) {
		docs[i] = json_dumps(subjects[i], JSON_COMPACT);
		argv_str(&a, json_string_value(json_object_get(subjects[i], "id")));
		argv_str(&a, docs[i]);
		if (!docs[i])
			a.oom = true;
	}
	rc = CH_ENOMEM;
	if (!a.oom) {
		r = cmd_argv(st, (int)a.n, a.v, a.len);
		rc = reply_error(st, r, "HSET registry", err, errlen);
		if (!rc)
			freeReplyObject(r);
	}
	for (size_t i = 0; i < n; i++)
		free(docs[i]);
	free(docs);
	free(k);
	argv_free(&a);
	return rc;
}

int ch_store_registry_read(struct ch_store *st, json_t **out, char *err, size_t errlen)
{
	char *k;
	redisReply *r;
	json_t *arr;
	int rc;

	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = key(st, "registry:subjects", (char *)NULL)))
		return CH_ENOMEM;
	r = redisCommand(st->c, "HVALS %s", k);
	free(k);
	if ((rc = reply_error(st, r, "HVALS registry", err, errlen)))
		return rc;
	arr = json_array();
	for (size_t i = 0; arr && i < r->elements; i++) {
		json_error_t je;
		json_t *s = json_loadb(r->element[i]->str, r->element[i]->len, 0, &je);
		if (!s) {
			ch_log(CH_LOG_ERROR, "registry record in Redis is not JSON (%s); skipped", je.text);
			continue;
		}
		json_array_append_new(arr, s);
	}
	freeReplyObject(r);
	if (!arr)
		return CH_ENOMEM;
	*out = arr;
	return 0;
}

/* ---------------------------------------------------------------- outbox */

int ch_store_outbox_init(struct ch_store *st, char *err, size_t errlen)
{
	char *k;
	redisReply *r;
	int rc;

	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = key(st, "outbox", (char *)NULL)))
		return CH_ENOMEM;
	r = redisCommand(st->c, "XGROUP CREATE %s dispatch 0 MKSTREAM", k);
	free(k);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) == 0) {
		freeReplyObject(r);
		return 0;
	}
	if ((rc = reply_error(st, r, "XGROUP CREATE", err, errlen)))
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
		jobs[k].entry_id = dup_str(e->element[0]);
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
	if (!(k = key(st, "outbox", (char *)NULL)))
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
	if ((rc = reply_error(st, r, "XREADGROUP", err, errlen)))
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
	if (!(k = key(st, "outbox", (char *)NULL)))
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
	if ((rc = reply_error(st, r, "XAUTOCLAIM", err, errlen)))
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
	if (!(k = key(st, "dispatch:", idem, (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"GET", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "GET dispatch", err, errlen)))
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
	if (!(k = key(st, "dispatch:", idem, (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"SET", k, "sending", "EX", DISPATCH_TTL_S, "NX"};
	r = redisCommandArgv(st->c, (int)CH_ARRAY_LEN(argv), argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "SET dispatch", err, errlen)))
		return rc;
	freeReplyObject(r);
	return 0;
}

int ch_store_dispatch_finish(struct ch_store *st, const char *entry_id, const char *idem,
			     const char *state, const char *sid, const char *alert_id,
			     const char *timeline_json, const char *next_job, const char *next_told,
			     int64_t next_hold_ms, char *err, size_t errlen)
{
	char *dk = NULL, *ok = NULL, *tk = NULL, *told = NULL, *held = NULL;
	redisReply *r;
	int rc, nsent = 0, first_rc = 0;

	(void)sid;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	dk = key(st, "dispatch:", idem, (char *)NULL);
	ok = key(st, "outbox", (char *)NULL);
	if (alert_id && timeline_json)
		tk = alert_key(st, alert_id, ":tl");
	if (alert_id && next_job && next_told)
		told = alert_key(st, alert_id, ":told");
	held = key(st, "held", (char *)NULL);
	if (!dk || !ok || !held || (alert_id && timeline_json && !tk) || (alert_id && next_job && next_told && !told)) {
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
		redisAppendCommandArgv(st->c, 3, push, NULL);
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
		rc = reply_error(st, r, "dispatch finish", err, errlen);
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
	return rc;
}

/* ---------------------------------------------------------------- alerts */

int ch_store_alert_id_split(const char *alert_id, char *sid, size_t sidlen, long *num)
{
	const char *colon = alert_id ? strrchr(alert_id, ':') : NULL;
	size_t n;

	if (!colon || colon == alert_id)
		return CH_EINVAL;
	n = (size_t)(colon - alert_id);
	if (n >= sidlen || ch_parse_long(colon + 1, 1, 0x7fffffffL, num))
		return CH_EINVAL;
	memcpy(sid, alert_id, n);
	sid[n] = '\0';
	return 0;
}

int ch_store_alert_get(struct ch_store *st, const char *alert_id, char **doc, char *err, size_t errlen)
{
	redisReply *r;
	char *k;
	int rc;

	*doc = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = alert_key(st, alert_id, "")))
		return CH_EINVAL;
	const char *argv[] = {"GET", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "GET alert", err, errlen)))
		return rc;
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return CH_ENOTFOUND;
	}
	*doc = dup_str(r);
	freeReplyObject(r);
	return *doc ? 0 : CH_ENOMEM;
}

int ch_store_told_get(struct ch_store *st, const char *alert_id, const char *field, char **job, char *err,
		      size_t errlen)
{
	redisReply *r;
	char *k;
	int rc;

	*job = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = alert_key(st, alert_id, ":told")))
		return CH_EINVAL;
	const char *argv[] = {"HGET", k, field};
	r = redisCommandArgv(st->c, 3, argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "HGET told", err, errlen)))
		return rc;
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return CH_ENOTFOUND;
	}
	*job = dup_str(r);
	freeReplyObject(r);
	return *job ? 0 : CH_ENOMEM;
}

/* MGETs keys (the array and its n strings are freed here) and appends each JSON document found to arr. */
static int mget_docs(struct ch_store *st, char **keys, size_t n, json_t *arr, char *err, size_t errlen)
{
	const char **argv = calloc(n + 1, sizeof(*argv));
	redisReply *r;
	int rc = 0;

	if (!argv) {
		rc = CH_ENOMEM;
		goto out;
	}
	argv[0] = "MGET";
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = keys[i];
	r = redisCommandArgv(st->c, (int)n + 1, argv, NULL);
	if ((rc = reply_error(st, r, "MGET alerts", err, errlen)))
		goto out;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		json_t *d = r->element[i]->type == REDIS_REPLY_STRING
				    ? json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL)
				    : NULL;
		if (d)
			json_array_append_new(arr, d);
	}
	freeReplyObject(r);
out:
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(argv);
	return rc;
}

int ch_store_alerts_open(struct ch_store *st, size_t max, json_t **out, char *err, size_t errlen)
{
	char lim[24], *k, **keys = NULL;
	redisReply *r;
	size_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = key(st, "alerts:open", (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(lim, sizeof(lim), "%zu", max ? max - 1 : 0);
	const char *argv[] = {"ZRANGE", k, "0", lim};
	r = redisCommandArgv(st->c, 4, argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "ZRANGE alerts:open", err, errlen)))
		return rc;
	*out = json_array();
	keys = calloc(r->elements + 1, sizeof(*keys));
	if (!*out || !keys) {
		freeReplyObject(r);
		free(keys);
		json_decref(*out);
		*out = NULL;
		return CH_ENOMEM;
	}
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		char id[192];
		ch_fmt(id, sizeof(id), "%.*s", (int)r->element[i]->len, r->element[i]->str);
		if ((keys[n] = alert_key(st, id, "")))
			n++;
	}
	freeReplyObject(r);
	if (n == 0) {
		free(keys);
		return 0;
	}
	return mget_docs(st, keys, n, *out, err, errlen);
}

int ch_store_subject_alerts(struct ch_store *st, const char *sid, size_t max, json_t **out, char *err, size_t errlen)
{
	char *k, **keys;
	redisReply *r;
	long long last = 0;
	size_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = key(st, "{", sid, "}:seq", (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"GET", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "GET seq", err, errlen)))
		return rc;
	if (r->type == REDIS_REPLY_STRING) {
		long v;
		if (ch_parse_long(r->str, 0, LONG_MAX, &v) == 0)
			last = v;
	}
	freeReplyObject(r);
	if (!(*out = json_array()))
		return CH_ENOMEM;
	if (last <= 0 || max == 0)
		return 0;
	keys = calloc(max, sizeof(*keys));
	if (!keys)
		return CH_ENOMEM;
	/* Newest first. */
	for (long long i = last; i > 0 && n < max; i--) {
		char id[192];
		ch_fmt(id, sizeof(id), "%s:%lld", sid, i);
		if ((keys[n] = alert_key(st, id, "")))
			n++;
	}
	return mget_docs(st, keys, n, *out, err, errlen);
}

int ch_store_silences_get(struct ch_store *st, const char *sid, json_t **out, char *err, size_t errlen)
{
	redisReply *r;
	char *k;
	int rc;

	*out = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = key(st, "{", sid, "}:silences", (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"HGETALL", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "HGETALL silences", err, errlen)))
		return rc;
	*out = json_object();
	for (size_t i = 0; *out && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		char target[192];
		json_t *d = json_loadb(r->element[i + 1]->str, r->element[i + 1]->len, 0, NULL);
		ch_fmt(target, sizeof(target), "%.*s", (int)r->element[i]->len, r->element[i]->str);
		if (d)
			json_object_set_new(*out, target, d);
	}
	freeReplyObject(r);
	return *out ? 0 : CH_ENOMEM;
}

int ch_store_alert_timeline(struct ch_store *st, const char *alert_id, json_t **out, char *err,
			    size_t errlen)
{
	redisReply *r;
	json_t *arr;
	char *k;
	int rc;

	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = alert_key(st, alert_id, ":tl")))
		return CH_EINVAL;
	const char *argv[] = {"LRANGE", k, "0", "-1"};
	r = redisCommandArgv(st->c, 4, argv, NULL);
	free(k);
	if ((rc = reply_error(st, r, "LRANGE timeline", err, errlen)))
		return rc;
	arr = json_array();
	for (size_t i = 0; arr && i < r->elements; i++) {
		json_t *e = json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL);
		if (e)
			json_array_append_new(arr, e);
	}
	freeReplyObject(r);
	if (!arr)
		return CH_ENOMEM;
	*out = arr;
	return 0;
}
