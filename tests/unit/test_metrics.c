/*
 * test_metrics.c - labelled counters and histograms as Prometheus reads them:
 * series per label pair, escaping, cumulative buckets, sums in seconds, a
 * bounded number of series, and a text cut short but never overrun.
 */
#include "metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *render(void)
{
	size_t pos = 0, len;
	char *buf;

	ch_metrics_render(NULL, 0, &pos);
	len = pos + 1;
	buf = malloc(len);
	assert_non_null(buf);
	pos = 0;
	ch_metrics_render(buf, len, &pos);
	assert_int_equal(pos, len - 1);
	return buf;
}

static void counters_by_label(void **state)
{
	char *t;

	(void)state;
	ch_metrics_reset();
	ch_metrics_inc(CH_MF_ALERTS, "smoke", "opened");
	ch_metrics_inc(CH_MF_ALERTS, "smoke", "opened");
	ch_metrics_inc(CH_MF_ALERTS, "smoke", "resolved");
	ch_metrics_inc(CH_MF_SENDS, "sms", "ok");
	ch_metrics_inc(CH_MF_CALLBACKS, "call", "no_answer");
	ch_metrics_inc(CH_MF_SENDS, "we\"ird\\", "ok");
	t = render();
	assert_non_null(strstr(t, "# TYPE carehub_alerts_total counter\n"));
	assert_non_null(strstr(t, "carehub_alerts_total{rule=\"smoke\",state=\"opened\"} 2\n"));
	assert_non_null(strstr(t, "carehub_alerts_total{rule=\"smoke\",state=\"resolved\"} 1\n"));
	assert_non_null(strstr(t, "carehub_sends_total{channel=\"sms\",result=\"ok\"} 1\n"));
	assert_non_null(strstr(t, "carehub_callbacks_total{channel=\"call\",outcome=\"no_answer\"} 1\n"));
	assert_non_null(strstr(t, "carehub_sends_total{channel=\"we\\\"ird\\\\\",result=\"ok\"} 1\n"));
	free(t);
}

static void histogram_buckets_are_cumulative(void **state)
{
	char *t;

	(void)state;
	ch_metrics_reset();
	ch_metrics_observe(CH_H_EVENT, 3);
	ch_metrics_observe(CH_H_EVENT, 40);
	ch_metrics_observe(CH_H_EVENT, 1200);
	ch_metrics_observe(CH_H_EVENT, 999999);
	ch_metrics_observe(CH_H_EVENT, -5);
	t = render();
	assert_non_null(strstr(t, "# TYPE carehub_event_apply_seconds histogram\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_bucket{le=\"0.005\"} 2\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_bucket{le=\"0.050\"} 3\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_bucket{le=\"1.000\"} 3\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_bucket{le=\"2.500\"} 4\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_bucket{le=\"300.000\"} 4\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_bucket{le=\"+Inf\"} 5\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_sum 1001.242\n"));
	assert_non_null(strstr(t, "carehub_event_apply_seconds_count 5\n"));
	assert_non_null(strstr(t, "carehub_first_notify_seconds_count 0\n"));
	free(t);
}

static void series_are_bounded(void **state)
{
	char a[32], *t;

	(void)state;
	ch_metrics_reset();
	for (int i = 0; i < CH_METRICS_SERIES_MAX + 50; i++) {
		snprintf(a, sizeof(a), "rule%d", i);
		ch_metrics_inc(CH_MF_ALERTS, a, "opened");
	}
	t = render();
	/* The ones that did not fit are all counted, under "other". */
	assert_non_null(strstr(t, "carehub_alerts_total{rule=\"other\",state=\"other\"} 51\n"));
	assert_null(strstr(t, "rule=\"rule600\""));
	free(t);
}

static void a_small_buffer_is_cut_not_overrun(void **state)
{
	char buf[64];
	size_t pos = 0;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	ch_metrics_render(buf, 40, &pos);
	assert_true(pos > 40);
	assert_int_equal(buf[39], '\0');
	assert_int_equal(buf[40], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_by_label),
		cmocka_unit_test(histogram_buckets_are_cumulative),
		cmocka_unit_test(series_are_bounded),
		cmocka_unit_test(a_small_buffer_is_cut_not_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
