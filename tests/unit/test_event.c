/*
 * test_event.c - the canonical event parser: every rejection reason with a
 * payload that triggers it, timestamps, value kinds and field lookup.
 *
 * The parser faces the internet-of-sensors, so each reject path gets a test of
 * its own: a path nobody exercised is where the hub would crash or let a bad
 * event through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "event.h"

/* 2026-11-28T00:15:00Z, the arrival time used throughout. */
#define ARRIVAL 1795824900000LL

static const struct ch_event_limits lim = {
	.max_payload = 64 * 1024,
	.max_depth = 32,
	.future_skew_ms = 5 * 60 * 1000,
};

static int parse_lim(const char *s, size_t len, const struct ch_event_limits *l,
		     struct ch_event *ev, enum ch_reject *why, char *err, size_t errlen)
{
	return ch_event_parse(s, len, l, ARRIVAL, ev, why, err, errlen);
}

/* Expects rejection with `want`, an explanation, and the event left empty. */
static void expect_reject_lim(const char *s, size_t len, const struct ch_event_limits *l,
			      enum ch_reject want)
{
	struct ch_event ev;
	enum ch_reject why = CH_REJ_NONE;
	char err[256];

	assert_int_equal(parse_lim(s, len, l, &ev, &why, err, sizeof(err)), CH_EINVAL);
	if (why != want)
		fail_msg("payload %.80s: reason %s, want %s (%s)", s, ch_reject_name(why),
			 ch_reject_name(want), err);
	assert_null(ev.root);
	assert_string_equal(ev.device, "");
	assert_true(err[0] != '\0');
}

static void expect_reject(const char *s, size_t len, enum ch_reject want)
{
	expect_reject_lim(s, len, &lim, want);
}

static void expect_reject_str(const char *s, enum ch_reject want)
{
	expect_reject(s, strlen(s), want);
}

static void parse_ok(const char *s, struct ch_event *ev)
{
	enum ch_reject why = CH_REJ_NONE;
	char err[256] = "";

	if (parse_lim(s, strlen(s), &lim, ev, &why, err, sizeof(err)) != 0)
		fail_msg("payload %s rejected: %s: %s", s, ch_reject_name(why), err);
	assert_int_equal(why, CH_REJ_NONE);
	assert_non_null(ev->root);
}

static void test_reject_names(void **state)
{
	(void)state;
	static const char *const want[] = {"none",	    "oversize",	      "bad_utf8",
					   "too_deep",	    "not_json",	      "not_object",
					   "missing_field", "bad_field",       "future_ts",
					   "unknown_device", "topic_mismatch", "overflow"};
	assert_int_equal(CH_ARRAY_LEN(want), CH_REJ_COUNT);
	for (int i = 0; i < CH_REJ_COUNT; i++)
		assert_string_equal(ch_reject_name((enum ch_reject)i), want[i]);
	assert_string_equal(ch_reject_name(CH_REJ_COUNT), "unknown");
	assert_string_equal(ch_reject_name((enum ch_reject)-1), "unknown");
}

static void test_canonical_example(void **state)
{
	(void)state;
	struct ch_event ev;

	parse_ok("{\"id\":\"wm-17:000123\",\"device\":\"wm-17\",\"type\":\"water_meter\","
		 "\"ts\":\"2026-11-28T08:15:00+08:00\",\"value\":0.004,\"data\":{\"total_m3\":152.331}}",
		 &ev);
	assert_string_equal(ev.id, "wm-17:000123");
	assert_string_equal(ev.device, "wm-17");
	assert_string_equal(ev.type, "water_meter");
	assert_true(ev.ts_given);
	assert_int_equal(ev.ts_ms, ARRIVAL);
	assert_int_equal(ev.vkind, CH_VAL_NUMBER);
	assert_true(ev.vnum == 0.004);
	assert_true(json_number_value(ch_event_field(&ev, "data.total_m3")) == 152.331);
	ch_event_clear(&ev);
	assert_null(ev.root);
	ch_event_clear(&ev); /* twice is harmless */
	ch_event_clear(NULL);
}

static void test_oversize(void **state)
{
	(void)state;
	size_t n = 1024 * 1024;
	char *big = malloc(n);

	assert_non_null(big);
	/* A valid event padded to 1 MiB: size alone must reject it. */
	memset(big, ' ', n);
	memcpy(big, "{\"device\":\"d\",\"type\":\"smoke\"}", 29);
	expect_reject(big, n, CH_REJ_OVERSIZE);

	/* Exactly at the limit is fine. */
	struct ch_event_limits small = lim;
	struct ch_event ev;
	enum ch_reject why;
	char err[128];

	small.max_payload = 40;
	assert_int_equal(parse_lim(big, 40, &small, &ev, &why, err, sizeof(err)), 0);
	ch_event_clear(&ev);
	assert_int_equal(parse_lim(big, 41, &small, &ev, &why, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(why, CH_REJ_OVERSIZE);
	assert_string_equal(err, "payload of 41 bytes, limit 40");
	free(big);
}

static void test_bad_utf8(void **state)
{
	(void)state;
	/* Truncated sequence, stray continuation, overlong '/', overlong NUL, surrogate, > U+10FFFF. */
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xE4\xB8\"}", CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\x80\"}", CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xC0\xAF\"}", CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xC0\x80\"}", CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xE0\x80\xAF\"}", CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xF0\x80\x80\xAF\"}",
			  CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xED\xA0\x80\"}", CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xF4\x90\x80\x80\"}",
			  CH_REJ_BAD_UTF8);
	expect_reject_str("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"\xFF\"}", CH_REJ_BAD_UTF8);

	/* Chinese text is fine. */
	struct ch_event ev;

	parse_ok("{\"device\":\"d\",\"type\":\"smoke\",\"id\":\"厨房-1\"}", &ev);
	assert_string_equal(ev.id, "厨房-1");
	ch_event_clear(&ev);
}

static void test_too_deep(void **state)
{
	(void)state;
	char buf[512];
	size_t o = 0;

	/* 100 levels inside data. */
	memcpy(buf, "{\"device\":\"d\",\"type\":\"t\",\"data\":", 32);
	o = 32;
	for (int i = 0; i < 99; i++)
		buf[o++] = '[';
	for (int i = 0; i < 99; i++)
		buf[o++] = ']';
	buf[o++] = '}';
	expect_reject(buf, o, CH_REJ_TOO_DEEP);

	/* 100k deep never reaches jansson (which would recurse), even with room for it. */
	struct ch_event_limits roomy = lim;
	size_t n = 100000;
	char *deep = malloc(2 * n);

	assert_non_null(deep);
	roomy.max_payload = 2 * n;
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	expect_reject_lim(deep, 2 * n, &roomy, CH_REJ_TOO_DEEP);
	/* Unclosed is still too deep, not "not JSON": depth is checked first. */
	expect_reject_lim(deep, n, &roomy, CH_REJ_TOO_DEEP);
	free(deep);

	/* Exactly max_depth is accepted; brackets inside strings don't count. */
	struct ch_event_limits l = lim;
	struct ch_event ev;
	enum ch_reject why;
	char err[128];
	const char *ok = "{\"device\":\"d\",\"type\":\"t\",\"data\":{\"a\":{\"b\":1}},"
			 "\"id\":\"[[[[{{{{\\\"[[[[\"}";

	l.max_depth = 3;
	assert_int_equal(parse_lim(ok, strlen(ok), &l, &ev, &why, err, sizeof(err)), 0);
	assert_string_equal(ev.id, "[[[[{{{{\"[[[[");
	ch_event_clear(&ev);
	l.max_depth = 2;
	assert_int_equal(parse_lim(ok, strlen(ok), &l, &ev, &why, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(why, CH_REJ_TOO_DEEP);
	assert_string_equal(err, "nesting deeper than 2");
}

static void test_not_json(void **state)
{
	(void)state;
	struct ch_event ev;
	enum ch_reject why;
	char err[256];
	const char *s = "{\"device\":\"d\",\n \"type\": smoke}";

	expect_reject_str("", CH_REJ_NOT_JSON);
	expect_reject_str("{", CH_REJ_NOT_JSON);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",}", CH_REJ_NOT_JSON);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\"} trailing", CH_REJ_NOT_JSON);
	/* Duplicate keys could smuggle a second device past a check: refused. */
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"device\":\"e\"}", CH_REJ_NOT_JSON);
	/* Embedded NUL, raw or escaped. */
	expect_reject("{\"device\":\"d\0\",\"type\":\"t\"}", 26, CH_REJ_NOT_JSON);
	expect_reject_str("{\"device\":\"d\\u0000\",\"type\":\"t\"}", CH_REJ_NOT_JSON);
	/* jansson alone would accept a NUL right after a number. */
	expect_reject("{\"device\":\"d\",\"type\":\"t\",\"value\":4\0}", 36, CH_REJ_NOT_JSON);

	/* The message carries jansson's line and column. */
	assert_int_equal(parse_lim(s, strlen(s), &lim, &ev, &why, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(why, CH_REJ_NOT_JSON);
	assert_non_null(strstr(err, "line 2 col"));
	assert_null(strchr(err, '\n'));
	/* A NULL payload with a length is not a crash. */
	assert_int_equal(parse_lim(NULL, 3, &lim, &ev, &why, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(why, CH_REJ_NOT_JSON);
}

static void test_not_object(void **state)
{
	(void)state;
	expect_reject_str("[]", CH_REJ_NOT_OBJECT);
	expect_reject_str("[{\"device\":\"d\",\"type\":\"t\"}]", CH_REJ_NOT_OBJECT);
	expect_reject_str("42", CH_REJ_NOT_OBJECT);
	expect_reject_str("\"smoke\"", CH_REJ_NOT_OBJECT);
	expect_reject_str("null", CH_REJ_NOT_OBJECT);
}

static void test_missing_field(void **state)
{
	(void)state;
	expect_reject_str("{}", CH_REJ_MISSING_FIELD);
	expect_reject_str("{\"type\":\"smoke\"}", CH_REJ_MISSING_FIELD);
	expect_reject_str("{\"device\":\"d\"}", CH_REJ_MISSING_FIELD);
	/* Missing wins over malformed, so the reason names the bigger problem. */
	expect_reject_str("{\"device\":5}", CH_REJ_MISSING_FIELD);
}

static void test_bad_field(void **state)
{
	(void)state;
	char buf[512];

	/* device */
	expect_reject_str("{\"device\":5,\"type\":\"t\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":null,\"type\":\"t\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"\",\"type\":\"t\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"a b\",\"type\":\"t\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"a/b\",\"type\":\"t\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"厨房\",\"type\":\"t\"}", CH_REJ_BAD_FIELD);
	/* type */
	expect_reject_str("{\"device\":\"d\",\"type\":\"Smoke\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":[\"smoke\"]}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"water-leak\"}", CH_REJ_BAD_FIELD);
	/* id */
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"id\":7}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"id\":\"\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"id\":\"a\\nb\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"id\":\"a\\u007fb\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"id\":\"a\\u0085b\"}", CH_REJ_BAD_FIELD);
	/* ts */
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":1.5}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":-1}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":true}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":null}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":\"1795824900000\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":\"2024-02-30T00:00:00Z\"}",
			  CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":\"2026-11-28T08:15:00\"}",
			  CH_REJ_BAD_FIELD);
	/* data */
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"data\":[1]}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"data\":\"x\"}", CH_REJ_BAD_FIELD);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"data\":null}", CH_REJ_BAD_FIELD);

	/* Lengths: 95/63/127 fit, one more does not. */
	struct ch_event ev;
	char dev[97], typ[65], id[129];

	memset(dev, 'a', 96);
	dev[96] = '\0';
	memset(typ, 'a', 64);
	typ[64] = '\0';
	memset(id, 'a', 128);
	id[128] = '\0';
	ch_fmt(buf, sizeof(buf), "{\"device\":\"%.95s\",\"type\":\"%.63s\",\"id\":\"%.127s\"}", dev,
	       typ, id);
	parse_ok(buf, &ev);
	assert_int_equal(strlen(ev.device), 95);
	assert_int_equal(strlen(ev.type), 63);
	assert_int_equal(strlen(ev.id), 127);
	ch_event_clear(&ev);
	ch_fmt(buf, sizeof(buf), "{\"device\":\"%s\",\"type\":\"t\"}", dev);
	expect_reject_str(buf, CH_REJ_BAD_FIELD);
	ch_fmt(buf, sizeof(buf), "{\"device\":\"d\",\"type\":\"%s\"}", typ);
	expect_reject_str(buf, CH_REJ_BAD_FIELD);
	ch_fmt(buf, sizeof(buf), "{\"device\":\"d\",\"type\":\"t\",\"id\":\"%s\"}", id);
	expect_reject_str(buf, CH_REJ_BAD_FIELD);
}

static void test_device_and_type_forms(void **state)
{
	(void)state;
	struct ch_event ev;

	parse_ok("{\"device\":\"0x00158d0001a2b3c4@zb:gw-1_A.b\",\"type\":\"service.meal_missed\"}",
		 &ev);
	assert_string_equal(ev.device, "0x00158d0001a2b3c4@zb:gw-1_A.b");
	assert_string_equal(ev.type, "service.meal_missed");
	assert_string_equal(ev.id, "");
	/* Unknown top-level keys are the fleet's business. */
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"smoke\",\"rssi\":-70,\"fw\":{\"v\":[1,2]}}", &ev);
	ch_event_clear(&ev);
}

static void test_future_ts(void **state)
{
	(void)state;
	char buf[256];
	struct ch_event ev;

	/* An hour ahead: a device clock gone wrong, not an event to act on. */
	ch_fmt(buf, sizeof(buf), "{\"device\":\"d\",\"type\":\"t\",\"ts\":%lld}", ARRIVAL + 3600000LL);
	expect_reject_str(buf, CH_REJ_FUTURE_TS);
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":\"2026-11-28T09:15:00+08:00\"}",
			  CH_REJ_FUTURE_TS);
	/* The largest integer jansson accepts must not overflow the comparison. */
	expect_reject_str("{\"device\":\"d\",\"type\":\"t\",\"ts\":9223372036854775807}",
			  CH_REJ_FUTURE_TS);
	/* Within the skew is accepted, at the skew too. */
	ch_fmt(buf, sizeof(buf), "{\"device\":\"d\",\"type\":\"t\",\"ts\":%lld}", ARRIVAL + 300000LL);
	parse_ok(buf, &ev);
	assert_int_equal(ev.ts_ms, ARRIVAL + 300000LL);
	ch_event_clear(&ev);
	ch_fmt(buf, sizeof(buf), "{\"device\":\"d\",\"type\":\"t\",\"ts\":%lld}", ARRIVAL + 300001LL);
	expect_reject_str(buf, CH_REJ_FUTURE_TS);
}

static void test_ts_forms(void **state)
{
	(void)state;
	struct ch_event ev;

	/* Absent: arrival time, flagged as not given. */
	parse_ok("{\"device\":\"d\",\"type\":\"t\"}", &ev);
	assert_false(ev.ts_given);
	assert_int_equal(ev.ts_ms, ARRIVAL);
	ch_event_clear(&ev);

	/* Epoch milliseconds. */
	parse_ok("{\"device\":\"d\",\"type\":\"t\",\"ts\":1795824899123}", &ev);
	assert_true(ev.ts_given);
	assert_int_equal(ev.ts_ms, 1795824899123LL);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"t\",\"ts\":0}", &ev);
	assert_int_equal(ev.ts_ms, 0);
	ch_event_clear(&ev);

	/* +08:00 (Shanghai) and Z give the same instant. */
	parse_ok("{\"device\":\"d\",\"type\":\"t\",\"ts\":\"2026-11-28T08:15:00+08:00\"}", &ev);
	assert_int_equal(ev.ts_ms, ARRIVAL);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"t\",\"ts\":\"2026-11-28 00:15:00.5z\"}", &ev);
	assert_int_equal(ev.ts_ms, ARRIVAL + 500);
	ch_event_clear(&ev);
}

static void test_rfc3339(void **state)
{
	(void)state;
	int64_t ms;

	assert_int_equal(ch_event_parse_rfc3339("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(ch_event_parse_rfc3339("2026-11-28T08:15:00+08:00", &ms), 0);
	assert_int_equal(ms, ARRIVAL);
	assert_int_equal(ch_event_parse_rfc3339("2026-11-27T19:15:00-05:00", &ms), 0);
	assert_int_equal(ms, ARRIVAL);
	assert_int_equal(ch_event_parse_rfc3339("2026-11-28t00:15:00.123Z", &ms), 0);
	assert_int_equal(ms, ARRIVAL + 123);
	/* Precision below a millisecond is dropped, not rounded. */
	assert_int_equal(ch_event_parse_rfc3339("2026-11-28T00:15:00.123999999Z", &ms), 0);
	assert_int_equal(ms, ARRIVAL + 123);
	assert_int_equal(ch_event_parse_rfc3339("2026-11-28T00:15:00.1Z", &ms), 0);
	assert_int_equal(ms, ARRIVAL + 100);
	assert_int_equal(ch_event_parse_rfc3339("2026-11-28T05:30:00+05:30", &ms), 0);
	assert_int_equal(ms, 1795824000000LL);
	assert_int_equal(ch_event_parse_rfc3339("2026-11-28T00:00:00+23:59", &ms), 0);
	assert_int_equal(ch_event_parse_rfc3339("2026-11-28T00:00:00-00:00", &ms), 0);

	/* Leap years: 2024 and 2000 have Feb 29, 2026 and 1900 don't. */
	assert_int_equal(ch_event_parse_rfc3339("2024-02-29T12:00:00Z", &ms), 0);
	assert_int_equal(ms, 1709208000000LL);
	assert_int_equal(ch_event_parse_rfc3339("2024-03-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 1709251200000LL);
	assert_int_equal(ch_event_parse_rfc3339("2000-02-29T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 951782400000LL);
	assert_int_equal(ch_event_parse_rfc3339("2026-02-29T00:00:00Z", &ms), CH_EINVAL);
	assert_int_equal(ch_event_parse_rfc3339("1900-02-29T00:00:00Z", &ms), CH_EINVAL);
	assert_int_equal(ch_event_parse_rfc3339("2024-02-30T00:00:00Z", &ms), CH_EINVAL);
	/* Before the epoch is still a valid instant. */
	assert_int_equal(ch_event_parse_rfc3339("1969-12-31T23:59:59.999Z", &ms), 0);
	assert_int_equal(ms, -1);
	/* A leap second is the first second of the next minute. */
	assert_int_equal(ch_event_parse_rfc3339("2016-12-31T23:59:60Z", &ms), 0);
	assert_int_equal(ms, 1483228800000LL);

	static const char *const bad[] = {
		"",
		"2026",
		"2026-11-28",
		"2026-11-28T08:15:00",      /* no offset */
		"2026-11-28T08:15Z",        /* no seconds */
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-11-00T00:00:00Z",
		"2026-11-28T24:00:00Z",
		"2026-11-28T23:60:00Z",
		"2026-11-28T23:59:61Z",
		"2026-11-28T08:15:00+24:00",
		"2026-11-28T08:15:00+08:60",
		"2026-11-28T08:15:00+0800",
		"2026-11-28T08:15:00+08",
		"2026-11-28T08:15:00.Z",
		"2026-11-28T08:15:00ZZ",
		"2026-11-28T08:15:00Z ",
		"2026-11-28X08:15:00Z",
		"2026/11/28T08:15:00Z",
		"+2026-11-28T08:15:00Z",
		"2026-1-28T08:15:00Z",
		"２０２６-11-28T08:15:00Z",
	};
	for (size_t i = 0; i < CH_ARRAY_LEN(bad); i++) {
		if (ch_event_parse_rfc3339(bad[i], &ms) != CH_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(ch_event_parse_rfc3339(NULL, &ms), CH_EINVAL);
}

static void test_value_kinds(void **state)
{
	(void)state;
	struct ch_event ev;

	parse_ok("{\"device\":\"d\",\"type\":\"smoke\",\"value\":true}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_BOOL);
	assert_true(ev.vbool);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"smoke\",\"value\":false}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_BOOL);
	assert_false(ev.vbool);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"battery\",\"value\":42}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_NUMBER);
	assert_true(ev.vnum == 42.0);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"temperature\",\"value\":-3.25e1}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_NUMBER);
	assert_true(ev.vnum == -32.5);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"door\",\"value\":\"open\"}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_STRING);
	assert_string_equal(ev.vstr, "open");
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"sos\",\"value\":null}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_NONE);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"sos\"}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_NONE);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"x\",\"value\":[1,2]}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_OTHER);
	ch_event_clear(&ev);
	parse_ok("{\"device\":\"d\",\"type\":\"x\",\"value\":{\"a\":1}}", &ev);
	assert_int_equal(ev.vkind, CH_VAL_OTHER);
	ch_event_clear(&ev);
}

static void test_field_lookup(void **state)
{
	(void)state;
	struct ch_event ev;
	json_t *f;

	parse_ok("{\"id\":\"e1\",\"device\":\"wm-17\",\"type\":\"water_meter\",\"value\":0.5,"
		 "\"data\":{\"total_m3\":152.331,\"a\":{\"b\":\"deep\",\"c\":null},\"list\":[10,20]}}",
		 &ev);
	assert_string_equal(json_string_value(ch_event_field(&ev, "type")), "water_meter");
	assert_string_equal(json_string_value(ch_event_field(&ev, "device")), "wm-17");
	assert_string_equal(json_string_value(ch_event_field(&ev, "id")), "e1");
	assert_true(json_number_value(ch_event_field(&ev, "value")) == 0.5);
	assert_true(json_number_value(ch_event_field(&ev, "data.total_m3")) == 152.331);
	assert_string_equal(json_string_value(ch_event_field(&ev, "data.a.b")), "deep");
	f = ch_event_field(&ev, "data.a.c");
	assert_non_null(f);
	assert_true(json_is_null(f));
	assert_int_equal(json_integer_value(ch_event_field(&ev, "data.list.1")), 20);
	assert_true(json_is_object(ch_event_field(&ev, "data")));

	assert_null(ch_event_field(&ev, "data.list.2"));
	assert_null(ch_event_field(&ev, "data.list.01"));
	assert_null(ch_event_field(&ev, "data.list.-1"));
	assert_null(ch_event_field(&ev, "data.missing"));
	assert_null(ch_event_field(&ev, "data.total_m3.x"));
	assert_null(ch_event_field(&ev, "data..a"));
	assert_null(ch_event_field(&ev, "data."));
	assert_null(ch_event_field(&ev, ".data"));
	assert_null(ch_event_field(&ev, ""));
	assert_null(ch_event_field(&ev, NULL));
	assert_null(ch_event_field(&ev, "ts"));
	ch_event_clear(&ev);
	assert_null(ch_event_field(&ev, "type"));
}

static void test_null_limits_and_err(void **state)
{
	(void)state;
	struct ch_event ev;
	const char *s = "{\"device\":\"d\",\"type\":\"t\"}";

	/* No limits: the built-in conservative ones; no reason or err buffer: still works. */
	assert_int_equal(ch_event_parse(s, strlen(s), NULL, ARRIVAL, &ev, NULL, NULL, 0), 0);
	ch_event_clear(&ev);
	assert_int_equal(ch_event_parse("[]", 2, NULL, ARRIVAL, &ev, NULL, NULL, 0), CH_EINVAL);
	assert_int_equal(ch_event_parse(s, strlen(s), &lim, ARRIVAL, NULL, NULL, NULL, 0),
			 CH_EINVAL);
}

static void test_not_nul_terminated(void **state)
{
	(void)state;
	/* The payload is exactly len bytes; what follows in memory is not part of it. */
	const char *s = "{\"device\":\"d\",\"type\":\"t\"}GARBAGE";
	char *copy = malloc(25);
	struct ch_event ev;
	enum ch_reject why;
	char err[64];

	assert_non_null(copy);
	memcpy(copy, s, 25);
	assert_int_equal(parse_lim(copy, 25, &lim, &ev, &why, err, sizeof(err)), 0);
	assert_string_equal(ev.type, "t");
	ch_event_clear(&ev);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reject_names),
		cmocka_unit_test(test_canonical_example),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_missing_field),
		cmocka_unit_test(test_bad_field),
		cmocka_unit_test(test_device_and_type_forms),
		cmocka_unit_test(test_future_ts),
		cmocka_unit_test(test_ts_forms),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_value_kinds),
		cmocka_unit_test(test_field_lookup),
		cmocka_unit_test(test_null_limits_and_err),
		cmocka_unit_test(test_not_nul_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
