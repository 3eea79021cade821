/*
 * report.h - the trend report of one subject as people and programs read it:
 * JSON (GET /v1/subjects/{id}/report, carehubctl --json), text (carehubctl
 * report), one digest line per subject for a caseworker; read from Redis, or
 * computed over a recorded file of events (the backtest's input) so a report
 * can be shown for a home before it is connected.
 */
#ifndef CH_REPORT_H
#define CH_REPORT_H

#include "ch.h"
#include "trends.h"

#include <jansson.h>
#include <stdio.h>

struct ch_store;
struct ch_registry;
struct ch_subject;
struct ch_tz;

#define CH_REPORT_DEFAULT_WEEKS 4

/* The report of subj at now from its aggregates in Redis. */
int ch_report_load(struct ch_store *st, const struct ch_subject *subj, const struct ch_tz *tz, int64_t now_ms,
		   int weeks, struct ch_trend_hist *h, struct ch_trend_report *r, char *err, size_t errlen);

/*
 * {"subject": {"id","name","address"}, "timezone", "generated_at", "today",
 *  "history_days", "learning", "weeks": [{"from","to","days","away_days",
 *  "silent_days","active_hours","longest_quiet_hours","nights_up","water_litres",
 *  "kitchen_hours","outings","checkins":{"well","needs_help","missed","skipped"},
 *  "alerts","devices_offline"}], "usual": {...}, "days_since_outing",
 *  "flags": [{"metric","week","severity","text","text_zh","value","usual","weeks"}],
 *  "daily": {"from", "<metric>": [one value a day, null when away or silent]}}
 * A metric the home has no sensor for is null.  New reference or NULL.
 */
json_t *ch_report_json(const struct ch_subject *subj, const struct ch_tz *tz, int64_t now_ms,
		       const struct ch_trend_hist *h, const struct ch_trend_report *r);

/* The JSON above as text for a person; lang "zh" words the flags in Chinese. */
void ch_report_print(FILE *f, json_t *report, const char *lang);

/* One subject in a caseworker's digest: "王秀英 (s-001): 夜间起身 …; 已 9 天未外出", or "… no change". */
void ch_report_digest_line(const struct ch_subject *subj, const struct ch_trend_report *r, const char *lang,
			   char *out, size_t len);

/*
 * The report computed over a recorded file of canonical events (JSON lines,
 * as carehubctl backtest reads them) for subject sid of registry reg, at the
 * end of the file (or at at_ms when > 0).  Lines that are not events of the
 * registry are skipped and counted in *skipped.
 */
int ch_report_from_file(const char *path, const struct ch_subject *subj, const struct ch_registry *reg,
			int64_t at_ms, int weeks, struct ch_trend_hist *h, struct ch_trend_report *r, int64_t *end_ms,
			size_t *events, size_t *skipped, char *err, size_t errlen);

#endif
