/*
 * test_tz.c - time zones (tz.c): offsets from the system TZif files, POSIX
 * footer rules, day windows across DST changes, and refusal of bad names and
 * corrupt files.
 *
 * Every expected instant is a literal worked out by hand (checked against
 * `date -u -d ... +%s`), never computed by the code under test: a quiet-hours
 * window that is an hour off on DST nights calls someone at 5 a.m.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ch.h"
#include "tz.h"

#define S(x) ((int64_t)(x) * 1000) /* epoch seconds literal to ms */
#define H(x) ((int64_t)(x) * 3600000)

#define W_DAY_START (7 * 60)  /* 07:00 */
#define W_DAY_END (22 * 60)   /* 22:00 */
#define W_NIGHT_START (22 * 60)
#define W_NIGHT_END (6 * 60)

static const struct ch_tz *zone(const char *name)
{
	const struct ch_tz *tz = NULL;
	char err[256];

	if (ch_tz_get(name, &tz, err, sizeof(err)) != 0)
		fail_msg("loading %s: %s", name, err);
	assert_non_null(tz);
	assert_string_equal(ch_tz_name(tz), name);
	return tz;
}

static void assert_format(const struct ch_tz *tz, int64_t ms, const char *want)
{
	char buf[32];

	ch_tz_format(tz, ms, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void assert_date(const struct ch_tz *tz, int64_t ms, const char *want)
{
	char buf[11];

	ch_tz_local_date(tz, ms, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

/* ---- a scratch TZDIR -------------------------------------------------- */

static char tzdir[64];

static int tzdir_setup(void **state)
{
	(void)state;
	ch_tz_cache_clear();
	snprintf(tzdir, sizeof(tzdir), "/tmp/test_tz.XXXXXX");
	if (!mkdtemp(tzdir))
		return -1;
	return setenv("TZDIR", tzdir, 1);
}

static int tzdir_teardown(void **state)
{
	char cmd[128];

	(void)state;
	ch_tz_cache_clear();
	unsetenv("TZDIR");
	/* Only ever our own mkdtemp directory. */
	if (strncmp(tzdir, "/tmp/test_tz.", 13) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tzdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static void put_file(const char *name, const void *data, size_t len)
{
	char path[256], dir[256];
	FILE *f;
	char *slash;

	snprintf(path, sizeof(path), "%s/%s", tzdir, name);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	mkdir(dir, 0700); /* may exist */
	f = fopen(path, "wb");
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		fail_msg("cannot open %s", path);
	n = fread(buf, 1, cap, f);
	fclose(f);
	assert_true(n > 0 && n < cap);
	return n;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put_hdr(uint8_t *p, uint32_t timecnt, uint32_t typecnt, uint32_t charcnt)
{
	memcpy(p, "TZif2", 5);
	memset(p + 5, 0, 15);
	p += 20;
	p = put32(p, 0); /* isutcnt */
	p = put32(p, 0); /* isstdcnt */
	p = put32(p, 0); /* leapcnt */
	p = put32(p, timecnt);
	p = put32(p, typecnt);
	return put32(p, charcnt);
}

/*
 * A minimal version-2 TZif file: a v1 block with one UTC type, then the
 * 64-bit block with the given transitions and types, then the footer.
 */
static size_t build_tzif(uint8_t *buf, const int64_t *times, const uint8_t *idx, uint32_t n,
			 const int32_t *offs, uint32_t ntypes, const char *footer)
{
	uint8_t *p = buf;

	p = put_hdr(p, 0, 1, 1);
	p = put32(p, 0);
	*p++ = 0;
	*p++ = 0;
	*p++ = 0;
	p = put_hdr(p, n, ntypes, 4);
	for (uint32_t i = 0; i < n; i++) {
		p = put32(p, (uint32_t)((uint64_t)times[i] >> 32));
		p = put32(p, (uint32_t)times[i]);
	}
	for (uint32_t i = 0; i < n; i++)
		*p++ = idx[i];
	for (uint32_t i = 0; i < ntypes; i++) {
		p = put32(p, (uint32_t)offs[i]);
		*p++ = 0;
		*p++ = 0;
	}
	memcpy(p, "ABC", 4);
	p += 4;
	*p++ = '\n';
	memcpy(p, footer, strlen(footer));
	p += strlen(footer);
	*p++ = '\n';
	return (size_t)(p - buf);
}

static const struct ch_tz *footer_zone(const char *name, const char *footer, int32_t off0)
{
	uint8_t buf[512];
	size_t len = build_tzif(buf, NULL, NULL, 0, &off0, 1, footer);

	put_file(name, buf, len);
	return zone(name);
}

/* ---- system zones ----------------------------------------------------- */

static void test_shanghai(void **state)
{
	(void)state;
	const struct ch_tz *tz = zone("Asia/Shanghai");
	char hhmm[6];

	/* 2026-11-28T00:15:00Z */
	assert_int_equal(ch_tz_offset_s(tz, S(1795824900)), 28800);
	assert_int_equal(ch_tz_minute_of_day(tz, S(1795824900)), 8 * 60 + 15);
	assert_date(tz, S(1795824900), "2026-11-28");
	assert_format(tz, S(1795824900), "2026-11-28T08:15:00+08:00");
	ch_tz_local_hhmm(tz, S(1795824900), hhmm, sizeof(hhmm));
	assert_string_equal(hhmm, "08:15");
	/* 2026-11-28T20:00:00Z is already the 29th in Shanghai. */
	assert_int_equal(ch_tz_minute_of_day(tz, S(1795896000)), 4 * 60);
	assert_date(tz, S(1795896000), "2026-11-29");
	/* Milliseconds are dropped, not rounded. */
	assert_format(tz, S(1795824900) + 999, "2026-11-28T08:15:00+08:00");

	/* The cache hands back the same zone. */
	const struct ch_tz *again = NULL;
	assert_int_equal(ch_tz_get("Asia/Shanghai", &again, NULL, 0), 0);
	assert_ptr_equal(again, tz);
}

static void test_new_york_spring_forward(void **state)
{
	(void)state;
	const struct ch_tz *tz = zone("America/New_York");
	const int64_t day_start = S(1772946000); /* 2026-03-08T05:00Z = 00:00 EST */
	const int64_t day_end = S(1773028800);	 /* 2026-03-09T04:00Z = 00:00 EDT */

	/* 02:00 EST jumps to 03:00 EDT at 2026-03-08T07:00:00Z. */
	assert_int_equal(ch_tz_offset_s(tz, S(1772953199)), -18000);
	assert_int_equal(ch_tz_offset_s(tz, S(1772953200)), -14400);
	assert_int_equal(ch_tz_minute_of_day(tz, S(1772953199)), 1 * 60 + 59);
	assert_int_equal(ch_tz_minute_of_day(tz, S(1772953200)), 3 * 60);
	assert_format(tz, S(1772953199), "2026-03-08T01:59:59-05:00");
	assert_format(tz, S(1772953200), "2026-03-08T03:00:00-04:00");
	assert_date(tz, day_start, "2026-03-08");
	assert_date(tz, day_start - 1, "2026-03-07");
	assert_date(tz, day_end - 1, "2026-03-08");

	/* A 23-hour local day still holds 15 hours of 07:00-22:00. */
	assert_int_equal(day_end - day_start, H(23));
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_DAY_START, W_DAY_END, day_start, day_end),
			 H(15));
	/* A UTC day: 12:00Z-03:00Z of the 7th gives 3 h, 11:00Z-00:00Z of the 8th 13 h. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_DAY_START, W_DAY_END, S(1772928000),
						 S(1773014400)),
			 H(16));
	/* The night of the 7th: 22:00 EST (03:00Z) to 06:00 EDT (10:00Z) is 7 hours. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_NIGHT_START, W_NIGHT_END, S(1772884800),
						 S(1772992800)),
			 H(7));

	/* 20:00 EST on the 7th plus 3 h of daytime: 2 h that evening, 1 h from 07:00 EDT. */
	int64_t t = ch_tz_window_advance(tz, W_DAY_START, W_DAY_END, S(1772931600), H(3));
	assert_int_equal(t, S(1772971200)); /* 2026-03-08T12:00Z = 08:00 EDT */
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_DAY_START, W_DAY_END, S(1772931600), t),
			 H(3));
	/* Exactly the evening's 2 h ends at 22:00 EST. */
	assert_int_equal(ch_tz_window_advance(tz, W_DAY_START, W_DAY_END, S(1772931600), H(2)),
			 S(1772938800));

	/* Edges: 22:00 EST (03:00Z), then 07:00 EDT (11:00Z). */
	assert_int_equal(ch_tz_next_window_edge(tz, W_DAY_START, W_DAY_END, S(1772931600)),
			 S(1772938800));
	assert_int_equal(ch_tz_next_window_edge(tz, W_DAY_START, W_DAY_END, S(1772938800)),
			 S(1772967600));
	assert_true(ch_tz_in_window(tz, W_DAY_START, W_DAY_END, S(1772938800) - 1));
	assert_false(ch_tz_in_window(tz, W_DAY_START, W_DAY_END, S(1772938800)));
	assert_false(ch_tz_in_window(tz, W_DAY_START, W_DAY_END, S(1772967600) - 1));
	assert_true(ch_tz_in_window(tz, W_DAY_START, W_DAY_END, S(1772967600)));
}

static void test_new_york_fall_back(void **state)
{
	(void)state;
	const struct ch_tz *tz = zone("America/New_York");
	const int64_t day_start = S(1793505600); /* 2026-11-01T04:00Z = 00:00 EDT */
	const int64_t day_end = S(1793595600);	 /* 2026-11-02T05:00Z = 00:00 EST */

	/* 02:00 EDT falls back to 01:00 EST at 2026-11-01T06:00:00Z. */
	assert_int_equal(ch_tz_offset_s(tz, S(1793512799)), -14400);
	assert_int_equal(ch_tz_offset_s(tz, S(1793512800)), -18000);
	assert_int_equal(ch_tz_minute_of_day(tz, S(1793512799)), 1 * 60 + 59);
	assert_int_equal(ch_tz_minute_of_day(tz, S(1793512800)), 1 * 60);
	assert_format(tz, S(1793512799), "2026-11-01T01:59:59-04:00");
	assert_format(tz, S(1793512800), "2026-11-01T01:00:00-05:00");

	/* A 25-hour local day also holds 15 hours of 07:00-22:00. */
	assert_int_equal(day_end - day_start, H(25));
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_DAY_START, W_DAY_END, day_start, day_end),
			 H(15));
	/* The night of Oct 31: 22:00 EDT (02:00Z) to 06:00 EST (11:00Z) is 9 hours. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_NIGHT_START, W_NIGHT_END, S(1793448000),
						 S(1793556000)),
			 H(9));

	/* Quiet hours 22:00-06:00 wrap midnight and the repeated hour. */
	assert_false(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793498399))); /* 21:59:59 EDT */
	assert_true(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793498400)));  /* 22:00 EDT */
	assert_true(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793502000)));  /* 23:00 EDT */
	assert_true(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793510400)));  /* 01:20 EDT */
	assert_true(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793514600)));  /* 01:30 EST */
	assert_true(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793530799)));  /* 05:59:59 EST */
	assert_false(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793530800))); /* 06:00 EST */
	assert_false(ch_tz_in_window(tz, W_NIGHT_START, W_NIGHT_END, S(1793534400))); /* 07:00 EST */

	/* From 23:00 EDT, 9 h of night: 8 h to 06:00 EST, 1 h from 22:00 EST on Nov 1. */
	int64_t t = ch_tz_window_advance(tz, W_NIGHT_START, W_NIGHT_END, S(1793502000), H(9));
	assert_int_equal(t, S(1793592000)); /* 2026-11-02T04:00Z = 23:00 EST */
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_NIGHT_START, W_NIGHT_END, S(1793502000), t),
			 H(9));
	/* Amount 0: from itself when inside, else the next window start. */
	assert_int_equal(ch_tz_window_advance(tz, W_NIGHT_START, W_NIGHT_END, S(1793502000), 0),
			 S(1793502000));
	assert_int_equal(ch_tz_window_advance(tz, W_NIGHT_START, W_NIGHT_END, S(1793534400), 0),
			 S(1793588400)); /* 2026-11-02T03:00Z = 22:00 EST */

	assert_int_equal(ch_tz_next_window_edge(tz, W_NIGHT_START, W_NIGHT_END, S(1793502000)),
			 S(1793530800));
	assert_int_equal(ch_tz_next_window_edge(tz, W_NIGHT_START, W_NIGHT_END, S(1793530800)),
			 S(1793588400));
}

static void test_amsterdam_2008(void **state)
{
	(void)state;
	const struct ch_tz *tz = zone("Europe/Amsterdam");
	const int64_t day_start = S(1206831600); /* 2008-03-29T23:00Z = 00:00 CET */
	const int64_t day_end = S(1206914400);	 /* 2008-03-30T22:00Z = 00:00 CEST */

	/* 02:00 CET jumps to 03:00 CEST at 2008-03-30T01:00:00Z. */
	assert_int_equal(ch_tz_offset_s(tz, S(1206838799)), 3600);
	assert_int_equal(ch_tz_offset_s(tz, S(1206838800)), 7200);
	assert_int_equal(ch_tz_minute_of_day(tz, S(1206838800 - 1800)), 1 * 60 + 30);
	assert_format(tz, S(1206838800), "2008-03-30T03:00:00+02:00");
	assert_date(tz, day_start, "2008-03-30");
	assert_int_equal(day_end - day_start, H(23));

	/* A window opening at 02:30, inside the gap, opens when the gap ends. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, 150, 240, day_start, day_end), H(1));
	assert_false(ch_tz_in_window(tz, 150, 240, S(1206838800) - 1));
	assert_true(ch_tz_in_window(tz, 150, 240, S(1206838800)));
	assert_int_equal(ch_tz_next_window_edge(tz, 150, 240, day_start), S(1206838800));
	assert_int_equal(ch_tz_next_window_edge(tz, 150, 240, S(1206838800)),
			 S(1206842400)); /* 04:00 CEST */
	/* A window wholly inside the gap is empty that day. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, 130, 170, day_start, day_end), 0);

	/* Fall back at 2008-10-26T01:00Z: 03:00 CEST becomes 02:00 CET. */
	assert_int_equal(ch_tz_offset_s(tz, S(1224982799)), 7200);
	assert_int_equal(ch_tz_offset_s(tz, S(1224982800)), 3600);
	/* 02:30 happens twice: the window opens at the first (00:30Z), runs to 04:00 CET. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, 150, 240, S(1224981000) - H(12),
						 S(1224990000) + H(12)),
			 H(2) + H(1) / 2);
	assert_false(ch_tz_in_window(tz, 150, 240, S(1224981000) - 1));
	assert_true(ch_tz_in_window(tz, 150, 240, S(1224981000)));
	assert_true(ch_tz_in_window(tz, 150, 240, S(1224983700))); /* 02:15 CET, second pass */
	assert_false(ch_tz_in_window(tz, 150, 240, S(1224990000)));

	/* Beyond the transition table the footer rule carries on. */
	assert_int_equal(ch_tz_offset_s(tz, S(2382523200)), 7200); /* 2045-07-01T12:00Z */
	assert_int_equal(ch_tz_offset_s(tz, S(2368094400)), 3600); /* 2045-01-15T12:00Z */
	assert_int_equal(ch_tz_offset_s(tz, S(2374102799)), 3600); /* 2045-03-26T00:59:59Z */
	assert_int_equal(ch_tz_offset_s(tz, S(2374102800)), 7200); /* 2045-03-26T01:00Z */
	assert_format(tz, S(2382523200), "2045-07-01T14:00:00+02:00");
}

static void test_window_edge_cases(void **state)
{
	(void)state;
	const struct ch_tz *tz = zone("Asia/Shanghai");
	const int64_t midnight = S(1795795200); /* 2026-11-28T00:00+08:00 = 2026-11-27T16:00Z */

	/* Empty and out-of-range windows. */
	assert_false(ch_tz_in_window(tz, 600, 600, midnight));
	assert_int_equal(ch_tz_window_overlap_ms(tz, 600, 600, midnight, midnight + H(48)), 0);
	assert_int_equal(ch_tz_window_advance(tz, 600, 600, midnight, H(1)), INT64_MAX);
	assert_int_equal(ch_tz_next_window_edge(tz, 600, 600, midnight), INT64_MAX);
	assert_false(ch_tz_in_window(tz, -1, 600, midnight));
	assert_int_equal(ch_tz_window_overlap_ms(tz, 0, 1441, midnight, midnight + H(48)), 0);
	/* Reversed span. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, 0, 600, midnight + 1, midnight), 0);

	/* 00:00-24:00 is always inside and has no edges. */
	assert_true(ch_tz_in_window(tz, 0, 1440, midnight));
	assert_int_equal(ch_tz_window_overlap_ms(tz, 0, 1440, midnight - 5, midnight + H(72)),
			 H(72) + 5);
	assert_int_equal(ch_tz_next_window_edge(tz, 0, 1440, midnight), INT64_MAX);
	assert_int_equal(ch_tz_window_advance(tz, 0, 1440, midnight, H(30)), midnight + H(30));

	/* 10:00-24:00 ends at local midnight. */
	assert_int_equal(ch_tz_next_window_edge(tz, 600, 1440, midnight + H(11)), midnight + H(24));
	assert_true(ch_tz_in_window(tz, 600, 1440, midnight + H(24) - 1));
	assert_false(ch_tz_in_window(tz, 600, 1440, midnight + H(24)));

	/* A one-minute window, ten days of it: 10 minutes. */
	assert_int_equal(ch_tz_window_overlap_ms(tz, 0, 1, midnight, midnight + H(240)),
			 10 * 60000);
	assert_int_equal(ch_tz_window_advance(tz, 0, 1, midnight + 1, 10 * 60000),
			 midnight + H(240) + 1);
	/* A year of a one-minute window stays cheap (day steps, not minute steps). */
	assert_int_equal(ch_tz_window_overlap_ms(tz, 0, 1, midnight, midnight + H(24 * 365)),
			 365 * 60000);
}

static void test_utc(void **state)
{
	(void)state;
	const struct ch_tz *tz = zone("UTC");
	const struct ch_tz *etc = zone("Etc/UTC");

	/* TZDIR points at an empty directory: these are built in. */
	assert_int_equal(ch_tz_offset_s(tz, S(1795824900)), 0);
	assert_int_equal(ch_tz_offset_s(etc, S(1795824900)), 0);
	assert_format(tz, S(1795824900), "2026-11-28T00:15:00+00:00");
	assert_format(etc, S(1795824900), "2026-11-28T00:15:00+00:00");
	assert_format(tz, 0, "1970-01-01T00:00:00+00:00");
	assert_format(tz, -1, "1969-12-31T23:59:59+00:00");
	assert_int_equal(ch_tz_minute_of_day(tz, -60000), 1439);
	assert_date(tz, S(951782400), "2000-02-29"); /* 2000-02-29T00:00Z */
	/* NULL means UTC. */
	assert_int_equal(ch_tz_offset_s(NULL, S(1795824900)), 0);
	assert_string_equal(ch_tz_name(NULL), "UTC");
	assert_int_equal(ch_tz_window_overlap_ms(NULL, 60, 120, 0, H(24)), H(1));
}

static void test_bad_names(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"../etc/passwd", "/etc/passwd", "", "Asia/../../etc/passwd", "Asia/Shang hai",
		"Asia/Shanghai\n", "Europe\\Paris", "Asia/Shanghai.bak",
		"A1234567890123456789012345678901234567890123456789012345678901234", /* 65 */
	};
	const struct ch_tz *tz = NULL;
	char err[256];

	for (size_t i = 0; i < CH_ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		if (ch_tz_get(bad[i], &tz, err, sizeof(err)) != CH_EINVAL)
			fail_msg("\"%s\" not refused as invalid", bad[i]);
		if (err[0] == '\0')
			fail_msg("\"%s\" refused without a message", bad[i]);
	}
	err[0] = '\0';
	assert_int_equal(ch_tz_get("No/Such_Zone", &tz, err, sizeof(err)), CH_ENOTFOUND);
	assert_non_null(strstr(err, "No/Such_Zone"));
	/* Directories are not zones. */
	assert_int_equal(ch_tz_get("America", &tz, err, sizeof(err)), CH_ENOTFOUND);
	assert_int_equal(ch_tz_get(NULL, &tz, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(ch_tz_get("UTC", NULL, err, sizeof(err)), CH_EINVAL);
	/* err is optional. */
	assert_int_equal(ch_tz_get("../x", &tz, NULL, 0), CH_EINVAL);
	/* Exactly 64 characters is allowed (and then simply not found). */
	assert_int_equal(
		ch_tz_get("A123456789012345678901234567890123456789012345678901234567890123", &tz,
			  err, sizeof(err)),
		CH_ENOTFOUND);
}

/* ---- files written by the test -------------------------------------- */

static void test_footer_rules(void **state)
{
	(void)state;
	const struct ch_tz *tz;

	tz = footer_zone("Test/Cst", "CST-8", 28800);
	assert_int_equal(ch_tz_offset_s(tz, S(1795824900)), 28800);
	assert_int_equal(ch_tz_offset_s(tz, S(2382523200)), 28800);

	tz = footer_zone("Test/Plus3", "<+03>-3", 10800);
	assert_format(tz, S(1795824900), "2026-11-28T03:15:00+03:00");

	tz = footer_zone("Test/Est", "EST5EDT,M3.2.0,M11.1.0", -18000);
	assert_int_equal(ch_tz_offset_s(tz, S(1772953199)), -18000);
	assert_int_equal(ch_tz_offset_s(tz, S(1772953200)), -14400);
	assert_int_equal(ch_tz_offset_s(tz, S(1793512799)), -14400);
	assert_int_equal(ch_tz_offset_s(tz, S(1793512800)), -18000);
	assert_int_equal(ch_tz_window_overlap_ms(tz, W_DAY_START, W_DAY_END, S(1793505600),
						 S(1793595600)),
			 H(15));

	tz = footer_zone("Test/Cet", "CET-1CEST,M3.5.0,M10.5.0/3", 3600);
	assert_int_equal(ch_tz_offset_s(tz, S(1206838799)), 3600);
	assert_int_equal(ch_tz_offset_s(tz, S(1206838800)), 7200);
	assert_int_equal(ch_tz_offset_s(tz, S(1224982799)), 7200);
	assert_int_equal(ch_tz_offset_s(tz, S(1224982800)), 3600);
	assert_int_equal(ch_tz_offset_s(tz, S(2374102799)), 3600);
	assert_int_equal(ch_tz_offset_s(tz, S(2374102800)), 7200);

	/* Negative rule times (America/Nuuk): both changes at 01:00Z. */
	tz = footer_zone("Test/Nuuk", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200);
	assert_int_equal(ch_tz_offset_s(tz, S(1774745999)), -7200); /* 2026-03-29T00:59:59Z */
	assert_int_equal(ch_tz_offset_s(tz, S(1774746000)), -3600);
	assert_int_equal(ch_tz_offset_s(tz, S(1792889999)), -3600); /* 2026-10-25T00:59:59Z */
	assert_int_equal(ch_tz_offset_s(tz, S(1792890000)), -7200);

	/* Southern hemisphere: DST spans the new year. */
	tz = footer_zone("Test/Syd", "AEST-10AEDT,M10.1.0,M4.1.0/3", 36000);
	assert_int_equal(ch_tz_offset_s(tz, S(1768435200)), 39600); /* 2026-01-15 */
	assert_int_equal(ch_tz_offset_s(tz, S(1782864000)), 36000); /* 2026-07-01 */
	assert_int_equal(ch_tz_offset_s(tz, S(1775318399)), 39600); /* 2026-04-05 02:59:59 AEDT */
	assert_int_equal(ch_tz_offset_s(tz, S(1775318400)), 36000);
	assert_int_equal(ch_tz_offset_s(tz, S(1791043199)), 36000); /* 2026-10-04 01:59:59 AEST */
	assert_int_equal(ch_tz_offset_s(tz, S(1791043200)), 39600);

	/* Julian-day forms: Jn never counts Feb 29, a bare n (zero-based) does. */
	tz = footer_zone("Test/Jul", "XST0XDT,J60/0,J61/0", 0); /* DST on March 1 */
	assert_int_equal(ch_tz_offset_s(tz, S(1772323199)), 0);	   /* 2026-02-28T23:59:59Z */
	assert_int_equal(ch_tz_offset_s(tz, S(1772323200)), 3600);   /* 2026-03-01T00:00Z */
	assert_int_equal(ch_tz_offset_s(tz, S(1835438400)), 0);	   /* 2028-02-29T12:00Z */
	assert_int_equal(ch_tz_offset_s(tz, S(1835481600)), 3600);   /* 2028-03-01T00:00Z */
	tz = footer_zone("Test/Day", "XST0XDT,59/0,60/0", 0); /* DST on day 59 */
	assert_int_equal(ch_tz_offset_s(tz, S(1772323200)), 3600);   /* 2026: March 1 */
	assert_int_equal(ch_tz_offset_s(tz, S(1835395199)), 0);
	assert_int_equal(ch_tz_offset_s(tz, S(1835395200)), 3600);   /* 2028: Feb 29 */
	assert_int_equal(ch_tz_offset_s(tz, S(1835481600)), 0);
}

static void test_footer_fallback(void **state)
{
	(void)state;
	static const int64_t times[] = {0, 946684800}; /* 1970, 2000-01-01T00:00Z */
	static const uint8_t idx[] = {1, 2};
	static const int32_t offs[] = {0, 3600, 7200};
	static const char *const unparseable[] = {"EST5EDT", "!!", "EST", "EST5EDT,M13.1.0,M11.1.0",
						  "EST5EDT,M3.2.0", "EST99"};
	uint8_t buf[512];
	size_t len;
	char name[32];

	for (size_t i = 0; i < CH_ARRAY_LEN(unparseable); i++) {
		const struct ch_tz *tz;

		len = build_tzif(buf, times, idx, 2, offs, 3, unparseable[i]);
		snprintf(name, sizeof(name), "Test/Fallback%zu", i);
		put_file(name, buf, len);
		tz = zone(name);
		assert_int_equal(ch_tz_offset_s(tz, -1000), 0);
		assert_int_equal(ch_tz_offset_s(tz, S(946684799)), 3600);
		/* The last transition's offset holds, summer or winter, 2045 or later. */
		assert_int_equal(ch_tz_offset_s(tz, S(946684800)), 7200);
		assert_int_equal(ch_tz_offset_s(tz, S(2382523200)), 7200);
		assert_int_equal(ch_tz_offset_s(tz, S(2368094400)), 7200);
	}

	/* A parseable footer takes over after the last transition only. */
	len = build_tzif(buf, times, idx, 2, offs, 3, "CST-8");
	put_file("Test/Takeover", buf, len);
	const struct ch_tz *tz = zone("Test/Takeover");
	assert_int_equal(ch_tz_offset_s(tz, S(946684799)), 3600);
	assert_int_equal(ch_tz_offset_s(tz, S(946684800)), 28800);
}

static void try_zone(const char *name, const void *data, size_t len, bool want_ok)
{
	const struct ch_tz *tz = NULL;
	char err[256] = "";
	char buf[32];
	int rc;

	put_file(name, data, len);
	rc = ch_tz_get(name, &tz, err, sizeof(err));
	if (want_ok && rc != 0)
		fail_msg("%zu-byte file refused: %s", len, err);
	if (!want_ok && rc == 0)
		fail_msg("%zu-byte corrupt file accepted", len);
	if (rc != 0) {
		assert_int_equal(rc, CH_EINVAL);
		assert_true(err[0] != '\0');
		return;
	}
	/* Whatever got accepted must be safe to use. */
	(void)ch_tz_offset_s(tz, S(1795824900));
	(void)ch_tz_offset_s(tz, INT64_MIN);
	(void)ch_tz_offset_s(tz, INT64_MAX);
	ch_tz_format(tz, S(2382523200), buf, sizeof(buf));
	(void)ch_tz_window_overlap_ms(tz, W_NIGHT_START, W_NIGHT_END, S(1795824900),
				      S(1795824900) + H(72));
	(void)ch_tz_window_advance(tz, W_NIGHT_START, W_NIGHT_END, S(1795824900), H(20));
	(void)ch_tz_next_window_edge(tz, W_DAY_START, W_DAY_END, S(1795824900));
	ch_tz_cache_clear();
}

static void test_corrupt_files(void **state)
{
	(void)state;
	static uint8_t good[64 * 1024], bad[64 * 1024];
	size_t len = slurp("/usr/share/zoneinfo/Asia/Shanghai", good, sizeof(good));
	const struct ch_tz *tz;
	char err[256];

	/* The untouched copy loads from TZDIR. */
	try_zone("Copy/Shanghai", good, len, true);
	tz = zone("Copy/Shanghai");
	assert_int_equal(ch_tz_offset_s(tz, S(1795824900)), 28800);
	ch_tz_cache_clear();

	/* Every truncation is refused. */
	for (size_t n = 0; n < len; n++)
		try_zone("Bad/Zone", good, n, false);
	/* Trailing garbage too. */
	memcpy(bad, good, len);
	bad[len] = 'x';
	try_zone("Bad/Zone", bad, len + 1, false);
	/* Claims of huge tables. */
	memcpy(bad, good, len);
	memset(bad + 32, 0xff, 4); /* v1 timecnt */
	try_zone("Bad/Zone", bad, len, false);
	/* Not TZif at all. */
	try_zone("Bad/Zone", "root:x:0:0:root:/root:/bin/bash\n", 32, false);

	/* Single-byte damage anywhere: refused or usable, never a crash. */
	for (size_t i = 0; i < len; i++) {
		static const uint8_t pokes[] = {0x00, 0xff, 0x80, 0x01};

		for (size_t k = 0; k < CH_ARRAY_LEN(pokes); k++) {
			const struct ch_tz *z = NULL;

			memcpy(bad, good, len);
			bad[i] = bad[i] == pokes[k] ? (uint8_t)~pokes[k] : pokes[k];
			put_file("Bad/Flip", bad, len);
			if (ch_tz_get("Bad/Flip", &z, err, sizeof(err)) == 0) {
				(void)ch_tz_offset_s(z, S(1795824900));
				(void)ch_tz_window_overlap_ms(z, W_NIGHT_START, W_NIGHT_END,
							      S(1795824900),
							      S(1795824900) + H(48));
				(void)ch_tz_window_advance(z, W_NIGHT_START, W_NIGHT_END,
							   S(1795824900), H(20));
				ch_tz_cache_clear();
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shanghai),
		cmocka_unit_test(test_new_york_spring_forward),
		cmocka_unit_test(test_new_york_fall_back),
		cmocka_unit_test(test_amsterdam_2008),
		cmocka_unit_test(test_window_edge_cases),
		cmocka_unit_test_setup_teardown(test_utc, tzdir_setup, tzdir_teardown),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test_setup_teardown(test_footer_rules, tzdir_setup, tzdir_teardown),
		cmocka_unit_test_setup_teardown(test_footer_fallback, tzdir_setup, tzdir_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_files, tzdir_setup, tzdir_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	ch_tz_cache_clear();
	return rc;
}
