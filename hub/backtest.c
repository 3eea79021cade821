/*
 * backtest.c - the correlation engine over recorded events, with a virtual
 * clock (see backtest.h for why).
 *
 * One run per registry subject holds the engine state, the alerts it has open
 * (numbered as the store numbers them) and, with --resolve-after, when a
 * person will resolve each.  A subject's next instant is the earlier of the
 * engine's next deadline and its first pending resolve; an indexed min-heap of
 * subjects by that instant lets the clock move across thousands of homes in
 * O(log n) per step, which keeps the run near the speed of parsing the JSON.
 *
 * Output: each alert transition (text, or one JSON object a line), then a
 * summary: opened alerts per rule per local day, and per rule per household
 * per 30 days (households: subjects with at least one event; days: from the
 * first event to the last), which is the figure administrators compare.
 */
#include "backtest.h"

#include "clock.h"
#include "config.h"
#include "engine.h"
#include "event.h"
#include "registry.h"
#include "rules.h"
#include "tz.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES (256 * 1024)
#define EXAMPLES 5 /* lines quoted for each kind of bad input, then only counted */
#define DAY_MS 86400000.0

struct open_alert {
	char key[160];
	const struct ch_rule *rule;
	enum ch_severity severity;
	long n;             /* the alert's number: <subject>:<n> */
	int64_t resolve_at; /* when a person resolves it; INT64_MAX: never */
};

struct run {
	const struct ch_subject *subj;
	const struct ch_tz *tz;
	struct ch_sstate st;
	bool started;
	int64_t eng_next; /* the engine's next deadline */
	int64_t next;     /* min(eng_next, first resolve): the heap key */
	size_t hpos;      /* index in the heap */
	long seq;
	struct open_alert *open; /* in opening order, which is resolve order */
	size_t nopen, capopen;
};

/* Opened alerts per (local day, rule). */
struct day_count {
	char day[16];
	size_t rule;
	size_t n;
};

/* Device ids the registry does not know, counted once each. */
struct strset {
	char **slot;
	size_t cap, n;
};

struct bt {
	const struct ch_backtest_opts *o;
	const struct ch_ruleset *rules;
	const struct ch_registry *reg;
	struct ch_backtest_result *res;
	struct run *runs; /* one per registry subject, in registry order */
	size_t nruns, active;
	const struct ch_subject **hkey; /* subject pointer -> run index */
	size_t *hval, hcap;
	size_t *heap, nheap;
	struct day_count *days;
	size_t ndays, capdays;
	size_t *opened_by_rule;
	struct strset unknown;
	int64_t first_ms, last_ms;
};

/* One alert transition, engine or person. */
struct transition {
	const char *kind;
	const struct ch_rule *rule;
	enum ch_severity severity;
	const char *key, *why, *outcome, *caveat, *by;
	const char *device; /* the device concerned, or NULL */
	long n;
	int64_t at_ms;
};

/* ---------------------------------------------------------------- runs and the heap */

static size_t ptr_hash(const void *p, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static int runs_init(struct bt *b)
{
	size_t n = ch_registry_count(b->reg);

	b->hcap = 16;
	while (b->hcap < 2 * n)
		b->hcap *= 2;
	b->runs = calloc(n ? n : 1, sizeof(*b->runs));
	b->heap = calloc(n ? n : 1, sizeof(*b->heap));
	b->hkey = calloc(b->hcap, sizeof(*b->hkey));
	b->hval = calloc(b->hcap, sizeof(*b->hval));
	b->opened_by_rule = calloc(b->rules->n ? b->rules->n : 1, sizeof(*b->opened_by_rule));
	if (!b->runs || !b->heap || !b->hkey || !b->hval || !b->opened_by_rule)
		return CH_ENOMEM;
	b->nruns = n;
	for (size_t i = 0; i < n; i++) {
		const struct ch_subject *s = ch_registry_at(b->reg, i);
		size_t h = ptr_hash(s, b->hcap);
		while (b->hkey[h])
			h = (h + 1) & (b->hcap - 1);
		b->hkey[h] = s;
		b->hval[h] = i;
		b->runs[i].subj = s;
	}
	return 0;
}

static bool heap_less(const struct bt *b, size_t i, size_t j)
{
	return b->runs[b->heap[i]].next < b->runs[b->heap[j]].next;
}

static void heap_swap(struct bt *b, size_t i, size_t j)
{
	size_t t = b->heap[i];

	b->heap[i] = b->heap[j];
	b->heap[j] = t;
	b->runs[b->heap[i]].hpos = i;
	b->runs[b->heap[j]].hpos = j;
}

/* Restores the heap after runs[heap[i]].next changed. */
static void heap_fix(struct bt *b, size_t i)
{
	while (i > 0 && heap_less(b, i, (i - 1) / 2)) {
		heap_swap(b, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < b->nheap && heap_less(b, l, m))
			m = l;
		if (l + 1 < b->nheap && heap_less(b, l + 1, m))
			m = l + 1;
		if (m == i)
			return;
		heap_swap(b, i, m);
		i = m;
	}
}

/* The run of subj, its state started at now the first time. */
static struct run *run_for(struct bt *b, const struct ch_subject *subj, int64_t now)
{
	char err[256];
	size_t h = ptr_hash(subj, b->hcap);

	while (b->hkey[h] != subj) {
		if (!b->hkey[h])
			return NULL;
		h = (h + 1) & (b->hcap - 1);
	}
	struct run *r = &b->runs[b->hval[h]];
	if (r->started)
		return r;
	if (ch_tz_get(subj->timezone ? subj->timezone : "UTC", &r->tz, err, sizeof(err))) {
		fprintf(b->o->err, "carehubctl: subject %s: %s; using UTC\n", subj->id, err);
		ch_tz_get("UTC", &r->tz, err, sizeof(err));
	}
	ch_sstate_init(&r->st, now);
	r->started = true;
	r->eng_next = r->next = INT64_MAX;
	r->hpos = b->nheap;
	b->heap[b->nheap++] = b->hval[h];
	b->active++;
	return r;
}

/* After the engine or a resolve ran at now: the run's next instant, never now again. */
static void refresh(struct bt *b, struct run *r, int64_t now)
{
	struct ch_engine_ctx cx = {.rules = b->rules, .subj = r->subj, .tz = r->tz};

	r->eng_next = ch_engine_next_deadline(&r->st, &cx, now);
	if (r->eng_next <= now)
		r->eng_next = now + 1;
	r->next = r->eng_next;
	if (r->nopen && r->open[0].resolve_at < r->next)
		r->next = r->open[0].resolve_at;
	heap_fix(b, r->hpos);
}

/* ---------------------------------------------------------------- open alerts */

static struct open_alert *open_find(struct run *r, const char *key)
{
	for (size_t i = 0; i < r->nopen; i++) {
		if (strcmp(r->open[i].key, key) == 0)
			return &r->open[i];
	}
	return NULL;
}

static void open_remove(struct run *r, struct open_alert *a)
{
	size_t i = (size_t)(a - r->open);

	memmove(&r->open[i], &r->open[i + 1], (r->nopen - i - 1) * sizeof(*a));
	r->nopen--;
}

/* Numbers an engine action as the store does: an opening gets the subject's next number. */
static long alert_number(struct bt *b, struct run *r, const struct ch_action *a, int64_t now)
{
	struct open_alert *o = open_find(r, a->key);

	if (o) {
		long n = o->n;
		if (a->kind == CH_ACT_RESOLVE)
			open_remove(r, o);
		return n;
	}
	if (a->kind != CH_ACT_OPEN)
		return 0;
	if (r->nopen == r->capopen) {
		size_t cap = r->capopen ? r->capopen * 2 : 8;
		struct open_alert *n = realloc(r->open, cap * sizeof(*n));
		if (!n)
			return ++r->seq;
		r->open = n;
		r->capopen = cap;
	}
	o = &r->open[r->nopen++];
	ch_strlcpy(o->key, a->key, sizeof(o->key));
	o->rule = a->rule;
	o->severity = a->severity;
	o->n = ++r->seq;
	o->resolve_at = b->o->resolve_after_ms > 0 ? now + b->o->resolve_after_ms : INT64_MAX;
	return o->n;
}

/* ---------------------------------------------------------------- output */

/* One JSON object on a line of its own; takes the reference. */
static void print_json(FILE *f, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s)
		fprintf(f, "%s\n", s);
	free(s);
	json_decref(o);
}

static void count_day(struct bt *b, const struct run *r, size_t rule, int64_t at_ms)
{
	char day[16];

	ch_tz_local_date(r->tz, at_ms, day, sizeof(day));
	for (size_t i = 0; i < b->ndays; i++) {
		if (b->days[i].rule == rule && strcmp(b->days[i].day, day) == 0) {
			b->days[i].n++;
			return;
		}
	}
	if (b->ndays == b->capdays) {
		size_t cap = b->capdays ? b->capdays * 2 : 64;
		struct day_count *d = realloc(b->days, cap * sizeof(*d));
		if (!d)
			return;
		b->days = d;
		b->capdays = cap;
	}
	b->days[b->ndays] = (struct day_count){.rule = rule, .n = 1};
	ch_strlcpy(b->days[b->ndays].day, day, sizeof(b->days[b->ndays].day));
	b->ndays++;
}

static void emit(struct bt *b, const struct run *r, const struct transition *t)
{
	char at[40], local[40], id[160] = "";

	ch_clock_format(t->at_ms, at, sizeof(at));
	ch_tz_format(r->tz, t->at_ms, local, sizeof(local));
	if (t->n)
		ch_fmt(id, sizeof(id), "%s:%ld", r->subj->id, t->n);
	b->res->transitions++;
	if (strcmp(t->kind, "opened") == 0) {
		size_t rule = (size_t)(t->rule - b->rules->rules);
		b->res->opened++;
		b->opened_by_rule[rule]++;
		count_day(b, r, rule, t->at_ms);
	}
	if (!b->o->json) {
		fprintf(b->o->out, "%s  %-8s %-18s %-12s %-8s %s%s%s%s\n", local, t->kind, t->rule->id, r->subj->id,
			ch_severity_name(t->severity), t->why, t->caveat ? " [caveat: " : "", t->caveat ? t->caveat : "",
			t->caveat ? "]" : "");
		return;
	}
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "at", at, "local", local, "at_ms",
			      (json_int_t)t->at_ms, "kind", t->kind, "rule", t->rule->id, "subject", r->subj->id,
			      "severity", ch_severity_name(t->severity), "alert", id, "key", t->key, "why", t->why);
	if (o && t->outcome)
		json_object_set_new(o, "outcome", json_string(t->outcome));
	if (o && t->caveat)
		json_object_set_new(o, "caveat", json_string(t->caveat));
	if (o && t->by)
		json_object_set_new(o, "by", json_string(t->by));
	if (o && t->device)
		json_object_set_new(o, "device", json_string(t->device));
	print_json(b->o->out, o);
}

static void report(struct bt *b, struct run *r, const struct ch_actions *acts, int64_t now)
{
	for (size_t i = 0; i < acts->n; i++) {
		const struct ch_action *a = &acts->a[i];
		struct transition t = {.kind = ch_action_kind_name(a->kind),
				       .rule = a->rule,
				       .severity = a->severity,
				       .key = a->key,
				       .why = a->why,
				       .outcome = a->outcome,
				       .caveat = a->caveat[0] ? a->caveat : NULL,
				       .device = a->dev ? a->dev->id : NULL,
				       .at_ms = a->at_ms};
		t.n = alert_number(b, r, a, now);
		emit(b, r, &t);
	}
	if (acts->dropped)
		fprintf(b->o->err, "carehubctl: %zu alert changes did not fit one step\n", acts->dropped);
}

/* ---------------------------------------------------------------- the clock */

/* A person resolves every alert of r due by now, and the engine learns it as from an ack. */
static void fire_resolves(struct bt *b, struct run *r, int64_t now)
{
	struct ch_engine_ctx cx = {.rules = b->rules, .subj = r->subj, .tz = r->tz};
	char why[96], dur[32];

	ch_fmt_duration(b->o->resolve_after_ms, dur, sizeof(dur));
	ch_fmt(why, sizeof(why), "resolved by a person %s after it opened (--resolve-after)", dur);
	while (r->nopen && r->open[0].resolve_at <= now) {
		struct open_alert a = r->open[0];
		struct transition t = {.kind = "resolved",
				       .rule = a.rule,
				       .severity = a.severity,
				       .key = a.key,
				       .why = why,
				       .outcome = "resolve_after",
				       .by = "backtest",
				       .n = a.n,
				       .at_ms = a.resolve_at};
		open_remove(r, &r->open[0]);
		ch_engine_resolved(&r->st, &cx, a.key, a.resolve_at);
		emit(b, r, &t);
	}
}

/* Fires, in time order across subjects, everything due at or before t. */
static void advance(struct bt *b, int64_t t)
{
	while (b->nheap && b->runs[b->heap[0]].next <= t) {
		struct run *r = &b->runs[b->heap[0]];
		int64_t now = r->next;

		fire_resolves(b, r, now);
		if (r->eng_next <= now) {
			struct ch_engine_ctx cx = {.rules = b->rules, .subj = r->subj, .tz = r->tz};
			struct ch_actions acts; /* ~30 KB: not zeroed, only its counts */
			acts.n = acts.dropped = 0;
			ch_engine_tick(&r->st, &cx, now, &acts);
			report(b, r, &acts, now);
		}
		refresh(b, r, now);
	}
}

/* ---------------------------------------------------------------- bad input */

static bool strset_add(struct strset *s, const char *v)
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return false;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slot[i])
				continue;
			size_t h = ch_fnv1a32(s->slot[i]) & (cap - 1);
			while (slot[h])
				h = (h + 1) & (cap - 1);
			slot[h] = s->slot[i];
		}
		free(s->slot);
		s->slot = slot;
		s->cap = cap;
	}
	size_t h = ch_fnv1a32(v) & (s->cap - 1);
	while (s->slot[h]) {
		if (strcmp(s->slot[h], v) == 0)
			return false;
		h = (h + 1) & (s->cap - 1);
	}
	s->slot[h] = ch_strdup(v);
	s->n += s->slot[h] != NULL;
	return s->slot[h] != NULL;
}

static void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
}

/* The first few unknown devices with where they were seen; the rest only counted. */
static void unknown_device(struct bt *b, const char *device, size_t lineno)
{
	b->res->unknown_events++;
	if (strset_add(&b->unknown, device) && b->unknown.n <= EXAMPLES)
		fprintf(b->o->err, "%s:%zu: device \"%s\" is not in the registry\n", b->o->input, lineno, device);
}

/* ---------------------------------------------------------------- summary */

static json_t *per_rule_json(const struct bt *b, double homes30)
{
	json_t *per_day = json_object(), *per = json_object();

	for (size_t i = 0; per_day && i < b->ndays; i++) {
		const char *rule = b->rules->rules[b->days[i].rule].id;
		json_t *r = json_object_get(per_day, rule);
		if (!r) {
			r = json_object();
			json_object_set_new(per_day, rule, r);
		}
		json_object_set_new(r, b->days[i].day, json_integer((json_int_t)b->days[i].n));
	}
	for (size_t i = 0; per && i < b->rules->n; i++) {
		double rate = homes30 > 0 ? (double)b->opened_by_rule[i] / homes30 : 0.0;
		json_object_set_new(per, b->rules->rules[i].id,
				    json_pack("{s:I, s:f}", "opened", (json_int_t)b->opened_by_rule[i],
					      "per_household_30d", rate));
	}
	return json_pack("{s:o, s:o}", "per_rule_per_day", per_day ? per_day : json_object(), "per_rule",
			 per ? per : json_object());
}

static void summary_json(const struct bt *b, double days, double homes30)
{
	const struct ch_backtest_result *res = b->res;
	json_t *rules = per_rule_json(b, homes30);
	json_t *s = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:f, s:f}", "events",
			      (json_int_t)res->events, "skipped",
			      (json_int_t)(res->bad_lines + res->unknown_events), "bad_lines",
			      (json_int_t)res->bad_lines, "unknown_events", (json_int_t)res->unknown_events,
			      "unknown_devices", (json_int_t)res->unknown_devices, "transitions",
			      (json_int_t)res->transitions, "opened", (json_int_t)res->opened, "households",
			      (json_int_t)b->active, "days", days, "resolve_after_ms",
			      (json_int_t)b->o->resolve_after_ms, "events_per_s",
			      res->seconds > 0 ? (double)res->events / res->seconds : 0.0, "events_per_cpu_s",
			      res->cpu_seconds > 0 ? (double)res->events / res->cpu_seconds : 0.0);

	if (s && rules)
		json_object_update(s, rules);
	json_decref(rules);
	print_json(b->o->out, json_pack("{s:o}", "summary", s ? s : json_object()));
}

static void summary_text(const struct bt *b, double days, double homes30)
{
	FILE *f = b->o->out;
	const struct ch_backtest_result *res = b->res;

	fprintf(f, "\nopened alerts per rule per local day:\n");
	for (size_t ri = 0; ri < b->rules->n; ri++) {
		size_t total = 0;
		for (size_t i = 0; i < b->ndays; i++) {
			if (b->days[i].rule != ri)
				continue;
			if (!total)
				fprintf(f, "  %s:", b->rules->rules[ri].id);
			fprintf(f, " %s=%zu", b->days[i].day, b->days[i].n);
			total += b->days[i].n;
		}
		if (total)
			fprintf(f, "  (total %zu)\n", total);
	}
	fprintf(f, "\nalerts per rule per household per 30 days (%zu households, %.1f days):\n", b->active, days);
	for (size_t ri = 0; ri < b->rules->n; ri++) {
		if (b->opened_by_rule[ri])
			fprintf(f, "  %-20s %6zu opened  %8.2f\n", b->rules->rules[ri].id, b->opened_by_rule[ri],
				homes30 > 0 ? (double)b->opened_by_rule[ri] / homes30 : 0.0);
	}
	fprintf(f, "  %-20s %6zu opened  %8.2f\n", "all rules", res->opened,
		homes30 > 0 ? (double)res->opened / homes30 : 0.0);
	fprintf(f, "%zu events, %zu skipped, %zu alert transitions, %zu opened\n", res->events,
		res->bad_lines + res->unknown_events, res->transitions, res->opened);
}

static void summary(struct bt *b)
{
	struct ch_backtest_result *res = b->res;
	double days = b->first_ms != INT64_MIN && b->last_ms > b->first_ms ? (double)(b->last_ms - b->first_ms) / DAY_MS
									   : 0.0;
	double homes30 = (double)b->active * days / 30.0;

	res->unknown_devices = b->unknown.n;
	if (b->o->json)
		summary_json(b, days, homes30);
	else
		summary_text(b, days, homes30);
	fflush(b->o->out);
	if (res->unknown_events)
		fprintf(b->o->err,
			"backtest: %zu events named %zu devices that are not in the registry (%s): skipped; "
			"is this the fleet's registry?\n",
			res->unknown_events, res->unknown_devices,
			res->unknown_devices > EXAMPLES ? "the first 5 above" : "above");
	if (res->bad_lines > EXAMPLES)
		fprintf(b->o->err, "backtest: %zu lines were not canonical events (the first 5 above)\n",
			res->bad_lines);
	fprintf(b->o->err, "backtest: %zu events in %.3f s (%.0f events/s; %.3f s of CPU, %.0f events/s on one core)\n",
		res->events, res->seconds, res->seconds > 0 ? (double)res->events / res->seconds : 0.0, res->cpu_seconds,
		res->cpu_seconds > 0 ? (double)res->events / res->cpu_seconds : 0.0);
}

/* ---------------------------------------------------------------- the run */

static void progress(FILE *f, off_t pos, off_t size, size_t events, bool done)
{
	int width = 40, fill = size > 0 ? (int)((double)pos / (double)size * width) : 0;
	char bar[64];

	if (fill > width)
		fill = width;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, ' ', (size_t)(width - fill));
	bar[width] = '\0';
	fprintf(f, "\r[%s] %3d%% %zu events%s", bar, size > 0 ? (int)(100.0 * (double)pos / (double)size) : 0, events,
		done ? "\n" : "");
}

/* One line of input at virtual time *now. */
static void one_line(struct bt *b, char *line, size_t len, size_t lineno, int64_t *now)
{
	static const struct ch_event_limits lim = {.max_payload = LINE_MAX_BYTES, .max_depth = 32,
						   .future_skew_ms = INT64_MAX / 4};
	struct ch_event ev;
	enum ch_reject why;
	const struct ch_device *dev = NULL;
	char e[256];

	if (ch_event_parse(line, len, &lim, *now == INT64_MIN ? 0 : *now, &ev, &why, e, sizeof(e))) {
		if (++b->res->bad_lines <= EXAMPLES)
			fprintf(b->o->err, "%s:%zu: %s: %s\n", b->o->input, lineno, ch_reject_name(why), e);
		return;
	}
	const struct ch_subject *subj = ch_registry_find_device(b->reg, ev.device, &dev);
	if (!subj) {
		unknown_device(b, ev.device, lineno);
		ch_event_clear(&ev);
		return;
	}
	/* The virtual clock only moves forward; a late event is applied at the current time. */
	if (ev.ts_ms > *now) {
		advance(b, ev.ts_ms - 1);
		*now = ev.ts_ms;
	}
	if (b->first_ms == INT64_MIN)
		b->first_ms = *now;
	b->last_ms = *now;
	struct run *r = run_for(b, subj, *now);
	if (r) {
		struct ch_engine_ctx cx = {.rules = b->rules, .subj = subj, .tz = r->tz};
		struct ch_actions acts;
		acts.n = acts.dropped = 0;
		ch_engine_event(&r->st, &cx, &ev, dev, *now, &acts);
		report(b, r, &acts, *now);
		refresh(b, r, *now);
	}
	ch_event_clear(&ev);
	b->res->events++;
}

static void read_all(struct bt *b, FILE *in, off_t size)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int64_t now = INT64_MIN;

	while ((len = getline(&line, &cap, in)) != -1) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		one_line(b, line, (size_t)len, lineno, &now);
		if (size && (lineno & 4095) == 0)
			progress(b->o->err, ftello(in), size, b->res->events, false);
	}
	free(line);
	if (now != INT64_MIN)
		advance(b, now);
	if (size)
		progress(b->o->err, size, size, b->res->events, true);
}

static void bt_free(struct bt *b)
{
	for (size_t i = 0; i < b->nruns; i++) {
		if (b->runs[i].started)
			ch_sstate_clear(&b->runs[i].st);
		free(b->runs[i].open);
	}
	free(b->runs);
	free(b->heap);
	free(b->hkey);
	free(b->hval);
	free(b->days);
	free(b->opened_by_rule);
	strset_free(&b->unknown);
}

int ch_backtest_run(const struct ch_backtest_opts *o, struct ch_backtest_result *res, char *err, size_t errlen)
{
	struct ch_ruleset *rules = NULL;
	struct ch_registry *reg = NULL;
	struct bt b = {.o = o, .res = res, .first_ms = INT64_MIN};
	struct stat sb;
	off_t size = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = ch_rules_load(o->rules_path, &rules, err, errlen)) ||
	    (rc = ch_registry_load(o->registry_path, &reg, err, errlen))) {
		ch_rules_free(rules);
		return rc;
	}
	FILE *in = strcmp(o->input, "-") == 0 ? stdin : fopen(o->input, "r");
	if (!in) {
		ch_fmt(err, errlen, "carehubctl backtest: %s: %s", o->input, strerror(errno));
		rc = CH_EIO;
		goto out;
	}
	if (o->progress && fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode))
		size = sb.st_size;
	b.rules = rules;
	b.reg = reg;
	if ((rc = runs_init(&b)) != 0) {
		ch_fmt(err, errlen, "out of memory");
	} else {
		int64_t t0 = ch_clock_mono_ms(), c0 = ch_clock_cpu_ms();
		read_all(&b, in, size);
		res->seconds = (double)(ch_clock_mono_ms() - t0) / 1000.0;
		res->cpu_seconds = (double)(ch_clock_cpu_ms() - c0) / 1000.0;
		summary(&b);
	}
	if (in != stdin)
		fclose(in);
out:
	bt_free(&b);
	ch_registry_free(reg);
	ch_rules_free(rules);
	ch_tz_cache_clear();
	return rc;
}

/* ---------------------------------------------------------------- the command line */

void ch_backtest_usage(FILE *f)
{
	fprintf(f, "usage: carehubctl backtest [-c CONFIG] [-r RULES] [-g REGISTRY] [--resolve-after DURATION] [--json] "
		   "[FILE|-]\n"
		   "  Runs the rules over recorded canonical events (JSON lines) with a virtual clock\n"
		   "  and prints the alerts that would have fired, a summary per rule per day and the\n"
		   "  alerts per rule per household per 30 days.  Exits 1 when events name devices\n"
		   "  that are not in the registry (counted, a few shown; the rest still runs).\n"
		   "  -c, --config FILE     take the rules and registry files from a carehubd config\n"
		   "  -r, --rules FILE      rules file (overrides the config's)\n"
		   "  -g, --registry FILE   registry file (overrides the config's)\n"
		   "      --resolve-after D a person resolves every alert D after it opens (e.g. 1h),\n"
		   "                        as a monitoring centre would; default: never\n"
		   "      --json            one JSON object per alert transition, then a summary line\n"
		   "      --no-progress     no progress bar, even on a terminal\n");
}

/* Fills o from argv, the rules and registry from a config when -c names one: 0, 1 after --help, 2 on a usage error. */
static int parse_args(int argc, char **argv, struct ch_backtest_opts *o, struct ch_config **cfg)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},	{"rules", required_argument, NULL, 'r'},
		{"registry", required_argument, NULL, 'g'},	{"json", no_argument, NULL, 'j'},
		{"resolve-after", required_argument, NULL, 'R'}, {"no-progress", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},		{NULL, 0, NULL, 0}};
	const char *config = NULL;
	char err[1024];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:r:g:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'r': o->rules_path = optarg; break;
		case 'g': o->registry_path = optarg; break;
		case 'j': o->json = true; break;
		case 'P': o->progress = false; break;
		case 'h': ch_backtest_usage(stdout); return 1;
		case 'R':
			if (ch_parse_duration(optarg, &o->resolve_after_ms) || o->resolve_after_ms <= 0) {
				fprintf(stderr, "carehubctl backtest: --resolve-after \"%s\", expected a duration "
						"such as 90, 30m or 1h\n", optarg);
				return 2;
			}
			break;
		default: ch_backtest_usage(stderr); return 2;
		}
	}
	if (optind < argc)
		o->input = argv[optind++];
	if (optind != argc) {
		ch_backtest_usage(stderr);
		return 2;
	}
	if (config) {
		if (ch_config_load(config, NULL, 0, cfg, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		if (!o->rules_path)
			o->rules_path = (*cfg)->rules.file;
		if (!o->registry_path)
			o->registry_path = (*cfg)->registry.file;
	}
	if (!o->rules_path || !o->registry_path) {
		fprintf(stderr, "carehubctl backtest: need the rules and the registry (-r, -g or -c)\n");
		return 2;
	}
	return 0;
}

int ch_backtest_cli(int argc, char **argv)
{
	struct ch_backtest_opts o = {.input = "-", .progress = isatty(2), .out = stdout, .err = stderr};
	struct ch_backtest_result res;
	struct ch_config *cfg = NULL;
	char err[1024];
	int rc = parse_args(argc, argv, &o, &cfg);

	if (rc == 0) {
		if (ch_backtest_run(&o, &res, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			rc = 2;
		} else {
			rc = res.unknown_events ? 1 : 0;
		}
	} else if (rc == 1) {
		rc = 0; /* --help */
	}
	ch_config_free(cfg);
	return rc;
}
