/*
 * event.c - turns an untrusted MQTT payload into a canonical event, or into a
 * reason for the dead-letter stream.
 *
 * This is the ingest hot path and the first code that touches bytes from the
 * outside world, so the cheap checks run before the expensive ones and before
 * anything that could be made to misbehave: size, then UTF-8, then a byte scan
 * for nesting depth (a 100k-deep payload never reaches jansson's recursive
 * parser), then one json_loadb, then field checks.  The parsed object is kept
 * (ev->root) so rules can look at any field without parsing again.
 *
 * Unknown top-level keys are ignored on purpose: fleets add their own fields
 * (rssi, firmware, ...) and a canonical event must stay extensible without a
 * hub upgrade.  Known keys are checked strictly, because a smoke alarm whose
 * "value" or "ts" means something else than we think is worse than a dead letter
 * somebody looks at.
 */
#include "event.h"

#include <string.h>

static const char *const reject_names[CH_REJ_COUNT] = {
	[CH_REJ_NONE] = "none",
	[CH_REJ_OVERSIZE] = "oversize",
	[CH_REJ_BAD_UTF8] = "bad_utf8",
	[CH_REJ_TOO_DEEP] = "too_deep",
	[CH_REJ_NOT_JSON] = "not_json",
	[CH_REJ_NOT_OBJECT] = "not_object",
	[CH_REJ_MISSING_FIELD] = "missing_field",
	[CH_REJ_BAD_FIELD] = "bad_field",
	[CH_REJ_FUTURE_TS] = "future_ts",
	[CH_REJ_UNKNOWN_DEVICE] = "unknown_device",
	[CH_REJ_TOPIC_MISMATCH] = "topic_mismatch",
	[CH_REJ_OVERFLOW] = "overflow",
};

const char *ch_reject_name(enum ch_reject r)
{
	if ((int)r < 0 || r >= CH_REJ_COUNT)
		return "unknown";
	return reject_names[r];
}

/* Used when the caller passes no limits (a quick tool): small enough to be safe anywhere. */
static const struct ch_event_limits default_limits = {
	.max_payload = 64 * 1024,
	.max_depth = 32,
	.future_skew_ms = 5 * 60 * 1000,
};

/* ------------------------------------------------------------------ */
/* Timestamps                                                          */
/* ------------------------------------------------------------------ */

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil).  Done by hand because timegm() is a GNU/BSD extension and
 * strptime() depends on the locale.
 */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n decimal digits; -1 when any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int ch_event_parse_rfc3339(const char *s, int64_t *out_ms)
{
	int year, mon, day, hour, min, sec, ms = 0, off_min = 0;
	const char *p;

	if (!s || !out_ms)
		return CH_EINVAL;
	/* The fixed part is 19 bytes; digits() stops at the NUL of a shorter string. */
	year = digits(s, 4);
	if (year < 0 || s[4] != '-')
		return CH_EINVAL;
	mon = digits(s + 5, 2);
	if (mon < 1 || mon > 12 || s[7] != '-')
		return CH_EINVAL;
	day = digits(s + 8, 2);
	if (day < 1 || day > days_in_month(year, mon))
		return CH_EINVAL;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return CH_EINVAL;
	hour = digits(s + 11, 2);
	if (hour < 0 || hour > 23 || s[13] != ':')
		return CH_EINVAL;
	min = digits(s + 14, 2);
	if (min < 0 || min > 59 || s[16] != ':')
		return CH_EINVAL;
	/* 60 is a leap second; it counts as the first second of the next minute. */
	sec = digits(s + 17, 2);
	if (sec < 0 || sec > 60)
		return CH_EINVAL;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		/* Any precision is allowed; what lies below a millisecond is dropped. */
		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		}
		if (n == 0)
			return CH_EINVAL;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh = digits(p + 1, 2), om;

		if (oh < 0 || oh > 23 || p[3] != ':')
			return CH_EINVAL;
		om = digits(p + 4, 2);
		if (om < 0 || om > 59)
			return CH_EINVAL;
		off_min = oh * 60 + om;
		if (*p == '-')
			off_min = -off_min;
		p += 6;
	} else {
		/* A time without an offset is ambiguous: the device's zone is unknown here. */
		return CH_EINVAL;
	}
	if (*p)
		return CH_EINVAL;

	int64_t secs = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 +
		       (int64_t)hour * 3600 + (int64_t)min * 60 + sec - (int64_t)off_min * 60;
	*out_ms = secs * 1000 + ms;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

/*
 * Nesting depth without parsing: brackets inside strings don't count, and an
 * escaped quote doesn't end a string.  Malformed input is jansson's to report;
 * this only has to bound the depth jansson will be asked to recurse into.
 */
static bool too_deep(const char *s, size_t len, int max_depth)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return true;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return false;
}

static bool is_device_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':' || c == '@' || c == '-';
}

static bool is_type_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/*
 * Copies a JSON string member into dst when every byte passes ok() and the
 * length is 1..dstlen-1.  Strings come from jansson without embedded NULs
 * (JSON_ALLOW_NUL is off), so json_string_length is the C length.
 */
static bool copy_checked(const json_t *v, char *dst, size_t dstlen, bool (*ok)(unsigned char))
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n >= dstlen)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ok((unsigned char)s[i]))
			return false;
	}
	memcpy(dst, s, n + 1);
	return true;
}

/* Ids end up in Redis keys, logs and the console: no C0, DEL or C1 controls. */
static bool copy_id(const json_t *v, char *dst, size_t dstlen)
{
	const unsigned char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = (const unsigned char *)json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n >= dstlen)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7F)
			return false;
		/* U+0080..U+009F are C2 80..C2 9F in UTF-8. */
		if (s[i] == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
			return false;
	}
	memcpy(dst, s, n + 1);
	return true;
}

/*
 * jansson's message quotes the offending token, which is attacker text: keep it
 * to one printable line so it cannot forge log lines or dead-letter fields.
 */
static void scrub_line(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7F)
			*s = '?';
	}
}

static int reject(struct ch_event *ev, json_t *root, enum ch_reject why, enum ch_reject *reason,
		  char *err, size_t errlen, const char *msg)
{
	json_decref(root);
	memset(ev, 0, sizeof(*ev));
	if (reason)
		*reason = why;
	if (err && errlen)
		ch_strlcpy(err, msg, errlen);
	return CH_EINVAL;
}

static int parse_ts(const json_t *v, int64_t *out)
{
	if (json_is_string(v))
		return ch_event_parse_rfc3339(json_string_value(v), out);
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	return CH_EINVAL;
}

int ch_event_parse(const char *payload, size_t len, const struct ch_event_limits *lim,
		   int64_t arrival_ms, struct ch_event *ev, enum ch_reject *reason, char *err,
		   size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v;

	if (!ev)
		return CH_EINVAL;
	if (!lim)
		lim = &default_limits;
	memset(ev, 0, sizeof(*ev));
	if (reason)
		*reason = CH_REJ_NONE;
	if (err && errlen)
		err[0] = '\0';
	if (!payload && len)
		return reject(ev, NULL, CH_REJ_NOT_JSON, reason, err, errlen, "no payload");

	if (len > lim->max_payload) {
		char msg[96];

		ch_fmt(msg, sizeof(msg), "payload of %zu bytes, limit %zu", len, lim->max_payload);
		return reject(ev, NULL, CH_REJ_OVERSIZE, reason, err, errlen, msg);
	}
	if (!ch_utf8_valid(payload, len))
		return reject(ev, NULL, CH_REJ_BAD_UTF8, reason, err, errlen,
			      "payload is not well-formed UTF-8");
	if (too_deep(payload, len, lim->max_depth)) {
		char msg[64];

		ch_fmt(msg, sizeof(msg), "nesting deeper than %d", lim->max_depth);
		return reject(ev, NULL, CH_REJ_TOO_DEEP, reason, err, errlen, msg);
	}

	/*
	 * JSON has no raw NUL bytes, but jansson 2.14 lets one through after a number
	 * ("[4\0]"); refusing them here keeps C-string consumers downstream honest.
	 */
	const char *nul = len ? memchr(payload, '\0', len) : NULL;
	if (nul) {
		char msg[64];

		ch_fmt(msg, sizeof(msg), "not JSON: NUL byte at offset %zu", (size_t)(nul - payload));
		return reject(ev, NULL, CH_REJ_NOT_JSON, reason, err, errlen, msg);
	}

	/* DECODE_ANY so that `42` is "not an object" rather than "not JSON". */
	root = json_loadb(payload ? payload : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			  &jerr);
	if (!root) {
		char msg[256];

		ch_fmt(msg, sizeof(msg), "not JSON: line %d col %d: %s", jerr.line, jerr.column,
		       jerr.text);
		scrub_line(msg);
		return reject(ev, NULL, CH_REJ_NOT_JSON, reason, err, errlen, msg);
	}
	if (!json_is_object(root))
		return reject(ev, root, CH_REJ_NOT_OBJECT, reason, err, errlen,
			      "expected a JSON object");

	json_t *device = json_object_get(root, "device");
	json_t *type = json_object_get(root, "type");

	if (!device)
		return reject(ev, root, CH_REJ_MISSING_FIELD, reason, err, errlen,
			      "missing \"device\"");
	if (!type)
		return reject(ev, root, CH_REJ_MISSING_FIELD, reason, err, errlen,
			      "missing \"type\"");
	if (!copy_checked(device, ev->device, sizeof(ev->device), is_device_char))
		return reject(ev, root, CH_REJ_BAD_FIELD, reason, err, errlen,
			      "\"device\": expected a string of 1-95 of [A-Za-z0-9_.:@-]");
	if (!copy_checked(type, ev->type, sizeof(ev->type), is_type_char))
		return reject(ev, root, CH_REJ_BAD_FIELD, reason, err, errlen,
			      "\"type\": expected a string of 1-63 of [a-z0-9_.]");

	v = json_object_get(root, "id");
	if (v && !copy_id(v, ev->id, sizeof(ev->id)))
		return reject(ev, root, CH_REJ_BAD_FIELD, reason, err, errlen,
			      "\"id\": expected a string of 1-127 bytes without control characters");

	v = json_object_get(root, "ts");
	if (v) {
		int64_t limit;
		int64_t skew = lim->future_skew_ms > 0 ? lim->future_skew_ms : 0;

		if (parse_ts(v, &ev->ts_ms))
			return reject(ev, root, CH_REJ_BAD_FIELD, reason, err, errlen,
				      "\"ts\": expected an RFC 3339 string with an offset or "
				      "epoch milliseconds as a non-negative integer");
		ev->ts_given = true;
		limit = arrival_ms > INT64_MAX - skew ? INT64_MAX : arrival_ms + skew;
		if (ev->ts_ms > limit) {
			char msg[128];

			ch_fmt(msg, sizeof(msg), "\"ts\" is %lld ms ahead of arrival, limit %lld ms",
			       (long long)((uint64_t)ev->ts_ms - (uint64_t)arrival_ms),
			       (long long)skew);
			return reject(ev, root, CH_REJ_FUTURE_TS, reason, err, errlen, msg);
		}
	} else {
		ev->ts_ms = arrival_ms;
	}

	v = json_object_get(root, "value");
	if (!v || json_is_null(v)) {
		ev->vkind = CH_VAL_NONE;
	} else if (json_is_boolean(v)) {
		ev->vkind = CH_VAL_BOOL;
		ev->vbool = json_is_true(v);
	} else if (json_is_number(v)) {
		ev->vkind = CH_VAL_NUMBER;
		ev->vnum = json_number_value(v);
	} else if (json_is_string(v)) {
		ev->vkind = CH_VAL_STRING;
		ev->vstr = json_string_value(v);
	} else {
		ev->vkind = CH_VAL_OTHER;
	}

	v = json_object_get(root, "data");
	if (v && !json_is_object(v))
		return reject(ev, root, CH_REJ_BAD_FIELD, reason, err, errlen,
			      "\"data\": expected an object");

	ev->root = root;
	return 0;
}

void ch_event_clear(struct ch_event *ev)
{
	if (!ev)
		return;
	json_decref(ev->root);
	memset(ev, 0, sizeof(*ev));
}

/* One path segment as an array index: plain decimal digits, no sign, no leading zero. */
static bool segment_index(const char *seg, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0 || n > 9 || (n > 1 && seg[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (seg[i] < '0' || seg[i] > '9')
			return false;
		v = v * 10 + (size_t)(seg[i] - '0');
	}
	*out = v;
	return true;
}

json_t *ch_event_field(const struct ch_event *ev, const char *path)
{
	json_t *cur;

	if (!ev || !ev->root || !path || !*path)
		return NULL;
	cur = ev->root;
	while (cur) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		size_t idx;

		if (n == 0)
			return NULL;
		if (json_is_object(cur)) {
#if JANSSON_VERSION_HEX >= 0x020e00
			cur = json_object_getn(cur, path, n);
#else
			char key[256];

			if (n >= sizeof(key))
				return NULL;
			memcpy(key, path, n);
			key[n] = '\0';
			cur = json_object_get(cur, key);
#endif
		} else if (json_is_array(cur) && segment_index(path, n, &idx)) {
			cur = json_array_get(cur, idx);
		} else {
			return NULL;
		}
		if (!dot)
			return cur;
		path = dot + 1;
	}
	return NULL;
}
