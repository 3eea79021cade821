/*
 * log.h - one logging entry point with printf checking, levels, rate limiting
 * for repeated errors, and masking of phone numbers.
 *
 * Nothing private goes to the log: phone numbers pass through ch_log_mask_phone()
 * (or the %s argument is masked by the caller), secrets never reach a log call.
 */
#ifndef CH_LOG_H
#define CH_LOG_H

#include "ch.h"

#include <stdio.h>

enum ch_log_level { CH_LOG_DEBUG = 0, CH_LOG_INFO, CH_LOG_WARN, CH_LOG_ERROR };

void ch_log(enum ch_log_level level, const char *fmt, ...) CH_PRINTF(2, 3);

/* Sets the threshold; "debug", "info", "warn", "error".  CH_EINVAL if unknown. */
int ch_log_set_level_name(const char *name);
void ch_log_set_level(enum ch_log_level level);
/* Log to this stream (borrowed, default stderr). */
void ch_log_set_stream(FILE *f);

/*
 * Rate-limited log for a kind of repeated problem (bad payloads, Redis away):
 * at most one line per `kind` every interval_ms, the next line says how many
 * were suppressed.  `kind` is a string literal or otherwise lives forever.
 */
void ch_log_rl(const char *kind, int64_t interval_ms, enum ch_log_level level, const char *fmt, ...)
	CH_PRINTF(4, 5);

/*
 * Masks every phone-like run of 7 or more digits (optionally led by '+', groups
 * separated by single spaces or dashes) in src, keeping the first 3 and the
 * last 2 digits: "+8613912345678" -> "+861********78",
 * "139-1234-5678" -> "139-****-**78".
 * Always NUL-terminates dst.
 */
void ch_log_mask_phone(const char *src, char *dst, size_t len);

#endif
