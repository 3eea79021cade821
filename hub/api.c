/*
 * api.c - the /v1 API: what the monitoring console and carehubctl-like tools
 * read and the answers they give (see api.h for the routes).
 *
 * The HTTP server calls in from its one thread, so the store connection
 * needs no lock of its own; a mutex guards it anyway against a second server
 * thread some day.  Every write is a control message handed to inject():
 * the API never changes alert state behind the correlator's back.
 */
#include "api.h"
#include "clock.h"
#include "control.h"
#include "ingest.h"
#include "log.h"
#include "report.h"
#include "runtime.h"
#include "tz.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 200
#define LIST_MAX 1000

struct ch_api {
	struct ch_store *store;
	pthread_mutex_t mu;
	int (*inject)(void *arg, const char *topic, const char *payload, size_t len);
	void *arg;
};

int ch_api_open(const struct ch_api_opts *o, struct ch_api **out, char *err, size_t errlen)
{
	struct ch_api *api = calloc(1, sizeof(*api));
	int rc;

	if (!api)
		return CH_ENOMEM;
	rc = ch_store_open(o->store, &api->store, err, errlen);
	if (rc && rc != CH_EAGAIN) {
		free(api);
		return rc;
	}
	pthread_mutex_init(&api->mu, NULL);
	api->inject = o->inject;
	api->arg = o->arg;
	*out = api;
	return 0;
}

void ch_api_close(struct ch_api *api)
{
	if (!api)
		return;
	ch_store_close(api->store);
	pthread_mutex_destroy(&api->mu);
	free(api);
}

/* ---------------------------------------------------------------- replies */

static void reply_json(int *status, char **reply, int code, json_t *j)
{
	*status = code;
	*reply = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!*reply && code < 300) {
		*status = 500;
		*reply = ch_strdup("{\"error\":\"out of memory\"}");
	}
}

static void reply_error(int *status, char **reply, int code, const char *msg)
{
	reply_json(status, reply, code, json_pack("{s:s}", "error", msg));
}

/* ---------------------------------------------------------------- alerts */

static bool keep(json_t *a, const char *state, const char *severity)
{
	const char *st = json_string_value(json_object_get(a, "state"));
	const char *sev = json_string_value(json_object_get(a, "severity"));

	return (!state || (st && strcmp(st, state) == 0)) && (!severity || (sev && strcmp(sev, severity) == 0));
}

static void list_alerts(struct ch_api *api, const struct ch_runtime *rt, const struct ch_http_incoming *rq,
			int *status, char **reply)
{
	const char *state = rq->query(rq, "state"), *sev = rq->query(rq, "severity");
	const char *subject = rq->query(rq, "subject"), *lim = rq->query(rq, "limit");
	json_t *docs = NULL, *out, *a;
	long limit = LIST_DEFAULT;
	char err[256];
	size_t i;
	int rc;

	if (lim && ch_parse_long(lim, 1, LIST_MAX, &limit)) {
		reply_error(status, reply, 400, "limit must be 1..1000");
		return;
	}
	if (subject && !ch_registry_subject(rt->reg, subject)) {
		reply_error(status, reply, 404, "no such subject");
		return;
	}
	rc = subject ? ch_store_subject_alerts(api->store, subject, (size_t)limit, &docs, err, sizeof(err))
		     : ch_store_alerts_open(api->store, (size_t)limit, &docs, err, sizeof(err));
	if (rc) {
		ch_log_rl("api-store", 10000, CH_LOG_WARN, "api: %s", err);
		reply_error(status, reply, 503, "Redis is not reachable");
		return;
	}
	out = json_array();
	json_array_foreach(docs, i, a) {
		const struct ch_subject *s = ch_registry_subject(rt->reg, json_string_value(json_object_get(a, "subject")));

		if (!keep(a, state, sev))
			continue;
		/* What the queue shows without a second request per row. */
		if (s) {
			json_object_set_new(a, "subject_name", json_string(s->name ? s->name : ""));
			json_object_set_new(a, "address", json_string(s->address ? s->address : ""));
		}
		json_array_append(out, a);
	}
	json_decref(docs);
	reply_json(status, reply, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(out), "alerts", out));
}

static void get_alert(struct ch_api *api, const char *id, int *status, char **reply)
{
	char *doc = NULL, err[256];
	json_t *a, *tl = NULL;
	int rc = ch_store_alert_get(api->store, id, &doc, err, sizeof(err));

	if (rc == CH_ENOTFOUND || rc == CH_EINVAL) {
		reply_error(status, reply, 404, "no such alert");
		return;
	}
	if (rc || (rc = ch_store_alert_timeline(api->store, id, &tl, err, sizeof(err)))) {
		free(doc);
		reply_error(status, reply, rc == CH_EAGAIN ? 503 : 500, "cannot read the alert");
		return;
	}
	a = json_loads(doc, 0, NULL);
	free(doc);
	reply_json(status, reply, 200, json_pack("{s:o?, s:o}", "alert", a, "timeline", tl));
}

/* POST /v1/alerts/{id}/ack|resolve: the carehub/v1/acks message, checked, then queued. */
static void answer_alert(struct ch_api *api, const struct ch_runtime *rt, const char *id, const char *action,
			 const struct ch_http_incoming *rq, int *status, char **reply)
{
	json_t *body = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, NULL), *msg;
	struct ch_ack_req q;
	enum ch_reject why;
	char err[256], *doc = NULL, *text;

	if (!json_is_object(body)) {
		json_decref(body);
		reply_error(status, reply, 400, "expected a JSON object {\"by\":NAME, ...}");
		return;
	}
	if (ch_store_alert_get(api->store, id, &doc, err, sizeof(err)) == CH_ENOTFOUND) {
		json_decref(body);
		reply_error(status, reply, 404, "no such alert");
		return;
	}
	free(doc);
	msg = json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:s}", "alert", id, "action", action, "by",
			json_object_get(body, "by"), "outcome", json_object_get(body, "outcome"), "note",
			json_object_get(body, "note"), "via", "api");
	json_decref(body);
	text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (!text) {
		reply_error(status, reply, 500, "out of memory");
		return;
	}
	if (ch_control_ack(text, strlen(text), rt->reg, &q, &why, err, sizeof(err))) {
		free(text);
		reply_error(status, reply, 400, err);
		return;
	}
	if (!api->inject || api->inject(api->arg, CH_TOPIC_ACKS, text, strlen(text))) {
		free(text);
		reply_error(status, reply, 503, "cannot queue the answer");
		return;
	}
	free(text);
	ch_log(CH_LOG_INFO, "api: %s %s by %s", action, id, q.by);
	reply_json(status, reply, 202, json_pack("{s:b, s:s, s:s}", "queued", 1, "alert", id, "action", action));
}

/* ---------------------------------------------------------------- registry */

static void list_subjects(const struct ch_runtime *rt, int *status, char **reply)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < ch_registry_count(rt->reg); i++)
		json_array_append(arr, ch_registry_at(rt->reg, i)->json);
	reply_json(status, reply, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(arr), "subjects", arr));
}

static void list_devices(const struct ch_runtime *rt, int *status, char **reply)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < ch_registry_count(rt->reg); i++) {
		const struct ch_subject *s = ch_registry_at(rt->reg, i);
		for (size_t d = 0; d < s->ndevices; d++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "id", s->devices[d].id, "type",
							     s->devices[d].type, "location", s->devices[d].location,
							     "subject", s->id));
	}
	reply_json(status, reply, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(arr), "devices", arr));
}

/* GET /v1/subjects/{id}/report?weeks=N: the trend report (report.h), each week against her own norm. */
static void subject_report(struct ch_api *api, const struct ch_runtime *rt, const char *path,
			   const struct ch_http_incoming *rq, int *status, char **reply)
{
	const char *w = rq->query(rq, "weeks");
	const struct ch_subject *s = NULL;
	const struct ch_tz *tz = NULL;
	struct ch_trend_hist *h;
	struct ch_trend_report *r;
	char sid[CH_DEVICE_MAX], err[256];
	size_t n = strlen(path) - strlen("/report");
	long weeks = CH_REPORT_DEFAULT_WEEKS;
	int64_t now = ch_clock_now_ms();

	if (n < sizeof(sid)) {
		memcpy(sid, path, n);
		sid[n] = '\0';
		s = ch_registry_subject(rt->reg, sid);
	}
	if (!s) {
		reply_error(status, reply, 404, "no such subject");
		return;
	}
	if (w && ch_parse_long(w, 1, CH_TREND_MAX_WEEKS, &weeks)) {
		reply_error(status, reply, 400, "weeks must be 1..8");
		return;
	}
	if (ch_tz_get(ch_runtime_zone(rt, s), &tz, err, sizeof(err)))
		tz = NULL; /* UTC */
	h = malloc(sizeof(*h));
	r = malloc(sizeof(*r));
	if (!h || !r)
		reply_error(status, reply, 500, "out of memory");
	else if (ch_report_load(api->store, s, tz, now, (int)weeks, h, r, err, sizeof(err)) == 0)
		reply_json(status, reply, 200, ch_report_json(s, tz, now, h, r));
	else {
		ch_log_rl("api-store", 10000, CH_LOG_WARN, "api: %s", err);
		reply_error(status, reply, 503, "Redis is not reachable");
	}
	free(h);
	free(r);
}

/* ---------------------------------------------------------------- silences */

static void silences(struct ch_api *api, const struct ch_runtime *rt, const struct ch_http_incoming *rq, int *status,
		     char **reply)
{
	char err[256];

	if (strcmp(rq->method, "POST") == 0) {
		struct ch_silence_req q;
		enum ch_reject why;
		if (ch_control_silence(rq->body, rq->len, rt->reg, rt->rules, ch_clock_now_ms(), &q, &why, err,
				       sizeof(err))) {
			reply_error(status, reply, 400, err);
			return;
		}
		free(q.doc);
		if (!api->inject || api->inject(api->arg, CH_TOPIC_SILENCES, rq->body, rq->len)) {
			reply_error(status, reply, 503, "cannot queue the silence");
			return;
		}
		reply_json(status, reply, 202, json_pack("{s:b}", "queued", 1));
		return;
	}
	const char *sid = rq->query(rq, "subject");
	json_t *all = json_object(), *one;
	for (size_t i = 0; all && i < ch_registry_count(rt->reg); i++) {
		const struct ch_subject *s = ch_registry_at(rt->reg, i);
		if (sid && strcmp(sid, s->id) != 0)
			continue;
		if (ch_store_silences_get(api->store, s->id, &one, err, sizeof(err))) {
			json_decref(all);
			reply_error(status, reply, 503, "Redis is not reachable");
			return;
		}
		if (json_object_size(one))
			json_object_set_new(all, s->id, one);
		else
			json_decref(one);
	}
	reply_json(status, reply, 200, json_pack("{s:o}", "silences", all));
}

/* ---------------------------------------------------------------- routing */

void ch_api_handle(void *arg, const struct ch_http_incoming *rq, int *status, char **reply)
{
	struct ch_api *api = arg;
	struct ch_runtime *rt = ch_runtime_acquire();
	const char *p = rq->path;
	bool get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
	bool post = strcmp(rq->method, "POST") == 0;
	char id[CH_ID_MAX + 1], action[16];

	*reply = NULL;
	if (!rt) {
		reply_error(status, reply, 503, "starting");
		return;
	}
	pthread_mutex_lock(&api->mu);
	if (strcmp(p, "/v1/alerts") == 0 && get) {
		list_alerts(api, rt, rq, status, reply);
	} else if (strncmp(p, "/v1/alerts/", 11) == 0) {
		const char *rest = p + 11, *slash = strchr(rest, '/');
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
		if (n == 0 || n >= sizeof(id)) {
			reply_error(status, reply, 404, "not found");
		} else {
			memcpy(id, rest, n);
			id[n] = '\0';
			ch_strlcpy(action, slash ? slash + 1 : "", sizeof(action));
			if (!slash && get)
				get_alert(api, id, status, reply);
			else if (slash && post && strcmp(action, "ack") == 0)
				answer_alert(api, rt, id, "ack", rq, status, reply);
			else if (slash && post && strcmp(action, "resolve") == 0)
				answer_alert(api, rt, id, "resolve", rq, status, reply);
			else if (!slash || strcmp(action, "ack") == 0 || strcmp(action, "resolve") == 0)
				reply_error(status, reply, 405, slash ? "use POST" : "use GET");
			else
				reply_error(status, reply, 404, "not found");
		}
	} else if (strcmp(p, "/v1/subjects") == 0 && get) {
		list_subjects(rt, status, reply);
	} else if (strncmp(p, "/v1/subjects/", 13) == 0 && strlen(p) > 20 && strcmp(p + strlen(p) - 7, "/report") == 0) {
		if (get)
			subject_report(api, rt, p + 13, rq, status, reply);
		else
			reply_error(status, reply, 405, "use GET");
	} else if (strncmp(p, "/v1/subjects/", 13) == 0 && get) {
		const struct ch_subject *s = ch_registry_subject(rt->reg, p + 13);
		if (s)
			reply_json(status, reply, 200, json_incref(s->json));
		else
			reply_error(status, reply, 404, "no such subject");
	} else if (strcmp(p, "/v1/devices") == 0 && get) {
		list_devices(rt, status, reply);
	} else if (strcmp(p, "/v1/silences") == 0 && (get || post)) {
		silences(api, rt, rq, status, reply);
	} else if (strcmp(p, "/v1/alerts") == 0 || strcmp(p, "/v1/subjects") == 0 || strcmp(p, "/v1/devices") == 0 ||
		   strcmp(p, "/v1/silences") == 0) {
		reply_error(status, reply, 405, "method not allowed");
	} else {
		reply_error(status, reply, 404, "not found");
	}
	pthread_mutex_unlock(&api->mu);
	ch_runtime_release(rt);
}
