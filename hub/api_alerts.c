/*
 * api_alerts.c - the API's alert, subject, device and silence routes, and
 * the live feed's entry point (see api.h for the list).  What is shown is
 * built by api_view.c; answers are queued through the journal (api.c
 * api_inject), never written here.
 */
#include "api_int.h"
#include "api_view.h"
#include "clock.h"
#include "control.h"
#include "ingest.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 200
#define LIST_MAX 1000
#define PLAN_MAX 8
#define HISTORY_MAX 20

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *zone_of(const struct api_req *r, const struct ch_subject *s)
{
	return ch_runtime_zone(r->rt, s);
}

static const struct ch_policy *policy_named(const struct ch_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->npolicies; i++)
		if (strcmp(cfg->policies[i].name, name) == 0)
			return &cfg->policies[i];
	return NULL;
}

/* The list items of stored documents, kept when they pass the filters. */
static json_t *items_of(struct api_req *r, json_t *docs, const char *state, const char *severity)
{
	json_t *out = json_array(), *d;
	size_t i;

	json_array_foreach(docs, i, d) {
		const char *st = jstr(d, "state"), *sev = jstr(d, "severity");
		const struct ch_subject *s = ch_registry_subject(r->rt->reg, jstr(d, "subject"));

		if (state && strcmp(state, "active") == 0 && st && strcmp(st, "resolved") == 0)
			continue;
		if (state && strcmp(state, "active") != 0 && (!st || strcmp(st, state) != 0))
			continue;
		if (severity && (!sev || strcmp(sev, severity) != 0))
			continue;
		json_array_append_new(out, ch_view_item(d, s, s ? zone_of(r, s) : NULL));
	}
	return out;
}

void api_alerts_list(struct api_req *r, const char *arg)
{
	const char *state = r->rq->query(r->rq, "state"), *sev = r->rq->query(r->rq, "severity");
	const char *subject = r->rq->query(r->rq, "subject"), *lim = r->rq->query(r->rq, "limit");
	struct ch_store *st;
	json_t *docs = NULL, *items;
	long limit = LIST_DEFAULT;
	char err[256];
	int rc;

	(void)arg;
	if (lim && ch_parse_long(lim, 1, LIST_MAX, &limit)) {
		api_error(r, 400, "bad_request", "limit must be 1..1000");
		return;
	}
	if (state && strcmp(state, "open") && strcmp(state, "acknowledged") && strcmp(state, "resolved") &&
	    strcmp(state, "active")) {
		api_error(r, 400, "bad_request", "state must be open, acknowledged, resolved or active");
		return;
	}
	if (sev && ch_view_severity_rank(sev) < 0) {
		api_error(r, 400, "bad_request", "severity must be critical, high, medium, low or info");
		return;
	}
	if (subject && !ch_registry_subject(r->rt->reg, subject)) {
		api_error(r, 404, "not_found", "no such subject");
		return;
	}
	if (!(st = api_store(r)))
		return;
	if (subject)
		rc = ch_store_subject_alerts(st, subject, (size_t)limit, &docs, err, sizeof(err));
	else if (state && strcmp(state, "resolved") == 0)
		rc = ch_store_alerts_recent(st, (size_t)limit, &docs, err, sizeof(err));
	else
		rc = ch_store_alerts_open(st, LIST_MAX, &docs, err, sizeof(err));
	if (rc) {
		api_store_error(r, rc, err);
		return;
	}
	/* The queue: active ones by default, most urgent first; a subject's history stays newest first. */
	items = items_of(r, docs, state ? state : subject ? NULL : "active", sev);
	json_decref(docs);
	if (!subject && !(state && strcmp(state, "resolved") == 0))
		ch_view_sort(items);
	while (json_array_size(items) > (size_t)limit)
		json_array_remove(items, json_array_size(items) - 1);
	api_json(r, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(items), "alerts", items));
}

/* The subject's devices with their health (engine state and P{sid}:devhealth); NULL with an answer given. */
static json_t *devices_of(struct api_req *r, struct ch_store *st, const struct ch_subject *s)
{
	uint8_t *blob = NULL;
	size_t len = 0;
	struct ch_sstate es;
	bool have = false;
	json_t *health = NULL, *out;
	char err[256];
	int rc;

	if ((rc = ch_store_state_get(st, s->id, &blob, &len, err, sizeof(err))) ||
	    (rc = ch_store_devhealth_get(st, s->id, &health, err, sizeof(err)))) {
		free(blob);
		api_store_error(r, rc, err);
		return NULL;
	}
	have = blob && ch_sstate_decode(&es, blob, len) == 0;
	free(blob);
	out = ch_view_devices(s, have ? &es : NULL, health, ch_clock_now_ms());
	if (have)
		ch_sstate_clear(&es);
	json_decref(health);
	return out;
}

void api_alert_get(struct api_req *r, const char *id)
{
	struct ch_store *st = api_store(r);
	char *doc = NULL, err[256], pol[128];
	json_t *d, *tl = NULL, *o, *devs;
	const struct ch_subject *s;
	long long g = 0;
	int64_t at = 0;
	int rc;

	if (!st)
		return;
	rc = ch_store_alert_get(st, id, &doc, err, sizeof(err));
	if (rc == CH_ENOTFOUND || rc == CH_EINVAL) {
		api_error(r, 404, "not_found", "no such alert");
		return;
	}
	if (rc || (rc = ch_store_alert_timeline(st, id, &tl, err, sizeof(err)))) {
		free(doc);
		api_store_error(r, rc, err);
		return;
	}
	rc = ch_store_esc_get(st, id, pol, sizeof(pol), &g, &at, err, sizeof(err));
	if (rc && rc != CH_ENOTFOUND) {
		free(doc);
		json_decref(tl);
		api_store_error(r, rc, err);
		return;
	}
	d = json_loads(doc, 0, NULL);
	free(doc);
	s = ch_registry_subject(r->rt->reg, jstr(d, "subject"));
	o = ch_view_item(d, s, s ? zone_of(r, s) : NULL);
	json_object_set_new(o, "timeline", ch_view_timeline(tl, s));
	json_object_set_new(o, "reached", ch_view_reached(tl, s));
	/* Only an open alert escalates: an acknowledged one's escalation is paused
	 * (a new occurrence re-opens it), a resolved one's is gone. */
	if (!rc && (!jstr(d, "state") || strcmp(jstr(d, "state"), "open") != 0))
		rc = CH_ENOTFOUND;
	json_object_set_new(o, "plan",
			    ch_view_plan(rc ? NULL : policy_named(r->rt->cfg, pol), g, at,
					 json_integer_value(json_object_get(d, "opened_at_ms")), s, PLAN_MAX));
	if (s && (devs = devices_of(r, st, s)) != NULL)
		json_object_set_new(o, "subject", ch_view_subject(s, zone_of(r, s), devs)), json_decref(devs);
	else if (s)
		goto fail; /* answered */
	/* The old shape, for tools written against it: the stored document and timeline. */
	json_object_set_new(o, "alert", json_incref(d));
	api_json(r, 200, o);
	json_decref(d);
	json_decref(tl);
	return;
fail:
	json_decref(o);
	json_decref(d);
	json_decref(tl);
}

/* ---------------------------------------------------------------- answers */

/*
 * POST /v1/alerts/{id}/<action>: the carehub/v1/acks message with the signed-in
 * account as who acted, checked by the same parser as MQTT's, then queued.
 */
static void answer(struct api_req *r, const char *id, const char *action)
{
	json_t *b = r->rq->len ? api_body(r) : json_object(), *msg, *d;
	struct ch_store *st;
	struct ch_ack_req q;
	enum ch_reject why;
	char err[512], *doc = NULL, *text;
	int rc;

	if (!b)
		return;
	if (!(st = api_store(r)))
		goto out_b;
	rc = ch_store_alert_get(st, id, &doc, err, sizeof(err));
	if (rc == CH_ENOTFOUND || rc == CH_EINVAL) {
		api_error(r, 404, "not_found", "no such alert");
		goto out_b;
	}
	/* Redis away: the answer is taken all the same (journal) and applied when it is back. */
	d = rc ? NULL : json_loads(doc, 0, NULL);
	free(doc);
	if (d && jstr(d, "state") && strcmp(jstr(d, "state"), "resolved") == 0) {
		api_error(r, 409, "conflict", "the alert was resolved already by %s (outcome %s)",
			  jstr(d, "resolved_by") ? jstr(d, "resolved_by") : "someone",
			  jstr(d, "outcome") ? jstr(d, "outcome") : "?");
		json_decref(d);
		goto out_b;
	}
	json_decref(d);
	msg = json_pack("{s:s, s:s, s:s, s:O?, s:O?, s:s}", "alert", id, "action", action, "by", r->who.name, "outcome",
			json_object_get(b, "outcome"), "note", json_object_get(b, "note"), "via", "api");
	text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	if (!text || ch_control_ack(text, strlen(text), r->rt->reg, &q, &why, err, sizeof(err))) {
		api_error(r, 400, "bad_request", "%s", text ? err : "out of memory");
		goto out;
	}
	if (api_inject(r, CH_TOPIC_API_ACKS, msg))
		goto out;
	ch_log(CH_LOG_INFO, "api: %s %s by %s (%s)", action, id, r->who.name, ch_role_name(r->who.role));
	api_json(r, 202, json_pack("{s:b, s:s, s:s}", "accepted", 1, "alert", id, "action", action));
out:
	free(text);
	json_decref(msg);
out_b:
	json_decref(b);
}

void api_alert_ack(struct api_req *r, const char *id)
{
	answer(r, id, "ack");
}

void api_alert_resolve(struct api_req *r, const char *id)
{
	answer(r, id, "resolve");
}

void api_alert_note(struct api_req *r, const char *id)
{
	answer(r, id, "note");
}

void api_alert_escalate(struct api_req *r, const char *id)
{
	answer(r, id, "escalate");
}

/* ---------------------------------------------------------------- subjects and devices */

void api_subjects_list(struct api_req *r, const char *arg)
{
	const char *q = r->rq->query(r->rq, "q");
	struct ch_store *st = api_store(r);
	json_t *open = NULL, *out = json_array(), *d;
	char err[256];
	size_t i;

	(void)arg;
	if (!st) {
		json_decref(out);
		return;
	}
	/* Open counts are a nicety: without Redis the search still answers. */
	if (ch_store_alerts_open(st, LIST_MAX, &open, err, sizeof(err)))
		open = NULL;
	for (size_t k = 0; k < ch_registry_count(r->rt->reg); k++) {
		const struct ch_subject *s = ch_registry_at(r->rt->reg, k);
		json_int_t n = 0;

		if (!ch_view_subject_matches(s, q))
			continue;
		json_array_foreach(open, i, d)
			n += jstr(d, "subject") && strcmp(jstr(d, "subject"), s->id) == 0;
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", s->id, "name", s->name ? s->name : "",
						     "address", s->address ? s->address : "", "phone",
						     s->phone ? s->phone : "", "open_alerts",
						     open ? json_integer(n) : json_null()));
	}
	json_decref(open);
	api_json(r, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(out), "subjects", out));
}

void api_subject_get(struct api_req *r, const char *id)
{
	const struct ch_subject *s = ch_registry_subject(r->rt->reg, id);
	struct ch_store *st;
	json_t *devs, *o, *hist = NULL, *open = json_array(), *recent = json_array(), *d;
	char err[256];
	size_t i;
	int rc;

	if (!s) {
		json_decref(open);
		json_decref(recent);
		api_error(r, 404, "not_found", "no such subject");
		return;
	}
	if (!(st = api_store(r)) || !(devs = devices_of(r, st, s))) {
		json_decref(open);
		json_decref(recent);
		return;
	}
	o = ch_view_subject(s, zone_of(r, s), devs);
	json_decref(devs);
	if ((rc = ch_store_subject_alerts(st, s->id, HISTORY_MAX, &hist, err, sizeof(err)))) {
		json_decref(o);
		json_decref(open);
		json_decref(recent);
		api_store_error(r, rc, err);
		return;
	}
	json_array_foreach(hist, i, d) {
		bool resolved = jstr(d, "state") && strcmp(jstr(d, "state"), "resolved") == 0;
		json_array_append_new(resolved ? recent : open, ch_view_item(d, s, zone_of(r, s)));
	}
	json_decref(hist);
	ch_view_sort(open);
	json_object_set_new(o, "open_alerts", open);
	json_object_set_new(o, "recent_alerts", recent);
	/* The registry record as stored, for tools written against the first API. */
	json_object_set(o, "record", s->json);
	api_json(r, 200, o);
}

void api_devices_list(struct api_req *r, const char *arg)
{
	const char *sid = r->rq->query(r->rq, "subject");
	json_t *out = json_array();
	struct ch_store *st;

	(void)arg;
	if (sid) {
		/* One subject: with each device's health. */
		const struct ch_subject *s = ch_registry_subject(r->rt->reg, sid);
		json_t *devs, *dv;
		size_t i;
		if (!s) {
			json_decref(out);
			api_error(r, 404, "not_found", "no such subject");
			return;
		}
		if (!(st = api_store(r)) || !(devs = devices_of(r, st, s))) {
			json_decref(out);
			return;
		}
		json_array_foreach(devs, i, dv) {
			json_object_set_new(dv, "subject", json_string(s->id));
			json_array_append(out, dv);
		}
		json_decref(devs);
	} else {
		for (size_t k = 0; k < ch_registry_count(r->rt->reg); k++) {
			const struct ch_subject *s = ch_registry_at(r->rt->reg, k);
			for (size_t d = 0; d < s->ndevices; d++)
				json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "id", s->devices[d].id, "type",
								     s->devices[d].type, "location", s->devices[d].location,
								     "subject", s->id));
		}
	}
	api_json(r, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(out), "devices", out));
}

/* ---------------------------------------------------------------- silences */

void api_silences_list(struct api_req *r, const char *arg)
{
	const char *sid = r->rq->query(r->rq, "subject");
	struct ch_store *st;
	json_t *out = json_array();
	int64_t now = ch_clock_now_ms();
	char err[256];

	(void)arg;
	if (sid && !ch_registry_subject(r->rt->reg, sid)) {
		json_decref(out);
		api_error(r, 404, "not_found", "no such subject");
		return;
	}
	if (!(st = api_store(r))) {
		json_decref(out);
		return;
	}
	for (size_t k = 0; k < ch_registry_count(r->rt->reg); k++) {
		const struct ch_subject *s = ch_registry_at(r->rt->reg, k);
		const char *target;
		json_t *all, *one;
		int rc;

		if (sid && strcmp(sid, s->id) != 0)
			continue;
		if ((rc = ch_store_silences_get(st, s->id, &all, err, sizeof(err)))) {
			json_decref(out);
			api_store_error(r, rc, err);
			return;
		}
		json_object_foreach(all, target, one) {
			json_int_t until = json_integer_value(json_object_get(one, "until_ms"));
			const char *scope = jstr(one, "scope");
			char id[256];
			json_t *o;

			if (until <= now)
				continue; /* expired: the engine no longer holds anything for it */
			ch_fmt(id, sizeof(id), "%s~%s", s->id, target);
			o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "id", id, "subject", s->id, "scope",
				      scope ? scope : "subject", "until_ms", until, "until", jstr(one, "until") ? jstr(one, "until") : "",
				      "reason", jstr(one, "reason") ? jstr(one, "reason") : "", "by",
				      jstr(one, "by") ? jstr(one, "by") : "");
			if (o && scope && strcmp(scope, "subject") != 0)
				json_object_set_new(o, scope, json_string(jstr(one, "target") ? jstr(one, "target") : ""));
			if (o && jstr(one, "account"))
				json_object_set_new(o, "account", json_string(jstr(one, "account")));
			json_array_append_new(out, o);
		}
		json_decref(all);
	}
	api_json(r, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(out), "silences", out));
}

/* Checks a silence message and queues it on the API's topic; 202 with its id. */
static void silence_queue(struct api_req *r, json_t *msg, const char *verb)
{
	struct ch_silence_req q;
	enum ch_reject why;
	char err[512], id[256], *text;

	json_object_set_new(msg, "by", json_string(r->who.name));
	text = json_dumps(msg, JSON_COMPACT);
	if (!text || ch_control_silence(text, strlen(text), r->rt->reg, r->rt->rules, ch_clock_now_ms(), &q, &why, err,
					sizeof(err))) {
		free(text);
		api_error(r, 400, "bad_request", "%s", err);
		return;
	}
	free(text);
	free(q.doc);
	ch_fmt(id, sizeof(id), "%s~%s", q.subj->id, q.target[0] ? q.target : "*");
	if (api_inject(r, CH_TOPIC_API_SILENCES, msg))
		return;
	ch_log(CH_LOG_INFO, "api: %s %s by %s", verb, id, r->who.name);
	api_json(r, 202, json_pack("{s:b, s:s}", "accepted", 1, "id", id));
}

void api_silence_add(struct api_req *r, const char *arg)
{
	json_t *b = api_body(r);

	(void)arg;
	if (!b)
		return;
	silence_queue(r, b, "silence");
	json_decref(b);
}

void api_silence_lift(struct api_req *r, const char *id)
{
	char sid[128];
	const char *tilde = strchr(id, '~'), *target;
	json_t *msg;

	if (!tilde || (size_t)(tilde - id) >= sizeof(sid) || !tilde[1]) {
		api_error(r, 404, "not_found", "a silence id is <subject>~<rule or device> (or ~* for the whole subject)");
		return;
	}
	memcpy(sid, id, (size_t)(tilde - id));
	sid[tilde - id] = '\0';
	target = tilde + 1;
	/* "for": 0 ends it now; the correlator lifts it in the engine and the list. */
	msg = json_pack("{s:s, s:i, s:s}", "subject", sid, "for", 0, "reason", "lifted");
	if (msg && strcmp(target, "*") != 0)
		json_object_set_new(msg, ch_rules_find(r->rt->rules, target) ? "rule" : "device", json_string(target));
	if (!msg) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	silence_queue(r, msg, "lift");
	json_decref(msg);
}

/* ---------------------------------------------------------------- the live feed */

static long stream_read(void *arg, char *buf, size_t max)
{
	return ch_stream_next(arg, buf, max);
}

static void stream_close(void *arg)
{
	ch_stream_close(arg);
}

void api_stream(struct api_req *r, const char *arg)
{
	const char *last = r->rq->header(r->rq, "Last-Event-ID");
	struct ch_stream_client *c;
	int rc;

	(void)arg;
	if (!last)
		last = r->rq->query(r->rq, "last_id");
	if (!r->api->stream) {
		api_error(r, 503, "unavailable", "the live feed is not running");
		return;
	}
	if ((rc = ch_stream_open(r->api->stream, last, &c))) {
		api_error(r, 503, "unavailable", rc == CH_EFULL ? "too many live feeds open; poll /v1/alerts meanwhile"
								 : "out of memory");
		return;
	}
	r->out->status = 200;
	r->out->ctype = "text/event-stream; charset=utf-8";
	r->out->read = stream_read;
	r->out->free_arg = stream_close;
	r->out->arg = c;
}

char *ch_api_render_change(void *arg, const struct ch_change *c, const char *doc)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	json_t *d = doc && *doc ? json_loads(doc, 0, NULL) : NULL, *o;
	const struct ch_subject *s;
	char *out;

	(void)arg;
	s = rt && d ? ch_registry_subject(rt->reg, jstr(d, "subject")) : NULL;
	o = d ? ch_view_item(d, s, s ? ch_runtime_zone(rt, s) : NULL) : json_pack("{s:s}", "id", c->alert);
	if (o)
		json_object_set_new(o, "change", json_string(c->kind));
	out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	json_decref(d);
	ch_runtime_release(rt);
	return out;
}
