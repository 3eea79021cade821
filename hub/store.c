/*
 * store.c - Redis through hiredis: connection upkeep, the ingest script, the
 * engine states and timers, and the registry.  The escalation script, the
 * outbox and dispatch records are in store_notify.c; alert reads for the API
 * in store_alerts.c; what they share in store_int.h.
 *
 * Every operation is one pipelined round trip where it can be.  A context that
 * saw an error is freed and rebuilt on the next call, never reused.
 */
#include "store.h"
#include "store_int.h"
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


/* ---------------------------------------------------------------- connection */

void store__drop(struct ch_store *st)
{
	if (st->c) {
		redisFree(st->c);
		st->c = NULL;
	}
}

int store__reply_error(struct ch_store *st, redisReply *r, const char *what, char *err, size_t errlen)
{
	if (!r) {
		ch_fmt(err, errlen, "redis %s: %s", what, st->c && st->c->errstr[0] ? st->c->errstr : "connection lost");
		store__drop(st);
		return CH_EAGAIN;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		ch_fmt(err, errlen, "redis %s: %.*s", what, (int)r->len, r->str);
		/* LOADING / MASTERDOWN / READONLY are passing states of a restarting server. */
		int transient = strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0 ||
				strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "BUSY", 4) == 0;
		freeReplyObject(r);
		if (transient)
			store__drop(st);
		return transient ? CH_EAGAIN : CH_EPROTO;
	}
	return 0;
}

redisReply *store__cmd_argv(struct ch_store *st, int argc, const char **argv, const size_t *lens)
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
	st->c = st->socket ? redisConnectUnixWithTimeout(st->socket, tv) : redisConnectWithTimeout(st->host, st->port, tv);
	if (!st->c || st->c->err) {
		if (st->socket)
			ch_fmt(err, errlen, "redis %s: %s", st->socket, st->c ? st->c->errstr : "out of memory");
		else
			ch_fmt(err, errlen, "redis %s:%d: %s", st->host, st->port, st->c ? st->c->errstr : "out of memory");
		store__drop(st);
		return CH_EAGAIN;
	}
	redisSetTimeout(st->c, tv);
	if (!st->socket)
		redisEnableKeepAlive(st->c);
	if (st->password) {
		/* Redis 6 ACLs: AUTH <user> <password>; without a user, the default user. */
		r = st->username ? redisCommand(st->c, "AUTH %s %s", st->username, st->password)
				 : redisCommand(st->c, "AUTH %s", st->password);
		if ((rc = store__reply_error(st, r, "AUTH", err, errlen)))
			goto fail;
		freeReplyObject(r);
	}
	if (st->db) {
		r = redisCommand(st->c, "SELECT %d", st->db);
		if ((rc = store__reply_error(st, r, "SELECT", err, errlen)))
			goto fail;
		freeReplyObject(r);
	}
	r = redisCommand(st->c, "SCRIPT LOAD %s", store_ingest_lua);
	if ((rc = store__reply_error(st, r, "SCRIPT LOAD", err, errlen)))
		goto fail;
	ch_strlcpy(st->ingest_sha, r->str, sizeof(st->ingest_sha));
	freeReplyObject(r);
	r = redisCommand(st->c, "SCRIPT LOAD %s", store_timers_lua);
	if ((rc = store__reply_error(st, r, "SCRIPT LOAD", err, errlen)))
		goto fail;
	ch_strlcpy(st->timers_sha, r->str, sizeof(st->timers_sha));
	freeReplyObject(r);
	r = redisCommand(st->c, "SCRIPT LOAD %s", store_escalate_lua);
	if ((rc = store__reply_error(st, r, "SCRIPT LOAD", err, errlen)))
		goto fail;
	ch_strlcpy(st->esc_sha, r->str, sizeof(st->esc_sha));
	freeReplyObject(r);
	return 0;
fail:
	store__drop(st);
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
	st->socket = ch_strdup(o->socket);
	st->db = o->db;
	st->username = ch_strdup(o->username);
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
	store__drop(st);
	free(st->host);
	free(st->socket);
	free(st->username);
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

/*
 * Once only, across restarts and instances: SET NX with an expiry.  Redis
 * rather than memory so a replay is caught by whichever hub it reaches.
 */
int ch_store_claim(struct ch_store *st, const char *name, int64_t ttl_ms, char *err, size_t errlen)
{
	char *key, ttl[24];
	redisReply *r;
	int rc;

	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(key = store__key(st, name, (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(ttl, sizeof(ttl), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
	const char *argv[] = {"SET", key, "1", "NX", "PX", ttl};
	r = store__cmd_argv(st, 6, argv, NULL);
	free(key);
	if ((rc = store__reply_error(st, r, "SET NX", err, errlen)))
		return rc;
	rc = r->type == REDIS_REPLY_NIL ? CH_EDUP : 0;
	freeReplyObject(r);
	return rc;
}

int ch_store_unclaim(struct ch_store *st, const char *name, char *err, size_t errlen)
{
	char *key;
	redisReply *r;
	int rc;

	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(key = store__key(st, name, (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"DEL", key};
	r = store__cmd_argv(st, 2, argv, NULL);
	free(key);
	if ((rc = store__reply_error(st, r, "DEL", err, errlen)))
		return rc;
	freeReplyObject(r);
	return 0;
}

/* ---------------------------------------------------------------- argv builder */


void store__argv_push(struct argv *a, const char *s, size_t len)
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

void store__argv_str(struct argv *a, const char *s)
{
	store__argv_push(a, s, s ? strlen(s) : 0);
}

void store__argv_i64(struct argv *a, int64_t v)
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
	store__argv_str(a, p);
}

void store__argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

/* The prefix followed by the NULL-terminated list of parts; NULL when too long. */
char *store__key(const struct ch_store *st, ...)
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
char *store__alert_key(const struct ch_store *st, const char *alert_id, const char *suffix)
{
	char sid[128], tail[48];
	long n;

	if (ch_store_alert_id_split(alert_id, sid, sizeof(sid), &n) ||
	    ch_fmt(tail, sizeof(tail), "%ld%s", n, suffix))
		return NULL;
	return store__key(st, "{", sid, "}:alert:", tail, (char *)NULL);
}

/* ---------------------------------------------------------------- ingest */

char *store__dup_str(const redisReply *r)
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

uint8_t *store__dup_bytes(const redisReply *r, size_t *len)
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

long long store__reply_ll(const redisReply *r)
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
	res->jobs = (size_t)store__reply_ll(r->element[0]);
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
			x->kind = store__dup_str(r->element[k + 1]);
			x->sid = store__dup_str(r->element[k + 2]);
			x->alert_id = store__dup_str(r->element[k + 3]);
			x->doc = store__dup_str(r->element[k + 4]);
			if (!x->kind || !x->sid || !x->alert_id || !x->doc)
				return CH_ENOMEM;
			k += 5;
		} else if (t == 'V' && k + 2 < r->elements && g < ngroups) {
			res->groups[g].status = CH_GROUP_APPLIED;
			res->groups[g++].version = store__reply_ll(r->element[k + 2]);
			k += 3;
		} else if (t == 'C' && k + 3 < r->elements && g < ngroups) {
			struct ch_group_result *x = &res->groups[g++];
			x->status = CH_GROUP_CONFLICT;
			x->version = store__reply_ll(r->element[k + 2]);
			x->state = store__dup_bytes(r->element[k + 3], &x->state_len);
			k += 4;
		} else if (t == 'D' && k + 2 < r->elements && g < ngroups) {
			struct ch_group_result *x = &res->groups[g++];
			x->status = CH_GROUP_DUPS;
			x->dups = store__dup_str(r->element[k + 2]);
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
		store__argv_str(&a, "EVALSHA");
		store__argv_str(&a, st->ingest_sha);
		store__argv_str(&a, "0");
		store__argv_str(&a, st->prefix);
		store__argv_i64(&a, now_ms);
		store__argv_str(&a, now_iso);
		store__argv_str(&a, actor);
		store__argv_i64(&a, (int64_t)ngroups);
		for (size_t i = 0; i < ngroups; i++) {
			const struct ch_store_group *g = &groups[i];

			store__argv_str(&a, g->sid);
			if (g->expect < 0)
				store__argv_str(&a, "*");
			else
				store__argv_i64(&a, g->expect);
			store__argv_push(&a, g->state ? (const char *)g->state : "", g->state ? g->state_len : 0);
			if (g->deadline < 0)
				store__argv_str(&a, "");
			else
				store__argv_i64(&a, g->deadline);
			store__argv_i64(&a, (int64_t)g->nev);
			for (size_t e = 0; e < g->nev; e++) {
				store__argv_str(&a, g->evs[e].device);
				store__argv_str(&a, g->evs[e].dedup_id);
				store__argv_i64(&a, g->evs[e].dedup_ttl_ms);
				store__argv_i64(&a, g->evs[e].ts_ms);
				store__argv_str(&a, g->evs[e].health ? g->evs[e].health : "");
			}
			store__argv_i64(&a, (int64_t)g->nacts);
			for (size_t k = 0; k < g->nacts; k++) {
				const struct ch_store_action *x = &g->acts[k];
				store__argv_str(&a, x->kind);
				store__argv_str(&a, x->key);
				store__argv_str(&a, x->doc ? x->doc : "{}");
				store__argv_str(&a, x->jobs ? x->jobs : "[]");
				store__argv_str(&a, x->text);
				store__argv_str(&a, x->outcome);
				store__argv_str(&a, x->severity);
				store__argv_str(&a, x->event_json);
				store__argv_str(&a, x->alert_id ? x->alert_id : "");
				store__argv_str(&a, x->by ? x->by : "");
				store__argv_str(&a, x->esc_at ? x->esc_policy : "");
				if (x->esc_at)
					store__argv_i64(&a, x->esc_at);
				else
					store__argv_str(&a, "");
				store__argv_str(&a, x->renotify ? x->renotify : "");
			}
		}
		if (a.oom) {
			store__argv_free(&a);
			return CH_ENOMEM;
		}
		redisAppendCommandArgv(st->c, (int)a.n, a.v, a.len);
	}
	if (ndl) {
		dlkey = store__key(st, "deadletter", (char *)NULL);
		if (!dlkey) {
			store__argv_free(&a);
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
			store__drop(st);
			store__argv_free(&a);
			ch_fmt(err, errlen, "redis: script cache was flushed; reloading");
			return CH_EAGAIN;
		}
		script_rc = store__reply_error(st, r, "ingest script", err, errlen);
		if (!script_rc) {
			script_rc = parse_ingest_reply(r, ngroups, res, err, errlen);
			freeReplyObject(r);
		}
		if (script_rc == CH_EAGAIN) {
			store__argv_free(&a);
			ch_ingest_result_clear(res);
			return CH_EAGAIN;
		}
	}
	store__argv_free(&a);
	for (size_t i = 0; i < ndl; i++) {
		char dlerr[256];
		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		rc = store__reply_error(st, r, "XADD deadletter", dlerr, sizeof(dlerr));
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
		char *k = store__key(st, "{", sids[i], "}:eng", (char *)NULL);
		const char *argv[] = {"HMGET", k ? k : "", "v", "s"};

		redisAppendCommandArgv(st->c, 4, argv, NULL);
		free(k);
	}
	for (size_t i = 0; i < n; i++) {
		redisReply *r;
		int e;

		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		e = store__reply_error(st, r, "HMGET engine state", err, errlen);
		if (e) {
			if (!rc)
				rc = e;
			if (e == CH_EAGAIN)
				break; /* the connection is gone */
			continue;
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
			out[i].version = store__reply_ll(r->element[0]);
			out[i].state = store__dup_bytes(r->element[1], &out[i].len);
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
	r = store__cmd_argv(st, (int)CH_ARRAY_LEN(argv), argv, NULL);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		store__drop(st);
		ch_fmt(err, errlen, "redis: script cache was flushed; reloading");
		return CH_EAGAIN;
	}
	if ((rc = store__reply_error(st, r, "timers claim", err, errlen)))
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
		b[i].sid = store__dup_str(r->element[3 * i]);
		b[i].version = store__reply_ll(r->element[3 * i + 1]);
		b[i].state = store__dup_bytes(r->element[3 * i + 2], &b[i].len);
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
	k = store__key(st, "registry:subjects", (char *)NULL);
	docs = calloc(n, sizeof(*docs));
	if (!k || !docs) {
		free(k);
		free(docs);
		return CH_ENOMEM;
	}
	store__argv_str(&a, "HSET");
	store__argv_str(&a, k);
	for (size_t i = 0; i < n; i++) {
		docs[i] = json_dumps(subjects[i], JSON_COMPACT);
		store__argv_str(&a, json_string_value(json_object_get(subjects[i], "id")));
		store__argv_str(&a, docs[i]);
		if (!docs[i])
			a.oom = true;
	}
	rc = CH_ENOMEM;
	if (!a.oom) {
		r = store__cmd_argv(st, (int)a.n, a.v, a.len);
		rc = store__reply_error(st, r, "HSET registry", err, errlen);
		if (!rc)
			freeReplyObject(r);
	}
	for (size_t i = 0; i < n; i++)
		free(docs[i]);
	free(docs);
	free(k);
	store__argv_free(&a);
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
	if (!(k = store__key(st, "registry:subjects", (char *)NULL)))
		return CH_ENOMEM;
	r = redisCommand(st->c, "HVALS %s", k);
	free(k);
	if ((rc = store__reply_error(st, r, "HVALS registry", err, errlen)))
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

