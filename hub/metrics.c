/*
 * metrics.c - labelled counters and latency histograms.
 *
 * Series live in one fixed table searched linearly under a mutex: a hub has
 * a few dozen rules and channels, the table stays small, and a count costs
 * less than the Redis round trip that caused it.  Histograms are fixed
 * buckets of atomics, so observing never takes the lock.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define LABEL_MAX 64

struct series {
	enum ch_metric_family f;
	char a[LABEL_MAX], b[LABEL_MAX];
	atomic_uint_fast64_t n;
};

static const struct {
	const char *name, *help, *la, *lb;
} families[CH_MF_COUNT] = {
	[CH_MF_ALERTS] = {"carehub_alerts_total", "Alert transitions by rule and new state.", "rule", "state"},
	[CH_MF_SENDS] = {"carehub_sends_total", "Notification attempts by channel and result.", "channel", "result"},
	[CH_MF_CALLBACKS] = {"carehub_callbacks_total", "Provider callbacks by channel and outcome.", "channel",
			     "outcome"},
	[CH_MF_UNMAPPED] = {"carehub_adapter_unmapped_total",
			    "Fields and devices an adapter received and mapped to nothing, by adapter and field.",
			    "adapter", "field"},
};

/* Upper bounds in ms: 5 ms (an event applied) to 5 min (a slow provider, a late step). */
static const int64_t bounds_ms[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000};
#define NBOUNDS CH_ARRAY_LEN(bounds_ms)

static const struct {
	const char *name, *help;
} hists[CH_H_COUNT] = {
	[CH_H_EVENT] = {"carehub_event_apply_seconds", "From an event's arrival to its batch applied in Redis."},
	[CH_H_NOTIFY] = {"carehub_first_notify_seconds",
			 "From an alert's opening to a provider accepting a notification of its first step."},
	[CH_H_SEND] = {"carehub_send_seconds", "One provider request, from start to answer."},
};

struct hist {
	atomic_uint_fast64_t bucket[NBOUNDS + 1]; /* the last is +Inf */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ms;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct series table[CH_METRICS_SERIES_MAX];
static size_t nseries;
static struct hist hist[CH_H_COUNT];

void ch_metrics_inc(enum ch_metric_family f, const char *a, const char *b)
{
	char ka[LABEL_MAX], kb[LABEL_MAX];
	struct series *s = NULL;

	if ((unsigned)f >= CH_MF_COUNT)
		return;
	ch_strlcpy(ka, a ? a : "", sizeof(ka));
	ch_strlcpy(kb, b ? b : "", sizeof(kb));
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nseries && !s; i++) {
		if (table[i].f == f && strcmp(table[i].a, ka) == 0 && strcmp(table[i].b, kb) == 0)
			s = &table[i];
	}
	if (!s && nseries < CH_METRICS_SERIES_MAX - 1) {
		s = &table[nseries++];
		s->f = f;
		memcpy(s->a, ka, sizeof(ka));
		memcpy(s->b, kb, sizeof(kb));
	} else if (!s) {
		/* The last slot gathers what does not fit, so totals stay right. */
		s = &table[CH_METRICS_SERIES_MAX - 1];
		if (nseries < CH_METRICS_SERIES_MAX) {
			nseries = CH_METRICS_SERIES_MAX;
			s->f = f;
			ch_strlcpy(s->a, "other", sizeof(s->a));
			ch_strlcpy(s->b, "other", sizeof(s->b));
		}
	}
	atomic_fetch_add(&s->n, 1);
	pthread_mutex_unlock(&mu);
}

void ch_metrics_observe(enum ch_histogram h, int64_t ms)
{
	size_t i = 0;

	if ((unsigned)h >= CH_H_COUNT)
		return;
	if (ms < 0)
		ms = 0;
	while (i < NBOUNDS && ms > bounds_ms[i])
		i++;
	atomic_fetch_add(&hist[h].bucket[i], 1);
	atomic_fetch_add(&hist[h].count, 1);
	atomic_fetch_add(&hist[h].sum_ms, (uint_fast64_t)ms);
}

/* A label value with \ " and newline escaped as the text format wants. */
static void escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 2 < len; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n') {
			out[o++] = '\\';
			out[o++] = *in == '\n' ? 'n' : *in;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

void ch_metrics_render(char *buf, size_t len, size_t *pos)
{
	char a[2 * LABEL_MAX], b[2 * LABEL_MAX];

	pthread_mutex_lock(&mu);
	for (int f = 0; f < CH_MF_COUNT; f++) {
		ch_fmt_append(buf, len, pos, "# HELP %s %s\n# TYPE %s counter\n", families[f].name, families[f].help,
		    families[f].name);
		for (size_t i = 0; i < nseries; i++) {
			if (table[i].f != (enum ch_metric_family)f)
				continue;
			escape(table[i].a, a, sizeof(a));
			escape(table[i].b, b, sizeof(b));
			ch_fmt_append(buf, len, pos, "%s{%s=\"%s\",%s=\"%s\"} %llu\n", families[f].name, families[f].la, a,
			    families[f].lb, b, (unsigned long long)atomic_load(&table[i].n));
		}
	}
	pthread_mutex_unlock(&mu);
	for (int h = 0; h < CH_H_COUNT; h++) {
		uint64_t cum = 0;

		ch_fmt_append(buf, len, pos, "# HELP %s %s\n# TYPE %s histogram\n", hists[h].name, hists[h].help, hists[h].name);
		for (size_t i = 0; i <= NBOUNDS; i++) {
			cum += atomic_load(&hist[h].bucket[i]);
			if (i < NBOUNDS)
				ch_fmt_append(buf, len, pos, "%s_bucket{le=\"%lld.%03lld\"} %llu\n", hists[h].name,
				    (long long)(bounds_ms[i] / 1000), (long long)(bounds_ms[i] % 1000),
				    (unsigned long long)cum);
			else
				ch_fmt_append(buf, len, pos, "%s_bucket{le=\"+Inf\"} %llu\n", hists[h].name, (unsigned long long)cum);
		}
		uint64_t sum = atomic_load(&hist[h].sum_ms);
		ch_fmt_append(buf, len, pos, "%s_sum %llu.%03llu\n%s_count %llu\n", hists[h].name, (unsigned long long)(sum / 1000),
		    (unsigned long long)(sum % 1000), hists[h].name, (unsigned long long)atomic_load(&hist[h].count));
	}
}

void ch_metrics_reset(void)
{
	pthread_mutex_lock(&mu);
	memset(table, 0, sizeof(table));
	nseries = 0;
	pthread_mutex_unlock(&mu);
	memset(hist, 0, sizeof(hist));
}
