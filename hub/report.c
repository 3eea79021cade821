/*
 * report.c - the trend report of one subject: read from Redis or computed
 * over a recorded file, as JSON and as text (see report.h).
 *
 * Why the file mode: a district switching check-ins and reports on wants to
 * see what a caseworker would have read about a real home; the backtest's
 * event files (scripts/convert-kasteren, convert-ordonez) go through the same
 * aggregates (trends.c) as the live hub.
 */
#include "report.h"
#include "clock.h"
#include "event.h"
#include "registry.h"
#include "store_care.h"
#include "tz.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES (256 * 1024)

int ch_report_load(struct ch_store *st, const struct ch_subject *subj, const struct ch_tz *tz, int64_t now_ms,
		   int weeks, struct ch_trend_hist *h, struct ch_trend_report *r, char *err, size_t errlen)
{
	uint8_t *live = NULL, *days = NULL;
	size_t livelen = 0, dayslen = 0;
	struct ch_trend_live l;
	int rc = ch_store_trend_read(st, subj->id, &live, &livelen, &days, &dayslen, err, errlen);

	if (rc)
		return rc;
	if (!live || ch_trend_live_decode(live, livelen, &l))
		memset(&l, 0, sizeof(l));
	ch_trends_history(days, dayslen, &l, ch_trends_local_day(tz, now_ms), h);
	ch_trends_report(h, weeks, r);
	free(live);
	free(days);
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

static json_t *num(double v, int digits)
{
	double p = pow(10, digits);

	return json_real(round(v * p) / p);
}

static const char *sev_name(enum ch_trend_sev s)
{
	return s == CH_TF_CONCERN ? "concern" : s == CH_TF_WATCH ? "watch" : "info";
}

static json_t *week_json(const struct ch_trend_week *w)
{
	char from[16], to[16];
	json_t *o;

	ch_trends_day_name(w->first, from, sizeof(from));
	ch_trends_day_name(w->last, to, sizeof(to));
	o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:{s:i, s:i, s:i, s:i}, s:i, s:i}", "from", from, "to", to, "days",
		      w->days, "away_days", w->away, "silent_days", w->silent, "checkins", "well", w->ci_well,
		      "needs_help", w->ci_help, "missed", w->ci_missed, "skipped", w->ci_skipped, "alerts", w->alerts,
		      "devices_offline", w->offline);
	for (int m = 0; o && m < CH_TM_COUNT; m++)
		json_object_set_new(o, ch_trends_metric_name((enum ch_trend_metric)m),
				    w->enough && w->has[m] ? num(w->mean[m], 1) : json_null());
	return o;
}

/* One value a day of each metric, for a sparkline: null on days away or with no event. */
static json_t *daily_json(const struct ch_trend_hist *h, const struct ch_trend_report *r)
{
	char from[16];
	json_t *o;

	ch_trends_day_name(h->first, from, sizeof(from));
	o = json_pack("{s:s}", "from", from);
	for (int m = 0; o && m < CH_TM_COUNT; m++) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < h->n; i++) {
			const struct ch_trend_day *d = &h->days[i];
			bool ok = (d->flags & CH_TD_SEEN) && !(d->flags & CH_TD_AWAY) && r->week[0].has[m];
			json_array_append_new(a, ok ? num(ch_trends_day_metric(d, i ? d - 1 : NULL, (enum ch_trend_metric)m), 1)
						    : json_null());
		}
		json_object_set_new(o, ch_trends_metric_name((enum ch_trend_metric)m), a ? a : json_null());
	}
	return o;
}

json_t *ch_report_json(const struct ch_subject *subj, const struct ch_tz *tz, int64_t now_ms,
		       const struct ch_trend_hist *h, const struct ch_trend_report *r)
{
	char today[16], at[40];
	json_t *o, *weeks = json_array(), *usual = json_object(), *flags = json_array();

	ch_trends_day_name(r->today, today, sizeof(today));
	ch_tz_format(tz, now_ms, at, sizeof(at));
	for (int k = 0; weeks && k < r->nweeks; k++)
		json_array_append_new(weeks, week_json(&r->week[k]));
	for (int m = 0; usual && m < CH_TM_COUNT; m++)
		json_object_set_new(usual, ch_trends_metric_name((enum ch_trend_metric)m),
				    r->have_norm && r->nweeks && r->week[0].has[m] ? num(r->usual[m], 1) : json_null());
	for (size_t i = 0; flags && i < r->nflags; i++) {
		const struct ch_trend_flag *f = &r->flag[i];
		json_array_append_new(flags, json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:o, s:i}", "metric", f->metric,
						       "week", f->week, "severity", sev_name(f->sev), "text", f->text,
						       "text_zh", f->text_zh, "value", num(f->value, 1), "usual",
						       num(f->usual, 1), "weeks", f->weeks));
	}
	o = json_pack("{s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:i, s:b, s:o, s:o, s:o, s:o, s:o}", "subject", "id",
		      subj->id, "name", subj->name ? subj->name : "", "address", subj->address ? subj->address : "",
		      "timezone", tz ? ch_tz_name(tz) : "UTC", "generated_at", at, "today", today, "history_days",
		      r->history_days, "learning", !r->have_norm, "weeks", weeks ? weeks : json_array(), "usual",
		      usual ? usual : json_object(), "days_since_outing",
		      r->days_since_outing >= 0 ? json_integer(r->days_since_outing) : json_null(), "flags",
		      flags ? flags : json_array(), "daily", daily_json(h, r));
	return o;
}

/* ------------------------------------------------------------------ */
/* Text                                                                */
/* ------------------------------------------------------------------ */

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static void cell(FILE *f, json_t *v, int width, int prec)
{
	if (json_is_number(v))
		fprintf(f, " %*.*f", width, prec, json_number_value(v));
	else
		fprintf(f, " %*s", width, "-");
}

static void row(FILE *f, const char *label, json_t *w, const char *checkins)
{
	fprintf(f, "%-22s", label);
	cell(f, json_object_get(w, "active_hours"), 8, 1);
	cell(f, json_object_get(w, "longest_quiet_hours"), 8, 1);
	cell(f, json_object_get(w, "nights_up"), 7, 1);
	cell(f, json_object_get(w, "water_litres"), 8, 0);
	cell(f, json_object_get(w, "kitchen_hours"), 8, 1);
	cell(f, json_object_get(w, "outings"), 8, 1);
	fprintf(f, "  %s\n", checkins);
}

void ch_report_print(FILE *f, json_t *rep, const char *lang)
{
	json_t *subj = json_object_get(rep, "subject"), *w, *fl;
	bool zh = lang && strncmp(lang, "zh", 2) == 0;
	size_t i;

	fprintf(f, "%s (%s), %s: %lld days of history to %s%s\n", jstr(subj, "name"), jstr(subj, "id"),
		jstr(rep, "timezone"), (long long)json_integer_value(json_object_get(rep, "history_days")),
		jstr(rep, "today"), json_is_true(json_object_get(rep, "learning")) ? " (still learning the routine)" : "");
	if (json_array_size(json_object_get(rep, "flags")) == 0)
		fprintf(f, "  no flags: every week within the usual range\n");
	json_array_foreach(json_object_get(rep, "flags"), i, fl) {
		long long wk = json_integer_value(json_object_get(fl, "week"));
		fprintf(f, "  %s %s%s\n", strcmp(jstr(fl, "severity"), "concern") == 0 ? "!!" : " !",
			jstr(fl, zh ? "text_zh" : "text"),
			wk ? (zh ? "（更早一周）" : " (an earlier week)") : "");
	}
	fprintf(f, "\n%-22s %8s %8s %7s %8s %8s %8s  %s\n", "week (days at home)", "active h", "quiet h", "nights",
		"water L", "kitchen", "outings", "check-ins ok/help/missed");
	json_array_foreach(json_object_get(rep, "weeks"), i, w) {
		char label[40], ci[64];
		json_t *c = json_object_get(w, "checkins");
		const char *from = jstr(w, "from"), *to = jstr(w, "to");
		ch_fmt(label, sizeof(label), "%.5s..%.5s (%lld)", strlen(from) > 5 ? from + 5 : from,
		       strlen(to) > 5 ? to + 5 : to, (long long)json_integer_value(json_object_get(w, "days")));
		ch_fmt(ci, sizeof(ci), "%lld/%lld/%lld", (long long)json_integer_value(json_object_get(c, "well")),
		       (long long)json_integer_value(json_object_get(c, "needs_help")),
		       (long long)json_integer_value(json_object_get(c, "missed")));
		row(f, label, w, ci);
	}
	if (!json_is_true(json_object_get(rep, "learning")))
		row(f, "usual", json_object_get(rep, "usual"), "");
	if (json_is_integer(json_object_get(rep, "days_since_outing")))
		fprintf(f, "last outing: %lld days ago\n", (long long)json_integer_value(json_object_get(rep, "days_since_outing")));
}

void ch_report_digest_line(const struct ch_subject *subj, const struct ch_trend_report *r, const char *lang,
			   char *out, size_t len)
{
	bool zh = !lang || strncmp(lang, "en", 2) != 0;
	size_t pos = 0, shown = 0;

	ch_fmt_append(out, len, &pos, "%s (%s): ", subj->name, subj->id);
	for (size_t i = 0; i < r->nflags; i++) {
		if (r->flag[i].week != 0)
			continue;
		ch_fmt_append(out, len, &pos, "%s%s", shown++ ? (zh ? "；" : "; ") : "", zh ? r->flag[i].text_zh : r->flag[i].text);
	}
	if (!shown)
		ch_fmt_append(out, len, &pos, "%s", !r->have_norm ? (zh ? "仍在学习日常规律" : "still learning the routine")
							   : (zh ? "本周无异常" : "a usual week"));
}

/* ------------------------------------------------------------------ */
/* Over a recorded file                                                */
/* ------------------------------------------------------------------ */

int ch_report_from_file(const char *path, const struct ch_subject *subj, const struct ch_registry *reg,
			int64_t at_ms, int weeks, struct ch_trend_hist *h, struct ch_trend_report *r, int64_t *end_ms,
			size_t *events, size_t *skipped, char *err, size_t errlen)
{
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	struct ch_trend_obs *obs = NULL;
	struct ch_trend_day done[CH_TREND_DAYS + 1];
	struct ch_trend_live live = {0};
	uint8_t ring[CH_TREND_RING_BYTES] = {0};
	const struct ch_tz *tz = NULL;
	size_t n = 0, cap = 0, lcap = 0, k;
	char *line = NULL;
	ssize_t len;
	int rc = 0;

	*events = *skipped = 0;
	*end_ms = 0;
	if (!in) {
		ch_fmt(err, errlen, "%s: %s", path, strerror(errno));
		return CH_EIO;
	}
	if (ch_tz_get(subj->timezone, &tz, err, errlen))
		tz = NULL;
	while ((len = getline(&line, &lcap, in)) != -1) {
		struct ch_event_limits lim = {LINE_MAX_BYTES, 32, INT64_MAX / 4};
		const struct ch_device *dev = NULL;
		struct ch_event ev;
		enum ch_reject why;
		char e[256];

		if (ch_event_parse(line, (size_t)len, &lim, *end_ms, &ev, &why, e, sizeof(e))) {
			(*skipped)++;
			continue;
		}
		if (ch_registry_find_device(reg, ev.device, &dev) == subj && (at_ms <= 0 || ev.ts_ms < at_ms)) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 4096;
				struct ch_trend_obs *o = realloc(obs, nc * sizeof(*o));
				if (!o) {
					ch_event_clear(&ev);
					rc = CH_ENOMEM;
					break;
				}
				obs = o;
				cap = nc;
			}
			if (ch_trends_observe(&ev, dev, subj, &obs[n]))
				n++;
			(*events)++;
			if (ev.ts_ms > *end_ms)
				*end_ms = ev.ts_ms;
		} else if (!ch_registry_find_device(reg, ev.device, NULL)) {
			(*skipped)++;
		}
		ch_event_clear(&ev);
	}
	free(line);
	if (in != stdin)
		fclose(in);
	if (rc) {
		free(obs);
		ch_fmt(err, errlen, "out of memory");
		return rc;
	}
	k = ch_trends_apply(&live, tz, obs, n, done, CH_TREND_DAYS + 1, NULL);
	free(obs);
	for (size_t i = 0; i < k; i++)
		ch_trend_day_encode(&done[i], ring + (size_t)(done[i].day % CH_TREND_DAYS) * CH_TREND_DAY_BYTES);
	/* The report is made the day after the last event (its day counts whole) unless told when. */
	ch_trends_history(ring, sizeof(ring), &live,
			  at_ms > 0 ? ch_trends_local_day(tz, at_ms) : ch_trends_local_day(tz, *end_ms) + 1, h);
	ch_trends_report(h, weeks, r);
	if (at_ms > 0)
		*end_ms = at_ms;
	return 0;
}
