/*
 * api_report.c - GET /v1/subjects/{id}/report?weeks=N: a subject's trend
 * report (report.h), each week against the person's own norm, with flags and
 * one value a day per metric for the console's sparkline.  Viewer role.
 */
#include "api_int.h"
#include "clock.h"
#include "report.h"
#include "tz.h"

#include <stdlib.h>

void api_subject_report(struct api_req *r, const char *id)
{
	const struct ch_subject *s = ch_registry_subject(r->rt->reg, id);
	const char *w = r->rq->query(r->rq, "weeks");
	const struct ch_tz *tz = NULL;
	struct ch_trend_hist *h = NULL;
	struct ch_trend_report *rep = NULL;
	struct ch_store *st;
	long weeks = CH_REPORT_DEFAULT_WEEKS;
	int64_t now = ch_clock_now_ms();
	char err[256];
	int rc;

	if (!s) {
		api_error(r, 404, "not_found", "no such subject");
		return;
	}
	if (w && ch_parse_long(w, 1, CH_TREND_MAX_WEEKS, &weeks)) {
		api_error(r, 400, "bad_request", "weeks must be 1..8");
		return;
	}
	if (!(st = api_store(r)))
		return;
	if (ch_tz_get(ch_runtime_zone(r->rt, s), &tz, err, sizeof(err)))
		tz = NULL; /* UTC */
	h = malloc(sizeof(*h));
	rep = malloc(sizeof(*rep));
	if (!h || !rep)
		api_error(r, 500, "internal", "out of memory");
	else if ((rc = ch_report_load(st, s, tz, now, (int)weeks, h, rep, err, sizeof(err))))
		api_store_error(r, rc, err);
	else
		api_json(r, 200, ch_report_json(s, tz, now, h, rep));
	free(h);
	free(rep);
}
