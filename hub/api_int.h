/*
 * api_int.h - what api.c (accounts, routing) and api_alerts.c (alerts,
 * subjects, devices, silences) share.  Not for other modules.
 */
#ifndef CH_API_INT_H
#define CH_API_INT_H

#include "api.h"
#include "auth.h"
#include "runtime.h"

#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>

#define API_POOL 4

struct ch_api {
	struct ch_store *pool[API_POOL]; /* Redis connections lent to one request at a time */
	bool busy[API_POOL];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sem_t hashing; /* argon2 verifications at once: a flood of logins must not eat every core */
	bool inited;   /* mu, cv and hashing exist */
	int (*inject)(void *arg, const char *topic, const char *payload, size_t len);
	void *arg;
	struct ch_auth_tokens *tokens;
	int64_t session_ttl_ms;
	bool secure_cookies;
	struct ch_stream *stream;
};

/* One request while it is handled. */
struct api_req {
	struct ch_api *api;
	struct ch_runtime *rt;
	const struct ch_http_incoming *rq;
	struct ch_http_reply *out;
	struct ch_principal who;
	struct ch_store *st; /* lent from the pool by api_store(), given back after the request */
};

/* A Redis connection for this request (from the pool); NULL (and a 503 answered) when none is free. */
struct ch_store *api_store(struct api_req *r);

/* Answers: JSON (takes j), or {"error": code, "message": text}. */
void api_json(struct api_req *r, int status, json_t *j);
void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...) CH_PRINTF(4, 5);
/* The answer to a store error: 503 while Redis is away, else 500. */
void api_store_error(struct api_req *r, int rc, const char *err);

/* The request body as a JSON object, or NULL with a 400 answered. New reference. */
json_t *api_body(struct api_req *r);

/*
 * Queues a control message (the carehub/v1/acks or /silences shape, plus the
 * acting account) through the journal on the API's own topic; 0, or an
 * answer (503) was given.
 */
int api_inject(struct api_req *r, const char *topic, json_t *msg);

/* Writes an audit entry for what r->who did (best effort: a failure is logged). */
void api_audit(struct api_req *r, const char *action, const char *target, const char *detail);

/* ---- api_alerts.c ---- */
void api_alerts_list(struct api_req *r, const char *arg);
void api_alert_get(struct api_req *r, const char *id);
void api_alert_ack(struct api_req *r, const char *id);
void api_alert_resolve(struct api_req *r, const char *id);
void api_alert_note(struct api_req *r, const char *id);
void api_alert_escalate(struct api_req *r, const char *id);
void api_subjects_list(struct api_req *r, const char *arg);
void api_subject_get(struct api_req *r, const char *id);
void api_devices_list(struct api_req *r, const char *arg);
void api_silences_list(struct api_req *r, const char *arg);
void api_silence_add(struct api_req *r, const char *arg);
void api_silence_lift(struct api_req *r, const char *id);
void api_stream(struct api_req *r, const char *arg);

/* ---- api_fleet.c ---- */
void api_devices_route(struct api_req *r, const char *arg);
void api_reload(struct api_req *r, const char *arg);

/* ---- api_report.c ---- */
void api_subject_report(struct api_req *r, const char *id);

#endif
