/*
 * api.h - the /v1 HTTP API behind the token gate: alerts (the monitoring
 * queue, one alert with its timeline, acknowledge, resolve), subjects,
 * devices and silences.
 *
 * Reads come from Redis through the API's own connection (hiredis contexts
 * are not shared between threads) and from the registry of the running
 * config.  Writes are never made here: an acknowledgement, a resolve or a
 * silence is checked with the same parser as one from MQTT and handed to
 * `inject` as a message on carehub/v1/acks or carehub/v1/silences, so it is
 * journaled and applied by the correlator in order with everything else
 * (202 Accepted).
 *
 * Routes (all JSON):
 *   GET  /v1/alerts[?state=&severity=&subject=&limit=]  {"alerts":[...],"count":N}
 *        without subject: open and acknowledged alerts; with it: that
 *        subject's latest alerts in any state; each carries subject_name and
 *        address from the registry
 *   GET  /v1/alerts/{id}              {"alert":{...},"timeline":[...]}
 *   POST /v1/alerts/{id}/ack          {"by":NAME,"note":TEXT}
 *   POST /v1/alerts/{id}/resolve      {"by":NAME,"outcome":CODE,"note":TEXT}
 *   GET  /v1/subjects, /v1/subjects/{id}
 *   GET  /v1/subjects/{id}/report?weeks=N  the trend report (report.h), 1..8 weeks (4)
 *   GET  /v1/devices                  {"devices":[{"id","type","location","subject"}]}
 *   GET  /v1/silences?subject=ID      {"silences":{...}}
 *   POST /v1/silences                 the carehub/v1/silences shape
 */
#ifndef CH_API_H
#define CH_API_H

#include "ch.h"
#include "http.h"
#include "store.h"

struct ch_api;

struct ch_api_opts {
	const struct ch_store_opts *store; /* borrowed for the call */
	/* Queues a control message as if it came on topic; 0 on success. */
	int (*inject)(void *arg, const char *topic, const char *payload, size_t len);
	void *arg;
};

int ch_api_open(const struct ch_api_opts *o, struct ch_api **out, char *err, size_t errlen);
void ch_api_close(struct ch_api *api);

/* The ch_http_api_fn: arg is the struct ch_api. */
void ch_api_handle(void *arg, const struct ch_http_incoming *rq, int *status, char **reply);

#endif
