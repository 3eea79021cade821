/*
 * engine.c - the stateful rule kinds, presence, silences and the alert
 * lifecycle, as pure functions of (state, input, now).
 *
 * Lifecycle, the same for every kind:
 *  - an alert opens only when its rule is armed; opening disarms it and the
 *    condition clearing (activity, the window back over its threshold, the
 *    device speaking again) re-arms it, so a long silence opens one alert, not
 *    one per tick;
 *  - while open the engine asks for no second one (the store also dedups per
 *    (subject, key) so two hub instances never open two);
 *  - auto-resolve closes it when the condition clears, unless the rule is
 *    flapping (flap.opens alerts within flap.within): then it stays open for a
 *    person to look at;
 *  - after a resolve, nothing opens for the rule's cooldown.
 * Event rules are always armed: each matching event opens an alert or repeats
 * the open one.
 */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STATE_MAGIC0 'C'
#define STATE_MAGIC1 'S'
#define STATE_VERSION 1
/* Battery alerts clear only this many points above the threshold: no flapping at the edge. */
#define BATTERY_HYSTERESIS 5.0

const char *ch_action_kind_name(enum ch_action_kind k)
{
	switch (k) {
	case CH_ACT_OPEN:
		return "opened";
	case CH_ACT_REPEAT:
		return "repeat";
	case CH_ACT_RESOLVE:
		return "resolved";
	case CH_ACT_RAISE:
		return "raised";
	}
	return "?";
}

uint32_t ch_engine_hash(const char *s)
{
	return ch_fnv1a32(s);
}

void ch_sstate_init(struct ch_sstate *st, int64_t now_ms)
{
	memset(st, 0, sizeof(*st));
	st->created_ms = now_ms;
}

void ch_sstate_clear(struct ch_sstate *st)
{
	free(st->rules);
	free(st->devs);
	memset(st, 0, sizeof(*st));
}

int ch_sstate_copy(struct ch_sstate *dst, const struct ch_sstate *src)
{
	*dst = *src;
	dst->rules = NULL;
	dst->devs = NULL;
	dst->caprules = src->nrules;
	dst->capdevs = src->ndevs;
	if (src->nrules && !(dst->rules = malloc(src->nrules * sizeof(*dst->rules))))
		goto oom;
	if (src->ndevs && !(dst->devs = malloc(src->ndevs * sizeof(*dst->devs))))
		goto oom;
	if (src->nrules)
		memcpy(dst->rules, src->rules, src->nrules * sizeof(*dst->rules));
	if (src->ndevs)
		memcpy(dst->devs, src->devs, src->ndevs * sizeof(*dst->devs));
	return 0;
oom:
	free(dst->rules);
	memset(dst, 0, sizeof(*dst));
	return CH_ENOMEM;
}

size_t ch_sstate_encoded_max(const struct ch_sstate *st)
{
	return 64 + st->nsil * 13 + st->nopen_health * 4 + st->nrules * (48 + 8 + CH_AGG_BUCKETS * 8) +
	       st->ndevs * 12;
}

/* ------------------------------------------------------------------ */
/* State lookup                                                        */
/* ------------------------------------------------------------------ */

static struct ch_rstate *rstate_find(const struct ch_sstate *st, uint32_t h)
{
	for (size_t i = 0; i < st->nrules; i++) {
		if (st->rules[i].rule_hash == h)
			return &st->rules[i];
	}
	return NULL;
}

/* A rule's state, created (watching from now) the first time; NULL only when out of memory. */
static struct ch_rstate *rstate_get(struct ch_sstate *st, const struct ch_rule *r, int64_t now)
{
	uint32_t h = r->id_hash ? r->id_hash : ch_engine_hash(r->id);
	struct ch_rstate *rs = rstate_find(st, h);

	if (rs)
		return rs;
	if (st->nrules == st->caprules) {
		size_t cap = st->caprules ? st->caprules * 2 : 8;
		struct ch_rstate *n = realloc(st->rules, cap * sizeof(*n));
		if (!n)
			return NULL;
		st->rules = n;
		st->caprules = cap;
	}
	rs = &st->rules[st->nrules++];
	memset(rs, 0, sizeof(*rs));
	rs->rule_hash = h;
	rs->armed = 1;
	rs->since_ms = now;
	rs->last_ms = r->kind == CH_RULE_INACTIVITY ? now : 0;
	return rs;
}

static struct ch_dstate *dstate_get(struct ch_sstate *st, const char *dev_id, bool create)
{
	uint32_t h = ch_engine_hash(dev_id);

	for (size_t i = 0; i < st->ndevs; i++) {
		if (st->devs[i].dev_hash == h)
			return &st->devs[i];
	}
	if (!create)
		return NULL;
	if (st->ndevs == st->capdevs) {
		size_t cap = st->capdevs ? st->capdevs * 2 : 8;
		struct ch_dstate *n = realloc(st->devs, cap * sizeof(*n));
		if (!n)
			return NULL;
		st->devs = n;
		st->capdevs = cap;
	}
	st->devs[st->ndevs] = (struct ch_dstate){.dev_hash = h, .last_ms = 0};
	return &st->devs[st->ndevs++];
}

static bool silenced(const struct ch_sstate *st, enum ch_silence_kind kind, uint32_t target, int64_t now)
{
	for (size_t i = 0; i < st->nsil; i++) {
		const struct ch_silence *s = &st->sil[i];
		if (s->kind == kind && s->target_hash == target && s->until_ms > now)
			return true;
	}
	return false;
}

/*
 * Is the rule held back now?  Away suspends the rules that say so; a subject
 * silence holds everything but critical rules (smoke, gas, SOS: a silence for
 * renovation work must not hide a fire); a rule silence holds that rule.
 */
static bool suspended(const struct ch_sstate *st, const struct ch_rule *r, int64_t now)
{
	if (st->away != CH_HOME && r->suspend_when_away)
		return true;
	if (st->nsil == 0)
		return false;
	if (r->severity < CH_SEV_CRITICAL && silenced(st, CH_SIL_SUBJECT, 0, now))
		return true;
	return silenced(st, CH_SIL_RULE, ch_engine_hash(r->id), now);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* "11-28 08:15" in the subject's zone. */
static void fmt_local(const struct ch_tz *tz, int64_t ms, char *buf, size_t len)
{
	char iso[40];

	ch_tz_format(tz, ms, iso, sizeof(iso));
	if (strlen(iso) >= 16)
		ch_fmt(buf, len, "%.5s %.5s", iso + 5, iso + 11);
	else
		ch_strlcpy(buf, iso, len);
}

static bool below_rule_of(const struct ch_rule *r)
{
	return r->cmp == CH_OP_LT || r->cmp == CH_OP_LE;
}

static struct ch_action *push(struct ch_actions *out, enum ch_action_kind kind, const struct ch_rule *r,
			      const char *key, const struct ch_device *dev, const struct ch_event *ev,
			      int64_t at)
{
	struct ch_action *a;

	if (out->n == CH_ENGINE_MAX_ACTIONS) {
		out->dropped++;
		return NULL;
	}
	a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->rule = r;
	ch_strlcpy(a->key, key ? key : r->id, sizeof(a->key));
	a->dev = dev;
	a->ev = ev;
	a->severity = r->severity;
	a->at_ms = at;
	return a;
}

/* Does the subject have a device the matcher could ever match (its type, and location if named)? */
static bool has_device_for(const struct ch_subject *subj, const struct ch_matcher *m)
{
	for (size_t i = 0; i < subj->ndevices; i++) {
		const struct ch_device *d = &subj->devices[i];
		if (d->type && ch_type_matches(m->type, d->type) &&
		    (!m->location || (d->location && strcasecmp(d->location, m->location) == 0)))
			return true;
	}
	return false;
}

/*
 * Rules that watch for something missing only apply to a subject that has a
 * sensor for it: no water meter, no "no water used" alarm.  Service events
 * (service.*) come from care systems, not devices, so they always count.
 */
static bool rule_applies(const struct ch_subject *subj, const struct ch_rule *r)
{
	switch (r->kind) {
	case CH_RULE_INACTIVITY:
		for (size_t i = 0; i < r->nactivity; i++) {
			if (has_device_for(subj, &r->activity[i]))
				return true;
		}
		return false;
	case CH_RULE_AGGREGATE:
		return !below_rule_of(r) || has_device_for(subj, &r->match);
	case CH_RULE_SEQUENCE:
		if (!r->absent)
			return true;
		for (size_t i = 0; i < r->nthen; i++) {
			if (has_device_for(subj, &r->then[i]) || strncmp(r->then[i].type, "service.", 8) == 0)
				return true;
		}
		return false;
	default:
		return true;
	}
}

static bool in_during(const struct ch_engine_ctx *cx, const struct ch_rule *r, int64_t t)
{
	return !r->during.set || ch_tz_in_window(cx->tz, r->during.start_min, r->during.end_min, t);
}

/*
 * Opens (or for event rules repeats) the alert of rule r under key.  Honours
 * arming, cooldown and flap counting.  Returns the action or NULL.
 */
static struct ch_action *try_open(struct ch_rstate *rs, const struct ch_rule *r, const char *key,
				  const struct ch_device *dev, const struct ch_event *ev, int64_t at, int64_t now,
				  struct ch_actions *out)
{
	if (rs->open) {
		if (r->kind == CH_RULE_EVENT)
			return push(out, CH_ACT_REPEAT, r, key, dev, ev, at);
		return NULL;
	}
	if (!rs->armed)
		return NULL;
	if (rs->resolved_ms && r->cooldown_ms > 0 && now < rs->resolved_ms + r->cooldown_ms)
		return NULL;
	if (r->flap_opens > 0) {
		if (!rs->flap_start_ms || now - rs->flap_start_ms > r->flap_window_ms) {
			rs->flap_start_ms = now;
			rs->flap_count = 0;
			rs->flapping = 0;
		}
		if (rs->flap_count < UINT16_MAX)
			rs->flap_count++;
		if (rs->flap_count >= r->flap_opens)
			rs->flapping = 1;
	}
	rs->open = 1;
	if (r->kind != CH_RULE_EVENT)
		rs->armed = 0;
	return push(out, CH_ACT_OPEN, r, key, dev, ev, at);
}

static struct ch_action *auto_resolve(struct ch_rstate *rs, const struct ch_rule *r, const char *outcome,
				      const struct ch_event *ev, int64_t at, struct ch_actions *out)
{
	struct ch_action *a;

	if (!rs->open || !r->auto_resolve || rs->flapping)
		return NULL;
	a = push(out, CH_ACT_RESOLVE, r, NULL, NULL, ev, at);
	if (!a)
		return NULL;
	rs->open = 0;
	rs->resolved_ms = at;
	a->outcome = outcome;
	return a;
}

static bool any_matches(const struct ch_matcher *ms, size_t n, const struct ch_event *ev,
			const struct ch_device *dev)
{
	for (size_t i = 0; i < n; i++) {
		if (ch_matcher_matches(&ms[i], ev, dev))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Device health bookkeeping                                           */
/* ------------------------------------------------------------------ */

static void health_key(const struct ch_rule *r, const struct ch_device *dev, char *buf, size_t len)
{
	ch_fmt(buf, len, "%s|%s", r->id, dev->id);
}

static bool health_open(const struct ch_sstate *st, uint32_t h)
{
	for (size_t i = 0; i < st->nopen_health; i++) {
		if (st->open_health[i] == h)
			return true;
	}
	return false;
}

static bool health_set(struct ch_sstate *st, uint32_t h, bool open)
{
	for (size_t i = 0; i < st->nopen_health; i++) {
		if (st->open_health[i] == h) {
			if (!open)
				st->open_health[i] = st->open_health[--st->nopen_health];
			return true;
		}
	}
	if (!open)
		return true;
	if (st->nopen_health == CH_ARRAY_LEN(st->open_health))
		return false;
	st->open_health[st->nopen_health++] = h;
	return true;
}

static bool type_allowed(const struct ch_rule *r, const struct ch_device *dev)
{
	if (!r->device_types)
		return true;
	for (size_t i = 0; i < r->ndevice_types; i++) {
		if (dev->type && strcmp(r->device_types[i], dev->type) == 0)
			return true;
	}
	return false;
}

static void health_open_action(struct ch_sstate *st, const struct ch_rule *r, const struct ch_device *dev,
			       const struct ch_event *ev, int64_t at, struct ch_actions *out, const char *why)
{
	char key[160];
	uint32_t h;
	struct ch_action *a;

	health_key(r, dev, key, sizeof(key));
	h = ch_engine_hash(key);
	if (health_open(st, h) || !health_set(st, h, true))
		return;
	a = push(out, CH_ACT_OPEN, r, key, dev, ev, at);
	if (a)
		ch_strlcpy(a->why, why, sizeof(a->why));
}

static void health_resolve_action(struct ch_sstate *st, const struct ch_rule *r, const struct ch_device *dev,
				  const struct ch_event *ev, int64_t at, const char *outcome,
				  struct ch_actions *out)
{
	char key[160];
	uint32_t h;
	struct ch_action *a;

	health_key(r, dev, key, sizeof(key));
	h = ch_engine_hash(key);
	if (!health_open(st, h) || !r->auto_resolve)
		return;
	health_set(st, h, false);
	a = push(out, CH_ACT_RESOLVE, r, key, dev, ev, at);
	if (a) {
		a->outcome = outcome;
		ch_fmt(a->why, sizeof(a->why), "%s: %s", dev->id, outcome);
	}
}

static bool event_number(const struct ch_event *ev, const char *path, double *out)
{
	json_t *v = ch_event_field(ev, path);

	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v)) {
		char *end;
		double d = strtod(json_string_value(v), &end);
		if (end != json_string_value(v) && *end == '\0' && isfinite(d)) {
			*out = d;
			return true;
		}
	}
	return false;
}

static void health_event(struct ch_sstate *st, const struct ch_engine_ctx *cx, const struct ch_rule *r,
			 const struct ch_event *ev, const struct ch_device *dev, struct ch_actions *out)
{
	char why[256];
	double pct;
	int64_t at = ev->ts_ms;

	(void)cx;
	if (!dev || !type_allowed(r, dev))
		return;
	switch (r->check) {
	case CH_HEALTH_SILENT:
		health_resolve_action(st, r, dev, ev, at, "device_back", out);
		break;
	case CH_HEALTH_BATTERY:
		if (!(strcmp(ev->type, "battery") == 0 && ev->vkind == CH_VAL_NUMBER && (pct = ev->vnum, true)) &&
		    !event_number(ev, "data.battery", &pct))
			break;
		if (pct < r->battery_below) {
			ch_fmt(why, sizeof(why), "%s (%s) battery at %.0f%%, below %.0f%%", dev->id,
			       dev->location ? dev->location : "-", pct, r->battery_below);
			health_open_action(st, r, dev, ev, at, out, why);
		} else if (pct >= r->battery_below + BATTERY_HYSTERESIS) {
			health_resolve_action(st, r, dev, ev, at, "battery_replaced", out);
		}
		break;
	case CH_HEALTH_TAMPER: {
		json_t *t = strcmp(ev->type, "tamper") == 0 ? ch_event_field(ev, "value")
							    : ch_event_field(ev, "data.tamper");
		if (json_is_true(t)) {
			ch_fmt(why, sizeof(why), "%s (%s) reports tampering", dev->id,
			       dev->location ? dev->location : "-");
			health_open_action(st, r, dev, ev, at, out, why);
		} else if (json_is_false(t)) {
			health_resolve_action(st, r, dev, ev, at, "tamper_cleared", out);
		}
		break;
	}
	}
}

static int64_t device_last(const struct ch_sstate *st, const struct ch_device *dev)
{
	const struct ch_dstate *d = dstate_get((struct ch_sstate *)st, dev->id, false);

	/* Never heard from: silent since the hub started watching the subject. */
	return d && d->last_ms ? d->last_ms : st->created_ms;
}

static int64_t heartbeat_of(const struct ch_rule *r, const struct ch_device *dev)
{
	return dev->heartbeat_ms > 0 ? dev->heartbeat_ms : r->default_heartbeat_ms;
}

/* ------------------------------------------------------------------ */
/* Aggregates: CH_AGG_BUCKETS buckets of window/CH_AGG_BUCKETS each     */
/* ------------------------------------------------------------------ */

static int64_t bucket_width(const struct ch_rule *r)
{
	int64_t w = r->window_ms / CH_AGG_BUCKETS;

	return w > 0 ? w : 1;
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static size_t bucket_slot(int64_t b)
{
	int64_t m = b % CH_AGG_BUCKETS;

	return (size_t)(m < 0 ? m + CH_AGG_BUCKETS : m);
}

/* Adds a value at event time ts; false when ts is older than every kept bucket. */
static bool agg_add(struct ch_rstate *rs, const struct ch_rule *r, int64_t ts, double v)
{
	int64_t b = floordiv(ts, bucket_width(r));
	size_t k;

	bool empty = true;

	for (size_t i = 0; i < CH_AGG_BUCKETS; i++)
		empty = empty && rs->cnt[i] == 0;
	if (empty) /* nothing kept: the ring starts wherever this event is */
		rs->head = b;
	if (b > rs->head) {
		int64_t steps = b - rs->head;
		for (int64_t i = 1; i <= steps && i <= CH_AGG_BUCKETS; i++) {
			k = bucket_slot(rs->head + i);
			rs->val[k] = 0;
			rs->cnt[k] = 0;
		}
		rs->head = b;
	} else if (b <= rs->head - CH_AGG_BUCKETS) {
		return false;
	}
	k = bucket_slot(b);
	switch (r->fn) {
	case CH_AGG_SUM:
	case CH_AGG_AVG:
		rs->val[k] += (float)v;
		break;
	case CH_AGG_COUNT:
		break;
	case CH_AGG_MIN:
		if (rs->cnt[k] == 0 || v < rs->val[k])
			rs->val[k] = (float)v;
		break;
	case CH_AGG_MAX:
		if (rs->cnt[k] == 0 || v > rs->val[k])
			rs->val[k] = (float)v;
		break;
	}
	if (rs->cnt[k] < UINT32_MAX)
		rs->cnt[k]++;
	return true;
}

/* The window's value at t; false when it has none (min/max/avg of no events). */
static bool agg_value(const struct ch_rstate *rs, const struct ch_rule *r, int64_t t, double *out)
{
	int64_t bt = floordiv(t, bucket_width(r));
	double sum = 0, best = 0;
	uint64_t n = 0;
	bool any = false;

	for (int64_t b = bt - CH_AGG_BUCKETS + 1; b <= bt; b++) {
		size_t k;
		if (b > rs->head || b <= rs->head - CH_AGG_BUCKETS)
			continue;
		k = bucket_slot(b);
		if (rs->cnt[k] == 0)
			continue;
		n += rs->cnt[k];
		sum += rs->val[k];
		if (!any || (r->fn == CH_AGG_MIN && rs->val[k] < best) || (r->fn == CH_AGG_MAX && rs->val[k] > best))
			best = rs->val[k];
		any = true;
	}
	switch (r->fn) {
	case CH_AGG_SUM:
		*out = sum;
		return true;
	case CH_AGG_COUNT:
		*out = (double)n;
		return true;
	case CH_AGG_AVG:
		*out = n ? sum / (double)n : 0;
		return n > 0;
	case CH_AGG_MIN:
	case CH_AGG_MAX:
		*out = best;
		return any;
	}
	return false;
}

static bool cmp_holds(enum ch_cond_op op, double v, double t)
{
	switch (op) {
	case CH_OP_LT:
		return v < t;
	case CH_OP_LE:
		return v <= t;
	case CH_OP_GT:
		return v > t;
	case CH_OP_GE:
		return v >= t;
	default:
		return false;
	}
}

#define below_rule below_rule_of

static const char *op_text(enum ch_cond_op op)
{
	return op == CH_OP_LT ? "<" : op == CH_OP_LE ? "<=" : op == CH_OP_GT ? ">" : ">=";
}

static const char *fn_text(enum ch_agg_fn fn)
{
	static const char *const names[] = {"sum", "count", "min", "max", "avg"};

	return (size_t)fn < CH_ARRAY_LEN(names) ? names[fn] : "?";
}

/* ------------------------------------------------------------------ */
/* Inactivity                                                          */
/* ------------------------------------------------------------------ */

static int64_t inactivity_deadline(const struct ch_engine_ctx *cx, const struct ch_rule *r,
				   const struct ch_rstate *rs)
{
	if (r->during.set)
		return ch_tz_window_advance(cx->tz, r->during.start_min, r->during.end_min, rs->last_ms, r->for_ms);
	return rs->last_ms + r->for_ms;
}

/* Activity sensors that have gone quiet make an inactivity alarm less certain: say which. */
static void inactivity_caveat(const struct ch_sstate *st, const struct ch_engine_ctx *cx, const struct ch_rule *r,
			      int64_t at, char *buf, size_t len)
{
	size_t total = 0, quiet = 0;
	char first[160] = "";

	for (size_t i = 0; i < cx->subj->ndevices; i++) {
		const struct ch_device *d = &cx->subj->devices[i];
		bool activity = false;
		int64_t last;

		for (size_t k = 0; k < r->nactivity && !activity; k++)
			activity = d->type && ch_type_matches(r->activity[k].type, d->type);
		if (!activity)
			continue;
		total++;
		last = device_last(st, d);
		if (d->heartbeat_ms > 0 && at - last > d->heartbeat_ms) {
			char when[32];
			quiet++;
			if (!first[0]) {
				fmt_local(cx->tz, last, when, sizeof(when));
				ch_fmt(first, sizeof(first), "%s (%s) silent since %s", d->id,
				       d->location ? d->location : "-", when);
			}
		}
	}
	buf[0] = '\0';
	if (quiet == 0)
		return;
	/* A cut caveat is still a caveat: ch_fmt truncates safely. */
	if (quiet == total)
		ch_fmt(buf, len, "all %zu activity sensors are silent past their heartbeat (%s): "
				 "this may be a device or network fault, not the person",
		       total, first);
	else
		ch_fmt(buf, len, "%zu of %zu activity sensors silent past their heartbeat (%s): "
				 "check the devices before assuming the worst",
		       quiet, total, first);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

static void presence_event(struct ch_sstate *st, const struct ch_engine_ctx *cx, const struct ch_event *ev,
			   const struct ch_device *dev, int64_t now)
{
	const struct ch_presence *p = &cx->rules->presence;

	if (strcmp(ev->type, "service.hospital_admission") == 0) {
		st->away = CH_AWAY_HOSPITAL;
		st->away_since_ms = ev->ts_ms;
		st->exit_ms = 0;
		return;
	}
	if (strcmp(ev->type, "service.hospital_discharge") == 0) {
		if (st->away == CH_AWAY_HOSPITAL) {
			st->away = CH_HOME;
			st->away_since_ms = 0;
			/* Home again: inactivity counts from the discharge, not from before the admission. */
			for (size_t i = 0; i < cx->rules->n; i++) {
				const struct ch_rule *r = &cx->rules->rules[i];
				struct ch_rstate *rs;
				if (r->kind != CH_RULE_INACTIVITY || !(rs = rstate_get(st, r, now)))
					continue;
				if (ev->ts_ms > rs->last_ms)
					rs->last_ms = ev->ts_ms;
				rs->armed = 1;
			}
		}
		return;
	}
	if (!p->enabled || st->away == CH_AWAY_HOSPITAL)
		return;
	if (any_matches(p->inside, p->ninside, ev, dev) && (st->exit_ms == 0 || ev->ts_ms >= st->exit_ms)) {
		st->exit_ms = 0;
		if (st->away == CH_AWAY_OUT) {
			st->away = CH_HOME;
			st->away_since_ms = 0;
		}
	} else if (ch_matcher_matches(&p->exit, ev, dev) && st->exit_ms == 0) {
		st->exit_ms = ev->ts_ms;
	}
}

static void rule_event(struct ch_sstate *st, const struct ch_engine_ctx *cx, const struct ch_rule *r,
		       const struct ch_event *ev, const struct ch_device *dev, int64_t now, struct ch_actions *out)
{
	struct ch_rstate *rs = rstate_get(st, r, now);
	struct ch_action *a;

	if (!rs)
		return;
	switch (r->kind) {
	case CH_RULE_EVENT:
		if (!ch_matcher_matches(&r->match, ev, dev) || suspended(st, r, now))
			return;
		a = try_open(rs, r, NULL, dev, ev, ev->ts_ms, now, out);
		if (a)
			ch_fmt(a->why, sizeof(a->why), "%s from %s", ev->type, ev->device);
		return;
	case CH_RULE_INACTIVITY:
		if (!any_matches(r->activity, r->nactivity, ev, dev) || ev->ts_ms <= rs->last_ms)
			return;
		rs->last_ms = ev->ts_ms;
		rs->armed = 1;
		a = auto_resolve(rs, r, "activity_resumed", ev, ev->ts_ms, out);
		if (a)
			ch_fmt(a->why, sizeof(a->why), "activity resumed: %s from %s", ev->type, ev->device);
		return;
	case CH_RULE_AGGREGATE: {
		double v = 1;
		if (!ch_matcher_matches(&r->match, ev, dev) || !in_during(cx, r, ev->ts_ms))
			return;
		if (r->fn != CH_AGG_COUNT && !event_number(ev, r->field ? r->field : "value", &v))
			return;
		agg_add(rs, r, ev->ts_ms, v);
		return; /* the threshold is checked by the tick that follows */
	}
	case CH_RULE_SEQUENCE:
		/* "then" first, so that one event never completes its own sequence. */
		if (rs->last_ms && ev->ts_ms >= rs->last_ms && any_matches(r->then, r->nthen, ev, dev)) {
			if (ev->ts_ms <= rs->last_ms + r->within_ms) {
				int64_t first = rs->last_ms;
				rs->last_ms = 0;
				if (!r->absent && !suspended(st, r, now)) {
					a = try_open(rs, r, NULL, dev, ev, ev->ts_ms, now, out);
					if (a)
						ch_fmt(a->why, sizeof(a->why), "%s followed %s within %lld s",
						       ev->type, r->first.type,
						       (long long)((ev->ts_ms - first) / 1000));
				}
				rs->armed = 1;
				return;
			}
		}
		if (ch_matcher_matches(&r->first, ev, dev) && in_during(cx, r, ev->ts_ms) && !suspended(st, r, now) &&
		    (rs->last_ms == 0 || ev->ts_ms > rs->last_ms + r->within_ms))
			rs->last_ms = ev->ts_ms;
		return;
	case CH_RULE_DEVICE_HEALTH:
		if (!silenced(st, CH_SIL_DEVICE, ch_engine_hash(dev ? dev->id : ""), now))
			health_event(st, cx, r, ev, dev, out);
		return;
	}
}

void ch_engine_event(struct ch_sstate *st, const struct ch_engine_ctx *cx, const struct ch_event *ev,
		     const struct ch_device *dev, int64_t now_ms, struct ch_actions *out)
{
	struct ch_dstate *d;

	/* In event-time order, what fell due before this event fires first (a late
	 * event, older than one already seen, only updates the state). */
	if (ev->ts_ms > st->watermark_ms && ev->ts_ms - 1 < now_ms)
		ch_engine_tick(st, cx, ev->ts_ms - 1, out);
	if (ev->ts_ms > st->watermark_ms)
		st->watermark_ms = ev->ts_ms;
	d = dstate_get(st, dev ? dev->id : ev->device, true);
	if (d && ev->ts_ms > d->last_ms)
		d->last_ms = ev->ts_ms;
	/* A silenced device is ignored by the rules: it still counts as heard from. */
	if (dev && silenced(st, CH_SIL_DEVICE, ch_engine_hash(dev->id), now_ms)) {
		for (size_t i = 0; i < cx->rules->n; i++) {
			const struct ch_rule *r = &cx->rules->rules[i];
			if (r->enabled && r->kind == CH_RULE_DEVICE_HEALTH && r->check == CH_HEALTH_SILENT)
				health_event(st, cx, r, ev, dev, out);
		}
		ch_engine_tick(st, cx, now_ms, out);
		return;
	}
	presence_event(st, cx, ev, dev, now_ms);
	for (size_t i = 0; i < cx->rules->n; i++) {
		const struct ch_rule *r = &cx->rules->rules[i];
		if (r->enabled)
			rule_event(st, cx, r, ev, dev, now_ms, out);
	}
	ch_engine_tick(st, cx, now_ms, out);
}

/* ------------------------------------------------------------------ */
/* The clock                                                           */
/* ------------------------------------------------------------------ */

static void tick_rule(struct ch_sstate *st, const struct ch_engine_ctx *cx, const struct ch_rule *r, int64_t now,
		      struct ch_actions *out)
{
	struct ch_rstate *rs = rstate_get(st, r, now);
	struct ch_action *a;
	char d1[32], d2[32];

	if (!rs || !rule_applies(cx->subj, r))
		return;
	if (rs->flapping && r->flap_window_ms > 0 && now - rs->flap_start_ms > r->flap_window_ms && !rs->open)
		rs->flapping = 0;
	switch (r->kind) {
	case CH_RULE_EVENT:
		return;
	case CH_RULE_INACTIVITY: {
		int64_t due;
		if (rs->open || !rs->armed || suspended(st, r, now))
			return;
		due = inactivity_deadline(cx, r, rs);
		if (now < due)
			return;
		a = try_open(rs, r, NULL, NULL, NULL, due, now, out);
		if (!a)
			return;
		ch_fmt_duration(r->for_ms, d1, sizeof(d1));
		fmt_local(cx->tz, rs->last_ms, a->since, sizeof(a->since));
		if (r->during.set)
			ch_fmt(a->why, sizeof(a->why), "no sign of life for %s within %02d:%02d-%02d:%02d, last at %s", d1,
			       r->during.start_min / 60, r->during.start_min % 60, r->during.end_min / 60,
			       r->during.end_min % 60, a->since);
		else
			ch_fmt(a->why, sizeof(a->why), "no sign of life for %s, last at %s", d1, a->since);
		inactivity_caveat(st, cx, r, due, a->caveat, sizeof(a->caveat));
		return;
	}
	case CH_RULE_AGGREGATE: {
		double v = 0;
		bool has = agg_value(rs, r, now, &v);
		bool holds = has && cmp_holds(r->cmp, v, r->threshold);
		bool warm = !below_rule(r) || now - rs->since_ms >= r->window_ms;

		if (!holds) {
			rs->armed = 1;
			a = auto_resolve(rs, r, "activity_resumed", NULL, now, out);
			if (a)
				ch_fmt(a->why, sizeof(a->why), "%s over %s back to %g", fn_text(r->fn),
				       (ch_fmt_duration(r->window_ms, d1, sizeof(d1)), d1), v);
			return;
		}
		if (!warm || suspended(st, r, now))
			return;
		a = try_open(rs, r, NULL, NULL, NULL, now, now, out);
		if (!a)
			return;
		ch_fmt_duration(r->window_ms, d1, sizeof(d1));
		ch_fmt(a->measured, sizeof(a->measured), "%g", v);
		ch_fmt(d2, sizeof(d2), "%g", r->threshold);
		ch_fmt(a->why, sizeof(a->why), "%s%s%s over the last %s is %s, %s %s", fn_text(r->fn),
		       r->fn == CH_AGG_COUNT ? "" : " of ", r->fn == CH_AGG_COUNT ? "" : (r->field ? r->field : "value"),
		       d1, a->measured, op_text(r->cmp), d2);
		return;
	}
	case CH_RULE_SEQUENCE: {
		int64_t due;
		if (!rs->last_ms)
			return;
		due = rs->last_ms + r->within_ms;
		if (now < due)
			return;
		int64_t first = rs->last_ms;
		rs->last_ms = 0;
		if (!r->absent || suspended(st, r, now))
			return;
		ch_fmt_duration(r->within_ms, d1, sizeof(d1));
		fmt_local(cx->tz, first, d2, sizeof(d2));
		if (r->raises) {
			const struct ch_rule *target = ch_rules_find(cx->rules, r->raises);
			struct ch_rstate *ts = target ? rstate_find(st, ch_engine_hash(target->id)) : NULL;
			if (ts && ts->open) {
				a = push(out, CH_ACT_RAISE, target, target->id, NULL, NULL, due);
				if (a) {
					a->severity = r->severity;
					ch_fmt(a->why, sizeof(a->why), "%s: no %s within %s after %s at %s", r->id,
					       r->then[0].type, d1, r->first.type, d2);
				}
				return;
			}
		}
		rs->armed = 1;
		a = try_open(rs, r, NULL, NULL, NULL, due, now, out);
		if (a) {
			ch_strlcpy(a->since, d2, sizeof(a->since));
			ch_fmt(a->why, sizeof(a->why), "%s at %s and no %s within %s", r->first.type, d2,
			       r->nthen > 1 ? "activity" : r->then[0].type, d1);
		}
		return;
	}
	case CH_RULE_DEVICE_HEALTH:
		if (r->check != CH_HEALTH_SILENT)
			return;
		for (size_t i = 0; i < cx->subj->ndevices; i++) {
			const struct ch_device *dev = &cx->subj->devices[i];
			int64_t hb = heartbeat_of(r, dev), last;
			char why[256];

			if (hb <= 0 || !type_allowed(r, dev) || silenced(st, CH_SIL_DEVICE, ch_engine_hash(dev->id), now))
				continue;
			last = device_last(st, dev);
			if (now < last + hb)
				continue;
			ch_fmt_duration(hb, d1, sizeof(d1));
			fmt_local(cx->tz, last, d2, sizeof(d2));
			ch_fmt(why, sizeof(why), "%s (%s) silent since %s, heartbeat %s", dev->id,
			       dev->location ? dev->location : "-", d2, d1);
			health_open_action(st, r, dev, NULL, last + hb, out, why);
		}
		return;
	}
}

void ch_engine_tick(struct ch_sstate *st, const struct ch_engine_ctx *cx, int64_t now_ms, struct ch_actions *out)
{
	const struct ch_presence *p = &cx->rules->presence;
	size_t k = 0;

	for (size_t i = 0; i < st->nsil; i++) {
		if (st->sil[i].until_ms > now_ms)
			st->sil[k++] = st->sil[i];
	}
	st->nsil = k;
	if (p->enabled && st->exit_ms && now_ms >= st->exit_ms + p->confirm_ms) {
		st->away = CH_AWAY_OUT;
		st->away_since_ms = st->exit_ms;
		st->exit_ms = 0;
	}
	for (size_t i = 0; i < cx->rules->n; i++) {
		const struct ch_rule *r = &cx->rules->rules[i];
		if (r->enabled)
			tick_rule(st, cx, r, now_ms, out);
	}
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The first bucket boundary after now where the window's value satisfies want. */
static int64_t agg_next_change(const struct ch_rstate *rs, const struct ch_rule *r, int64_t now, bool want_holds)
{
	int64_t w = bucket_width(r);
	int64_t b = floordiv(now, w);

	for (int64_t k = 1; k <= CH_AGG_BUCKETS; k++) {
		int64_t t = (b + k) * w;
		double v = 0;
		bool has = agg_value(rs, r, t, &v);
		bool holds = has && cmp_holds(r->cmp, v, r->threshold);
		if (holds == want_holds)
			return t;
	}
	return INT64_MAX;
}

int64_t ch_engine_next_deadline(const struct ch_sstate *st, const struct ch_engine_ctx *cx, int64_t now_ms)
{
	const struct ch_presence *p = &cx->rules->presence;
	int64_t next = INT64_MAX;

	for (size_t i = 0; i < st->nsil; i++)
		next = min64(next, st->sil[i].until_ms);
	if (p->enabled && st->exit_ms)
		next = min64(next, st->exit_ms + p->confirm_ms);
	for (size_t i = 0; i < cx->rules->n; i++) {
		const struct ch_rule *r = &cx->rules->rules[i];
		const struct ch_rstate *rs;

		if (!r->enabled || r->kind == CH_RULE_EVENT || !rule_applies(cx->subj, r))
			continue;
		rs = rstate_find(st, r->id_hash ? r->id_hash : ch_engine_hash(r->id));
		if (r->kind == CH_RULE_DEVICE_HEALTH) {
			if (r->check != CH_HEALTH_SILENT)
				continue;
			for (size_t d = 0; d < cx->subj->ndevices; d++) {
				const struct ch_device *dev = &cx->subj->devices[d];
				char key[160];
				int64_t hb = heartbeat_of(r, dev);

				if (hb <= 0 || !type_allowed(r, dev) ||
				    silenced(st, CH_SIL_DEVICE, ch_engine_hash(dev->id), now_ms))
					continue;
				health_key(r, dev, key, sizeof(key));
				if (!health_open(st, ch_engine_hash(key)))
					next = min64(next, device_last(st, dev) + hb);
			}
			continue;
		}
		if (!rs) {
			next = min64(next, now_ms); /* never evaluated: start watching now */
			continue;
		}
		/* Held back (away, a silence): the silence's end or the return re-evaluates. */
		if (suspended(st, r, now_ms))
			continue;
		/* In cooldown: nothing can open before it ends. */
		int64_t floor = rs->resolved_ms && r->cooldown_ms > 0 ? rs->resolved_ms + r->cooldown_ms : 0;
		switch (r->kind) {
		case CH_RULE_INACTIVITY:
			if (!rs->open && rs->armed) {
				int64_t due = inactivity_deadline(cx, r, rs);
				next = min64(next, due > floor ? due : floor);
			}
			break;
		case CH_RULE_AGGREGATE:
			if (!rs->open && rs->armed && below_rule(r)) {
				int64_t due = agg_next_change(rs, r, now_ms, true);
				int64_t warm = rs->since_ms + r->window_ms;
				if (due < warm)
					due = warm; /* not a full window watched yet */
				if (due != INT64_MAX && due < floor)
					due = floor;
				next = min64(next, due);
			}
			else if (rs->open && r->auto_resolve)
				next = min64(next, agg_next_change(rs, r, now_ms, false));
			break;
		case CH_RULE_SEQUENCE:
			if (rs->last_ms)
				next = min64(next, rs->last_ms + r->within_ms);
			break;
		default:
			break;
		}
	}
	return next;
}

/* ------------------------------------------------------------------ */
/* Control                                                             */
/* ------------------------------------------------------------------ */

int ch_engine_silence(struct ch_sstate *st, enum ch_silence_kind kind, const char *target, int64_t until_ms)
{
	uint32_t h = kind == CH_SIL_SUBJECT ? 0 : ch_engine_hash(target);

	for (size_t i = 0; i < st->nsil; i++) {
		if (st->sil[i].kind == kind && st->sil[i].target_hash == h) {
			st->sil[i].until_ms = until_ms;
			return 0;
		}
	}
	if (st->nsil == CH_MAX_SILENCES)
		return CH_EFULL;
	st->sil[st->nsil++] = (struct ch_silence){.kind = (uint8_t)kind, .target_hash = h, .until_ms = until_ms};
	return 0;
}

void ch_engine_resolved(struct ch_sstate *st, const struct ch_engine_ctx *cx, const char *key, int64_t now_ms)
{
	const char *bar = strchr(key, '|');
	char rule[128];
	struct ch_rstate *rs;

	if (bar) {
		health_set(st, ch_engine_hash(key), false);
		return;
	}
	ch_strlcpy(rule, key, sizeof(rule));
	rs = rstate_find(st, ch_engine_hash(rule));
	(void)cx;
	if (!rs)
		return;
	rs->open = 0;
	rs->resolved_ms = now_ms;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool full;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_u8(struct wbuf *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(w, b, 2);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	put(w, b, 4);
}

static void put_i64(struct wbuf *w, int64_t v)
{
	uint64_t u = (uint64_t)v;
	put_u32(w, (uint32_t)u);
	put_u32(w, (uint32_t)(u >> 32));
}

static void put_f32(struct wbuf *w, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put_u32(w, u);
}

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *take(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t get_u8(struct rbuf *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

static uint16_t get_u16(struct rbuf *r)
{
	const uint8_t *p = take(r, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t get_u32(struct rbuf *r)
{
	const uint8_t *p = take(r, 4);
	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

static int64_t get_i64(struct rbuf *r)
{
	uint64_t lo = get_u32(r), hi = get_u32(r);
	return (int64_t)(lo | hi << 32);
}

static float get_f32(struct rbuf *r)
{
	uint32_t u = get_u32(r);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static const struct ch_rule *rule_by_hash(const struct ch_ruleset *rs, uint32_t h)
{
	for (size_t i = 0; rs && i < rs->n; i++) {
		if ((rs->rules[i].id_hash ? rs->rules[i].id_hash : ch_engine_hash(rs->rules[i].id)) == h)
			return &rs->rules[i];
	}
	return NULL;
}

/*
 * Which rule states are worth storing: not those of rules that are gone, and
 * not an event rule's that says nothing (never opened, nothing to cool down):
 * rstate_get makes the same afresh.  Most rules of a pack are event rules.
 */
static bool keep_rstate(const struct ch_ruleset *rs, const struct ch_rstate *r)
{
	const struct ch_rule *rule = rule_by_hash(rs, r->rule_hash);

	if (!rule)
		return false;
	return rule->kind != CH_RULE_EVENT || r->open || r->flapping || r->flap_count || r->resolved_ms ||
	       !r->armed;
}

size_t ch_sstate_encode(const struct ch_sstate *st, const struct ch_ruleset *rs, uint8_t *buf, size_t cap)
{
	struct wbuf w = {buf, 0, cap, false};
	size_t nrules = 0;

	put_u8(&w, STATE_MAGIC0);
	put_u8(&w, STATE_MAGIC1);
	put_u8(&w, STATE_VERSION);
	put_i64(&w, st->created_ms);
	put_i64(&w, st->watermark_ms);
	put_u8(&w, st->away);
	put_i64(&w, st->away_since_ms);
	put_i64(&w, st->exit_ms);
	put_u8(&w, (uint8_t)st->nsil);
	for (size_t i = 0; i < st->nsil; i++) {
		put_u8(&w, st->sil[i].kind);
		put_u32(&w, st->sil[i].target_hash);
		put_i64(&w, st->sil[i].until_ms);
	}
	put_u8(&w, (uint8_t)st->nopen_health);
	for (size_t i = 0; i < st->nopen_health; i++)
		put_u32(&w, st->open_health[i]);
	for (size_t i = 0; i < st->nrules; i++)
		nrules += keep_rstate(rs, &st->rules[i]);
	put_u16(&w, (uint16_t)nrules);
	for (size_t i = 0; i < st->nrules; i++) {
		const struct ch_rstate *r = &st->rules[i];
		const struct ch_rule *rule = rule_by_hash(rs, r->rule_hash);

		if (!keep_rstate(rs, r))
			continue;
		put_u32(&w, r->rule_hash);
		put_u8(&w, (uint8_t)(r->open | r->armed << 1 | r->flapping << 2 |
				     (rule->kind == CH_RULE_AGGREGATE) << 3));
		put_u16(&w, r->flap_count);
		put_i64(&w, r->flap_start_ms);
		put_i64(&w, r->resolved_ms);
		put_i64(&w, r->since_ms);
		put_i64(&w, r->last_ms);
		if (rule->kind == CH_RULE_AGGREGATE) {
			put_i64(&w, r->head);
			for (size_t k = 0; k < CH_AGG_BUCKETS; k++) {
				put_f32(&w, r->val[k]);
				put_u32(&w, r->cnt[k]);
			}
		}
	}
	put_u16(&w, (uint16_t)(st->ndevs > UINT16_MAX ? UINT16_MAX : st->ndevs));
	for (size_t i = 0; i < st->ndevs && i < UINT16_MAX; i++) {
		put_u32(&w, st->devs[i].dev_hash);
		put_i64(&w, st->devs[i].last_ms);
	}
	return w.full ? 0 : w.len;
}

/*
 * Times and bucket numbers far enough from the int64 limits that adding any
 * duration a rule can hold (at most 10 years) cannot overflow: a state from
 * Redis is checked, never trusted.
 */
#define T_LIMIT 10000000000000000LL /* about the year 318 000 */

static bool t_ok(int64_t t)
{
	return t >= -T_LIMIT && t <= T_LIMIT;
}

static bool sane(const struct ch_sstate *st)
{
	if (!t_ok(st->created_ms) || !t_ok(st->watermark_ms) || !t_ok(st->away_since_ms) || !t_ok(st->exit_ms))
		return false;
	for (size_t i = 0; i < st->nsil; i++) {
		if (st->sil[i].kind > CH_SIL_DEVICE || !t_ok(st->sil[i].until_ms))
			return false;
	}
	for (size_t i = 0; i < st->nrules; i++) {
		const struct ch_rstate *x = &st->rules[i];
		if (!t_ok(x->flap_start_ms) || !t_ok(x->resolved_ms) || !t_ok(x->since_ms) || !t_ok(x->last_ms) ||
		    !t_ok(x->head))
			return false;
		for (size_t k = 0; k < CH_AGG_BUCKETS; k++) {
			if (!isfinite(x->val[k]))
				return false;
		}
	}
	for (size_t i = 0; i < st->ndevs; i++) {
		if (!t_ok(st->devs[i].last_ms))
			return false;
	}
	return true;
}

int ch_sstate_decode(struct ch_sstate *st, const uint8_t *buf, size_t len)
{
	struct rbuf r = {buf, len, 0, false};
	size_t n;

	memset(st, 0, sizeof(*st));
	if (get_u8(&r) != STATE_MAGIC0 || get_u8(&r) != STATE_MAGIC1 || get_u8(&r) != STATE_VERSION)
		return CH_EINVAL;
	st->created_ms = get_i64(&r);
	st->watermark_ms = get_i64(&r);
	st->away = get_u8(&r);
	st->away_since_ms = get_i64(&r);
	st->exit_ms = get_i64(&r);
	n = get_u8(&r);
	if (n > CH_MAX_SILENCES || st->away > CH_AWAY_HOSPITAL)
		return CH_EINVAL;
	for (size_t i = 0; i < n; i++) {
		st->sil[i].kind = get_u8(&r);
		st->sil[i].target_hash = get_u32(&r);
		st->sil[i].until_ms = get_i64(&r);
	}
	st->nsil = n;
	n = get_u8(&r);
	if (n > CH_ARRAY_LEN(st->open_health))
		return CH_EINVAL;
	for (size_t i = 0; i < n; i++)
		st->open_health[i] = get_u32(&r);
	st->nopen_health = n;
	n = get_u16(&r);
	if (r.bad)
		return CH_EINVAL;
	if (n) {
		st->rules = calloc(n, sizeof(*st->rules));
		if (!st->rules)
			return CH_ENOMEM;
		st->caprules = n;
	}
	for (size_t i = 0; i < n && !r.bad; i++) {
		struct ch_rstate *x = &st->rules[i];
		uint8_t f;

		x->rule_hash = get_u32(&r);
		f = get_u8(&r);
		x->open = f & 1;
		x->armed = (f >> 1) & 1;
		x->flapping = (f >> 2) & 1;
		x->flap_count = get_u16(&r);
		x->flap_start_ms = get_i64(&r);
		x->resolved_ms = get_i64(&r);
		x->since_ms = get_i64(&r);
		x->last_ms = get_i64(&r);
		if (f & 8) {
			x->head = get_i64(&r);
			for (size_t k = 0; k < CH_AGG_BUCKETS; k++) {
				x->val[k] = get_f32(&r);
				x->cnt[k] = get_u32(&r);
			}
		}
		st->nrules = i + 1;
	}
	n = get_u16(&r);
	if (!r.bad && n) {
		st->devs = calloc(n, sizeof(*st->devs));
		if (!st->devs) {
			ch_sstate_clear(st);
			return CH_ENOMEM;
		}
		st->capdevs = n;
	}
	for (size_t i = 0; i < n && !r.bad; i++) {
		st->devs[i].dev_hash = get_u32(&r);
		st->devs[i].last_ms = get_i64(&r);
		st->ndevs = i + 1;
	}
	if (r.bad || r.off != len || !sane(st)) {
		ch_sstate_clear(st);
		return CH_EINVAL;
	}
	return 0;
}
