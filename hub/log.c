/*
 * log.c - levels, a mutex so lines from several threads don't interleave, and a
 * small table of rate-limited kinds.
 */
#include "log.h"
#include "clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

static enum ch_log_level threshold = CH_LOG_INFO;
static FILE *stream;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ch_log_set_level(enum ch_log_level level)
{
	threshold = level;
}

int ch_log_set_level_name(const char *name)
{
	for (size_t i = 0; i < CH_ARRAY_LEN(level_names); i++) {
		if (name && strcmp(name, level_names[i]) == 0) {
			threshold = (enum ch_log_level)i;
			return 0;
		}
	}
	return CH_EINVAL;
}

void ch_log_set_stream(FILE *f)
{
	stream = f;
}

static void vlog(enum ch_log_level level, const char *fmt, va_list ap) CH_PRINTF(2, 0);
static void vlog(enum ch_log_level level, const char *fmt, va_list ap)
{
	char ts[40];
	FILE *out = stream ? stream : stderr;

	/* Log lines carry real wall time even when logic runs on a fake clock. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	ch_clock_format((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts, sizeof(ts));
	pthread_mutex_lock(&log_mu);
	fprintf(out, "%s %-5s ", ts, level_names[level]);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
	fflush(out);
	pthread_mutex_unlock(&log_mu);
}

void ch_log(enum ch_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < threshold)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

struct rl_slot {
	const char *kind;
	int64_t last_ms;
	unsigned long suppressed;
};

#define RL_SLOTS 64
static struct rl_slot rl_slots[RL_SLOTS];

void ch_log_rl(const char *kind, int64_t interval_ms, enum ch_log_level level, const char *fmt, ...)
{
	struct rl_slot *slot = NULL;
	unsigned long suppressed = 0;
	int64_t now = ch_clock_mono_ms();
	bool emit = false;
	va_list ap;

	if (level < threshold)
		return;
	pthread_mutex_lock(&log_mu);
	for (int i = 0; i < RL_SLOTS; i++) {
		if (rl_slots[i].kind == kind || (rl_slots[i].kind && strcmp(rl_slots[i].kind, kind) == 0)) {
			slot = &rl_slots[i];
			break;
		}
		if (!rl_slots[i].kind) {
			slot = &rl_slots[i];
			slot->kind = kind;
			slot->last_ms = now - interval_ms - 1;
			break;
		}
	}
	if (!slot || now - slot->last_ms > interval_ms) {
		emit = true;
		if (slot) {
			suppressed = slot->suppressed;
			slot->suppressed = 0;
			slot->last_ms = now;
		}
	} else {
		slot->suppressed++;
	}
	pthread_mutex_unlock(&log_mu);
	if (!emit)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
	if (suppressed)
		ch_log(level, "(%s: %lu similar messages suppressed)", kind, suppressed);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

void ch_log_mask_phone(const char *src, char *dst, size_t len)
{
	size_t o = 0;

	if (!dst || len == 0)
		return;
	if (!src)
		src = "";
	for (size_t i = 0; src[i] && o + 1 < len;) {
		size_t j = i, digits = 0;

		if (src[j] == '+')
			j++;
		/* A number may be written in groups: "+86 139 1234 5678", "139-1234-5678". */
		while (is_digit(src[j]) || ((src[j] == ' ' || src[j] == '-') && digits && is_digit(src[j + 1]))) {
			digits += is_digit(src[j]);
			j++;
		}
		if (digits >= 7) {
			size_t seen = 0;
			for (size_t k = i; k < j && o + 1 < len; k++) {
				bool digit = is_digit(src[k]);
				if (digit)
					seen++;
				dst[o++] = (!digit || seen <= 3 || seen > digits - 2) ? src[k] : '*';
			}
			i = j;
		} else {
			dst[o++] = src[i++];
		}
	}
	dst[o] = '\0';
}
