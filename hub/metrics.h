/*
 * metrics.h - the labelled counters and latency histograms behind /metrics
 * (the plain process counters are struct ch_metrics in runtime.h).
 *
 * Any thread may count or observe; a render reads a consistent-enough
 * snapshot (each number is atomic, the set is not: Prometheus accepts that).
 * Label values come from the config (rule ids, channel names) and fixed
 * words, so the number of series is bounded; past CH_METRICS_SERIES_MAX new
 * series are counted under {...="other"} rather than dropped.
 */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include "ch.h"

#define CH_METRICS_SERIES_MAX 512

enum ch_metric_family {
	CH_MF_ALERTS,    /* carehub_alerts_total{rule,state}: alert transitions (opened, resolved...) */
	CH_MF_SENDS,     /* carehub_sends_total{channel,result}: ok, retry, failed */
	CH_MF_CALLBACKS, /* carehub_callbacks_total{channel,outcome}: delivered, no_answer... refused */
	CH_MF_UNMAPPED,  /* carehub_adapter_unmapped_total{adapter,field}: received, mapped to nothing */
	CH_MF_COUNT
};

enum ch_histogram {
	CH_H_EVENT,  /* carehub_event_apply_seconds: an event's arrival to its batch applied in Redis */
	CH_H_NOTIFY, /* carehub_first_notify_seconds: an alert's opening to a provider taking its step 0 */
	CH_H_SEND,   /* carehub_send_seconds: one provider request, start to answer */
	CH_H_COUNT
};

/* Adds one to the series (family, a, b); a and b are copied (cut at 63 bytes). */
void ch_metrics_inc(enum ch_metric_family f, const char *a, const char *b);

/* Records one duration in milliseconds (negative counts as 0). */
void ch_metrics_observe(enum ch_histogram h, int64_t ms);

/*
 * Appends the families and histograms in Prometheus text format 0.0.4 to buf
 * at *pos (like snprintf: *pos counts the whole text even when buf is too
 * small; the text is cut, never overflowed).
 */
void ch_metrics_render(char *buf, size_t len, size_t *pos);

/* Forgets every series and observation (tests). */
void ch_metrics_reset(void);

#endif
