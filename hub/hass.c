/*
 * hass.c - Home Assistant MQTT discovery (see hass.h): the documents, as pure
 * functions the unit tests call, and the thread that publishes them.
 *
 * The thread wakes every second.  A subject's state is published when it
 * changes: an alert of the subject changed (ch_hass_alert), its last activity
 * moved, or the periodic pass (interval) found it different.  Open alerts come
 * from Redis in one read per pass (the alerts:open set), so several hub
 * instances publish the same truth; last activity is kept in Redis
 * (ha:activity) so a restart does not blank it.
 */
#include "hass.h"
#include "clock.h"
#include "log.h"
#include "runtime.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONFIG_EVERY_MS (10 * 60 * 1000)

static const char *const entities[] = {"attention", "open_alerts", "last_activity"};

/* ---- configuration ------------------------------------------------------------ */

static int conf_fail(char *err, size_t errlen, const char *what)
{
	(void)ch_fmt(err, errlen, "mqtt.homeassistant: %s", what);
	return CH_ECONFIG;
}

/* A topic prefix: no wildcards, no leading or trailing '/'. */
static int conf_prefix(json_t *j, const char *key, const char *def, char *out, size_t cap, char *err, size_t errlen)
{
	json_t *v = json_object_get(j, key);
	const char *s = v ? json_string_value(v) : def;
	size_t n = s ? strlen(s) : 0;

	if (!s || !n || strpbrk(s, "+#") || s[0] == '/' || s[n - 1] == '/' || ch_strlcpy(out, s, cap))
		return conf_fail(err, errlen, strcmp(key, "discovery_prefix") == 0
						      ? "discovery_prefix: expected a topic without wildcards"
						      : "state_prefix: expected a topic without wildcards");
	return 0;
}

int ch_hass_conf_parse(json_t *j, struct ch_hass_conf *out, char *err, size_t errlen)
{
	static const char *const keys[] = {"enabled", "discovery_prefix", "state_prefix", "subjects", "interval", "name"};
	json_t *v;
	const char *k;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	out->interval_ms = 60000;
	if (!j)
		return 0;
	if (!json_is_object(j))
		return conf_fail(err, errlen, "expected an object {\"enabled\", \"discovery_prefix\", ...}");
	json_object_foreach(j, k, v) {
		for (i = 0; i < CH_ARRAY_LEN(keys) && strcmp(k, keys[i]) != 0; i++)
			;
		if (i == CH_ARRAY_LEN(keys))
			return conf_fail(err, errlen, "unknown key, expected enabled, discovery_prefix, state_prefix, "
						      "subjects, interval or name");
	}
	v = json_object_get(j, "enabled");
	if (v && !json_is_boolean(v))
		return conf_fail(err, errlen, "enabled: expected true or false");
	out->enabled = !v || json_is_true(v);
	if ((rc = conf_prefix(j, "discovery_prefix", "homeassistant", out->discovery_prefix,
			      sizeof(out->discovery_prefix), err, errlen)) ||
	    (rc = conf_prefix(j, "state_prefix", "carehub/v1/ha", out->state_prefix, sizeof(out->state_prefix), err,
			      errlen)))
		return rc;
	v = json_object_get(j, "subjects");
	if (v) {
		json_t *s;
		if (!json_is_array(v))
			return conf_fail(err, errlen, "subjects: expected an array of subject ids");
		json_array_foreach(v, i, s)
			if (!json_is_string(s))
				return conf_fail(err, errlen, "subjects: expected an array of subject ids");
		out->subjects = v;
	}
	v = json_object_get(j, "interval");
	if (v) {
		bool ok = json_is_integer(v) ? json_integer_value(v) > 0 && json_integer_value(v) <= 86400
					     : json_is_string(v) && ch_parse_duration(json_string_value(v), &out->interval_ms) == 0 &&
						       out->interval_ms >= 1000;
		if (!ok)
			return conf_fail(err, errlen, "interval: expected a duration of at least 1s, e.g. \"60s\"");
		if (json_is_integer(v))
			out->interval_ms = json_integer_value(v) * 1000;
	}
	v = json_object_get(j, "name");
	if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "name") && strcmp(json_string_value(v), "id"))))
		return conf_fail(err, errlen, "name: expected \"name\" or \"id\"");
	out->by_id = v && strcmp(json_string_value(v), "id") == 0;
	return 0;
}

/* ---- documents ------------------------------------------------------------------ */

/* Home Assistant's node and object ids take [a-zA-Z0-9_-]; subject ids may hold . : @ too. */
static void ha_id(const char *sid, char *out, size_t cap)
{
	size_t n = 0;

	for (; *sid && n + 1 < cap; sid++)
		out[n++] = (*sid >= 'a' && *sid <= 'z') || (*sid >= 'A' && *sid <= 'Z') ||
				   (*sid >= '0' && *sid <= '9') || *sid == '-'
			   ? *sid
			   : '_';
	out[n] = '\0';
}

json_t *ch_hass_discovery(const struct ch_hass_conf *c, const struct ch_subject *s, const char *entity,
			  const char *availability, char *topic, size_t tlen)
{
	char id[128], uid[192], state[384];
	const char *component = strcmp(entity, "attention") == 0 ? "binary_sensor" : "sensor";
	json_t *doc;

	ha_id(s->id, id, sizeof(id));
	if (ch_fmt(topic, tlen, "%s/%s/carehub_%s/%s/config", c->discovery_prefix, component, id, entity) ||
	    ch_fmt(uid, sizeof(uid), "carehub_%s_%s", id, entity) ||
	    ch_fmt(state, sizeof(state), "%s/%s/state", c->state_prefix, s->id))
		return NULL;
	doc = json_pack("{s:s, s:s, s:s, s:s, s:{s:[s], s:s, s:s, s:s}}", "unique_id", uid, "object_id", uid,
			"state_topic", state, "json_attributes_topic", state, "device", "identifiers", uid,
			"name", c->by_id || !s->name[0] ? s->id : s->name, "manufacturer", "carehub", "model",
			"Home monitoring");
	if (!doc)
		return NULL;
	/* The device groups the three entities; identifiers name the subject, not the entity. */
	json_array_set_new(json_object_get(json_object_get(doc, "device"), "identifiers"), 0,
			   json_sprintf("carehub_%s", id));
	if (strcmp(entity, "attention") == 0) {
		json_object_set_new(doc, "name", json_string("Needs attention"));
		json_object_set_new(doc, "device_class", json_string("problem"));
		json_object_set_new(doc, "value_template", json_string("{{ value_json.attention }}"));
		json_object_set_new(doc, "payload_on", json_string("ON"));
		json_object_set_new(doc, "payload_off", json_string("OFF"));
		json_object_set_new(doc, "json_attributes_template",
				    json_string("{{ {'alerts': value_json.alerts} | tojson }}"));
	} else if (strcmp(entity, "open_alerts") == 0) {
		json_object_set_new(doc, "name", json_string("Open alerts"));
		json_object_set_new(doc, "state_class", json_string("measurement"));
		json_object_set_new(doc, "icon", json_string("mdi:alert-circle-outline"));
		json_object_set_new(doc, "value_template", json_string("{{ value_json.open_alerts }}"));
		json_object_del(doc, "json_attributes_topic");
	} else {
		json_object_set_new(doc, "name", json_string("Last activity"));
		json_object_set_new(doc, "device_class", json_string("timestamp"));
		/* None (no activity seen yet) is "unknown" to Home Assistant. */
		json_object_set_new(doc, "value_template", json_string("{{ value_json.last_activity }}"));
		json_object_del(doc, "json_attributes_topic");
	}
	if (availability) {
		json_object_set_new(doc, "availability_topic", json_string(availability));
		json_object_set_new(doc, "payload_available", json_string("online"));
		json_object_set_new(doc, "payload_not_available", json_string("offline"));
	}
	return doc;
}

json_t *ch_hass_state(json_t *alerts, int64_t last_activity_ms)
{
	json_t *list = json_array(), *a;
	char when[40];
	size_t i;

	json_array_foreach(alerts, i, a) {
		const char *st = json_string_value(json_object_get(a, "state"));
		if (st && strcmp(st, "resolved") == 0)
			continue;
		json_array_append_new(list, json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(a, "id"),
						      "rule", json_object_get(a, "rule"), "severity",
						      json_object_get(a, "severity"), "state", json_object_get(a, "state"),
						      "summary", json_object_get(a, "summary")));
	}
	if (last_activity_ms > 0)
		ch_clock_format(last_activity_ms, when, sizeof(when));
	return json_pack("{s:s, s:I, s:s?, s:o}", "attention", json_array_size(list) ? "ON" : "OFF", "open_alerts",
			 (json_int_t)json_array_size(list), "last_activity", last_activity_ms > 0 ? when : NULL,
			 "alerts", list);
}

/* With no inactivity rule to ask, the signs of life the default pack counts. */
static bool default_activity(const struct ch_event *ev)
{
	static const char *const any[] = {"door", "bed", "flush", "seat", "service.visit_checkin"};
	static const char *const when_true[] = {"motion", "appliance", "contact"};

	for (size_t i = 0; i < CH_ARRAY_LEN(any); i++)
		if (strcmp(ev->type, any[i]) == 0)
			return true;
	for (size_t i = 0; i < CH_ARRAY_LEN(when_true); i++)
		if (strcmp(ev->type, when_true[i]) == 0)
			return ev->vkind == CH_VAL_BOOL && ev->vbool;
	return strcmp(ev->type, "water_meter") == 0 && ev->vkind == CH_VAL_NUMBER && ev->vnum > 0;
}

bool ch_hass_is_activity(const struct ch_ruleset *rules, const struct ch_event *ev, const struct ch_device *dev)
{
	bool any_rule = false;

	for (size_t i = 0; rules && i < rules->n; i++) {
		const struct ch_rule *r = &rules->rules[i];
		if (r->kind != CH_RULE_INACTIVITY)
			continue;
		any_rule = true;
		for (size_t k = 0; k < r->nactivity; k++)
			if (ch_matcher_matches(&r->activity[k], ev, dev))
				return true;
	}
	return !any_rule && default_activity(ev);
}

/* ---- the publisher ------------------------------------------------------------------ */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	json_t *activity;     /* sid -> epoch ms (integer) */
	json_t *activity_new; /* sid -> ms text: to write to Redis */
	json_t *dirty;        /* sid -> true: state to publish again */
	bool running;
	pthread_t th;
	struct ch_hass_opts o;
	char availability[256];
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Only the publisher thread touches these. */
struct pub {
	struct ch_store *st;
	json_t *announced; /* sid -> {"config_ms": when the configs went, "state": the last state text} */
	int64_t last_full;
	bool enabled_before;
	struct ch_hass_conf conf;
};

void ch_hass_event(const struct ch_ruleset *rules, const struct ch_subject *subj, const struct ch_event *ev,
		   const struct ch_device *dev)
{
	json_t *cur;

	if (!subj || !ev || !ch_hass_is_activity(rules, ev, dev))
		return;
	pthread_mutex_lock(&H.mu);
	if (!H.activity)
		H.activity = json_object();
	if (!H.activity_new)
		H.activity_new = json_object();
	if (!H.dirty)
		H.dirty = json_object();
	cur = json_object_get(H.activity, subj->id);
	if (!cur || json_integer_value(cur) < ev->ts_ms) {
		json_object_set_new(H.activity, subj->id, json_integer(ev->ts_ms));
		json_object_set_new(H.activity_new, subj->id, json_sprintf("%lld", (long long)ev->ts_ms));
		json_object_set_new(H.dirty, subj->id, json_true());
	}
	pthread_mutex_unlock(&H.mu);
}

void ch_hass_alert(const char *sid)
{
	pthread_mutex_lock(&H.mu);
	if (!H.dirty)
		H.dirty = json_object();
	json_object_set_new(H.dirty, sid, json_true());
	pthread_cond_signal(&H.cv);
	pthread_mutex_unlock(&H.mu);
}

static bool selected(const struct ch_hass_conf *c, const char *sid)
{
	size_t i;
	json_t *s;

	if (!c->subjects)
		return true;
	json_array_foreach(c->subjects, i, s)
		if (strcmp(json_string_value(s), sid) == 0)
			return true;
	return false;
}

static bool publish_json(const char *topic, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	bool ok = text && H.o.publish(H.o.arg, topic, text, strlen(text), 1, 1) == 0;

	free(text);
	return ok;
}

/* Empties a subject's retained topics: Home Assistant removes its entities. */
static void forget(struct pub *p, const char *sid)
{
	struct ch_subject s = {.id = (char *)sid, .name = (char *)""};
	char topic[512];

	for (size_t i = 0; i < CH_ARRAY_LEN(entities); i++) {
		json_t *d = ch_hass_discovery(&p->conf, &s, entities[i], NULL, topic, sizeof(topic));
		json_decref(d);
		if (d)
			H.o.publish(H.o.arg, topic, "", 0, 1, 1);
	}
	if (ch_fmt(topic, sizeof(topic), "%s/%s/state", p->conf.state_prefix, sid) == 0)
		H.o.publish(H.o.arg, topic, "", 0, 1, 1);
	json_object_del(p->announced, sid);
}

static void announce(struct pub *p, const struct ch_subject *s, int64_t now)
{
	json_t *a = json_object_get(p->announced, s->id);
	char topic[512];
	bool ok = true;

	if (a && now - json_integer_value(json_object_get(a, "config_ms")) < CONFIG_EVERY_MS)
		return;
	for (size_t i = 0; i < CH_ARRAY_LEN(entities); i++) {
		json_t *d = ch_hass_discovery(&p->conf, s, entities[i], H.availability, topic, sizeof(topic));
		ok = publish_json(topic, d) && ok;
		json_decref(d);
	}
	if (!a) {
		a = json_object();
		json_object_set_new(p->announced, s->id, a);
	}
	json_object_set_new(a, "config_ms", json_integer(ok ? now : 0));
}

/* Publishes the state of s if it differs from what was published. */
static void publish_state(struct pub *p, const struct ch_subject *s, json_t *alerts, int64_t activity)
{
	json_t *doc = ch_hass_state(alerts, activity), *a = json_object_get(p->announced, s->id);
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char topic[384];

	if (text && a && strcmp(json_string_value(json_object_get(a, "state")) ? json_string_value(json_object_get(a, "state")) : "", text) != 0 &&
	    ch_fmt(topic, sizeof(topic), "%s/%s/state", p->conf.state_prefix, s->id) == 0 &&
	    H.o.publish(H.o.arg, topic, text, strlen(text), 1, 1) == 0)
		json_object_set_new(a, "state", json_string(text));
	free(text);
	json_decref(doc);
}

/* The unresolved alert documents, grouped by subject (a new object), or NULL while Redis is away. */
static json_t *alerts_by_subject(struct pub *p)
{
	json_t *docs = NULL, *by = json_object(), *d;
	char err[256];
	size_t i;

	if (ch_store_alerts_open(p->st, 10000, &docs, err, sizeof(err))) {
		ch_log_rl("hass-store", 10000, CH_LOG_WARN, "homeassistant: %s", err);
		json_decref(by);
		return NULL;
	}
	json_array_foreach(docs, i, d) {
		const char *sid = json_string_value(json_object_get(d, "subject"));
		if (!sid)
			continue;
		if (!json_object_get(by, sid))
			json_object_set_new(by, sid, json_array());
		json_array_append(json_object_get(by, sid), d);
	}
	json_decref(docs);
	return by;
}

static void pass(struct pub *p, const struct ch_runtime *rt, int64_t now)
{
	json_t *dirty, *by, *act, *write;
	bool full = now - p->last_full >= p->conf.interval_ms;
	const char *sid;
	json_t *v;
	char err[256];

	pthread_mutex_lock(&H.mu);
	dirty = H.dirty;
	H.dirty = NULL;
	write = H.activity_new;
	H.activity_new = NULL;
	act = H.activity ? json_deep_copy(H.activity) : json_object();
	pthread_mutex_unlock(&H.mu);
	if (write && ch_store_hash_write(p->st, "ha:activity", write, err, sizeof(err)))
		ch_log_rl("hass-store", 10000, CH_LOG_WARN, "homeassistant: %s", err);
	by = full || json_object_size(dirty) ? alerts_by_subject(p) : NULL;
	if (!by && json_object_size(dirty)) {
		/* Redis is away: these subjects wait for the next pass. */
		pthread_mutex_lock(&H.mu);
		if (!H.dirty)
			H.dirty = json_object();
		json_object_update(H.dirty, dirty);
		pthread_mutex_unlock(&H.mu);
	}
	if (by) {
		for (size_t i = 0; i < ch_registry_count(rt->reg); i++) {
			const struct ch_subject *s = ch_registry_at(rt->reg, i);
			if (!selected(&p->conf, s->id) || (!full && !json_object_get(dirty, s->id)))
				continue;
			announce(p, s, now);
			publish_state(p, s, json_object_get(by, s->id), json_integer_value(json_object_get(act, s->id)));
		}
		if (full)
			p->last_full = now;
		json_decref(by);
	}
	/* Subjects gone from the registry or the selection lose their entities. */
	void *tmp;
	json_object_foreach_safe(p->announced, tmp, sid, v) {
		if (!ch_registry_subject(rt->reg, sid) || !selected(&p->conf, sid))
			forget(p, sid);
	}
	json_decref(dirty);
	json_decref(write);
	json_decref(act);
}

/* Last activity survives a restart: what Redis holds, merged under what this run saw. */
static void load_activity(struct pub *p)
{
	json_t *stored = NULL, *v;
	const char *sid;
	char err[256];

	if (ch_store_hash_read(p->st, "ha:activity", &stored, err, sizeof(err)))
		return;
	pthread_mutex_lock(&H.mu);
	if (!H.activity)
		H.activity = json_object();
	json_object_foreach(stored, sid, v) {
		long ms;
		if (json_string_value(v) && ch_parse_long(json_string_value(v), 0, LONG_MAX, &ms) == 0 &&
		    json_integer_value(json_object_get(H.activity, sid)) < ms)
			json_object_set_new(H.activity, sid, json_integer(ms));
	}
	pthread_mutex_unlock(&H.mu);
	json_decref(stored);
}

static void *publisher(void *arg)
{
	struct pub p = {.st = arg, .announced = json_object()};
	bool loaded = false;
	char err[256];

	pthread_mutex_lock(&H.mu);
	while (H.running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&H.cv, &H.mu, &ts);
		pthread_mutex_unlock(&H.mu);
		struct ch_runtime *rt = ch_runtime_acquire();
		if (rt && ch_hass_conf_parse(rt->cfg->mqtt.homeassistant, &p.conf, err, sizeof(err)) == 0) {
			if (p.conf.enabled && !loaded)
				load_activity(&p);
			loaded = loaded || p.conf.enabled;
			if (p.conf.enabled) {
				pass(&p, rt, ch_clock_now_ms());
			} else if (json_object_size(p.announced)) {
				const char *sid;
				json_t *v;
				void *tmp;
				json_object_foreach_safe(p.announced, tmp, sid, v)
					forget(&p, sid);
			}
		}
		ch_runtime_release(rt);
		pthread_mutex_lock(&H.mu);
	}
	pthread_mutex_unlock(&H.mu);
	json_decref(p.announced);
	ch_store_close(p.st);
	return NULL;
}

int ch_hass_start(const struct ch_hass_opts *o, char *err, size_t errlen)
{
	struct ch_store *st = NULL;
	int rc = ch_store_open(o->store, &st, err, errlen);

	if (rc && rc != CH_EAGAIN)
		return rc;
	H.o = *o;
	ch_strlcpy(H.availability, o->availability ? o->availability : "", sizeof(H.availability));
	H.running = true;
	if (pthread_create(&H.th, NULL, publisher, st)) {
		H.running = false;
		ch_store_close(st);
		(void)ch_fmt(err, errlen, "homeassistant: cannot start its thread");
		return CH_ENOMEM;
	}
	return 0;
}

void ch_hass_stop(void)
{
	pthread_mutex_lock(&H.mu);
	if (!H.running) {
		pthread_mutex_unlock(&H.mu);
		return;
	}
	H.running = false;
	pthread_cond_signal(&H.cv);
	pthread_mutex_unlock(&H.mu);
	pthread_join(H.th, NULL);
	pthread_mutex_lock(&H.mu);
	json_decref(H.activity);
	json_decref(H.activity_new);
	json_decref(H.dirty);
	H.activity = H.activity_new = H.dirty = NULL;
	pthread_mutex_unlock(&H.mu);
}
