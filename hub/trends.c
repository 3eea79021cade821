/*
 * trends.c - daily aggregates per subject and the weekly report with flags
 * (see trends.h for the model and the sizes).
 *
 * Why quarter-hours: 96 bits a day answer three questions the issue asks
 * (active hours, the longest quiet spell of the day, times up at night) in 12
 * bytes, and setting a bit twice is harmless, so the same event replayed
 * after a restart does not count twice there.  Counters (water, outings,
 * check-ins, alerts) are the rest of a 24-byte day.
 *
 * Why the median of the weeks before as the norm: a decline in progress
 * pulls a mean towards itself; the median of up to seven weeks ignores the
 * two or three weeks it has lasted.
 */
#include "trends.h"
#include "registry.h"
#include "tz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DAY_MS 86400000LL
#define OUTING_CONFIRM_MS (10 * 60000LL) /* as the rule pack's presence: out once nothing moved inside for 10 min */
#define LIVE_VERSION 1

/* ------------------------------------------------------------------ */
/* Observations                                                        */
/* ------------------------------------------------------------------ */

static bool has_word(const char *s, const char *w)
{
	size_t n = strlen(w);

	for (; s && *s; s++) {
		if (strncasecmp(s, w, n) == 0)
			return true;
	}
	return false;
}

/*
 * The home's exits, as the engine's presence sees them: doors located "front
 * door", else the home's only door.
 */
static bool is_exit(const struct ch_subject *subj, const struct ch_device *dev)
{
	size_t doors = 0, named = 0;

	if (strcmp(dev->type, "door") != 0)
		return false;
	for (size_t i = 0; subj && i < subj->ndevices; i++) {
		const struct ch_device *d = &subj->devices[i];
		if (strcmp(d->type, "door") == 0) {
			doors++;
			named += d->location && strcasecmp(d->location, "front door") == 0;
		}
	}
	if (named)
		return dev->location && strcasecmp(dev->location, "front door") == 0;
	return doors == 1;
}

static bool truthy(const struct ch_event *ev)
{
	switch (ev->vkind) {
	case CH_VAL_BOOL: return ev->vbool;
	case CH_VAL_NUMBER: return ev->vnum > 0;
	case CH_VAL_STRING: return ev->vstr && strcmp(ev->vstr, "off") != 0 && strcmp(ev->vstr, "false") != 0;
	default: return false;
	}
}

static uint8_t checkin_value(const struct ch_event *ev)
{
	static const char *const names[] = {"well", "needs_help", "missed", "skipped"};

	for (size_t i = 0; ev->vkind == CH_VAL_STRING && ev->vstr && i < CH_ARRAY_LEN(names); i++) {
		if (strcmp(ev->vstr, names[i]) == 0)
			return (uint8_t)(CH_TCI_WELL + i);
	}
	return 0;
}

bool ch_trends_observe(const struct ch_event *ev, const struct ch_device *dev, const struct ch_subject *subj,
		       struct ch_trend_obs *out)
{
	const char *t = ev->type;

	memset(out, 0, sizeof(*out));
	out->ts_ms = ev->ts_ms;
	if (strcmp(t, "check_in") == 0 && !dev) {
		out->checkin = checkin_value(ev);
		out->what = out->checkin ? CH_OBS_CHECKIN : 0;
		return out->what != 0;
	}
	if (strcmp(t, "service.hospital_admission") == 0)
		out->what = CH_OBS_HOSP_IN;
	else if (strcmp(t, "service.hospital_discharge") == 0)
		out->what = CH_OBS_HOSP_OUT;
	if (!dev)
		return out->what != 0;
	out->what |= CH_OBS_SENSOR;
	if (strcmp(t, "motion") == 0 || strcmp(t, "occupancy") == 0 || strcmp(t, "presence") == 0 ||
	    strcmp(t, "seat") == 0 || strcmp(t, "appliance") == 0 || strcmp(t, "flush") == 0) {
		if (truthy(ev))
			out->what |= CH_OBS_ACTIVE;
	} else if (strcmp(t, "contact") == 0) {
		/* A reed switch on a cupboard or an inner door: a hand moved it, whichever way. */
		out->what |= CH_OBS_ACTIVE;
	} else if (strcmp(t, "door") == 0) {
		out->what |= CH_OBS_ACTIVE | (is_exit(subj, dev) ? CH_OBS_EXIT : 0);
	} else if (strcmp(t, "water_meter") == 0) {
		out->what |= CH_OBS_WATER;
		if (ev->vkind == CH_VAL_NUMBER && ev->vnum > 0 && ev->vnum < 100) {
			out->water_m3 = ev->vnum;
			out->what |= CH_OBS_ACTIVE;
		}
	} else if (strcmp(t, "bed") == 0) {
		out->what |= CH_OBS_BED | CH_OBS_ACTIVE;
		if (ev->vkind == CH_VAL_BOOL && !ev->vbool)
			out->what |= CH_OBS_BED_OUT;
	}
	if ((out->what & CH_OBS_ACTIVE) && (has_word(dev->location, "kitchen") || has_word(dev->location, "厨房")))
		out->what |= CH_OBS_KITCHEN;
	return true;
}

/* ------------------------------------------------------------------ */
/* Days                                                                */
/* ------------------------------------------------------------------ */

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int32_t ch_trends_local_day(const struct ch_tz *tz, int64_t utc_ms)
{
	return (int32_t)floordiv(utc_ms + (int64_t)ch_tz_offset_s(tz, utc_ms) * 1000, DAY_MS);
}

void ch_trends_day_name(int32_t day, char *buf, size_t len)
{
	time_t t = (time_t)day * 86400;
	struct tm tm;

	if (!gmtime_r(&t, &tm)) {
		ch_strlcpy(buf, "?", len);
		return;
	}
	ch_fmt(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static uint8_t sat8(unsigned v)
{
	return (uint8_t)(v > 255 ? 255 : v);
}

static uint8_t sat4(unsigned v)
{
	return (uint8_t)(v > 15 ? 15 : v);
}

static int popcount(const uint8_t *b, size_t n)
{
	int c = 0;

	for (size_t i = 0; i < n; i++)
		for (unsigned v = b[i]; v; v &= v - 1)
			c++;
	return c;
}

static void emit(struct ch_trend_day *done, size_t cap, size_t *k, const struct ch_trend_day *d)
{
	if (cap == 0)
		return;
	if (*k == cap) {
		/* Only the latest fit in the ring anyway. */
		memmove(done, done + 1, (cap - 1) * sizeof(*done));
		(*k)--;
	}
	done[(*k)++] = *d;
}

/* Today is over: it goes out, and so does each whole day with no event before d. */
static void roll(struct ch_trend_live *l, int32_t d, struct ch_trend_day *done, size_t cap, size_t *k)
{
	struct ch_trend_day t = l->today;
	int32_t from = l->today.day + 1;

	t.kitchen_q = (uint8_t)popcount(l->kitchen, sizeof(l->kitchen));
	emit(done, cap, k, &t);
	if (d - from > CH_TREND_DAYS)
		from = d - CH_TREND_DAYS;
	for (int32_t g = from; g < d; g++) {
		struct ch_trend_day gap = {.day = g, .flags = (uint8_t)(l->hospital || l->exit_ms ? CH_TD_AWAY : 0)};
		emit(done, cap, k, &gap);
	}
	memset(&l->today, 0, sizeof(l->today));
	l->today.day = d;
	l->today.flags = l->hospital ? CH_TD_AWAY : 0;
	memset(l->kitchen, 0, sizeof(l->kitchen));
}

static void add(struct ch_trend_live *l, const struct ch_tz *tz, const struct ch_trend_obs *o)
{
	struct ch_trend_day *d = &l->today;
	int min = ch_tz_minute_of_day(tz, o->ts_ms);

	if (o->what & CH_OBS_SENSOR)
		d->flags |= CH_TD_SEEN;
	if (o->what & CH_OBS_ACTIVE) {
		d->q[min / 15 / 8] |= (uint8_t)(1u << (min / 15 % 8));
		if (o->ts_ms > l->last_active_ms)
			l->last_active_ms = o->ts_ms;
	}
	if (o->what & CH_OBS_KITCHEN)
		l->kitchen[min / 15 / 8] |= (uint8_t)(1u << (min / 15 % 8));
	if (o->what & CH_OBS_EXIT) {
		d->flags |= CH_TD_EXIT;
		if (!l->exit_ms && !l->hospital)
			l->exit_ms = o->ts_ms;
	} else if ((o->what & CH_OBS_ACTIVE) && l->exit_ms && o->ts_ms > l->exit_ms) {
		/* Someone inside again: out and back when the door was followed by 10 quiet minutes. */
		if (o->ts_ms - l->exit_ms >= OUTING_CONFIRM_MS)
			d->outings = sat8(d->outings + 1u);
		l->exit_ms = 0;
	}
	if (o->what & CH_OBS_BED) {
		d->flags |= CH_TD_BED;
		if ((o->what & CH_OBS_BED_OUT) && (min >= 22 * 60 || min < 7 * 60))
			d->bed_exits = sat8(d->bed_exits + 1u);
	}
	if (o->what & CH_OBS_WATER) {
		double dl = o->water_m3 * 10000.0 + 0.5;
		d->flags |= CH_TD_WATER;
		d->water_dl = (uint16_t)(d->water_dl + dl >= 65535.0 ? 65535 : d->water_dl + (unsigned)dl);
	}
	if (o->what & CH_OBS_HOSP_IN) {
		l->hospital = 1;
		l->exit_ms = 0;
		d->flags |= CH_TD_AWAY;
	}
	if (o->what & CH_OBS_HOSP_OUT)
		l->hospital = 0;
	switch (o->what & CH_OBS_CHECKIN ? o->checkin : 0) {
	case CH_TCI_WELL: d->ci_well = sat4(d->ci_well + 1u); break;
	case CH_TCI_HELP: d->ci_help = sat4(d->ci_help + 1u); break;
	case CH_TCI_MISSED: d->ci_missed = sat4(d->ci_missed + 1u); break;
	case CH_TCI_SKIPPED: d->ci_skipped = sat4(d->ci_skipped + 1u); break;
	default: break;
	}
	if (o->what & CH_OBS_ALERT)
		d->alerts = sat8(d->alerts + 1u);
	if (o->what & CH_OBS_OFFLINE)
		d->offline = sat8(d->offline + 1u);
}

static int by_time(const void *a, const void *b)
{
	const struct ch_trend_obs *x = a, *y = b;

	return (x->ts_ms > y->ts_ms) - (x->ts_ms < y->ts_ms);
}

size_t ch_trends_apply(struct ch_trend_live *live, const struct ch_tz *tz, struct ch_trend_obs *obs, size_t n,
		       struct ch_trend_day *done, size_t cap, size_t *late)
{
	size_t k = 0;

	if (n > 1)
		qsort(obs, n, sizeof(*obs), by_time);
	for (size_t i = 0; i < n; i++) {
		int32_t d = ch_trends_local_day(tz, obs[i].ts_ms);

		if (d <= 0 || d > 0xFFFF)
			continue; /* outside what a day record can name */
		if (live->today.day == 0) {
			live->today.day = d;
			live->today.flags = live->hospital ? CH_TD_AWAY : 0;
		} else if (d < live->today.day) {
			if (late)
				(*late)++;
			continue;
		} else if (d > live->today.day) {
			roll(live, d, done, cap, &k);
		}
		add(live, tz, &obs[i]);
	}
	return k;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put64(uint8_t *p, int64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

static int64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return (int64_t)v;
}

void ch_trend_day_encode(const struct ch_trend_day *d, uint8_t out[CH_TREND_DAY_BYTES])
{
	put16(out, (uint16_t)(d->day > 0 && d->day <= 0xFFFF ? d->day : 0));
	memcpy(out + 2, d->q, 12);
	out[14] = d->kitchen_q;
	put16(out + 15, d->water_dl);
	out[17] = d->bed_exits;
	out[18] = d->outings;
	out[19] = (uint8_t)(sat4(d->ci_well) << 4 | sat4(d->ci_help));
	out[20] = (uint8_t)(sat4(d->ci_missed) << 4 | sat4(d->ci_skipped));
	out[21] = d->alerts;
	out[22] = d->offline;
	out[23] = d->flags;
}

void ch_trend_day_decode(const uint8_t in[CH_TREND_DAY_BYTES], struct ch_trend_day *d)
{
	d->day = get16(in);
	memcpy(d->q, in + 2, 12);
	d->kitchen_q = in[14] > 96 ? 96 : in[14];
	d->water_dl = get16(in + 15);
	d->bed_exits = in[17];
	d->outings = in[18];
	d->ci_well = in[19] >> 4;
	d->ci_help = in[19] & 15;
	d->ci_missed = in[20] >> 4;
	d->ci_skipped = in[20] & 15;
	d->alerts = in[21];
	d->offline = in[22];
	d->flags = in[23] & 31;
}

void ch_trend_live_encode(const struct ch_trend_live *l, uint8_t out[CH_TREND_LIVE_BYTES])
{
	memset(out, 0, CH_TREND_LIVE_BYTES);
	out[0] = LIVE_VERSION;
	ch_trend_day_encode(&l->today, out + 1);
	memcpy(out + 25, l->kitchen, 12);
	put64(out + 37, l->last_active_ms);
	put64(out + 45, l->exit_ms);
	out[53] = l->hospital ? 1 : 0;
}

int ch_trend_live_decode(const uint8_t *buf, size_t len, struct ch_trend_live *l)
{
	memset(l, 0, sizeof(*l));
	if (len != CH_TREND_LIVE_BYTES || buf[0] != LIVE_VERSION || buf[53] > 1)
		return CH_EINVAL;
	ch_trend_day_decode(buf + 1, &l->today);
	memcpy(l->kitchen, buf + 25, 12);
	l->last_active_ms = get64(buf + 37);
	l->exit_ms = get64(buf + 45);
	l->hospital = buf[53];
	if (l->last_active_ms < 0 || l->exit_ms < 0) {
		memset(l, 0, sizeof(*l));
		return CH_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* History                                                             */
/* ------------------------------------------------------------------ */

void ch_trends_history(const uint8_t *ring, size_t ring_len, const struct ch_trend_live *live, int32_t today,
		       struct ch_trend_hist *out)
{
	int32_t first = today - CH_TREND_DAYS;
	bool rec[CH_TREND_DAYS] = {false};
	size_t start = CH_TREND_DAYS;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < CH_TREND_DAYS; i++)
		out->days[i].day = first + (int32_t)i;
	for (size_t off = 0; ring && off + CH_TREND_DAY_BYTES <= ring_len; off += CH_TREND_DAY_BYTES) {
		struct ch_trend_day d;
		ch_trend_day_decode(ring + off, &d);
		if (d.day >= first && d.day < today) {
			out->days[d.day - first] = d;
			rec[d.day - first] = true;
		}
	}
	if (live && live->today.day >= first && live->today.day < today) {
		struct ch_trend_day d = live->today;
		d.kitchen_q = (uint8_t)popcount(live->kitchen, sizeof(live->kitchen));
		out->days[d.day - first] = d;
		rec[d.day - first] = true;
	}
	/* After the live day nothing came: away if she was out or in hospital since, else a silent day. */
	for (int32_t dd = live && live->today.day > 0 ? live->today.day + 1 : today; dd < today; dd++) {
		if (dd >= first && !rec[dd - first] && (live->hospital || live->exit_ms))
			out->days[dd - first].flags = CH_TD_AWAY;
	}
	for (size_t i = 0; i < CH_TREND_DAYS; i++) {
		if (rec[i] && out->days[i].flags) {
			start = i;
			break;
		}
	}
	if (start == CH_TREND_DAYS) {
		out->first = today;
		return;
	}
	memmove(out->days, out->days + start, (CH_TREND_DAYS - start) * sizeof(out->days[0]));
	out->first = first + (int32_t)start;
	out->n = CH_TREND_DAYS - start;
}

/* ------------------------------------------------------------------ */
/* Day metrics                                                         */
/* ------------------------------------------------------------------ */

static const char *const metric_names[CH_TM_COUNT] = {"active_hours", "longest_quiet_hours", "nights_up",
						      "water_litres", "kitchen_hours", "outings"};

const char *ch_trends_metric_name(enum ch_trend_metric m)
{
	return (size_t)m < CH_TM_COUNT ? metric_names[m] : "?";
}

static bool qbit(const struct ch_trend_day *d, int i)
{
	return d && (d->q[i / 8] >> (i % 8) & 1);
}

/* Waking spells in the night 23:00-06:00 that ends on d: runs of active quarter-hours,
 * not counting one still going at 23:00 (not yet asleep) or at 06:00 (up for the day). */
static int night_spells(const struct ch_trend_day *prev, const struct ch_trend_day *d)
{
	bool bits[28];
	int n = 0, i = 0;

	for (int k = 0; k < 4; k++)
		bits[k] = qbit(prev, 92 + k);
	for (int k = 0; k < 24; k++)
		bits[4 + k] = qbit(d, k);
	while (i < 28 && bits[i])
		i++;
	while (i < 28) {
		if (!bits[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 28 && bits[j])
			j++;
		if (j < 28)
			n++;
		i = j;
	}
	return n;
}

double ch_trends_day_metric(const struct ch_trend_day *d, const struct ch_trend_day *prev, enum ch_trend_metric m)
{
	int n = 0, run = 0, best = 0;

	switch (m) {
	case CH_TM_ACTIVE:
		for (int h = 0; h < 24; h++)
			n += (d->q[h / 2] >> (h % 2 * 4) & 15) != 0;
		return n;
	case CH_TM_QUIET:
		for (int i = 28; i < 88; i++) {
			run = qbit(d, i) ? 0 : run + 1;
			best = run > best ? run : best;
		}
		return best / 4.0;
	case CH_TM_NIGHTS:
		return d->flags & CH_TD_BED ? d->bed_exits : night_spells(prev, d);
	case CH_TM_WATER:
		return d->water_dl / 10.0;
	case CH_TM_KITCHEN:
		return d->kitchen_q / 4.0;
	case CH_TM_OUTINGS:
		return d->outings;
	default:
		return 0;
	}
}
