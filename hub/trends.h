/*
 * trends.h - compact daily aggregates per subject, and the weekly report that
 * sets each week against the person's own norm with flags: "nights up
 * 3.4/night vs 1.1 usual", "no outing for 9 days", "water down 40%".
 *
 * A slow decline (eating less, nights up, fewer outings) never opens an alert;
 * a caseworker who sees it in a weekly report can visit before the fall.
 *
 * Pure: events become observations (ch_trends_observe), observations move a
 * small live record through the day (ch_trends_apply) and finish day records,
 * which Redis keeps for 8 weeks (store_care.c); the report is computed from
 * them (ch_trends_report).  carehubd, the backtest over a recorded file
 * (report.c) and the unit tests run the same code.
 *
 * Sizes (what Redis keeps per subject): a day is CH_TREND_DAY_BYTES = 24
 * bytes, 56 days are 1,344 bytes in one string; the live record (today so far
 * and what the next event needs) is CH_TREND_LIVE_BYTES = 64 bytes.
 *
 * Local time: days and quarter-hours are the subject's local time (tz).
 * Activity is kept per quarter-hour (96 bits a day), from which the report
 * derives active hours, the longest quiet spell of the day (07:00-22:00) and
 * the night's times up (23:00-06:00); the other aggregates are counters.
 */
#ifndef CH_TRENDS_H
#define CH_TRENDS_H

#include "ch.h"
#include "event.h"

struct ch_tz;
struct ch_device;
struct ch_subject;

#define CH_TREND_DAYS 56 /* 8 weeks */
#define CH_TREND_DAY_BYTES 24
#define CH_TREND_LIVE_BYTES 64
#define CH_TREND_RING_BYTES (CH_TREND_DAYS * CH_TREND_DAY_BYTES)
#define CH_TREND_MAX_WEEKS 8
#define CH_TREND_MAX_FLAGS 32

/* Day flags. */
enum {
	CH_TD_SEEN = 1,  /* some sensor spoke that day */
	CH_TD_AWAY = 2,  /* in hospital, or out all day: not a day of the routine */
	CH_TD_BED = 4,   /* a bed sensor reported: nights are counted from it */
	CH_TD_EXIT = 8,  /* an exit door reported: outings are known */
	CH_TD_WATER = 16 /* a water meter reported */
};

struct ch_trend_day {
	int32_t day;       /* local days since 1970-01-01; 0: empty */
	uint8_t q[12];     /* bit i: activity in the i-th quarter-hour of the local day */
	uint8_t kitchen_q; /* quarter-hours with activity in the kitchen */
	uint16_t water_dl; /* water used, decilitres (saturates at 6,553.5 litres) */
	uint8_t bed_exits; /* the bed left between 22:00 and 07:00 */
	uint8_t outings;   /* times out of the home (counted on the day of the return) */
	uint8_t ci_well, ci_help, ci_missed, ci_skipped; /* check-in calls (0..15 each) */
	uint8_t alerts;    /* safety alerts opened */
	uint8_t offline;   /* device-offline alerts opened */
	uint8_t flags;     /* CH_TD_* */
};

/* Today so far, and what the next event needs to know. */
struct ch_trend_live {
	struct ch_trend_day today;
	uint8_t kitchen[12];    /* quarter-hours of today with kitchen activity */
	int64_t last_active_ms; /* the latest sign of life from an activity sensor */
	int64_t exit_ms;        /* an exit door passed, nothing inside since (0: none) */
	uint8_t hospital;       /* between service.hospital_admission and _discharge */
};

/* What one event (or alert) tells the aggregates. */
enum {
	CH_OBS_ACTIVE = 1 << 0,  /* movement, a door, water, the bed: someone is living here */
	CH_OBS_KITCHEN = 1 << 1, /* ... in the kitchen */
	CH_OBS_EXIT = 1 << 2,    /* an exit door */
	CH_OBS_BED = 1 << 3,     /* a bed sensor */
	CH_OBS_BED_OUT = 1 << 4, /* ... the bed was left */
	CH_OBS_WATER = 1 << 5,   /* a water meter (water_m3) */
	CH_OBS_HOSP_IN = 1 << 6,
	CH_OBS_HOSP_OUT = 1 << 7,
	CH_OBS_CHECKIN = 1 << 8, /* a check-in outcome (checkin) */
	CH_OBS_ALERT = 1 << 9,   /* a safety alert opened */
	CH_OBS_OFFLINE = 1 << 10, /* a device-offline alert opened */
	CH_OBS_SENSOR = 1 << 11  /* any event from a device of the home */
};

enum ch_trend_ci { CH_TCI_WELL = 1, CH_TCI_HELP, CH_TCI_MISSED, CH_TCI_SKIPPED };

struct ch_trend_obs {
	int64_t ts_ms;
	uint32_t what;    /* CH_OBS_* */
	double water_m3;
	uint8_t checkin;  /* enum ch_trend_ci */
};

/*
 * What an event of subj from dev (NULL: not a registry device, e.g. a
 * check-in outcome) tells the aggregates; false when nothing.
 */
bool ch_trends_observe(const struct ch_event *ev, const struct ch_device *dev, const struct ch_subject *subj,
		       struct ch_trend_obs *out);

/*
 * Applies observations (sorted here by time) to live in zone tz.  Days that
 * end on the way (the day before, whole days without any event in between:
 * at most CH_TREND_DAYS) are written to done[0..cap) and counted in the
 * return value.  An observation older than live's day is dropped (a late
 * event of a finished day) and counted in *late when late is not NULL.
 */
size_t ch_trends_apply(struct ch_trend_live *live, const struct ch_tz *tz, struct ch_trend_obs *obs, size_t n,
		       struct ch_trend_day *done, size_t cap, size_t *late);

/* The local day number of utc_ms in tz. */
int32_t ch_trends_local_day(const struct ch_tz *tz, int64_t utc_ms);
/* "2026-11-28" for a day number; buf >= 11. */
void ch_trends_day_name(int32_t day, char *buf, size_t len);

/* ---- encoding (little-endian, versioned) ---- */

void ch_trend_day_encode(const struct ch_trend_day *d, uint8_t out[CH_TREND_DAY_BYTES]);
void ch_trend_day_decode(const uint8_t in[CH_TREND_DAY_BYTES], struct ch_trend_day *d);
void ch_trend_live_encode(const struct ch_trend_live *l, uint8_t out[CH_TREND_LIVE_BYTES]);
/* CH_EINVAL when buf is not a live record of this version (the caller starts afresh). */
int ch_trend_live_decode(const uint8_t *buf, size_t len, struct ch_trend_live *l);

/* ---- the report ---- */

/* Every day of the last 8 weeks up to (not including) `today`, oldest first. */
struct ch_trend_hist {
	struct ch_trend_day days[CH_TREND_DAYS];
	int32_t first; /* day number of days[0] */
	size_t n;
};

/*
 * The history at `today` from the stored ring (ring_len bytes, any day in any
 * slot; stale ones are ignored) and the live record.  Days before the first
 * that has data are empty and not counted; days with no record after it are
 * days without any event (or away, when live says the person was out or in
 * hospital since).
 */
void ch_trends_history(const uint8_t *ring, size_t ring_len, const struct ch_trend_live *live, int32_t today,
		       struct ch_trend_hist *out);

enum ch_trend_metric {
	CH_TM_ACTIVE = 0, /* hours with activity */
	CH_TM_QUIET,      /* the longest quiet spell between 07:00 and 22:00, hours */
	CH_TM_NIGHTS,     /* times up in the night (bed exits, or waking spells 23:00-06:00) */
	CH_TM_WATER,      /* litres */
	CH_TM_KITCHEN,    /* hours with kitchen activity (quarter-hours / 4) */
	CH_TM_OUTINGS,    /* times out */
	CH_TM_COUNT
};

/* "active_hours", ... as the report's JSON names them. */
const char *ch_trends_metric_name(enum ch_trend_metric m);

/* One day's value of a metric (the night is the one ending that morning); prev may be NULL. */
double ch_trends_day_metric(const struct ch_trend_day *d, const struct ch_trend_day *prev, enum ch_trend_metric m);

struct ch_trend_week {
	int32_t first, last;   /* day numbers */
	int days;              /* days of the routine: something reported, not away */
	int away;              /* days away (hospital, out all day) */
	int silent;            /* days at home with no event at all */
	bool enough;           /* days >= 3: the means below mean something */
	double mean[CH_TM_COUNT];
	double sd[CH_TM_COUNT];  /* day-to-day standard deviation within the week */
	bool has[CH_TM_COUNT]; /* the home has the sensor for it (nights: a bed or activity sensor) */
	int ci_well, ci_help, ci_missed, ci_skipped, alerts, offline;
};

enum ch_trend_sev { CH_TF_INFO = 0, CH_TF_WATCH, CH_TF_CONCERN };

struct ch_trend_flag {
	char metric[24];  /* a metric name, or outing_gap, checkins, help, silent, alerts, offline */
	int week;         /* 0: the latest */
	enum ch_trend_sev sev;
	double value, usual;
	int weeks;        /* a drift: over this many weeks; 0: this week's level */
	char text[160];   /* English: "nights up 3.4/night vs 1.1 usual" */
	char text_zh[192];
};

struct ch_trend_report {
	int32_t today;
	int nweeks;
	struct ch_trend_week week[CH_TREND_MAX_WEEKS]; /* [0]: the 7 days to yesterday */
	bool have_norm;
	double usual[CH_TM_COUNT]; /* the latest week's norm: the median of the weeks before it */
	int history_days;          /* days since the first with data, up to 56 */
	int days_since_outing;     /* -1: unknown (no exit sensor, or never out) */
	struct ch_trend_flag flag[CH_TREND_MAX_FLAGS];
	size_t nflags;             /* most serious first, the latest week first */
};

/*
 * The report over h at h's end: the latest nweeks (1..8) complete weeks, each
 * against the norm of the weeks before it (the median of their weekly means,
 * robust to a decline in progress).  A flag needs a change beyond the
 * person's own week-to-week spread and a relative and absolute floor; a drift
 * (three weeks each worse than the one before, together past a smaller
 * floor) is flagged too, so a slow decline is seen before it is large.
 */
void ch_trends_report(const struct ch_trend_hist *h, int nweeks, struct ch_trend_report *out);

#endif
