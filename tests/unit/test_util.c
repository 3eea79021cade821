/*
 * test_util.c - the small shared helpers: string and number parsing (util.c),
 * backoff bounds (backoff.c), the fake clock (clock.c), and phone masking and
 * rate limiting in log.c.
 *
 * Everything else leans on these, so their edges are pinned here: a duration
 * misread by a factor of 1000 or a quiet-hours window that doesn't wrap midnight
 * would show up far away as a person called at 3 a.m.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backoff.h"
#include "ch.h"
#include "clock.h"
#include "log.h"

static void test_fmt_and_strlcpy(void **state)
{
	(void)state;
	char buf[8];

	assert_int_equal(ch_fmt(buf, sizeof(buf), "%d-%s", 12, "ab"), 0);
	assert_string_equal(buf, "12-ab");
	/* Truncation is reported and the result is still a C string. */
	assert_int_equal(ch_fmt(buf, sizeof(buf), "%s", "123456789"), CH_EINVAL);
	assert_string_equal(buf, "1234567");
	assert_int_equal(ch_fmt(buf, 0, "x"), CH_EINVAL);
	assert_int_equal(ch_fmt(NULL, 4, "x"), CH_EINVAL);

	assert_int_equal(ch_strlcpy(buf, "abc", sizeof(buf)), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(ch_strlcpy(buf, "1234567", sizeof(buf)), 0);
	assert_int_equal(ch_strlcpy(buf, "12345678", sizeof(buf)), CH_EINVAL);
	assert_string_equal(buf, "1234567");
	assert_int_equal(ch_strlcpy(buf, NULL, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(ch_strlcpy(buf, "x", 0), CH_EINVAL);
}

static void test_parse_long(void **state)
{
	(void)state;
	long v = 0;

	assert_int_equal(ch_parse_long("1883", 1, 65535, &v), 0);
	assert_int_equal(v, 1883);
	assert_int_equal(ch_parse_long("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(ch_parse_long("65536", 1, 65535, &v), CH_EINVAL);
	assert_int_equal(ch_parse_long("0", 1, 65535, &v), CH_EINVAL);
	assert_int_equal(ch_parse_long("12x", 0, 100, &v), CH_EINVAL);
	assert_int_equal(ch_parse_long("", 0, 100, &v), CH_EINVAL);
	assert_int_equal(ch_parse_long(NULL, 0, 100, &v), CH_EINVAL);
	assert_int_equal(ch_parse_long("99999999999999999999999", LONG_MIN, LONG_MAX, &v), CH_EINVAL);
	assert_int_equal(ch_parse_long("1.5", 0, 100, &v), CH_EINVAL);
	/* A failed parse leaves the output alone. */
	v = 7;
	assert_int_equal(ch_parse_long("x", 0, 100, &v), CH_EINVAL);
	assert_int_equal(v, 7);
}

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{"90", 90000},	   {"0", 0},	     {"500ms", 500},	 {"3s", 3000},
		{"10m", 600000},   {"10min", 600000}, {"12h", 43200000}, {"1d", 86400000},
		{"1.5h", 5400000}, {"0.5s", 500},    {"8h", 28800000},	 {"1.5s", 1500},
	};
	static const char *const bad[] = {"", "-1", "-1s", "5x", "h", "abc", "nan", "inf", "5 h",
					  "5s ", "1e20", "10mm", "12H"};
	int64_t ms;

	for (size_t i = 0; i < CH_ARRAY_LEN(ok); i++) {
		if (ch_parse_duration(ok[i].s, &ms) != 0)
			fail_msg("\"%s\" rejected", ok[i].s);
		if (ms != ok[i].ms)
			fail_msg("\"%s\" gave %lld ms, want %lld", ok[i].s, (long long)ms,
				 (long long)ok[i].ms);
	}
	for (size_t i = 0; i < CH_ARRAY_LEN(bad); i++) {
		if (ch_parse_duration(bad[i], &ms) != CH_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	}
	assert_int_equal(ch_parse_duration(NULL, &ms), CH_EINVAL);
}

static void test_daywindow(void **state)
{
	(void)state;
	int start, end;

	/* Quiet hours that wrap midnight. */
	assert_int_equal(ch_parse_daywindow("22:00-07:00", &start, &end), 0);
	assert_int_equal(start, 22 * 60);
	assert_int_equal(end, 7 * 60);
	assert_true(ch_daywindow_contains(start, end, 22 * 60));
	assert_true(ch_daywindow_contains(start, end, 23 * 60 + 59));
	assert_true(ch_daywindow_contains(start, end, 0));
	assert_true(ch_daywindow_contains(start, end, 3 * 60));
	assert_true(ch_daywindow_contains(start, end, 6 * 60 + 59));
	assert_false(ch_daywindow_contains(start, end, 7 * 60));
	assert_false(ch_daywindow_contains(start, end, 12 * 60));
	assert_false(ch_daywindow_contains(start, end, 21 * 60 + 59));

	/* A daytime window, end exclusive. */
	assert_int_equal(ch_parse_daywindow("08:30-20:00", &start, &end), 0);
	assert_int_equal(start, 8 * 60 + 30);
	assert_false(ch_daywindow_contains(start, end, 8 * 60 + 29));
	assert_true(ch_daywindow_contains(start, end, 8 * 60 + 30));
	assert_true(ch_daywindow_contains(start, end, 19 * 60 + 59));
	assert_false(ch_daywindow_contains(start, end, 20 * 60));

	/* 24:00 closes a window at midnight; the whole day is 00:00-24:00. */
	assert_int_equal(ch_parse_daywindow("00:00-24:00", &start, &end), 0);
	assert_int_equal(end, 1440);
	assert_true(ch_daywindow_contains(start, end, 0));
	assert_true(ch_daywindow_contains(start, end, 1439));
	/* Equal ends are an empty window, not a full day. */
	assert_int_equal(ch_parse_daywindow("07:00-07:00", &start, &end), 0);
	assert_false(ch_daywindow_contains(start, end, 7 * 60));
	assert_false(ch_daywindow_contains(start, end, 0));

	static const char *const bad[] = {"",	  "22:00",	 "22:00-7:00", "2200-0700",
					  "25:00-07:00", "22:60-07:00", "24:01-07:00", "22:00-07:00x",
					  "22:00 07:00", "aa:bb-cc:dd"};
	for (size_t i = 0; i < CH_ARRAY_LEN(bad); i++) {
		if (ch_parse_daywindow(bad[i], &start, &end) != CH_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	}
	assert_int_equal(ch_parse_daywindow(NULL, &start, &end), CH_EINVAL);
}

static void test_utf8(void **state)
{
	(void)state;
	static const char *const good[] = {
		"",
		"plain ascii",
		"厨房烟感报警",		/* 3-byte */
		"\xF0\x9F\x94\xA5",	/* U+1F525 */
		"\xF4\x8F\xBF\xBF",	/* U+10FFFF, the last code point */
		"\xC2\x80",		/* U+0080, the first 2-byte */
		"\xE0\xA0\x80",		/* U+0800, the first 3-byte */
		"\xEF\xBF\xBF",		/* U+FFFF */
		"\xED\x9F\xBF",		/* U+D7FF, just below the surrogates */
	};
	static const char *const bad[] = {
		"\x80",		    /* lone continuation */
		"\xC0\x80",	    /* overlong NUL */
		"\xC1\xBF",	    /* overlong */
		"\xE0\x80\xAF",	    /* overlong '/' */
		"\xE0\x9F\xBF",	    /* overlong, just below U+0800 */
		"\xF0\x8F\xBF\xBF", /* overlong, just below U+10000 */
		"\xED\xA0\x80",	    /* surrogate U+D800 */
		"\xED\xBF\xBF",	    /* surrogate U+DFFF */
		"\xF4\x90\x80\x80", /* U+110000 */
		"\xF5\x80\x80\x80",
		"\xFE",
		"\xFF",
		"\xE5\x8E",	    /* truncated */
		"a\xE5",
		"\xE5\x8E\x41",	    /* bad continuation */
	};

	for (size_t i = 0; i < CH_ARRAY_LEN(good); i++) {
		if (!ch_utf8_valid(good[i], strlen(good[i])))
			fail_msg("good[%zu] refused", i);
	}
	for (size_t i = 0; i < CH_ARRAY_LEN(bad); i++) {
		if (ch_utf8_valid(bad[i], strlen(bad[i])))
			fail_msg("bad[%zu] accepted", i);
	}
	/* Length is honoured: a valid prefix of a longer buffer, and embedded NUL bytes. */
	assert_true(ch_utf8_valid("ab\xFF", 2));
	assert_false(ch_utf8_valid("厨", 2));
	assert_true(ch_utf8_valid("a\0b", 3));
}

static void test_severity_and_strdup(void **state)
{
	(void)state;
	static const char *const names[] = {"info", "low", "medium", "high", "critical"};
	enum ch_severity sev;

	for (int i = 0; i < CH_SEV_COUNT; i++) {
		assert_int_equal(ch_severity_parse(names[i], &sev), 0);
		assert_int_equal(sev, i);
		assert_string_equal(ch_severity_name((enum ch_severity)i), names[i]);
	}
	assert_int_equal(ch_severity_parse("Critical", &sev), CH_EINVAL);
	assert_int_equal(ch_severity_parse("urgent", &sev), CH_EINVAL);
	assert_int_equal(ch_severity_parse(NULL, &sev), CH_EINVAL);
	assert_string_equal(ch_severity_name((enum ch_severity)CH_SEV_COUNT), "unknown");
	assert_true(CH_SEV_CRITICAL > CH_SEV_HIGH && CH_SEV_HIGH > CH_SEV_MEDIUM);

	char *s = ch_strdup("烟感");
	assert_string_equal(s, "烟感");
	free(s);
	assert_null(ch_strdup(NULL));
}

static void test_backoff_ceiling(void **state)
{
	(void)state;
	/* Doubles from base, then stays at the cap. */
	assert_int_equal(ch_backoff_ceiling(100, 10000, 1), 100);
	assert_int_equal(ch_backoff_ceiling(100, 10000, 2), 200);
	assert_int_equal(ch_backoff_ceiling(100, 10000, 3), 400);
	assert_int_equal(ch_backoff_ceiling(100, 10000, 7), 6400);
	assert_int_equal(ch_backoff_ceiling(100, 10000, 8), 10000);
	assert_int_equal(ch_backoff_ceiling(100, 10000, 60), 10000);
	assert_int_equal(ch_backoff_ceiling(100, 10000, INT_MAX), 10000);
	/* Attempt 0 or less counts as the first; a non-positive base as 1 ms. */
	assert_int_equal(ch_backoff_ceiling(100, 10000, 0), 100);
	assert_int_equal(ch_backoff_ceiling(100, 10000, -3), 100);
	assert_int_equal(ch_backoff_ceiling(0, 10000, 1), 1);
	assert_int_equal(ch_backoff_ceiling(0, 10000, 4), 8);
	/* A base above the cap is capped. */
	assert_int_equal(ch_backoff_ceiling(5000, 1000, 1), 1000);
	/* Never decreasing with the attempt number. */
	for (int a = 1; a < 80; a++)
		assert_true(ch_backoff_ceiling(250, 60000, a + 1) >= ch_backoff_ceiling(250, 60000, a));
}

static void test_backoff_jitter(void **state)
{
	(void)state;
	uint64_t rng = 42;
	int64_t lo = INT64_MAX, hi = -1;

	/* Full jitter: uniform over [0, ceiling], both ends reachable. */
	assert_int_equal(ch_backoff_full_jitter(100, 10000, 3, 0), 0);
	assert_int_equal(ch_backoff_full_jitter(100, 10000, 3, 400), 400);
	assert_int_equal(ch_backoff_full_jitter(100, 10000, 3, 401), 0);
	assert_int_equal(ch_backoff_full_jitter(100, 10000, 3, UINT64_MAX), UINT64_MAX % 401);
	for (int attempt = 1; attempt <= 20; attempt++) {
		int64_t ceil = ch_backoff_ceiling(100, 30000, attempt);

		for (int i = 0; i < 2000; i++) {
			int64_t d = ch_backoff_full_jitter(100, 30000, attempt, ch_rand64(&rng));

			if (d < 0 || d > ceil)
				fail_msg("attempt %d: %lld outside [0, %lld]", attempt, (long long)d,
					 (long long)ceil);
			if (attempt == 20) {
				lo = d < lo ? d : lo;
				hi = d > hi ? d : hi;
			}
		}
	}
	/* 2000 draws over [0, 30000] should reach both tenths of the range. */
	assert_true(lo < 3000);
	assert_true(hi > 27000);
}

static void test_rand64(void **state)
{
	(void)state;
	uint64_t a = 1, b = 1, c = 2;
	uint64_t x = ch_rand64(&a);

	/* Deterministic per seed, different across seeds, and the state moves. */
	assert_true(x == ch_rand64(&b));
	assert_true(x != ch_rand64(&c));
	assert_true(ch_rand64(&a) != x);
	assert_true(a == b + 0x9E3779B97F4A7C15ull);

	/* Bits are roughly balanced: a broken mixer would skew this badly. */
	uint64_t s = 7;
	int ones = 0;
	for (int i = 0; i < 1000; i++)
		ones += __builtin_popcountll(ch_rand64(&s));
	assert_in_range(ones, 30000, 34000);
}

static void test_fake_clock(void **state)
{
	(void)state;
	struct timespec ts;
	int64_t real;

	ch_clock_fake_set(1795824900000LL);
	assert_int_equal(ch_clock_now_ms(), 1795824900000LL);
	assert_int_equal(ch_clock_mono_ms(), 1795824900000LL);
	ch_clock_fake_advance(12 * 3600 * 1000LL);
	assert_int_equal(ch_clock_now_ms(), 1795824900000LL + 12 * 3600 * 1000LL);
	assert_int_equal(ch_clock_mono_ms(), 1795824900000LL + 12 * 3600 * 1000LL);
	/* It stays put however long real time runs. */
	assert_int_equal(ch_clock_now_ms(), ch_clock_now_ms());

	ch_clock_fake_off();
	clock_gettime(CLOCK_REALTIME, &ts);
	real = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	assert_true(ch_clock_now_ms() >= real - 1000 && ch_clock_now_ms() <= real + 1000);
	int64_t m1 = ch_clock_mono_ms(), m2 = ch_clock_mono_ms();
	assert_true(m2 >= m1);
}

static void test_clock_format(void **state)
{
	(void)state;
	char buf[32];

	ch_clock_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	ch_clock_format(1795824900123LL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28T00:15:00.123Z");
	ch_clock_format(1709208000000LL, buf, sizeof(buf));
	assert_string_equal(buf, "2024-02-29T12:00:00.000Z");
	/* Before the epoch the milliseconds still count forward within the second. */
	ch_clock_format(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	ch_clock_format(-1000, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.000Z");
}

static void test_mask_phone(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		/* Mainland mobile with country code: the '+' stays, then 3 digits, 2 digits. */
		{"+8613912345678", "+861********78"},
		{"13912345678", "139******78"},
		{"call +8613912345678 now", "call +861********78 now"},
		{"021-12345678", "021-******78"},
		/* Numbers written in groups are still numbers. */
		{"+86 139 1234 5678", "+86 1** **** **78"},
		{"139-1234-5678", "139-****-**78"},
		{"room 12 - 34", "room 12 - 34"},
		{"1234567", "123**67"},
		/* Short numbers are not phone numbers: ids, counts, percentages. */
		{"123456", "123456"},
		{"+123456", "+123456"},
		{"battery 87%", "battery 87%"},
		{"a +86139123456789 and 13812345678", "a +861*********89 and 138******78"},
		{"", ""},
		{"中文+8613912345678", "中文+861********78"},
	};
	char buf[128];

	for (size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
		ch_log_mask_phone(cases[i].in, buf, sizeof(buf));
		if (strcmp(buf, cases[i].out) != 0)
			fail_msg("\"%s\" -> \"%s\", want \"%s\"", cases[i].in, buf, cases[i].out);
	}
	/* A short buffer truncates but never reveals the masked middle. */
	ch_log_mask_phone("+8613912345678", buf, 8);
	assert_string_equal(buf, "+861***");
	ch_log_mask_phone(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	buf[0] = 'x';
	ch_log_mask_phone("123", buf, 0);
	assert_int_equal(buf[0], 'x');
}

static void test_log_rate_limit(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	char line[512];
	int lines = 0, suppressed = 0;

	assert_non_null(f);
	ch_log_set_stream(f);
	ch_log_set_level(CH_LOG_DEBUG);
	ch_clock_fake_set(1000000);
	for (int i = 0; i < 5; i++)
		ch_log_rl("test_util_kind", 60000, CH_LOG_WARN, "bad payload %d", i);
	ch_clock_fake_advance(60001);
	ch_log_rl("test_util_kind", 60000, CH_LOG_WARN, "bad payload again");
	ch_log(CH_LOG_DEBUG, "debug line");
	ch_log_set_level(CH_LOG_INFO);
	ch_log(CH_LOG_DEBUG, "hidden");
	ch_clock_fake_off();
	ch_log_set_stream(NULL);

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		lines++;
		if (strstr(line, "4 similar messages suppressed"))
			suppressed++;
		assert_null(strstr(line, "hidden"));
	}
	fclose(f);
	/* First line, the line after the interval, its "suppressed" note, the debug line. */
	assert_int_equal(lines, 4);
	assert_int_equal(suppressed, 1);
	assert_int_equal(ch_log_set_level_name("warn"), 0);
	assert_int_equal(ch_log_set_level_name("verbose"), CH_EINVAL);
	ch_log_set_level(CH_LOG_INFO);
}

/* Under systemd (stderr is the stream $JOURNAL_STREAM names) each line starts with its syslog priority. */
static void test_log_journal_priorities(void **state)
{
	(void)state;
	FILE *f = tmpfile(), *g = tmpfile();
	char js[64], line[512];
	struct stat st;

	assert_non_null(f);
	assert_non_null(g);
	assert_int_equal(fstat(fileno(f), &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	ch_log_set_stream(f);
	ch_log(CH_LOG_ERROR, "redis refused AUTH");
	ch_log(CH_LOG_WARN, "a warning");
	ch_log(CH_LOG_INFO, "started");
	/* Another stream (a terminal, a file) keeps the time stamp and the level word. */
	ch_log_set_stream(g);
	ch_log(CH_LOG_ERROR, "to a file");
	ch_log_set_stream(NULL);
	unsetenv("JOURNAL_STREAM");
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "<3>redis refused AUTH\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "<4>a warning\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "<6>started\n");
	rewind(g);
	assert_non_null(fgets(line, sizeof(line), g));
	assert_non_null(strstr(line, " error to a file"));
	assert_true(line[0] != '<');
	fclose(f);
	fclose(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_and_strlcpy),
		cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_daywindow),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_severity_and_strdup),
		cmocka_unit_test(test_backoff_ceiling),
		cmocka_unit_test(test_backoff_jitter),
		cmocka_unit_test(test_rand64),
		cmocka_unit_test(test_fake_clock),
		cmocka_unit_test(test_clock_format),
		cmocka_unit_test(test_mask_phone),
		cmocka_unit_test(test_log_rate_limit),
		cmocka_unit_test(test_log_journal_priorities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
