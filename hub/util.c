/*
 * util.c - small string and number helpers that replace the unsafe libc ones
 * (sprintf, strcpy, atoi) across carehub.
 */
#include "ch.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ch_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!buf || len == 0)
		return CH_EINVAL;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return CH_EINVAL;
	return 0;
}

int ch_strlcpy(char *dst, const char *src, size_t len)
{
	size_t n;

	if (!dst || len == 0)
		return CH_EINVAL;
	if (!src)
		src = "";
	n = strlen(src);
	if (n >= len) {
		memcpy(dst, src, len - 1);
		dst[len - 1] = '\0';
		return CH_EINVAL;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int ch_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return CH_EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return CH_EINVAL;
	*out = v;
	return 0;
}

int ch_parse_duration(const char *s, int64_t *out_ms)
{
	char *end;
	double v, mult;

	if (!s || !*s)
		return CH_EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return CH_EINVAL;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60e3;
	else if (strcmp(end, "h") == 0)
		mult = 3600e3;
	else if (strcmp(end, "d") == 0)
		mult = 86400e3;
	else
		return CH_EINVAL;
	v *= mult;
	if (v > 1e15) /* ~31,000 years: anything larger is a typo */
		return CH_EINVAL;
	*out_ms = (int64_t)llround(v);
	return 0;
}

static int parse_hhmm(const char *s, int *min)
{
	if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == ':' &&
	      s[3] >= '0' && s[3] <= '9' && s[4] >= '0' && s[4] <= '9'))
		return CH_EINVAL;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || m > 59 || (h == 24 && m != 0))
		return CH_EINVAL;
	*min = h * 60 + m;
	return 0;
}

int ch_parse_daywindow(const char *s, int *start_min, int *end_min)
{
	if (!s || strlen(s) != 11 || s[5] != '-')
		return CH_EINVAL;
	if (parse_hhmm(s, start_min) || parse_hhmm(s + 6, end_min))
		return CH_EINVAL;
	return 0;
}

bool ch_daywindow_contains(int start_min, int end_min, int minute_of_day)
{
	if (start_min == end_min)
		return false;
	if (start_min < end_min)
		return minute_of_day >= start_min && minute_of_day < end_min;
	return minute_of_day >= start_min || minute_of_day < end_min;
}

char *ch_strdup(const char *s)
{
	size_t n;
	char *p;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

bool ch_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t need;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += need + 1;
	}
	return true;
}

static const char *const severity_names[CH_SEV_COUNT] = {"info", "low", "medium", "high", "critical"};

const char *ch_severity_name(enum ch_severity sev)
{
	if ((int)sev < 0 || sev >= CH_SEV_COUNT)
		return "unknown";
	return severity_names[sev];
}

int ch_severity_parse(const char *name, enum ch_severity *out)
{
	for (int i = 0; i < CH_SEV_COUNT; i++) {
		if (name && strcmp(name, severity_names[i]) == 0) {
			*out = (enum ch_severity)i;
			return 0;
		}
	}
	return CH_EINVAL;
}

uint32_t ch_fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h ? h : 1;
}

void ch_fmt_duration(int64_t ms, char *buf, size_t len)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};

	for (size_t i = 0; i < CH_ARRAY_LEN(units); i++) {
		if (ms >= units[i].ms && ms % units[i].ms == 0) {
			ch_fmt(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	if (ms >= 3600000)
		ch_fmt(buf, len, "%.1fh", (double)ms / 3600000.0);
	else if (ms >= 60000)
		ch_fmt(buf, len, "%.1fm", (double)ms / 60000.0);
	else
		ch_fmt(buf, len, "%lldms", (long long)ms);
}

void ch_fmt_append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf && *pos < len ? buf + *pos : NULL, buf && *pos < len ? len - *pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
}
