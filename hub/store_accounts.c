/*
 * store_accounts.c - operator accounts, sessions, failed-login counters and
 * the audit stream in Redis (auth.c and api.c decide; this file only keeps).
 *
 * Sessions are keyed by a digest of the cookie, never the cookie itself, so
 * a copy of Redis does not sign anyone in.  Everything is shared by every hub
 * instance on the same Redis and survives a restart of the hub.
 */
#include "store.h"
#include "store_int.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_MAX "100000"

/* One command; the reply (or NULL with *rc set). */
static redisReply *one(struct ch_store *st, const char *what, int argc, const char **argv, int *rc, char *err,
		       size_t errlen)
{
	redisReply *r;

	if ((*rc = ch_store_ensure(st, err, errlen)))
		return NULL;
	r = redisCommandArgv(st->c, argc, argv, NULL);
	if ((*rc = store__reply_error(st, r, what, err, errlen)))
		return NULL;
	return r;
}

/* ---------------------------------------------------------------- operators */

int ch_store_operator_get(struct ch_store *st, const char *name, json_t **out, char *err, size_t errlen)
{
	char *k = store__key(st, "operators", (char *)NULL);
	const char *argv[] = {"HGET", k, name};
	redisReply *r;
	int rc;

	*out = NULL;
	if (!k)
		return CH_ENOMEM;
	r = one(st, "HGET operators", 3, argv, &rc, err, errlen);
	free(k);
	if (!r)
		return rc;
	if (r->type == REDIS_REPLY_STRING)
		*out = json_loadb(r->str, r->len, 0, NULL);
	freeReplyObject(r);
	return *out ? 0 : CH_ENOTFOUND;
}

int ch_store_operator_put(struct ch_store *st, const char *name, json_t *rec, bool create, char *err, size_t errlen)
{
	char *k = store__key(st, "operators", (char *)NULL), *doc = json_dumps(rec, JSON_COMPACT);
	const char *argv[] = {create ? "HSETNX" : "HSET", k, name, doc};
	redisReply *r = NULL;
	int rc = CH_ENOMEM;

	if (k && doc && (r = one(st, "HSET operators", 4, argv, &rc, err, errlen))) {
		rc = create && r->type == REDIS_REPLY_INTEGER && r->integer == 0 ? CH_EDUP : 0;
		freeReplyObject(r);
	}
	free(k);
	free(doc);
	return rc;
}

int ch_store_operators_list(struct ch_store *st, json_t **out, char *err, size_t errlen)
{
	char *k = store__key(st, "operators", (char *)NULL);
	const char *argv[] = {"HVALS", k};
	redisReply *r;
	int rc;

	*out = NULL;
	if (!k)
		return CH_ENOMEM;
	r = one(st, "HVALS operators", 2, argv, &rc, err, errlen);
	free(k);
	if (!r)
		return rc;
	*out = json_array();
	for (size_t i = 0; *out && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		json_t *o = json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL);
		if (o)
			json_array_append_new(*out, o);
	}
	freeReplyObject(r);
	return *out ? 0 : CH_ENOMEM;
}

/* ---------------------------------------------------------------- sessions */

int ch_store_session_put(struct ch_store *st, const char *key, json_t *rec, int64_t ttl_ms, char *err, size_t errlen)
{
	char *k = store__key(st, "session:", key, (char *)NULL), *doc = json_dumps(rec, JSON_COMPACT), ttl[24];
	const char *argv[] = {"SET", k, doc, "PX", ttl};
	redisReply *r = NULL;
	int rc = CH_ENOMEM;

	ch_fmt(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
	if (k && doc && (r = one(st, "SET session", 5, argv, &rc, err, errlen)))
		freeReplyObject(r);
	free(k);
	free(doc);
	return rc;
}

int ch_store_session_get(struct ch_store *st, const char *key, int64_t ttl_ms, json_t **out, char *err, size_t errlen)
{
	char *k = store__key(st, "session:", key, (char *)NULL), ttl[24];
	redisReply *r;
	int rc;

	*out = NULL;
	if (!k)
		return CH_ENOMEM;
	if ((rc = ch_store_ensure(st, err, errlen))) {
		free(k);
		return rc;
	}
	/* Read and push the idle expiry on, in one round trip. */
	ch_fmt(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
	const char *get[] = {"GET", k}, *px[] = {"PEXPIRE", k, ttl};
	redisAppendCommandArgv(st->c, 2, get, NULL);
	redisAppendCommandArgv(st->c, 3, px, NULL);
	free(k);
	for (int i = 0; i < 2; i++) {
		int e;
		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		if ((e = store__reply_error(st, r, "GET session", err, errlen))) {
			if (!rc)
				rc = e;
			if (e == CH_EAGAIN)
				break;
			continue;
		}
		if (i == 0 && r->type == REDIS_REPLY_STRING)
			*out = json_loadb(r->str, r->len, 0, NULL);
		freeReplyObject(r);
	}
	if (rc) {
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	return *out ? 0 : CH_ENOTFOUND;
}

int ch_store_session_del(struct ch_store *st, const char *key, char *err, size_t errlen)
{
	char *k = store__key(st, "session:", key, (char *)NULL);
	const char *argv[] = {"DEL", k};
	redisReply *r;
	int rc;

	if (!k)
		return CH_ENOMEM;
	r = one(st, "DEL session", 2, argv, &rc, err, errlen);
	free(k);
	if (r)
		freeReplyObject(r);
	return rc;
}

/* ---------------------------------------------------------------- failed logins */

int ch_store_login_failures(struct ch_store *st, const char *const *who, size_t n, bool add, int64_t window_ms,
			    long long *counts, int64_t *ttl_ms, char *err, size_t errlen)
{
	char win[24], *keys[4] = {NULL};
	int rc, sent = 0;

	*ttl_ms = 0;
	if (n > 4)
		return CH_EINVAL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	ch_fmt(win, sizeof(win), "%lld", (long long)window_ms);
	for (size_t i = 0; i < n; i++) {
		if (!(keys[i] = store__key(st, "loginfail:", who[i], (char *)NULL))) {
			rc = CH_ENOMEM;
			goto out;
		}
		counts[i] = 0;
	}
	/* A fixed window from the first failure: NX leaves the expiry of a running one alone. */
	for (size_t i = 0; i < n; i++) {
		const char *incr[] = {add ? "INCR" : "GET", keys[i]}, *px[] = {"PEXPIRE", keys[i], win, "NX"},
			   *pttl[] = {"PTTL", keys[i]};
		redisAppendCommandArgv(st->c, 2, incr, NULL);
		sent++;
		if (add) {
			redisAppendCommandArgv(st->c, 4, px, NULL);
			sent++;
		}
		redisAppendCommandArgv(st->c, 2, pttl, NULL);
		sent++;
	}
	for (int i = 0, per = add ? 3 : 2; i < sent; i++) {
		redisReply *r;
		int e;

		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		if ((e = store__reply_error(st, r, "login failures", err, errlen))) {
			if (!rc)
				rc = e;
			if (e == CH_EAGAIN)
				break;
			continue;
		}
		if (i % per == 0)
			counts[i / per] = store__reply_ll(r);
		else if (i % per == per - 1 && r->type == REDIS_REPLY_INTEGER && r->integer > *ttl_ms &&
			 counts[i / per] > 0)
			*ttl_ms = r->integer;
		freeReplyObject(r);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	return rc;
}

int ch_store_login_clear(struct ch_store *st, const char *const *who, size_t n, char *err, size_t errlen)
{
	struct argv a = {0};
	char *keys[4] = {NULL};
	redisReply *r;
	int rc = CH_ENOMEM;

	if (n > 4 || n == 0)
		return n ? CH_EINVAL : 0;
	store__argv_str(&a, "DEL");
	for (size_t i = 0; i < n; i++) {
		keys[i] = store__key(st, "loginfail:", who[i], (char *)NULL);
		store__argv_str(&a, keys[i]);
		if (!keys[i])
			a.oom = true;
	}
	if (!a.oom) {
		if (!(rc = ch_store_ensure(st, err, errlen))) {
			r = store__cmd_argv(st, (int)a.n, a.v, a.len);
			if (!(rc = store__reply_error(st, r, "DEL loginfail", err, errlen)))
				freeReplyObject(r);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	store__argv_free(&a);
	return rc;
}

/* ---------------------------------------------------------------- audit */

int ch_store_audit_add(struct ch_store *st, int64_t ts_ms, const char *actor, const char *role, const char *action,
		       const char *target, const char *detail, char *err, size_t errlen)
{
	char *k = store__key(st, "audit", (char *)NULL), ts[24];
	const char *argv[] = {"XADD",	k,	   "MAXLEN", "~",	 AUDIT_MAX, "*",	  "ts_ms",
			      ts,	"actor",   actor,    "role",	 role,	    "action", action,
			      "target", target ? target : "", "detail", detail ? detail : ""};
	redisReply *r;
	int rc;

	if (!k)
		return CH_ENOMEM;
	ch_fmt(ts, sizeof(ts), "%lld", (long long)ts_ms);
	r = one(st, "XADD audit", (int)CH_ARRAY_LEN(argv), argv, &rc, err, errlen);
	free(k);
	if (r)
		freeReplyObject(r);
	return rc;
}

int ch_store_audit_list(struct ch_store *st, size_t n, json_t **out, char *err, size_t errlen)
{
	char *k = store__key(st, "audit", (char *)NULL), cnt[24];
	const char *argv[] = {"XREVRANGE", k, "+", "-", "COUNT", cnt};
	redisReply *r;
	int rc;

	*out = NULL;
	if (!k)
		return CH_ENOMEM;
	ch_fmt(cnt, sizeof(cnt), "%zu", n);
	r = one(st, "XREVRANGE audit", 6, argv, &rc, err, errlen);
	free(k);
	if (!r)
		return rc;
	*out = json_array();
	for (size_t i = 0; *out && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *e = r->element[i], *f;
		json_t *o;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		o = json_pack("{s:s%}", "id", e->element[0]->str, (size_t)e->element[0]->len);
		f = e->element[1];
		for (size_t j = 0; o && f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
			char key[32];
			ch_fmt(key, sizeof(key), "%.*s", (int)f->element[j]->len, f->element[j]->str);
			if (strcmp(key, "ts_ms") == 0)
				json_object_set_new(o, key, json_integer(store__reply_ll(f->element[j + 1])));
			else
				json_object_set_new(o, key, json_stringn(f->element[j + 1]->str, f->element[j + 1]->len));
		}
		if (o)
			json_array_append_new(*out, o);
	}
	freeReplyObject(r);
	return *out ? 0 : CH_ENOMEM;
}
