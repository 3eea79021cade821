/*
 * store_fleet.c - what the hub keeps in Redis about its sensor fleets: the
 * fields and devices it hears but cannot map, and the device lists bridges
 * publish (Zigbee2MQTT's bridge/devices), so that every hub instance and the
 * API see the same picture; and the small hashes of the Home Assistant
 * publisher (last activity per subject, hass.c).
 *
 * Keys (P is redis.prefix):
 *   Pfleet:unmapped     hash ["adapter","device","field"] (JSON) -> the last sighting
 *                       {"sample","reason","last_ms","type"}
 *   Pfleet:unmapped:n   hash, same fields -> how many times (HINCRBY, so instances add up)
 *   Pfleet:bridge       hash adapter name -> its bridge's device list (JSON array)
 *   Pha:activity        hash subject id -> epoch ms of its last sign of life
 * The unmapped hashes are bounded: past FLEET_MAX entries they start over
 * (a fleet that sends that many distinct unmapped fields needs its mapping
 * fixed, not a longer list), and the log says so.
 */
#include "store.h"
#include "store_int.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define FLEET_MAX 20000

static int pipeline_replies(struct ch_store *st, size_t n, const char *what, char *err, size_t errlen)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		redisReply *r = NULL;
		if (redisGetReply(st->c, (void **)&r) != REDIS_OK || !r) {
			(void)store__reply_error(st, NULL, what, err, errlen);
			return CH_EAGAIN; /* the context is gone: no more replies to read */
		}
		if (r->type == REDIS_REPLY_ERROR) {
			int e = store__reply_error(st, r, what, err, errlen); /* frees r */
			if (!rc)
				rc = e;
			if (!st->c)
				return rc;
			continue;
		}
		freeReplyObject(r);
	}
	return rc;
}

static void append(struct ch_store *st, size_t *n, int argc, const char **argv, const size_t *lens)
{
	if (redisAppendCommandArgv(st->c, argc, argv, lens) == REDIS_OK)
		(*n)++;
}

int ch_store_fleet_record(struct ch_store *st, const struct ch_fleet_rec *recs, size_t n,
			  const char *const *bridge_names, const char *const *bridge_docs, size_t nb,
			  char *err, size_t errlen)
{
	char *dk = NULL, *nk = NULL, *bk = NULL, cnt[32];
	size_t queued = 0;
	redisReply *r;
	int rc;

	if (!n && !nb)
		return 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	dk = store__key(st, "fleet:unmapped", (char *)NULL);
	nk = store__key(st, "fleet:unmapped:n", (char *)NULL);
	bk = store__key(st, "fleet:bridge", (char *)NULL);
	if (!dk || !nk || !bk) {
		rc = CH_ENOMEM;
		goto out;
	}
	if (n) {
		r = redisCommand(st->c, "HLEN %s", dk);
		if ((rc = store__reply_error(st, r, "HLEN fleet:unmapped", err, errlen)))
			goto out;
		if (r->type == REDIS_REPLY_INTEGER && r->integer >= FLEET_MAX) {
			ch_log(CH_LOG_WARN, "fleet: %lld unmapped fields recorded; starting the list over",
			       (long long)r->integer);
			freeReplyObject(r);
			r = redisCommand(st->c, "DEL %s %s", dk, nk);
			if ((rc = store__reply_error(st, r, "DEL fleet:unmapped", err, errlen)))
				goto out;
		}
		freeReplyObject(r);
	}
	for (size_t i = 0; i < n; i++) {
		const char *hi[] = {"HINCRBY", nk, recs[i].key, cnt};
		const char *hs[] = {"HSET", dk, recs[i].key, recs[i].doc};
		size_t lhi[] = {7, strlen(nk), strlen(recs[i].key), 0};
		size_t lhs[] = {4, strlen(dk), strlen(recs[i].key), strlen(recs[i].doc)};
		(void)ch_fmt(cnt, sizeof(cnt), "%lld", recs[i].count);
		lhi[3] = strlen(cnt);
		append(st, &queued, 4, hi, lhi);
		append(st, &queued, 4, hs, lhs);
	}
	for (size_t i = 0; i < nb; i++) {
		const char *hs[] = {"HSET", bk, bridge_names[i], bridge_docs[i]};
		size_t lhs[] = {4, strlen(bk), strlen(bridge_names[i]), strlen(bridge_docs[i])};
		append(st, &queued, 4, hs, lhs);
	}
	rc = pipeline_replies(st, queued, "fleet record", err, errlen);
out:
	free(dk);
	free(nk);
	free(bk);
	return rc;
}

/* HGETALL into a JSON object field -> value (values parsed as JSON when asked). */
static int hgetall(struct ch_store *st, const char *name, bool parse, json_t **out, char *err, size_t errlen)
{
	char *k = store__key(st, name, (char *)NULL);
	redisReply *r;
	json_t *o;
	int rc;

	*out = NULL;
	if (!k)
		return CH_ENOMEM;
	r = redisCommand(st->c, "HGETALL %s", k);
	free(k);
	if ((rc = store__reply_error(st, r, "HGETALL fleet", err, errlen)))
		return rc;
	o = json_object();
	for (size_t i = 0; o && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		redisReply *f = r->element[i], *v = r->element[i + 1];
		char *fs = f->str ? strndup(f->str, f->len) : NULL;
		json_t *jv = parse && v->str ? json_loadb(v->str, v->len, 0, NULL)
					     : (v->str ? json_stringn(v->str, v->len) : NULL);
		if (fs && jv)
			json_object_set_new(o, fs, jv);
		else
			json_decref(jv);
		free(fs);
	}
	freeReplyObject(r);
	*out = o;
	return o ? 0 : CH_ENOMEM;
}

int ch_store_fleet_read(struct ch_store *st, json_t **unmapped, json_t **counts, json_t **bridges,
			char *err, size_t errlen)
{
	int rc;

	*unmapped = *counts = *bridges = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)) || (rc = hgetall(st, "fleet:unmapped", true, unmapped, err, errlen)) ||
	    (rc = hgetall(st, "fleet:unmapped:n", false, counts, err, errlen)) ||
	    (rc = hgetall(st, "fleet:bridge", true, bridges, err, errlen))) {
		json_decref(*unmapped);
		json_decref(*counts);
		json_decref(*bridges);
		*unmapped = *counts = *bridges = NULL;
		return rc;
	}
	return 0;
}

int ch_store_hash_read(struct ch_store *st, const char *name, json_t **out, char *err, size_t errlen)
{
	int rc;

	*out = NULL;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	return hgetall(st, name, false, out, err, errlen);
}

int ch_store_hash_write(struct ch_store *st, const char *name, json_t *fields, char *err, size_t errlen)
{
	struct argv a = {0};
	const char *k;
	json_t *v;
	char *key;
	redisReply *r;
	int rc;

	if (!json_object_size(fields))
		return 0;
	if ((rc = ch_store_ensure(st, err, errlen)))
		return rc;
	if (!(key = store__key(st, name, (char *)NULL)))
		return CH_ENOMEM;
	store__argv_str(&a, "HSET");
	store__argv_str(&a, key);
	json_object_foreach(fields, k, v) {
		store__argv_str(&a, k);
		store__argv_str(&a, json_string_value(v) ? json_string_value(v) : "");
	}
	rc = CH_ENOMEM;
	if (!a.oom) {
		r = store__cmd_argv(st, (int)a.n, a.v, a.len);
		if (!(rc = store__reply_error(st, r, "HSET", err, errlen)))
			freeReplyObject(r);
	}
	store__argv_free(&a);
	free(key);
	return rc;
}
