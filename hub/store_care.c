/*
 * store_care.c - check-in schedules and daily aggregates in Redis (see
 * store_care.h for the keys and store_care.lua for what each call does).
 *
 * The script is loaded on first use and again when Redis says NOSCRIPT (a
 * restarted or flushed server): its SHA1 depends on the text only, so one
 * copy serves every connection.
 */
#include "store_care.h"
#include "store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store_care.lua.h"

/* A queued call's guard outlives any replay of its slot (the state's compare-and-set is the first line). */
#define GUARD_TTL_S (36 * 3600)
#define TREND_LIVE 64 /* CH_TREND_LIVE_BYTES: P{sid}:trend starts with the live record */

static pthread_mutex_t sha_mu = PTHREAD_MUTEX_INITIALIZER;
static char care_sha[48];

static int load_script(struct ch_store *st, char *err, size_t errlen)
{
	redisReply *r = redisCommand(st->c, "SCRIPT LOAD %s", store_care_lua);
	int rc = store__reply_error(st, r, "SCRIPT LOAD care", err, errlen);

	if (rc)
		return rc;
	pthread_mutex_lock(&sha_mu);
	ch_strlcpy(care_sha, r->str ? r->str : "", sizeof(care_sha));
	pthread_mutex_unlock(&sha_mu);
	freeReplyObject(r);
	return 0;
}

static int begin(struct ch_store *st, struct argv *a, const char *mode, char *sha, char *err, size_t errlen)
{
	int rc = ch_store_ensure(st, err, errlen);

	if (rc)
		return rc;
	pthread_mutex_lock(&sha_mu);
	ch_strlcpy(sha, care_sha, 48);
	pthread_mutex_unlock(&sha_mu);
	if (!sha[0]) {
		if ((rc = load_script(st, err, errlen)))
			return rc;
		pthread_mutex_lock(&sha_mu);
		ch_strlcpy(sha, care_sha, 48);
		pthread_mutex_unlock(&sha_mu);
	}
	store__argv_str(a, "EVALSHA");
	store__argv_str(a, sha);
	store__argv_str(a, "0");
	store__argv_str(a, mode);
	store__argv_str(a, ch_store_prefix(st));
	return 0;
}

/* Runs the call; once more after loading the script if Redis forgot it. */
static redisReply *call(struct ch_store *st, struct argv *a, const char *what, char *err, size_t errlen, int *rc)
{
	redisReply *r;

	if (a->oom) {
		*rc = CH_ENOMEM;
		return NULL;
	}
	r = store__cmd_argv(st, (int)a->n, a->v, a->len);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		if ((*rc = load_script(st, err, errlen)))
			return NULL;
		pthread_mutex_lock(&sha_mu);
		a->v[1] = care_sha; /* the text is the same, so is its SHA1: stable while we hold it */
		a->len[1] = strlen(care_sha);
		r = store__cmd_argv(st, (int)a->n, a->v, a->len);
		pthread_mutex_unlock(&sha_mu);
	}
	if ((*rc = store__reply_error(st, r, what, err, errlen)))
		return NULL;
	return r;
}

static bool is_str(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_STRING;
}

/* ---------------------------------------------------------------- check-ins */

static long long field_ll(const char *v)
{
	long n;

	return ch_parse_long(v, 0, 0x7FFFFFFFFFFFFFFFL, &n) == 0 ? n : 0;
}

/* The hash (flat name, value list) as a state; unknown fields are ignored. */
static void state_from(const redisReply *h, struct ch_checkin_state *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
		const char *k, *v;
		if (!is_str(h->element[i]) || !is_str(h->element[i + 1]))
			continue;
		k = h->element[i]->str;
		v = h->element[i + 1]->str;
		if (strcmp(k, "slot") == 0)
			ch_strlcpy(s->slot, v, sizeof(s->slot));
		else if (strcmp(k, "due") == 0)
			s->due_ms = field_ll(v);
		else if (strcmp(k, "phase") == 0)
			s->phase = (int)field_ll(v) % 3;
		else if (strcmp(k, "tries") == 0)
			s->tries = (int)field_ll(v) % 3;
		else if (strcmp(k, "next") == 0)
			s->next_ms = field_ll(v);
		else if (strcmp(k, "missed") == 0)
			s->missed = (int)(field_ll(v) % 100000);
		else if (strcmp(k, "last") == 0)
			ch_strlcpy(s->last, v, sizeof(s->last));
		else if (strcmp(k, "last_slot") == 0)
			ch_strlcpy(s->last_slot, v, sizeof(s->last_slot));
		else if (strcmp(k, "last_ms") == 0)
			s->last_ms = field_ll(v);
		else if (strcmp(k, "reason") == 0)
			ch_strlcpy(s->reason, v, sizeof(s->reason));
		else if (strcmp(k, "conf") == 0)
			s->conf_hash = (uint32_t)field_ll(v);
	}
}

void ch_checkin_due_free(struct ch_checkin_due *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		free(d[i].sid);
		free(d[i].eng);
		free(d[i].live);
	}
	free(d);
}

int ch_store_checkin_claim(struct ch_store *st, int64_t now_ms, int64_t lease_ms, int max, struct ch_checkin_due **out,
			   size_t *n, char *err, size_t errlen)
{
	struct argv a = {0};
	struct ch_checkin_due *d;
	char sha[48];
	redisReply *r;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = begin(st, &a, "claim", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_i64(&a, now_ms);
	store__argv_i64(&a, lease_ms);
	store__argv_i64(&a, max);
	r = call(st, &a, "check-in claim", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 4) {
		freeReplyObject(r);
		ch_fmt(err, errlen, "redis check-in script: unexpected reply");
		return CH_EPROTO;
	}
	d = calloc(r->elements / 4 + 1, sizeof(*d));
	if (!d) {
		freeReplyObject(r);
		return CH_ENOMEM;
	}
	for (size_t i = 0; i < r->elements / 4; i++) {
		redisReply **e = r->element + 4 * i;
		d[i].sid = store__dup_str(e[0]);
		state_from(e[1], &d[i].st);
		if (is_str(e[2]) && e[2]->len)
			d[i].eng = store__dup_bytes(e[2], &d[i].englen);
		if (is_str(e[3]) && e[3]->len)
			d[i].live = store__dup_bytes(e[3], &d[i].livelen);
		*n = i + 1;
		if (!d[i].sid) {
			ch_checkin_due_free(d, *n);
			*n = 0;
			freeReplyObject(r);
			return CH_ENOMEM;
		}
	}
	freeReplyObject(r);
	*out = d;
	return 0;
}

static void push_field(struct argv *a, const char *name, const char *v)
{
	store__argv_str(a, name);
	store__argv_str(a, v);
}

int ch_store_checkin_put(struct ch_store *st, const char *sid, const struct ch_checkin_state *expect,
			 const struct ch_checkin_state *next, bool remove, const char *job, const char *guard,
			 bool *applied, bool *queued, char *err, size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	int rc;

	*applied = *queued = false;
	if ((rc = begin(st, &a, "put", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_str(&a, sid);
	store__argv_str(&a, expect->slot);
	store__argv_i64(&a, expect->slot[0] ? expect->phase : 0);
	store__argv_i64(&a, expect->slot[0] ? expect->tries : 0);
	store__argv_str(&a, remove ? "1" : "0");
	store__argv_i64(&a, remove ? 0 : next->next_ms);
	store__argv_i64(&a, remove ? 0 : 11);
	if (!remove) {
		push_field(&a, "slot", next->slot);
		store__argv_str(&a, "due");
		store__argv_i64(&a, next->due_ms);
		store__argv_str(&a, "phase");
		store__argv_i64(&a, next->phase);
		store__argv_str(&a, "tries");
		store__argv_i64(&a, next->tries);
		store__argv_str(&a, "next");
		store__argv_i64(&a, next->next_ms);
		store__argv_str(&a, "missed");
		store__argv_i64(&a, next->missed);
		push_field(&a, "last", next->last);
		push_field(&a, "last_slot", next->last_slot);
		store__argv_str(&a, "last_ms");
		store__argv_i64(&a, next->last_ms);
		push_field(&a, "reason", next->reason);
		store__argv_str(&a, "conf");
		store__argv_i64(&a, next->conf_hash);
	}
	store__argv_str(&a, job && guard ? job : "");
	store__argv_str(&a, job && guard ? guard : "");
	store__argv_i64(&a, GUARD_TTL_S);
	r = call(st, &a, "check-in put", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
		freeReplyObject(r);
		ch_fmt(err, errlen, "redis check-in script: unexpected reply");
		return CH_EPROTO;
	}
	*applied = store__reply_ll(r->element[0]) == 1;
	*queued = r->elements > 1 && store__reply_ll(r->element[1]) == 1;
	freeReplyObject(r);
	return 0;
}

int ch_store_checkin_get(struct ch_store *st, const char *sid, struct ch_checkin_state *out, char *missed_alert,
			 size_t len, char *err, size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	int rc;

	if ((rc = begin(st, &a, "get", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_str(&a, sid);
	r = call(st, &a, "check-in get", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		freeReplyObject(r);
		ch_fmt(err, errlen, "redis check-in script: unexpected reply");
		return CH_EPROTO;
	}
	state_from(r->element[0], out);
	ch_strlcpy(missed_alert, is_str(r->element[1]) ? r->element[1]->str : "", len);
	freeReplyObject(r);
	return 0;
}

int ch_store_checkin_arm(struct ch_store *st, const char *const *sids, size_t n, int64_t now_ms, char *err,
			 size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = begin(st, &a, "arm", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_i64(&a, now_ms);
	for (size_t i = 0; i < n; i++)
		store__argv_str(&a, sids[i]);
	r = call(st, &a, "check-in arm", err, errlen, &rc);
	store__argv_free(&a);
	if (r)
		freeReplyObject(r);
	return rc;
}

/* ---------------------------------------------------------------- aggregates */

int ch_store_trend_get(struct ch_store *st, const char *const *sids, size_t n, uint8_t **lives, size_t *lens,
		       char *err, size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	int rc;

	for (size_t i = 0; i < n; i++) {
		lives[i] = NULL;
		lens[i] = 0;
	}
	if (n == 0)
		return 0;
	if ((rc = begin(st, &a, "trend_get", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		store__argv_str(&a, sids[i]);
	r = call(st, &a, "trend get", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
		freeReplyObject(r);
		ch_fmt(err, errlen, "redis trend script: unexpected reply");
		return CH_EPROTO;
	}
	for (size_t i = 0; i < n; i++) {
		if (is_str(r->element[i]) && r->element[i]->len)
			lives[i] = store__dup_bytes(r->element[i], &lens[i]);
	}
	freeReplyObject(r);
	return 0;
}

int ch_store_trend_put(struct ch_store *st, const struct ch_store_trend_put *p, size_t n, int64_t ttl_s,
		       bool *applied, uint8_t **current, size_t *curlen, char *err, size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	int rc;

	for (size_t i = 0; i < n; i++) {
		applied[i] = false;
		current[i] = NULL;
		curlen[i] = 0;
	}
	if (n == 0)
		return 0;
	if ((rc = begin(st, &a, "trend_put", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_i64(&a, ttl_s);
	store__argv_i64(&a, (int64_t)n);
	for (size_t i = 0; i < n; i++) {
		store__argv_str(&a, p[i].sid);
		store__argv_push(&a, (const char *)p[i].old, p[i].old ? p[i].oldlen : 0);
		store__argv_push(&a, (const char *)p[i].live, p[i].livelen);
		store__argv_i64(&a, (int64_t)p[i].nday);
		for (size_t k = 0; k < p[i].nday; k++) {
			store__argv_i64(&a, (int64_t)p[i].day_off[k]);
			store__argv_push(&a, (const char *)p[i].days + k * p[i].day_len, p[i].day_len);
		}
	}
	r = call(st, &a, "trend put", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
		freeReplyObject(r);
		ch_fmt(err, errlen, "redis trend script: unexpected reply");
		return CH_EPROTO;
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = r->element[i];
		applied[i] = is_str(e) && e->len == 0;
		if (!applied[i] && is_str(e))
			current[i] = store__dup_bytes(e, &curlen[i]);
	}
	freeReplyObject(r);
	return 0;
}

int ch_store_trend_read(struct ch_store *st, const char *sid, uint8_t **live, size_t *livelen, uint8_t **days,
			size_t *dayslen, char *err, size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	size_t n = 0;
	uint8_t *all;
	int rc;

	*live = *days = NULL;
	*livelen = *dayslen = 0;
	if ((rc = begin(st, &a, "trend_read", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_str(&a, sid);
	r = call(st, &a, "trend read", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	all = is_str(r) && r->len ? store__dup_bytes(r, &n) : NULL;
	freeReplyObject(r);
	if (!all)
		return 0;
	/* The live record, then the days (store_care.lua). */
	*livelen = n < TREND_LIVE ? n : TREND_LIVE;
	*live = malloc(*livelen ? *livelen : 1);
	if (n > TREND_LIVE && (*days = malloc(n - TREND_LIVE)) != NULL) {
		memcpy(*days, all + TREND_LIVE, n - TREND_LIVE);
		*dayslen = n - TREND_LIVE;
	}
	if (*live)
		memcpy(*live, all, *livelen);
	free(all);
	if (!*live || (n > TREND_LIVE && !*days)) {
		free(*live);
		free(*days);
		*live = *days = NULL;
		*livelen = *dayslen = 0;
		return CH_ENOMEM;
	}
	return 0;
}

int ch_store_care_job(struct ch_store *st, const char *guard, int64_t ttl_s, const char *job, bool *queued, char *err,
		      size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	int rc;

	*queued = false;
	if ((rc = begin(st, &a, "job", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_str(&a, guard);
	store__argv_i64(&a, ttl_s);
	store__argv_str(&a, job);
	r = call(st, &a, "queue job", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	*queued = store__reply_ll(r) == 1;
	freeReplyObject(r);
	return 0;
}

int ch_store_care_once(struct ch_store *st, const char *key, int64_t ttl_s, bool *first, char *err, size_t errlen)
{
	struct argv a = {0};
	char sha[48];
	redisReply *r;
	int rc;

	*first = false;
	if ((rc = begin(st, &a, "once", sha, err, errlen))) {
		store__argv_free(&a);
		return rc;
	}
	store__argv_str(&a, key);
	store__argv_i64(&a, ttl_s);
	r = call(st, &a, "once", err, errlen, &rc);
	store__argv_free(&a);
	if (!r)
		return rc;
	*first = store__reply_ll(r) == 1;
	freeReplyObject(r);
	return 0;
}
