/*
 * store_alerts.c - reading alerts back: one document and its timeline, the
 * told entries, the open queue and a subject's history, silences (the API
 * and the dispatcher read here; only the scripts write).
 */
#include "store.h"
#include "store_int.h"
#include "clock.h"
#include "log.h"

#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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
	if (!(k = store__alert_key(st, alert_id, "")))
		return CH_EINVAL;
	const char *argv[] = {"GET", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "GET alert", err, errlen)))
		return rc;
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return CH_ENOTFOUND;
	}
	*doc = store__dup_str(r);
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
	if (!(k = store__alert_key(st, alert_id, ":told")))
		return CH_EINVAL;
	const char *argv[] = {"HGET", k, field};
	r = redisCommandArgv(st->c, 3, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "HGET told", err, errlen)))
		return rc;
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return CH_ENOTFOUND;
	}
	*job = store__dup_str(r);
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
	if ((rc = store__reply_error(st, r, "MGET alerts", err, errlen)))
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
	if (!(k = store__key(st, "alerts:open", (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(lim, sizeof(lim), "%zu", max ? max - 1 : 0);
	const char *argv[] = {"ZRANGE", k, "0", lim};
	r = redisCommandArgv(st->c, 4, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "ZRANGE alerts:open", err, errlen)))
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
		if ((keys[n] = store__alert_key(st, id, "")))
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
	if (!(k = store__key(st, "{", sid, "}:seq", (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"GET", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "GET seq", err, errlen)))
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
		if ((keys[n] = store__alert_key(st, id, "")))
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
	if (!(k = store__key(st, "{", sid, "}:silences", (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"HGETALL", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "HGETALL silences", err, errlen)))
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
	if (!(k = store__alert_key(st, alert_id, ":tl")))
		return CH_EINVAL;
	const char *argv[] = {"LRANGE", k, "0", "-1"};
	r = redisCommandArgv(st->c, 4, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "LRANGE timeline", err, errlen)))
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

/* ---------------------------------------------------------------- the live feed */

void ch_changes_free(struct ch_change *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].alert);
		free(c[i].kind);
		free(c[i].doc);
	}
	free(c);
}

/* Stream entries [id, [field, value...]] into changes. */
static int entries_to_changes(const redisReply *arr, struct ch_change **out, size_t *n)
{
	struct ch_change *c;

	*out = NULL;
	*n = 0;
	if (!arr || arr->type != REDIS_REPLY_ARRAY || arr->elements == 0)
		return 0;
	if (!(c = calloc(arr->elements, sizeof(*c))))
		return CH_ENOMEM;
	for (size_t i = 0; i < arr->elements; i++) {
		const redisReply *e = arr->element[i], *f;
		struct ch_change *x = &c[*n];

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		ch_fmt(x->id, sizeof(x->id), "%.*s", (int)e->element[0]->len, e->element[0]->str);
		f = e->element[1];
		for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
			const char *k = f->element[j]->str;
			char **dst = strcmp(k, "alert") == 0 ? &x->alert
				     : strcmp(k, "kind") == 0 ? &x->kind
				     : strcmp(k, "doc") == 0  ? &x->doc
							      : NULL;
			if (dst && !*dst)
				*dst = store__dup_str(f->element[j + 1]);
		}
		if (!x->alert)
			x->alert = ch_strdup("");
		if (!x->kind)
			x->kind = ch_strdup("");
		if (!x->doc)
			x->doc = ch_strdup("");
		if (!x->alert || !x->kind || !x->doc) {
			ch_changes_free(c, *n + 1);
			*n = 0;
			return CH_ENOMEM;
		}
		(*n)++;
	}
	*out = c;
	return 0;
}

int ch_store_changes_read(struct ch_store *st, const char *after, size_t max, int block_ms, struct ch_change **out,
			  size_t *n, char *err, size_t errlen)
{
	char *k, cnt[24], blk[24];
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "changes", (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(cnt, sizeof(cnt), "%zu", max);
	ch_fmt(blk, sizeof(blk), "%d", block_ms);
	const char *with_block[] = {"XREAD", "COUNT", cnt, "BLOCK", blk, "STREAMS", k, after};
	const char *no_block[] = {"XREAD", "COUNT", cnt, "STREAMS", k, after};
	if (block_ms > 0)
		r = redisCommandArgv(st->c, 8, with_block, NULL);
	else
		r = redisCommandArgv(st->c, 6, no_block, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "XREAD changes", err, errlen)))
		return rc;
	/* [[key, [entries...]]] or nil when nothing came. */
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2)
		rc = entries_to_changes(r->element[0]->element[1], out, n);
	freeReplyObject(r);
	return rc;
}

int ch_store_changes_bounds(struct ch_store *st, char *first, char *last, size_t len, char *err, size_t errlen)
{
	char *k;
	int rc;

	first[0] = last[0] = '\0';
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "changes", (char *)NULL)))
		return CH_ENOMEM;
	const char *a[] = {"XRANGE", k, "-", "+", "COUNT", "1"}, *b[] = {"XREVRANGE", k, "+", "-", "COUNT", "1"};
	redisAppendCommandArgv(st->c, 6, a, NULL);
	redisAppendCommandArgv(st->c, 6, b, NULL);
	free(k);
	for (int i = 0; i < 2; i++) {
		redisReply *r;
		int e;
		if (redisGetReply(st->c, (void **)&r) != REDIS_OK)
			r = NULL;
		if ((e = store__reply_error(st, r, "XRANGE changes", err, errlen))) {
			if (!rc)
				rc = e;
			if (e == CH_EAGAIN)
				break;
			continue;
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements == 2)
			ch_fmt(i ? last : first, len, "%.*s", (int)r->element[0]->element[0]->len,
			       r->element[0]->element[0]->str);
		freeReplyObject(r);
	}
	return rc;
}

int ch_store_changes_tail(struct ch_store *st, size_t max, struct ch_change **out, size_t *n, char *err, size_t errlen)
{
	char *k, cnt[24];
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "changes", (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(cnt, sizeof(cnt), "%zu", max);
	const char *argv[] = {"XREVRANGE", k, "+", "-", "COUNT", cnt};
	r = redisCommandArgv(st->c, 6, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "XREVRANGE changes", err, errlen)))
		return rc;
	rc = entries_to_changes(r, out, n);
	freeReplyObject(r);
	/* Newest first from Redis: turn it round. */
	for (size_t i = 0; !rc && i < *n / 2; i++) {
		struct ch_change t = (*out)[i];
		(*out)[i] = (*out)[*n - 1 - i];
		(*out)[*n - 1 - i] = t;
	}
	return rc;
}

/* ---------------------------------------------------------------- what the API reads besides */

int ch_store_esc_get(struct ch_store *st, const char *alert_id, char *policy, size_t plen, long long *step,
		     int64_t *at_ms, char *err, size_t errlen)
{
	char sid[128], num[24], *k;
	long n;
	redisReply *r;
	int rc;

	policy[0] = '\0';
	*step = 0;
	*at_ms = 0;
	if (ch_store_alert_id_split(alert_id, sid, sizeof(sid), &n))
		return CH_EINVAL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	ch_fmt(num, sizeof(num), "%ld", n);
	if (!(k = store__key(st, "{", sid, "}:esc:", num, (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"HMGET", k, "pol", "g", "at"};
	r = redisCommandArgv(st->c, 5, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "HMGET esc", err, errlen)))
		return rc;
	rc = CH_ENOTFOUND;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING) {
		ch_fmt(policy, plen, "%.*s", (int)r->element[0]->len, r->element[0]->str);
		*step = store__reply_ll(r->element[1]);
		*at_ms = store__reply_ll(r->element[2]);
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

int ch_store_state_get(struct ch_store *st, const char *sid, uint8_t **blob, size_t *len, char *err, size_t errlen)
{
	struct ch_state_blob b;
	int rc = ch_store_states_read(st, &sid, 1, &b, err, errlen);

	*blob = rc ? NULL : b.state;
	*len = rc ? 0 : b.len;
	return rc;
}

int ch_store_devhealth_get(struct ch_store *st, const char *sid, json_t **out, char *err, size_t errlen)
{
	char *k;
	redisReply *r;
	int rc;

	*out = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "{", sid, "}:devhealth", (char *)NULL)))
		return CH_ENOMEM;
	const char *argv[] = {"HGETALL", k};
	r = redisCommandArgv(st->c, 2, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "HGETALL devhealth", err, errlen)))
		return rc;
	*out = json_object();
	for (size_t i = 0; *out && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		char f[256];
		ch_fmt(f, sizeof(f), "%.*s", (int)r->element[i]->len, r->element[i]->str);
		json_object_set_new(*out, f, json_stringn(r->element[i + 1]->str, r->element[i + 1]->len));
	}
	freeReplyObject(r);
	return *out ? 0 : CH_ENOMEM;
}

int ch_store_alerts_recent(struct ch_store *st, size_t max, json_t **out, char *err, size_t errlen)
{
	char lim[24], *k, **keys;
	redisReply *r;
	size_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(k = store__key(st, "alerts:recent", (char *)NULL)))
		return CH_ENOMEM;
	ch_fmt(lim, sizeof(lim), "%zu", max ? max - 1 : 0);
	const char *argv[] = {"ZREVRANGE", k, "0", lim};
	r = redisCommandArgv(st->c, 4, argv, NULL);
	free(k);
	if ((rc = store__reply_error(st, r, "ZREVRANGE alerts:recent", err, errlen)))
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
		if ((keys[n] = store__alert_key(st, id, "")))
			n++;
	}
	freeReplyObject(r);
	if (n == 0) {
		free(keys);
		return 0;
	}
	return mget_docs(st, keys, n, *out, err, errlen);
}
