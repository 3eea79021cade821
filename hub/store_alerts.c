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
