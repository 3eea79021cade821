/*
 * api.h - the /v1 HTTP API (the contract is API12.md and the README): who is
 * asking (sessions, service tokens, roles, CSRF), the monitoring queue and
 * one alert's whole story, answers (acknowledge, resolve, note, escalate),
 * subjects with their devices' health, silences, operator accounts, the audit
 * log, and the live feed (stream.h).
 *
 * Reads come from Redis through a small pool of the API's own connections
 * (a request holds one at most; a frozen Redis holds up only the requests
 * that need it) and from the registry of the running config.  Writes of alert
 * state are never made here: an answer or a silence is checked with the same
 * parser as one from MQTT and queued through the journal on the API's own
 * topic with the acting account (ingest.h CH_TOPIC_API_ACKS), then applied by
 * the correlator in order with everything else: 202 once it is durable.
 * Accounts, sessions and the audit log are written here.
 *
 * Every route but POST /v1/session needs a session cookie or a bearer token:
 *   POST   /v1/session            {"name","password"} -> {"name","role","csrf"} + cookie
 *   GET    /v1/session            who is signed in
 *   DELETE /v1/session            sign out
 *   GET    /v1/alerts             ?state=open|acknowledged|resolved|active &severity= &subject= &limit=
 *   GET    /v1/alerts/{id}        the item, timeline, plan, reached, subject
 *   POST   /v1/alerts/{id}/ack|resolve|note|escalate
 *   GET    /v1/stream             server-sent events (stream.h)
 *   GET    /v1/subjects[?q=]      GET /v1/subjects/{id}     GET /v1/devices[?subject=]
 *   GET    /v1/subjects/{id}/report[?weeks=N]   the trend report (report.h, api_report.c)
 *   GET    /v1/silences           POST /v1/silences         DELETE /v1/silences/{subject~target}
 *   GET    /v1/operators          POST /v1/operators        POST /v1/operators/{name}/password|disable
 *   GET    /v1/audit?limit=
 *   GET    /v1/devices?unmapped=1 what fleets send that maps to nothing, missing bridge devices
 *   POST   /v1/reload             (admin) like SIGHUP, answered when done (api_fleet.c)
 */
#ifndef CH_API_H
#define CH_API_H

#include "ch.h"
#include "http.h"
#include "store.h"
#include "stream.h"

struct ch_api;
struct ch_auth_tokens;

struct ch_api_opts {
	const struct ch_store_opts *store; /* borrowed for the call */
	/* Queues a control message as if it came on topic; 0 on success. */
	int (*inject)(void *arg, const char *topic, const char *payload, size_t len);
	void *arg;
	struct ch_auth_tokens *tokens; /* service tokens; the API owns them from here on (also on failure) */
	int64_t session_ttl_ms;        /* a session ends after this long unused; 0: 12 h */
	bool secure_cookies;           /* the cookie only over HTTPS */
	struct ch_stream *stream;      /* borrowed; NULL: /v1/stream answers 503 */
};

int ch_api_open(const struct ch_api_opts *o, struct ch_api **out, char *err, size_t errlen);
void ch_api_close(struct ch_api *api);

/* The ch_http_api_fn: arg is the struct ch_api. */
void ch_api_handle(void *arg, const struct ch_http_incoming *rq, struct ch_http_reply *out);

/*
 * The notification key a reply from phone on channel answers (the latest one
 * sent there; store.h ch_store_reply_find), from the API's pool: 0,
 * CH_ENOTFOUND, or CH_EAGAIN while Redis is away or busy.
 */
int ch_api_reply_key(struct ch_api *api, const char *channel, const char *phone, char *key, size_t keylen);

/*
 * The live feed's data line for one change (ch_stream_opts.render): the
 * alert's list item with "change": kind; arg unused.  Malloc'ed.
 */
char *ch_api_render_change(void *arg, const struct ch_change *c, const char *doc);

#endif
