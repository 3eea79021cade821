/*
 * care_trends.c - the daily aggregates in the correlator's thread: each
 * applied event (and each alert opened) is observed, and once per batch the
 * observations move each subject's live record on (trends.c) and go to Redis
 * with the days they finished, compare-and-set on the live record so two hubs
 * feeding one subject never lose each other's counts.
 *
 * The live records last written are kept here (64 bytes a subject, the cache
 * starts over past CACHE_MAX), so a flush is one round trip; a subject not in
 * the cache costs one read more.  While Redis is away observations wait, up
 * to OBS_MAX; past that the oldest are dropped and counted: aggregates are
 * statistics and must not hold the correlator back.
 */
#include "care_int.h"
#include "engine.h"
#include "log.h"
#include "registry.h"
#include "rules.h"
#include "runtime.h"
#include "store_care.h"
#include "tz.h"

#include <stdlib.h>
#include <string.h>

#define OBS_MAX 65536
#define CACHE_MAX (1u << 16)
#define ROUNDS 4
#define TTL_S (70LL * 86400) /* 8 weeks and a margin: a subject gone quiet for longer leaves nothing behind */

/* ------------------------------------------------------------------ */
/* Observing                                                           */
/* ------------------------------------------------------------------ */

static void push(struct ch_care *c, const char *sid, const struct ch_tz *tz, const struct ch_trend_obs *o)
{
	if (c->nobs == c->capobs) {
		size_t cap = c->capobs ? c->capobs * 2 : 256;
		struct care_obs *n;
		if (cap > OBS_MAX) {
			/* Redis has been away long: drop the oldest half. */
			c->dropped += c->nobs / 2;
			memmove(c->obs, c->obs + c->nobs / 2, (c->nobs - c->nobs / 2) * sizeof(*c->obs));
			c->nobs -= c->nobs / 2;
			ch_log_rl("trend-drop", 60000, CH_LOG_WARN, "aggregates: Redis away; %zu observations dropped so far",
				  c->dropped);
		} else if ((n = realloc(c->obs, cap * sizeof(*n))) != NULL) {
			c->obs = n;
			c->capobs = cap;
		} else {
			c->dropped++;
			return;
		}
	}
	struct care_obs *e = &c->obs[c->nobs++];
	ch_strlcpy(e->sid, sid, sizeof(e->sid));
	e->tz = tz;
	e->o = *o;
}

void ch_care_observe(struct ch_care *c, const struct ch_subject *subj, const struct ch_tz *tz,
		     const struct ch_event *ev, const struct ch_device *dev)
{
	struct ch_trend_obs o;

	if (c && subj && ch_trends_observe(ev, dev, subj, &o))
		push(c, subj->id, tz, &o);
}

void ch_care_observe_alert(struct ch_care *c, const char *sid, json_t *doc)
{
	struct ch_runtime *rt;
	const struct ch_subject *s;
	const struct ch_rule *r;
	const struct ch_tz *tz = NULL;
	const char *rule = json_string_value(json_object_get(doc, "rule"));
	const char *cat = json_string_value(json_object_get(doc, "category"));
	struct ch_trend_obs o = {.ts_ms = json_integer_value(json_object_get(doc, "opened_at_ms"))};

	if (!c || !rule || o.ts_ms <= 0 || !(rt = ch_runtime_acquire()))
		return;
	r = ch_rules_find(rt->rules, rule);
	if (r && r->kind == CH_RULE_DEVICE_HEALTH && r->check == CH_HEALTH_SILENT)
		o.what = CH_OBS_OFFLINE;
	else if (!cat || strcmp(cat, "maintenance") != 0)
		o.what = CH_OBS_ALERT;
	s = ch_registry_subject(rt->reg, sid);
	if (o.what && s && ch_tz_get(ch_runtime_zone(rt, s), &tz, NULL, 0) == 0)
		push(c, sid, tz, &o);
	ch_runtime_release(rt);
}

/* ------------------------------------------------------------------ */
/* The cache of live records                                           */
/* ------------------------------------------------------------------ */

static struct care_live *cache_find(struct ch_care *c, const char *sid, bool add)
{
	size_t i;

	if (add && (c->ncache + 1) * 10 > c->capcache * 7) {
		if (c->capcache >= CACHE_MAX) {
			for (i = 0; i < c->capcache; i++)
				free(c->cache[i].sid);
			memset(c->cache, 0, c->capcache * sizeof(*c->cache));
			c->ncache = 0;
		} else {
			struct care_live *old = c->cache;
			size_t oldcap = c->capcache, cap = oldcap ? oldcap * 2 : 1024;
			struct care_live *t = calloc(cap, sizeof(*t));
			if (!t)
				return NULL;
			c->cache = t;
			c->capcache = cap;
			c->ncache = 0;
			for (i = 0; i < oldcap; i++) {
				if (!old[i].sid)
					continue;
				size_t j = ch_fnv1a32(old[i].sid) & (cap - 1);
				while (t[j].sid)
					j = (j + 1) & (cap - 1);
				t[j] = old[i];
				c->ncache++;
			}
			free(old);
		}
	}
	if (!c->capcache)
		return NULL;
	for (i = ch_fnv1a32(sid) & (c->capcache - 1);; i = (i + 1) & (c->capcache - 1)) {
		if (!c->cache[i].sid) {
			if (!add || !(c->cache[i].sid = ch_strdup(sid)))
				return NULL;
			c->ncache++;
			return &c->cache[i];
		}
		if (strcmp(c->cache[i].sid, sid) == 0)
			return &c->cache[i];
	}
}

/* ------------------------------------------------------------------ */
/* Flushing                                                            */
/* ------------------------------------------------------------------ */

/* One subject's share of a flush. */
struct grp {
	const char *sid;
	const struct ch_tz *tz;
	size_t first, n; /* its observations, c->obs[first..first+n) after sorting */
	bool known;      /* old is what Redis has */
	uint8_t old[CH_TREND_LIVE_BYTES];
	size_t oldlen;
	uint8_t live[CH_TREND_LIVE_BYTES];
	uint8_t days[CH_TREND_DAYS * CH_TREND_DAY_BYTES];
	size_t off[CH_TREND_DAYS];
	size_t nday;
	bool done;
};

static int by_sid(const void *a, const void *b)
{
	const struct care_obs *x = a, *y = b;
	int d = strcmp(x->sid, y->sid);

	return d ? d : (x->o.ts_ms > y->o.ts_ms) - (x->o.ts_ms < y->o.ts_ms);
}

/* Reads the live records of the groups the cache does not know. */
static int load(struct ch_care *c, struct grp *g, size_t ng, char *err, size_t errlen)
{
	const char **sids = calloc(ng, sizeof(*sids));
	uint8_t **lives = calloc(ng, sizeof(*lives));
	size_t *lens = calloc(ng, sizeof(*lens)), *idx = calloc(ng, sizeof(*idx)), k = 0;
	int rc = CH_ENOMEM;

	if (!sids || !lives || !lens || !idx)
		goto out;
	for (size_t i = 0; i < ng; i++) {
		struct care_live *e = g[i].known ? NULL : cache_find(c, g[i].sid, false);
		if (e) {
			memcpy(g[i].old, e->live, e->len);
			g[i].oldlen = e->len;
			g[i].known = true;
		} else if (!g[i].known) {
			idx[k] = i;
			sids[k++] = g[i].sid;
		}
	}
	rc = ch_store_trend_get(c->store, sids, k, lives, lens, err, errlen);
	for (size_t j = 0; rc == 0 && j < k; j++) {
		struct grp *x = &g[idx[j]];
		x->known = true;
		/* A record this hub cannot read starts afresh (compute); the compare-and-set still needs its bytes. */
		x->oldlen = lens[j] <= CH_TREND_LIVE_BYTES ? lens[j] : 0;
		if (lens[j] && lens[j] != CH_TREND_LIVE_BYTES)
			ch_log_rl("trend-decode", 60000, CH_LOG_WARN, "aggregates of %s: unreadable live record; starting afresh",
				  x->sid);
		if (x->oldlen)
			memcpy(x->old, lives[j], x->oldlen);
	}
out:
	for (size_t j = 0; lives && j < k; j++)
		free(lives[j]);
	free(sids);
	free(lives);
	free(lens);
	free(idx);
	return rc;
}

/* Moves a group's live record on by its observations; finished days go with it. */
static void compute(struct ch_care *c, struct grp *g)
{
	struct ch_trend_live live;
	struct ch_trend_day done[CH_TREND_DAYS + 1];
	struct ch_trend_obs *o = malloc(g->n * sizeof(*o));

	if (!g->oldlen || ch_trend_live_decode(g->old, g->oldlen, &live))
		memset(&live, 0, sizeof(live));
	g->nday = 0;
	if (!o) {
		ch_trend_live_encode(&live, g->live);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		o[i] = c->obs[g->first + i].o;
	size_t k = ch_trends_apply(&live, g->tz, o, g->n, done, CH_TREND_DAYS + 1, NULL);
	free(o);
	for (size_t i = k > CH_TREND_DAYS ? k - CH_TREND_DAYS : 0; i < k; i++) {
		ch_trend_day_encode(&done[i], g->days + g->nday * CH_TREND_DAY_BYTES);
		g->off[g->nday++] = (size_t)(done[i].day % CH_TREND_DAYS) * CH_TREND_DAY_BYTES;
	}
	ch_trend_live_encode(&live, g->live);
}

/* Groups the observations by subject (sorted by subject, then time); NULL on ENOMEM. */
static struct grp *group(struct ch_care *c, size_t *ng)
{
	struct grp *g;
	size_t n = 0;

	qsort(c->obs, c->nobs, sizeof(*c->obs), by_sid);
	for (size_t i = 0; i < c->nobs; i++)
		n += i == 0 || strcmp(c->obs[i].sid, c->obs[i - 1].sid) != 0;
	g = calloc(n ? n : 1, sizeof(*g));
	if (!g)
		return NULL;
	n = 0;
	for (size_t i = 0; i < c->nobs; i++) {
		if (i == 0 || strcmp(c->obs[i].sid, c->obs[i - 1].sid) != 0)
			g[n++] = (struct grp){.sid = c->obs[i].sid, .tz = c->obs[i].tz, .first = i};
		g[n - 1].n++;
	}
	*ng = n;
	return g;
}

/* One compare-and-set round over the groups not done; 0, or the store's error. */
static int round_trip(struct ch_care *c, struct grp *g, size_t ng, char *err, size_t errlen)
{
	struct ch_store_trend_put *p = calloc(ng, sizeof(*p));
	bool *applied = calloc(ng, sizeof(*applied));
	uint8_t **cur = calloc(ng, sizeof(*cur));
	size_t *curlen = calloc(ng, sizeof(*curlen)), *map = calloc(ng, sizeof(*map)), k = 0;
	int rc = CH_ENOMEM;

	if (!p || !applied || !cur || !curlen || !map)
		goto out;
	for (size_t i = 0; i < ng; i++) {
		if (g[i].done)
			continue;
		compute(c, &g[i]);
		map[k] = i;
		p[k++] = (struct ch_store_trend_put){.sid = g[i].sid, .old = g[i].oldlen ? g[i].old : NULL,
						     .oldlen = g[i].oldlen, .live = g[i].live,
						     .livelen = CH_TREND_LIVE_BYTES, .days = g[i].days,
						     .nday = g[i].nday, .day_len = CH_TREND_DAY_BYTES, .day_off = g[i].off};
	}
	rc = ch_store_trend_put(c->store, p, k, TTL_S, applied, cur, curlen, err, errlen);
	for (size_t j = 0; rc == 0 && j < k; j++) {
		struct grp *x = &g[map[j]];
		struct care_live *e;
		if (applied[j]) {
			x->done = true;
			if ((e = cache_find(c, x->sid, true)) != NULL) {
				memcpy(e->live, x->live, CH_TREND_LIVE_BYTES);
				e->len = CH_TREND_LIVE_BYTES;
			}
		} else {
			/* Another hub wrote first: again from what it wrote. */
			x->oldlen = curlen[j] <= CH_TREND_LIVE_BYTES ? curlen[j] : 0;
			memcpy(x->old, cur[j] ? cur[j] : x->old, x->oldlen);
		}
	}
out:
	for (size_t j = 0; cur && j < k; j++)
		free(cur[j]);
	free(p);
	free(applied);
	free(cur);
	free(curlen);
	free(map);
	return rc;
}

void ch_care_flush(struct ch_care *c, int64_t now_ms)
{
	struct grp *g;
	size_t ng = 0;
	char err[256];
	int rc = 0;

	(void)now_ms;
	if (!c || !c->nobs)
		return;
	if (!(g = group(c, &ng)))
		return;
	rc = load(c, g, ng, err, sizeof(err));
	for (int round = 0; rc == 0 && round < ROUNDS; round++) {
		bool left = false;
		if ((rc = round_trip(c, g, ng, err, sizeof(err))))
			break;
		for (size_t i = 0; i < ng; i++)
			left = left || !g[i].done;
		if (!left)
			break;
	}
	if (rc) {
		/* Redis away: the observations wait for the next flush. */
		ch_log_rl("trend-flush", 10000, CH_LOG_WARN, "aggregates: %s; kept for later", err);
		free(g);
		return;
	}
	for (size_t i = 0; i < ng; i++) {
		if (!g[i].done)
			ch_log_rl("trend-conflict", 10000, CH_LOG_WARN, "aggregates of %s: kept changing; dropped %zu observations",
				  g[i].sid, g[i].n);
	}
	free(g);
	c->nobs = 0;
}
