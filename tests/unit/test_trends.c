/*
 * test_trends.c - daily aggregates and the weekly report's flags on synthetic
 * histories: eight weeks of a simulated routine (waking hours, meals in the
 * kitchen, water, an outing most days, a few times up at night) with
 * day-to-day noise, then one change at a time.
 *
 *  - ordinary noise (50 histories): no flag in any of the 4 weeks shown
 *    (measured over 2,000: 1.8% of histories have one somewhere);
 *  - a slow decline over 3 weeks (less cooking, less water): flagged in the
 *    latest week; a drift below the level bar: flagged "over 3 weeks";
 *  - nights up 3.4 a night against about 1: "nights up 3.4/night vs 1.1 usual";
 *  - no outing for 10 days; days in hospital change nothing; silent days are said;
 *  - the live record and the day record round-trip their encoding; a bad one is refused;
 *  - events are classified as the aggregates need (kitchen, exit door, bed, water).
 */
#include "trends.h"
#include "registry.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MIN_MS 60000LL
#define Q_MS (15 * MIN_MS)
#define DAY_MS 86400000LL
#define DAY0 20400 /* 2025-11-07 */

/* A small deterministic generator (xorshift64*). */
static uint64_t rnd_state;

static double rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (double)((rnd_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
	double u = rnd() + 1e-12, v = rnd();
	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static int poisson(double lambda)
{
	double l = exp(-lambda), p = 1;
	int k = 0;

	do {
		k++;
		p *= rnd();
	} while (p > l);
	return k - 1;
}

/* One day's routine; factors of 1 are the person's usual. */
struct routine {
	double active_p;   /* share of waking quarter-hours with movement */
	double meal_p;     /* chance of cooking each of three meals */
	double meal_q;     /* quarter-hours a meal takes in the kitchen */
	double water_l;    /* litres a day */
	double nights;     /* times up a night */
	double outing_p;   /* chance of going out on a day */
	bool hospital;     /* in hospital all day */
	bool silent;       /* no sensor reports at all */
};

static const struct routine usual = {0.80, 0.95, 4, 80, 1.0, 0.85, false, false};

struct sim {
	struct ch_trend_live live;
	uint8_t ring[CH_TREND_RING_BYTES];
	int32_t day; /* next day to simulate */
	bool bed;    /* the home has a bed sensor */
};

static void put(struct ch_trend_obs *o, size_t *n, int64_t ts, uint32_t what, double m3)
{
	o[*n] = (struct ch_trend_obs){.ts_ms = ts, .what = what | CH_OBS_SENSOR, .water_m3 = m3};
	(*n)++;
}

static void store(struct sim *s, const struct ch_trend_day *done, size_t k)
{
	for (size_t i = 0; i < k; i++)
		ch_trend_day_encode(&done[i], s->ring + (size_t)(done[i].day % CH_TREND_DAYS) * CH_TREND_DAY_BYTES);
}

/* Simulates one day (UTC) of r and applies it. */
static void sim_day(struct sim *s, const struct routine *r)
{
	static struct ch_trend_obs o[4096];
	struct ch_trend_day done[CH_TREND_DAYS + 1];
	int64_t t0 = (int64_t)s->day * DAY_MS;
	int wake = 28 + (int)(rnd() * 3), sleep = 88 + (int)(rnd() * 3);
	int quiet_at = 52 + (int)(rnd() * 12), quiet_len = 4 + (int)(rnd() * 4);
	int out_at = -1, out_len = 4 + (int)(rnd() * 5);
	size_t n = 0, k;

	s->day++;
	if (r->silent)
		return;
	if (r->hospital) {
		put(o, &n, t0 + 3 * MIN_MS, 0, 0); /* a heartbeat */
		o[n - 1].what = CH_OBS_HOSP_IN;
		k = ch_trends_apply(&s->live, NULL, o, n, done, CH_TREND_DAYS + 1, NULL);
		store(s, done, k);
		return;
	}
	if (s->live.hospital) {
		o[n++] = (struct ch_trend_obs){.ts_ms = t0 + MIN_MS, .what = CH_OBS_HOSP_OUT};
	}
	if (rnd() < r->outing_p)
		out_at = 36 + (int)(rnd() * 20);
	for (int h = 0; h < 24; h++)
		put(o, &n, t0 + h * 60 * MIN_MS + 30 * MIN_MS, 0, 0); /* heartbeats: the home is reporting */
	for (int q = wake; q < sleep; q++) {
		bool out = out_at >= 0 && q >= out_at && q < out_at + out_len;
		if (out || (q >= quiet_at && q < quiet_at + quiet_len))
			continue;
		if (rnd() < r->active_p)
			put(o, &n, t0 + q * Q_MS + (int64_t)(rnd() * 14) * MIN_MS, CH_OBS_ACTIVE, 0);
	}
	/* Meals: three spells in the kitchen, from 07:30, 11:30 and 17:30 (not while out). */
	for (int meal = 0; meal < 3; meal++) {
		int base = meal == 0 ? 30 : meal == 1 ? 46 : 70;
		int len = (int)lround(r->meal_q * (1 + 0.25 * gauss()));
		if (rnd() >= r->meal_p)
			continue;
		for (int q = base; q < base + len && q < base + 8; q++)
			if (out_at < 0 || q < out_at || q > out_at + out_len)
				put(o, &n, t0 + q * Q_MS + 5 * MIN_MS, CH_OBS_ACTIVE | CH_OBS_KITCHEN, 0);
	}
	double water = r->water_l * (1 + 0.18 * gauss());
	for (int i = 0; i < 8 && water > 0; i++) {
		int q = wake + 2 + i * 6;
		if (out_at >= 0 && q >= out_at && q <= out_at + out_len)
			q = out_at + out_len + 1; /* saved for the return */
		put(o, &n, t0 + q * Q_MS + 7 * MIN_MS, CH_OBS_ACTIVE | CH_OBS_WATER, water / 8 / 1000);
	}
	if (out_at >= 0) {
		put(o, &n, t0 + out_at * Q_MS, CH_OBS_ACTIVE | CH_OBS_EXIT, 0);
		put(o, &n, t0 + (out_at + out_len) * Q_MS, CH_OBS_ACTIVE | CH_OBS_EXIT, 0);
		put(o, &n, t0 + (out_at + out_len) * Q_MS + MIN_MS, CH_OBS_ACTIVE, 0);
	}
	int ups = poisson(r->nights);
	for (int i = 0; i < ups; i++) {
		int q = 4 + (int)(rnd() * 18);
		if (s->bed)
			put(o, &n, t0 + q * Q_MS + 2 * MIN_MS, CH_OBS_ACTIVE | CH_OBS_BED | CH_OBS_BED_OUT, 0);
		else
			put(o, &n, t0 + q * Q_MS + 2 * MIN_MS, CH_OBS_ACTIVE, 0);
	}
	k = ch_trends_apply(&s->live, NULL, o, n, done, CH_TREND_DAYS + 1, NULL);
	store(s, done, k);
}

static void sim_init(struct sim *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	rnd_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	s->day = DAY0;
}

/* The report at the end of the simulation (today = the day after the last simulated). */
static void report_of(struct sim *s, int weeks, struct ch_trend_report *r)
{
	struct ch_trend_hist h;

	ch_trends_history(s->ring, sizeof(s->ring), &s->live, s->day, &h);
	ch_trends_report(&h, weeks, r);
}

static void print_flags(const struct ch_trend_report *r)
{
	for (size_t i = 0; i < r->nflags; i++)
		print_message("  week %d: %s\n", r->flag[i].week, r->flag[i].text);
}

static const struct ch_trend_flag *find_flag(const struct ch_trend_report *r, const char *metric, int week)
{
	for (size_t i = 0; i < r->nflags; i++)
		if (strcmp(r->flag[i].metric, metric) == 0 && r->flag[i].week == week)
			return &r->flag[i];
	return NULL;
}

/* ------------------------------------------------------------------ */

static void test_noise_no_flags(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct sim s;
		struct ch_trend_report r;
		sim_init(&s, seed);
		s.bed = seed % 2;
		for (int d = 0; d < 56; d++)
			sim_day(&s, &usual);
		report_of(&s, 4, &r);
		assert_int_equal(r.nweeks, 4);
		assert_true(r.have_norm);
		if (r.nflags) {
			print_message("seed %llu:\n", (unsigned long long)seed);
			print_flags(&r);
		}
		assert_int_equal(r.nflags, 0);
		/* The norm is the routine's own. */
		assert_true(r.usual[CH_TM_ACTIVE] > 12 && r.usual[CH_TM_ACTIVE] < 19);
		assert_true(fabs(r.usual[CH_TM_WATER] - 80) < 12);
		assert_true(r.week[0].days == 7);
	}
}

/*
 * Cooking and drinking less by 15% more each week for 3 weeks (about half the
 * usual by the last): flagged in the latest week, as a level or as a drift.
 * Measured over 1,000 seeds: 99.7% flagged at 15%/week, 96% at 12%/week.
 */
static void test_slow_decline(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 30; seed++) {
		struct sim s;
		struct ch_trend_report r;
		const struct ch_trend_flag *k, *w;
		sim_init(&s, seed);
		for (int d = 0; d < 35; d++)
			sim_day(&s, &usual);
		for (int wk = 1; wk <= 3; wk++) {
			struct routine less = usual;
			less.meal_q = usual.meal_q * (1 - 0.15 * wk);
			less.water_l = usual.water_l * (1 - 0.15 * wk);
			for (int d = 0; d < 7; d++)
				sim_day(&s, &less);
		}
		report_of(&s, 4, &r);
		k = find_flag(&r, "kitchen_hours", 0);
		w = find_flag(&r, "water_litres", 0);
		if (!k && !w) {
			print_message("seed %llu:\n", (unsigned long long)seed);
			print_flags(&r);
		}
		assert_true(k || w);
		assert_true(!k || strstr(k->text, "kitchen use down"));
		assert_true(!w || strstr(w->text, "water down"));
		/* Nothing the person did not change. */
		assert_null(find_flag(&r, "nights_up", 0));
		assert_null(find_flag(&r, "active_hours", 0));
		assert_null(find_flag(&r, "outings", 0));
	}
}

/* The 3-week drift alone: water 10% lower each week, below the level bar at the end. */
static void test_drift(void **state)
{
	struct sim s;
	struct ch_trend_report r;
	const struct ch_trend_flag *f;

	(void)state;
	sim_init(&s, 4);
	for (int d = 0; d < 35; d++)
		sim_day(&s, &usual);
	for (int wk = 1; wk <= 3; wk++) {
		struct routine less = usual;
		less.water_l = usual.water_l * (1 - 0.10 * wk);
		for (int d = 0; d < 7; d++)
			sim_day(&s, &less);
	}
	report_of(&s, 4, &r);
	print_flags(&r);
	f = find_flag(&r, "water_litres", 0);
	assert_non_null(f);
	assert_int_equal(f->weeks, 3);
	assert_non_null(strstr(f->text, " over 3 weeks"));
	assert_non_null(strstr(f->text_zh, "持续3周"));
}

static void test_nights_up(void **state)
{
	struct sim s;
	struct ch_trend_report r;
	struct routine restless = usual;
	const struct ch_trend_flag *f;

	(void)state;
	sim_init(&s, 7);
	s.bed = true;
	for (int d = 0; d < 49; d++)
		sim_day(&s, &usual);
	restless.nights = 3.4;
	for (int d = 0; d < 7; d++)
		sim_day(&s, &restless);
	report_of(&s, 4, &r);
	print_flags(&r);
	f = find_flag(&r, "nights_up", 0);
	assert_non_null(f);
	assert_true(f->value > 2.3 && f->usual < 1.6);
	assert_non_null(strstr(f->text, "nights up "));
	assert_non_null(strstr(f->text, "/night vs "));
	assert_non_null(strstr(f->text, " usual"));
	assert_non_null(strstr(f->text_zh, "夜间起身"));
	assert_int_equal(r.flag[0].week, 0);
}

static void test_no_outing(void **state)
{
	struct sim s;
	struct ch_trend_report r;
	struct routine home = usual;
	const struct ch_trend_flag *f;

	(void)state;
	sim_init(&s, 3);
	for (int d = 0; d < 46; d++)
		sim_day(&s, &usual);
	home.outing_p = 0;
	for (int d = 0; d < 10; d++)
		sim_day(&s, &home);
	report_of(&s, 2, &r);
	print_flags(&r);
	f = find_flag(&r, "outing_gap", 0);
	assert_non_null(f);
	assert_true(r.days_since_outing >= 10);
	assert_non_null(strstr(f->text, "no outing for "));
}

static void test_hospital_and_silence(void **state)
{
	struct sim s;
	struct ch_trend_report r;
	struct routine hosp = usual, dead = usual;

	(void)state;
	sim_init(&s, 11);
	for (int d = 0; d < 42; d++)
		sim_day(&s, &usual);
	hosp.hospital = true;
	for (int d = 0; d < 5; d++)
		sim_day(&s, &hosp);
	for (int d = 0; d < 7; d++)
		sim_day(&s, &usual);
	/* Two days with nothing at all, then the routine again. */
	dead.silent = true;
	sim_day(&s, &dead);
	sim_day(&s, &dead);
	report_of(&s, 3, &r);
	print_flags(&r);
	assert_int_equal(r.week[1].away, 6); /* 5 in hospital and the day she came home */
	assert_int_equal(r.week[0].silent, 2);
	assert_non_null(find_flag(&r, "silent_days", 0));
	/* Away days are not a decline. */
	for (size_t i = 0; i < r.nflags; i++)
		assert_true(strcmp(r.flag[i].metric, "silent_days") == 0);
}

static void test_learning(void **state)
{
	struct sim s;
	struct ch_trend_report r;

	(void)state;
	sim_init(&s, 5);
	for (int d = 0; d < 10; d++)
		sim_day(&s, &usual);
	report_of(&s, 4, &r);
	assert_false(r.have_norm);
	assert_int_equal(r.nflags, 0);
	assert_int_equal(r.history_days, 10);
	assert_int_equal(r.nweeks, 2);
}

static void test_encoding(void **state)
{
	struct ch_trend_live l = {0}, back;
	struct ch_trend_day d = {.day = 20500, .kitchen_q = 9, .water_dl = 812, .bed_exits = 3, .outings = 1,
				 .ci_well = 5, .ci_help = 1, .ci_missed = 2, .ci_skipped = 15, .alerts = 2,
				 .offline = 1, .flags = CH_TD_SEEN | CH_TD_BED}, d2;
	uint8_t buf[CH_TREND_LIVE_BYTES], b[CH_TREND_DAY_BYTES];

	(void)state;
	d.q[0] = 0x81;
	d.q[11] = 0xF0;
	ch_trend_day_encode(&d, b);
	ch_trend_day_decode(b, &d2);
	assert_memory_equal(&d, &d2, sizeof(d));
	l.today = d;
	l.kitchen[3] = 0x0F;
	l.last_active_ms = 1795824900123LL;
	l.exit_ms = 1795824000000LL;
	l.hospital = 1;
	ch_trend_live_encode(&l, buf);
	assert_int_equal(ch_trend_live_decode(buf, sizeof(buf), &back), 0);
	assert_memory_equal(&l.today, &back.today, sizeof(l.today));
	assert_memory_equal(back.kitchen, l.kitchen, 12);
	assert_int_equal(back.last_active_ms, l.last_active_ms);
	assert_int_equal(back.exit_ms, l.exit_ms);
	assert_int_equal(back.hospital, 1);
	assert_int_equal(ch_trend_live_decode(buf, sizeof(buf) - 1, &back), CH_EINVAL);
	buf[0] = 9;
	assert_int_equal(ch_trend_live_decode(buf, sizeof(buf), &back), CH_EINVAL);
}

/* Days roll over in local time; gaps become empty days; a late event of a finished day is dropped. */
static void test_apply_days(void **state)
{
	struct ch_trend_live l = {0};
	struct ch_trend_day done[CH_TREND_DAYS + 1];
	int64_t t0 = (int64_t)DAY0 * DAY_MS;
	struct ch_trend_obs o[] = {
		{t0 + 9 * 60 * MIN_MS, CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_EXIT, 0, 0},
		{t0 + 11 * 60 * MIN_MS, CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_EXIT, 0, 0},
		{t0 + 11 * 60 * MIN_MS + MIN_MS, CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_KITCHEN, 0, 0},
		{t0 + 12 * 60 * MIN_MS, CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_WATER, 0.0125, 0},
		{t0 + 23 * 60 * MIN_MS, CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_BED | CH_OBS_BED_OUT, 0, 0},
		{t0 + 13 * 60 * MIN_MS, CH_OBS_CHECKIN, 0, CH_TCI_WELL},
		{t0 + 13 * 60 * MIN_MS, CH_OBS_ALERT, 0, 0},
	};
	struct ch_trend_obs later[] = {
		{t0 + 3 * DAY_MS + MIN_MS, CH_OBS_SENSOR | CH_OBS_ACTIVE, 0, 0},
		{t0 + 2 * 60 * MIN_MS, CH_OBS_SENSOR | CH_OBS_ACTIVE, 0, 0}, /* late: day 0 is over */
	};
	size_t k, late = 0;

	(void)state;
	k = ch_trends_apply(&l, NULL, o, (sizeof(o) / sizeof((o)[0])), done, CH_TREND_DAYS + 1, &late);
	assert_int_equal(k, 0);
	assert_int_equal(l.today.day, DAY0);
	assert_int_equal(l.today.outings, 1);
	assert_int_equal(l.today.water_dl, 125);
	assert_int_equal(l.today.bed_exits, 1);
	assert_int_equal(l.today.ci_well, 1);
	assert_int_equal(l.today.alerts, 1);
	assert_int_equal(l.kitchen[44 / 8], 1u << (44 % 8));
	assert_int_equal(l.today.flags & (CH_TD_SEEN | CH_TD_EXIT | CH_TD_BED | CH_TD_WATER),
			 CH_TD_SEEN | CH_TD_EXIT | CH_TD_BED | CH_TD_WATER);
	assert_int_equal(l.last_active_ms, t0 + 23 * 60 * MIN_MS);
	k = ch_trends_apply(&l, NULL, later, 1, done, CH_TREND_DAYS + 1, &late);
	assert_int_equal(ch_trends_apply(&l, NULL, later + 1, 1, done + k, CH_TREND_DAYS + 1 - k, &late), 0);
	assert_int_equal(late, 1);
	assert_int_equal(k, 3); /* day 0, then days 1 and 2 with nothing */
	assert_int_equal(done[0].day, DAY0);
	assert_int_equal(done[0].kitchen_q, 1);
	assert_int_equal(done[1].day, DAY0 + 1);
	assert_int_equal(done[1].flags, 0);
	assert_int_equal(done[2].day, DAY0 + 2);
	assert_int_equal(l.today.day, DAY0 + 3);
	/* 09:00 and 11:00: hours 9 and 11 active; the longest quiet spell runs 12:15 to 22:00 but for 23:00. */
	assert_true(ch_trends_day_metric(&done[0], NULL, CH_TM_ACTIVE) == 4);
	assert_true(ch_trends_day_metric(&done[0], NULL, CH_TM_QUIET) == 9.75);
}

static void test_observe(void **state)
{
	static const char reg_json[] =
		"{\"subjects\":[{\"id\":\"s1\",\"name\":\"A\",\"devices\":["
		"{\"id\":\"pk\",\"type\":\"motion\",\"location\":\"Kitchen\"},"
		"{\"id\":\"d1\",\"type\":\"door\",\"location\":\"front door\"},"
		"{\"id\":\"d2\",\"type\":\"door\",\"location\":\"balcony\"},"
		"{\"id\":\"b\",\"type\":\"bed\",\"location\":\"bedroom\"},"
		"{\"id\":\"wm\",\"type\":\"water_meter\",\"location\":\"bathroom\"},"
		"{\"id\":\"hb\",\"type\":\"motion\",\"location\":\"hall\"},"
		"{\"id\":\"cup\",\"type\":\"contact\",\"location\":\"厨房\"},"
		"{\"id\":\"wc\",\"type\":\"flush\",\"location\":\"toilet\"}]}]}";
	struct ch_registry *reg;
	const struct ch_subject *s;
	const struct ch_device *dev;
	struct ch_trend_obs o;
	char err[256];
	struct {
		const char *json, *device;
		uint32_t want;
	} cases[] = {
		{"{\"device\":\"pk\",\"type\":\"motion\",\"value\":true}", "pk", CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_KITCHEN},
		{"{\"device\":\"pk\",\"type\":\"motion\",\"value\":false}", "pk", CH_OBS_SENSOR},
		{"{\"device\":\"d1\",\"type\":\"door\",\"value\":\"open\"}", "d1", CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_EXIT},
		{"{\"device\":\"d2\",\"type\":\"door\",\"value\":\"open\"}", "d2", CH_OBS_SENSOR | CH_OBS_ACTIVE},
		{"{\"device\":\"b\",\"type\":\"bed\",\"value\":false}", "b",
		 CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_BED | CH_OBS_BED_OUT},
		{"{\"device\":\"wm\",\"type\":\"water_meter\",\"value\":0.004}", "wm",
		 CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_WATER},
		{"{\"device\":\"wm\",\"type\":\"water_meter\",\"value\":0}", "wm", CH_OBS_SENSOR | CH_OBS_WATER},
		{"{\"device\":\"hb\",\"type\":\"battery\",\"value\":80}", "hb", CH_OBS_SENSOR},
		{"{\"device\":\"cup\",\"type\":\"contact\",\"value\":false}", "cup",
		 CH_OBS_SENSOR | CH_OBS_ACTIVE | CH_OBS_KITCHEN},
		{"{\"device\":\"wc\",\"type\":\"flush\",\"value\":true}", "wc", CH_OBS_SENSOR | CH_OBS_ACTIVE},
		{"{\"device\":\"checkin\",\"type\":\"check_in\",\"value\":\"missed\"}", NULL, CH_OBS_CHECKIN},
		{"{\"device\":\"x\",\"type\":\"service.hospital_admission\"}", NULL, CH_OBS_HOSP_IN},
	};

	(void)state;
	assert_int_equal(ch_registry_parse("r", reg_json, strlen(reg_json), &reg, err, sizeof(err)), 0);
	s = ch_registry_at(reg, 0);
	for (size_t i = 0; i < (sizeof(cases) / sizeof((cases)[0])); i++) {
		struct ch_event ev;
		struct ch_event_limits lim = {65536, 16, 300000};
		enum ch_reject why;
		assert_int_equal(ch_event_parse(cases[i].json, strlen(cases[i].json), &lim, 1795824900000LL, &ev, &why,
						err, sizeof(err)),
				 0);
		dev = NULL;
		if (cases[i].device)
			assert_non_null(ch_registry_find_device(reg, cases[i].device, &dev));
		ch_trends_observe(&ev, dev, s, &o);
		if (o.what != cases[i].want)
			fail_msg("%s: what %#x, want %#x", cases[i].json, o.what, cases[i].want);
		if (strstr(cases[i].json, "missed"))
			assert_int_equal(o.checkin, CH_TCI_MISSED);
		ch_event_clear(&ev);
	}
	ch_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noise_no_flags), cmocka_unit_test(test_slow_decline), cmocka_unit_test(test_drift),
		cmocka_unit_test(test_nights_up),      cmocka_unit_test(test_no_outing),
		cmocka_unit_test(test_hospital_and_silence), cmocka_unit_test(test_learning),
		cmocka_unit_test(test_encoding),       cmocka_unit_test(test_apply_days),
		cmocka_unit_test(test_observe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
