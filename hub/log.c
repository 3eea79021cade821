/*
 * log.c - levels, a mutex so lines from several threads don't interleave, and a
 * small table of rate-limited kinds.
 *
 * Under systemd, stderr is a stream into journald, which says so in
 * $JOURNAL_STREAM ("<device>:<inode>" of that stream).  Lines then start with
 * the syslog priority in angle brackets ("<3>" for an error) instead of a
 * time stamp and a level word, so `journalctl -p err -u carehub` finds the
 * errors and journald stamps the time itself (sd-daemon(3)).
 */
#include "log.h"
#include "clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static enum ch_log_level threshold = CH_LOG_INFO;
static FILE *stream;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* syslog priorities: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR. */
static const int level_prio[] = {7, 6, 4, 3};

/* Whether out is the journal's stream: its device and inode are the ones in $JOURNAL_STREAM. */
static bool to_journal(FILE *out)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (!js || !*js)
		return false;
	dev = strtoull(js, &end, 10);
	if (*end != ':')
		return false;
	ino = strtoull(end + 1, &end, 10);
	if (*end != '\0' || fstat(fileno(out), &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

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

static FILE *checked; /* the stream to_journal() was asked about */
static bool journal_checked, journal;

void ch_log_set_stream(FILE *f)
{
	pthread_mutex_lock(&log_mu);
	stream = f;
	journal_checked = false;
	pthread_mutex_unlock(&log_mu);
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
	/* Asked once per stream: set_stream changes it (tests), the environment does not. */
	if (!journal_checked || checked != out) {
		journal_checked = true;
		checked = out;
		journal = to_journal(out);
	}
	if (journal)
		fprintf(out, "<%d>", level_prio[level]);
	else
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
