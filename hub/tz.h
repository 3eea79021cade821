/*
 * tz.h - UTC instants to local time in an IANA zone, without TZ or localtime().
 *
 * carehubd is multi-threaded, so it can't set TZ and call localtime() per elder.
 * This module reads the system TZif files itself (TZDIR if set, else
 * /usr/share/zoneinfo), keeps each loaded zone in a process-wide cache, and
 * answers the questions the rules ask: what is the local time, is it inside a
 * day window such as quiet hours, how much of a span fell inside one.
 *
 * All instants are int64 milliseconds since the Unix epoch (UTC).  A zone
 * pointer stays valid until ch_tz_cache_clear(); every other call is
 * thread-safe.  A NULL zone means UTC.
 *
 * Day windows are [start_min, end_min) in minutes of the local day (0..1440);
 * start > end wraps midnight (22:00-06:00 is 1320..360).  start == end, or a
 * minute outside 0..1440, is an empty window.  On each local day D the window
 * is the UTC interval from local D start_min to local end_min (on D, or on D + 1
 * when it wraps).  A boundary that falls in a spring-forward gap takes effect at
 * the first instant after the gap; one that falls in the repeated hour of a
 * fall-back takes its first occurrence (so a 22:00-01:30 window ends at the first
 * 01:30, and the second pass through 01:00-01:30 is outside it).  Every window
 * function below uses these same intervals, so they agree with each other.
 */
#ifndef CH_TZ_H
#define CH_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest zone name accepted ("America/Argentina/ComodRivadavia" is 32). */
#define CH_TZ_NAME_MAX 64

struct ch_tz;

/*
 * Loads the zone called name (or finds it in the cache) and sets *out to it;
 * the zone belongs to the cache.  "UTC" and "Etc/UTC" are built in and need no
 * file.  Names are IANA names: [A-Za-z0-9_+-/] only, no "..", no leading "/",
 * at most CH_TZ_NAME_MAX characters.  Returns CH_EINVAL for a bad name or a
 * corrupt file, CH_ENOTFOUND when there is no such zone file, CH_EIO or
 * CH_ENOMEM otherwise; the reason goes to err (may be NULL).  Failures are not
 * cached; the first successful load of a name wins even if TZDIR later changes.
 */
int ch_tz_get(const char *name, const struct ch_tz **out, char *err, size_t errlen);

/* The name the zone was loaded under (borrowed from the zone). */
const char *ch_tz_name(const struct ch_tz *tz);

/*
 * Frees every cached zone.  Only for tests and exit: no other thread may hold
 * or use a zone pointer across this call.
 */
void ch_tz_cache_clear(void);

/* UTC offset in seconds at the instant utc_ms (28800 for Asia/Shanghai). */
int32_t ch_tz_offset_s(const struct ch_tz *tz, int64_t utc_ms);

/* Minute of the local day, 0..1439, at utc_ms. */
int ch_tz_minute_of_day(const struct ch_tz *tz, int64_t utc_ms);

/* Local calendar date at utc_ms as "YYYY-MM-DD"; buf >= 11 bytes. */
void ch_tz_local_date(const struct ch_tz *tz, int64_t utc_ms, char *buf, size_t len);

/* Local "HH:MM" at utc_ms; buf >= 6 bytes. */
void ch_tz_local_hhmm(const struct ch_tz *tz, int64_t utc_ms, char *buf, size_t len);

/*
 * RFC 3339 with the local offset, seconds precision:
 * "2026-11-28T08:15:00+08:00"; buf >= 32 bytes.  (Historic offsets with
 * seconds, such as LMT, are shown truncated to the minute, time included, so
 * the string still names the right instant to the minute.)
 */
void ch_tz_format(const struct ch_tz *tz, int64_t utc_ms, char *buf, size_t len);

/* Is utc_ms inside the day window [start_min, end_min) (see the top of this file)? */
bool ch_tz_in_window(const struct ch_tz *tz, int start_min, int end_min, int64_t utc_ms);

/*
 * How many ms of [from_ms, to_ms) lie inside the window, DST-correct: over a
 * whole 23- or 25-hour local day, 07:00-22:00 is still 15 hours.  0 when
 * to_ms <= from_ms.  Costs O(days spanned).
 */
int64_t ch_tz_window_overlap_ms(const struct ch_tz *tz, int start_min, int end_min,
				int64_t from_ms, int64_t to_ms);

/*
 * The first instant T >= from_ms with ch_tz_window_overlap_ms(from_ms, T) ==
 * amount_ms, for amount_ms > 0.  For amount_ms <= 0: from_ms when it is inside
 * the window, else the next window start.  INT64_MAX when the window is empty or
 * the answer lies beyond year ~30,000.  Costs O(days until T).
 */
int64_t ch_tz_window_advance(const struct ch_tz *tz, int start_min, int end_min,
			     int64_t from_ms, int64_t amount_ms);

/*
 * The next instant strictly after utc_ms at which ch_tz_in_window() changes,
 * to schedule re-evaluation; INT64_MAX when it never does (an empty window, or
 * 00:00-24:00).
 */
int64_t ch_tz_next_window_edge(const struct ch_tz *tz, int start_min, int end_min,
			       int64_t utc_ms);

#endif
