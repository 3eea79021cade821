/*
 * trends_report.c - the weekly report over a subject's daily aggregates: each
 * week against the person's own norm, and the flags a caseworker acts on.
 *
 * A flag must clear three bars at once, so that an ordinary week never
 * raises one: the person's own week-to-week spread (3 x a robust standard
 * deviation of the weeks before), a relative change (e.g. a fifth of the
 * active hours), and an absolute one (an hour; ten litres).  A slow decline
 * is caught by a second, lower bar that needs persistence instead: three
 * weeks in a row worse than usual, the latest the worst and the last two
 * together past it.
 */
#include "trends.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_DAYS 3
#define MIN_WEEKS 2       /* weeks before a week for its norm */
#define MIN_DRIFT_WEEKS 3 /* weeks before a drift's three for its norm */

/*
 * Per metric: which way is a concern (+1 a rise, -1 a fall), the level bar
 * (relative, absolute) each way, the drift bar, and the smallest norm worth
 * judging (a home without a water meter has none).
 */
struct mdef {
	double rel_down, rel_up; /* 0: that way is not flagged */
	double abs_min;
	double drift_rel, drift_abs;
	double min_usual;
	const char *unit_en, *unit_zh;
	const char *what_en, *what_zh;
};

static const struct mdef defs[CH_TM_COUNT] = {
	[CH_TM_ACTIVE] = {0.20, 0, 1.5, 0.12, 1.0, 2.0, "h/day", "小时/天", "active", "活动时间"},
	[CH_TM_QUIET] = {0, 0.35, 1.0, 0.25, 0.75, 0.5, "h", "小时", "longest quiet spell", "白天最长静止"},
	[CH_TM_NIGHTS] = {0, 1.00, 1.5, 0.60, 1.2, 0.0, "/night", "次/晚", "nights up", "夜间起身"},
	[CH_TM_WATER] = {0.30, 0.60, 10.0, 0.18, 8.0, 10.0, "L/day", "升/天", "water", "用水"},
	[CH_TM_KITCHEN] = {0.35, 0, 0.75, 0.20, 0.5, 0.75, "h/day", "小时/天", "kitchen use", "厨房活动"},
	[CH_TM_OUTINGS] = {0.50, 0, 0.3, 0.35, 0.25, 0.3, "/day", "次/天", "outings", "外出"},
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median and a robust spread (1.4826 x the median absolute deviation) of v[0..n). */
static void norm_of(const double *in, size_t n, double *med, double *spread)
{
	double v[CH_TREND_MAX_WEEKS], dev[CH_TREND_MAX_WEEKS];

	memcpy(v, in, n * sizeof(*v));
	*med = median(v, n);
	for (size_t i = 0; i < n; i++)
		dev[i] = fabs(in[i] - *med);
	*spread = 1.4826 * median(dev, n);
}

/*
 * The norm of metric m over the enough weeks from..nall-1, and how far a
 * week's mean strays by chance: the larger of the weeks' own spread and what
 * the days' spread gives a mean of 7 of them (few weeks can look steadier
 * than they are).  false with fewer than min weeks.
 */
static bool norm_over(const struct ch_trend_week *w, int from, int nall, int m, int min, double *usual,
		      double *spread)
{
	double v[CH_TREND_MAX_WEEKS], var = 0;
	size_t n = 0;

	for (int j = from; j < nall; j++) {
		if (!w[j].enough)
			continue;
		v[n++] = w[j].mean[m];
		var += w[j].sd[m] * w[j].sd[m];
	}
	if (n < (size_t)min)
		return false;
	norm_of(v, n, usual, spread);
	*spread = fmax(*spread, sqrt(var / (double)n / 7));
	return true;
}

static bool has_sensor(const struct ch_trend_hist *h, enum ch_trend_metric m)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct ch_trend_day *d = &h->days[i];
		if ((m == CH_TM_WATER && (d->flags & CH_TD_WATER)) || (m == CH_TM_OUTINGS && (d->flags & CH_TD_EXIT)) ||
		    (m == CH_TM_KITCHEN && d->kitchen_q) || m == CH_TM_ACTIVE || m == CH_TM_QUIET || m == CH_TM_NIGHTS)
			return true;
	}
	return false;
}

/* Week k: the 7 days ending 7k days before the history's end. */
static void week_stats(const struct ch_trend_hist *h, int k, const bool has[CH_TM_COUNT], struct ch_trend_week *w)
{
	int32_t end = h->first + (int32_t)h->n; /* today */

	memset(w, 0, sizeof(*w));
	w->last = end - 1 - 7 * k;
	w->first = w->last - 6;
	memcpy(w->has, has, sizeof(w->has));
	for (int32_t day = w->first; day <= w->last; day++) {
		if (day < h->first)
			continue;
		const struct ch_trend_day *d = &h->days[day - h->first];
		const struct ch_trend_day *prev = day > h->first ? d - 1 : NULL;
		w->ci_well += d->ci_well;
		w->ci_help += d->ci_help;
		w->ci_missed += d->ci_missed;
		w->ci_skipped += d->ci_skipped;
		w->alerts += d->alerts;
		w->offline += d->offline;
		if (d->flags & CH_TD_AWAY) {
			w->away++;
			continue;
		}
		if (!(d->flags & CH_TD_SEEN)) {
			w->silent++;
			continue;
		}
		w->days++;
		for (int m = 0; m < CH_TM_COUNT; m++) {
			double v = ch_trends_day_metric(d, prev, (enum ch_trend_metric)m);
			w->mean[m] += v;
			w->sd[m] += v * v;
		}
	}
	w->enough = w->days >= MIN_DAYS;
	for (int m = 0; m < CH_TM_COUNT; m++) {
		w->mean[m] = w->days ? w->mean[m] / w->days : 0;
		w->sd[m] = w->days > 1 ? sqrt(fmax(0, (w->sd[m] - w->days * w->mean[m] * w->mean[m]) / (w->days - 1))) : 0;
	}
}

static void add_flag(struct ch_trend_report *r, const char *metric, int week, enum ch_trend_sev sev, double value,
		     double usual, int weeks, const char *en, const char *zh)
{
	struct ch_trend_flag *f;

	if (r->nflags == CH_TREND_MAX_FLAGS)
		return;
	f = &r->flag[r->nflags++];
	ch_strlcpy(f->metric, metric, sizeof(f->metric));
	f->week = week;
	f->sev = sev;
	f->value = value;
	f->usual = usual;
	f->weeks = weeks;
	ch_strlcpy(f->text, en, sizeof(f->text));
	ch_strlcpy(f->text_zh, zh, sizeof(f->text_zh));
}

/* "nights up 3.4/night vs 1.1 usual", "water down 40% (48 L/day vs 80 usual)", " over 3 weeks". */
static void metric_flag(struct ch_trend_report *r, enum ch_trend_metric m, int week, double v, double usual,
			int weeks)
{
	const struct mdef *d = &defs[m];
	bool pct = m == CH_TM_WATER || m == CH_TM_KITCHEN;
	int change = usual > 0 ? (int)lround(fabs(v - usual) / usual * 100) : 0;
	const char *dir = v < usual ? "down" : "up", *dir_zh = v < usual ? "减少" : "增加";
	char en[160], zh[192], span[32] = "", span_zh[32] = "";
	double ratio = usual > 0 ? v / usual : 9;
	enum ch_trend_sev sev = ratio <= 0.5 || ratio >= 2.0 || weeks ? CH_TF_CONCERN : CH_TF_WATCH;
	int prec = m == CH_TM_WATER ? 0 : 1;

	if (weeks) {
		ch_fmt(span, sizeof(span), " over %d weeks", weeks);
		ch_fmt(span_zh, sizeof(span_zh), "，持续%d周", weeks);
	}
	if (pct) {
		ch_fmt(en, sizeof(en), "%s %s %d%%%s (%.*f %s vs %.*f usual)", d->what_en, dir, change, span, prec, v,
		       d->unit_en, prec, usual);
		ch_fmt(zh, sizeof(zh), "%s%s%d%%（%.*f %s，平时 %.*f）%s", d->what_zh, dir_zh, change, prec, v, d->unit_zh,
		       prec, usual, span_zh);
	} else {
		ch_fmt(en, sizeof(en), "%s %.1f%s%s vs %.1f usual%s", d->what_en, v, d->unit_en[0] == '/' ? "" : " ",
		       d->unit_en, usual, span);
		ch_fmt(zh, sizeof(zh), "%s %.1f %s（平时 %.1f）%s", d->what_zh, v, d->unit_zh, usual, span_zh);
	}
	add_flag(r, ch_trends_metric_name(m), week, sev, v, usual, weeks, en, zh);
}

/*
 * The least spread to assume: 5% of the norm, and for counts of events (times
 * up, outings) what chance alone gives a week's mean of them (Poisson: the
 * square root of the norm over 7 days), which a few weeks' history can hide.
 */
static double spread_floor(enum ch_trend_metric m, double usual, double spread)
{
	double sp = fmax(spread, 0.05 * usual);

	if (m == CH_TM_NIGHTS || m == CH_TM_OUTINGS)
		sp = fmax(sp, sqrt(fmax(usual, 0.5) / 7));
	return sp;
}

/* The level bar: this week beyond the spread and both floors, in a direction that matters. */
static bool level(enum ch_trend_metric m, double v, double usual, double spread)
{
	const struct mdef *d = &defs[m];
	double sp = spread_floor(m, usual, spread);
	double diff = v - usual;

	if (usual < d->min_usual)
		return false;
	if (diff < 0 && d->rel_down > 0)
		return -diff >= fmax(fmax(d->rel_down * usual, 3 * sp), d->abs_min);
	if (diff > 0 && d->rel_up > 0)
		return diff >= fmax(fmax(d->rel_up * usual, 3 * sp), d->abs_min);
	return false;
}

/*
 * The drift bar: weeks k+2, k+1 and k all worse than the norm, k the worst of
 * them and past the level of chance (3 spreads) and the floor, and the three
 * together past most of the floor and twice the spread (a mean of three weeks
 * strays half as far).
 */
static bool drift(enum ch_trend_metric m, const struct ch_trend_week *w, int k, double base, double spread)
{
	const struct mdef *d = &defs[m];
	int s = d->rel_down > 0 ? -1 : 1;
	double sp = spread_floor(m, base, spread), x[3];
	double floor = fmax(d->drift_rel * base, d->drift_abs);

	if (base < d->min_usual)
		return false;
	for (int j = 0; j < 3; j++) {
		if (!w[k + j].enough)
			return false;
		x[j] = s * (w[k + j].mean[m] - base);
		if (x[j] <= 0)
			return false;
	}
	return x[0] >= fmax(x[1], x[2]) - sp && x[0] >= fmax(floor, 3 * sp) &&
	       (x[0] + x[1] + x[2]) / 3 >= fmax(0.67 * floor, 2 * sp);
}

/* The metrics of week k against the weeks before it (nall weeks in w). */
static void week_flags(struct ch_trend_report *r, const struct ch_trend_week *w, int nall, int k)
{
	if (!w[k].enough)
		return;
	for (int m = 0; m < CH_TM_COUNT; m++) {
		double usual, spread;
		if (!w[k].has[m] || !norm_over(w, k + 1, nall, m, MIN_WEEKS, &usual, &spread))
			continue;
		if (k == 0)
			r->usual[m] = usual;
		if (level((enum ch_trend_metric)m, w[k].mean[m], usual, spread)) {
			metric_flag(r, (enum ch_trend_metric)m, k, w[k].mean[m], usual, 0);
			continue;
		}
		/* The drift's norm leaves out the weeks it spans. */
		if (k + 2 < nall && norm_over(w, k + 3, nall, m, MIN_DRIFT_WEEKS, &usual, &spread) &&
		    drift((enum ch_trend_metric)m, w, k, usual, spread))
			metric_flag(r, (enum ch_trend_metric)m, k, w[k].mean[m], usual, 3);
	}
}

/* Counts the week says plainly: check-ins missed or a call for help, silent days, alerts, devices. */
static void count_flags(struct ch_trend_report *r, const struct ch_trend_week *w, int nall, int k)
{
	const struct ch_trend_week *x = &w[k];
	int calls = x->ci_well + x->ci_help + x->ci_missed;
	char en[160], zh[192];
	double usual_alerts = 0, v[CH_TREND_MAX_WEEKS], sp;
	size_t n = 0;

	if (x->ci_help) {
		ch_fmt(en, sizeof(en), "asked for help on %d check-in call%s", x->ci_help, x->ci_help > 1 ? "s" : "");
		ch_fmt(zh, sizeof(zh), "问候电话中求助 %d 次", x->ci_help);
		add_flag(r, "checkin_help", k, CH_TF_CONCERN, x->ci_help, 0, 0, en, zh);
	}
	if (x->ci_missed >= 2) {
		ch_fmt(en, sizeof(en), "missed %d of %d check-in calls", x->ci_missed, calls);
		ch_fmt(zh, sizeof(zh), "%d 次问候电话中 %d 次未接", calls, x->ci_missed);
		add_flag(r, "checkins_missed", k, x->ci_missed * 2 >= calls ? CH_TF_CONCERN : CH_TF_WATCH, x->ci_missed,
			 0, 0, en, zh);
	}
	if (x->silent) {
		ch_fmt(en, sizeof(en), "no sensor data on %d day%s", x->silent, x->silent > 1 ? "s" : "");
		ch_fmt(zh, sizeof(zh), "%d 天没有任何传感器数据", x->silent);
		add_flag(r, "silent_days", k, CH_TF_CONCERN, x->silent, 0, 0, en, zh);
	}
	for (int j = k + 1; j < nall; j++)
		v[n++] = w[j].alerts;
	if (n)
		norm_of(v, n, &usual_alerts, &sp);
	if (x->alerts >= 3 && x->alerts >= 2 * usual_alerts + 2) {
		ch_fmt(en, sizeof(en), "%d alerts vs %.0f a week usually", x->alerts, usual_alerts);
		ch_fmt(zh, sizeof(zh), "本周告警 %d 次（平时每周 %.0f 次）", x->alerts, usual_alerts);
		add_flag(r, "alerts", k, CH_TF_WATCH, x->alerts, usual_alerts, 0, en, zh);
	}
	if (x->offline) {
		ch_fmt(en, sizeof(en), "a device went offline (%d time%s)", x->offline, x->offline > 1 ? "s" : "");
		ch_fmt(zh, sizeof(zh), "设备离线 %d 次", x->offline);
		add_flag(r, "devices_offline", k, CH_TF_INFO, x->offline, 0, 0, en, zh);
	}
}

/* "no outing for 9 days": days at home since the last one, against how often she goes out. */
static void outing_gap(struct ch_trend_report *r, const struct ch_trend_hist *h)
{
	int home = 0, outings = 0, days = 0, last = -1;
	char en[160], zh[192];

	if (!has_sensor(h, CH_TM_OUTINGS))
		return;
	for (size_t i = 0; i < h->n; i++) {
		const struct ch_trend_day *d = &h->days[i];
		if (d->outings) {
			last = (int)i;
			outings += d->outings;
		}
		if (!(d->flags & CH_TD_AWAY) && (d->flags & CH_TD_SEEN))
			days++;
	}
	if (last < 0)
		return;
	for (size_t i = (size_t)last + 1; i < h->n; i++)
		home += !(h->days[i].flags & CH_TD_AWAY);
	r->days_since_outing = home;
	double rate = days ? (double)outings / days : 0;
	int limit = rate > 0 ? (int)ceil(3.0 / rate) : 0;
	if (limit < 7)
		limit = 7;
	if (rate < 0.2 || home < limit)
		return;
	ch_fmt(en, sizeof(en), "no outing for %d days", home);
	ch_fmt(zh, sizeof(zh), "已 %d 天未外出", home);
	add_flag(r, "outing_gap", 0, CH_TF_CONCERN, home, 1.0 / rate, 0, en, zh);
}

static int by_weight(const void *a, const void *b)
{
	const struct ch_trend_flag *x = a, *y = b;

	if (x->week != y->week)
		return x->week - y->week;
	return (int)y->sev - (int)x->sev;
}

void ch_trends_report(const struct ch_trend_hist *h, int nweeks, struct ch_trend_report *out)
{
	struct ch_trend_week w[CH_TREND_MAX_WEEKS];
	bool has[CH_TM_COUNT];
	int nall = 0;

	memset(out, 0, sizeof(*out));
	out->today = h->first + (int32_t)h->n;
	out->history_days = (int)h->n;
	out->days_since_outing = -1;
	if (nweeks < 1)
		nweeks = 1;
	if (nweeks > CH_TREND_MAX_WEEKS)
		nweeks = CH_TREND_MAX_WEEKS;
	for (int m = 0; m < CH_TM_COUNT; m++)
		has[m] = has_sensor(h, (enum ch_trend_metric)m);
	/* Every week the history reaches into: the shown ones and the ones their norms need. */
	for (int k = 0; k < CH_TREND_MAX_WEEKS; k++) {
		week_stats(h, k, has, &w[k]);
		if (w[k].last < h->first)
			break;
		nall = k + 1;
	}
	out->nweeks = nweeks < nall ? nweeks : nall;
	memcpy(out->week, w, sizeof(w[0]) * (size_t)out->nweeks);
	for (int j = 1, n = 0; j < nall; j++)
		out->have_norm = (n += w[j].enough) >= MIN_WEEKS;
	for (int k = 0; k < out->nweeks; k++) {
		week_flags(out, w, nall, k);
		count_flags(out, w, nall, k);
	}
	outing_gap(out, h);
	qsort(out->flag, out->nflags, sizeof(out->flag[0]), by_weight);
}
