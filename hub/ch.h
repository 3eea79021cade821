/*
 * ch.h - what every carehub module shares: error codes and small helpers.
 *
 * Functions across carehub return 0 on success or a negative CH_E* code, and put
 * human detail in a caller-supplied buffer.  The values never change: they are
 * logged and compared by tests.
 */
#ifndef CH_H
#define CH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum {
	CH_OK = 0,
	CH_EINVAL = -1,   /* bad argument or bad input */
	CH_ENOMEM = -2,
	CH_EIO = -3,      /* file or socket error */
	CH_ENOTFOUND = -4,
	CH_ECONFIG = -5,  /* configuration is wrong; message says where */
	CH_EPROTO = -6,   /* a peer spoke nonsense */
	CH_ETIMEOUT = -7,
	CH_EFULL = -8,    /* a bounded queue is full */
	CH_EAGAIN = -9,   /* try again later: the service is away */
	CH_EDUP = -10,    /* already seen */
	CH_EPLUGIN = -11, /* plugin loader refused a plugin */
};

#define CH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define CH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CH_UNUSED __attribute__((unused))
#else
#define CH_PRINTF(f, a)
#define CH_UNUSED
#endif

enum ch_severity {
	CH_SEV_INFO = 0,
	CH_SEV_LOW,
	CH_SEV_MEDIUM,
	CH_SEV_HIGH,
	CH_SEV_CRITICAL,
};
#define CH_SEV_COUNT 5

/* util.c */

const char *ch_severity_name(enum ch_severity sev);
int ch_severity_parse(const char *name, enum ch_severity *out);


/* Formats into buf like snprintf; returns CH_EINVAL when the result was truncated. */
int ch_fmt(char *buf, size_t len, const char *fmt, ...) CH_PRINTF(3, 4);
/* Appends to buf at *pos like snprintf; *pos counts the whole text even when buf is too small (cut, never overrun). */
void ch_fmt_append(char *buf, size_t len, size_t *pos, const char *fmt, ...) CH_PRINTF(4, 5);

/* Copies src into dst (always NUL-terminated); CH_EINVAL when truncated. */
int ch_strlcpy(char *dst, const char *src, size_t len);

/* strtol with full checking: the whole of s must be a base-10 integer in [min, max]. */
int ch_parse_long(const char *s, long min, long max, long *out);

/*
 * Durations: a number of seconds ("90", 90) or a number with a unit
 * ms, s, m, h, d ("500ms", "3s", "10m", "12h", "1d", "1.5h").  Rules in tests run
 * "12 h" as "3s", so seconds are always allowed.
 */
int ch_parse_duration(const char *s, int64_t *out_ms);

/* "HH:MM-HH:MM" (may wrap midnight) to minutes of the day. */
int ch_parse_daywindow(const char *s, int *start_min, int *end_min);

/* true when minute_of_day lies in [start, end) of a window that may wrap midnight. */
bool ch_daywindow_contains(int start_min, int end_min, int minute_of_day);

/* FNV-1a 32 of s, never 0: how engine states name rules, devices and keys. */
uint32_t ch_fnv1a32(const char *s);

/* A duration for people: "8h", "90m", "3s", "1.5h"; whole units when they divide. */
void ch_fmt_duration(int64_t ms, char *buf, size_t len);

/* malloc'ed copy or NULL; NULL in gives NULL out. */
char *ch_strdup(const char *s);

/* Checks that s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool ch_utf8_valid(const char *s, size_t len);

#endif
