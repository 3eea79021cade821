/*
 * api_view.c - the API's views of alerts, timelines, escalation plans and
 * devices (see api_view.h).  Pure: documents in, documents out.
 */
#include "api_view.h"
#include "alerts.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_int_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* Sets key to v when v is a non-empty string (else leaves it out). */
static void put_str(json_t *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

static void put_ms(json_t *o, const char *key, json_int_t v)
{
	if (v > 0)
		json_object_set_new(o, key, json_integer(v));
}

int ch_view_severity_rank(const char *severity)
{
	enum ch_severity s;

	return severity && ch_severity_parse(severity, &s) == 0 ? (int)s : -1;
}

json_t *ch_view_item(json_t *doc, const struct ch_subject *subj, const char *tz)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	static const char *const copied[] = {"id",	 "rule",	 "severity", "category", "state",
					     "subject", "device",	 "location", "summary",	 "opened_at",
					     "outcome", "note",	 "reason",   "caveat",	 "kind",
					     "resolved_at", "resolved_by"};
	for (size_t i = 0; i < CH_ARRAY_LEN(copied); i++)
		put_str(o, copied[i], jstr(doc, copied[i]));
	put_str(o, "subject_id", jstr(doc, "subject")); /* stays when a detail replaces "subject" with the record */
	json_object_set_new(o, "count", json_integer(jint(doc, "count") ? jint(doc, "count") : 1));
	put_ms(o, "opened_ms", jint(doc, "opened_at_ms"));
	put_str(o, "acked_at", jstr(doc, "acknowledged_at"));
	put_ms(o, "acked_ms", jint(doc, "acknowledged_at_ms"));
	put_str(o, "acked_by", jstr(doc, "acknowledged_by"));
	put_ms(o, "resolved_ms", jint(doc, "resolved_at_ms"));
	put_ms(o, "updated_ms", jint(doc, "updated_at_ms"));
	if (subj) {
		json_object_set_new(o, "subject_name", json_string(subj->name ? subj->name : ""));
		json_object_set_new(o, "address", json_string(subj->address ? subj->address : ""));
		for (size_t i = 0; i < subj->ndevices; i++) {
			const struct ch_device *d = &subj->devices[i];
			if (jstr(doc, "device") && strcmp(d->id, jstr(doc, "device")) == 0 && d->location_names)
				json_object_set(o, "location_names", d->location_names);
		}
	}
	put_str(o, "tz", tz);
	return o;
}

static int by_severity_then_age(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int d = ch_view_severity_rank(jstr(y, "severity")) - ch_view_severity_rank(jstr(x, "severity"));
	json_int_t tx = jint(x, "opened_ms"), ty = jint(y, "opened_ms");

	if (d)
		return d;
	if (tx != ty)
		return (tx > ty) - (tx < ty);
	return strcmp(jstr(x, "id") ? jstr(x, "id") : "", jstr(y, "id") ? jstr(y, "id") : "");
}

void ch_view_sort(json_t *items)
{
	size_t n = json_array_size(items);
	json_t **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(items, i));
	qsort(v, n, sizeof(*v), by_severity_then_age);
	json_array_clear(items);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, v[i]);
	free(v);
}

/* ---------------------------------------------------------------- timeline */

/* "cid" from a notification key "<alert>:<step>:<cid>:<channel>" (the part before the last ':'). */
static bool key_cid(const char *key, char cid[9])
{
	const char *last = key ? strrchr(key, ':') : NULL, *p;

	if (!last || last - key < 9)
		return false;
	p = last - 8;
	if (p[-1] != ':')
		return false;
	memcpy(cid, p, 8);
	cid[8] = '\0';
	return true;
}

/* The contact an entry is about: its own contact object, else the one its notification key names. */
static void entry_contact(json_t *e, const struct ch_subject *subj, const char **name, const char **role)
{
	json_t *c = json_object_get(e, "contact");
	char cid[9];

	*name = jstr(c, "name");
	*role = jstr(c, "role");
	if ((!*name || !**name) && (key_cid(jstr(e, "key"), cid) || key_cid(jstr(e, "dispatch"), cid))) {
		const struct ch_contact *ct = ch_alert_find_contact(subj, cid);
		if (ct) {
			*name = ct->name;
			*role = ct->role;
		}
	}
}

/* The line a person reads for an entry: who was told how, or what happened and who did it. */
static void entry_text(json_t *e, const char *what, const char *contact, const char *role, char *out, size_t len)
{
	const char *channel = jstr(e, "channel"), *reason = jstr(e, "reason"), *text = jstr(e, "text");
	const char *verb = strcmp(what, "notified") == 0	  ? "told"
			   : strcmp(what, "notify_failed") == 0 ? "could not reach"
			   : strcmp(what, "rate_limited") == 0  ? "rate-limited, not sent to"
			   : strcmp(what, "not_sent") == 0	  ? "not sent to"
							  : NULL;

	bool clear = json_integer_value(json_object_get(e, "step")) < 0 && json_is_integer(json_object_get(e, "step"));

	if (verb && contact)
		ch_fmt(out, len, "%s%s %s (%s) on %s%s%s", clear ? "all clear: " : "", verb, contact, role ? role : "?",
		       channel ? channel : "?", reason && *reason ? ": " : "", reason && *reason ? reason : "");
	else
		ch_fmt(out, len, "%s", text ? text : what);
}

json_t *ch_view_timeline(json_t *stored, const struct ch_subject *subj)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach(stored, i, e) {
		const char *what = jstr(e, "what") ? jstr(e, "what") : "?", *contact, *role;
		char text[900];
		json_t *o;

		entry_contact(e, subj, &contact, &role);
		entry_text(e, what, contact, role, text, sizeof(text));
		o = json_pack("{s:I, s:s, s:s}", "ts_ms", jint(e, "ts_ms"), "kind", what, "text", text);
		if (!o)
			continue;
		put_str(o, "actor", jstr(e, "actor") ? jstr(e, "actor") : jstr(e, "by"));
		put_str(o, "actor_role", jstr(e, "actor_role"));
		put_str(o, "contact", contact);
		put_str(o, "role", role);
		put_str(o, "channel", jstr(e, "channel") ? jstr(e, "channel") : jstr(e, "via"));
		put_str(o, "outcome", jstr(e, "outcome"));
		put_str(o, "note", jstr(e, "note"));
		if (json_is_integer(json_object_get(e, "step")))
			json_object_set(o, "step", json_object_get(e, "step"));
		if (json_integer_value(json_object_get(e, "step")) < 0 && json_is_integer(json_object_get(e, "step")))
			json_object_set_new(o, "all_clear", json_true());
		json_array_append_new(out, o);
	}
	return out;
}

/* ---------------------------------------------------------------- reached */

/* The reached entry for (contact, role, channel), made if new. */
static json_t *reached_slot(json_t *all, const char *contact, const char *role, const char *channel)
{
	json_t *r;
	size_t i;

	json_array_foreach(all, i, r) {
		if (strcmp(jstr(r, "contact"), contact) == 0 && strcmp(jstr(r, "role"), role) == 0 &&
		    strcmp(jstr(r, "channel"), channel) == 0)
			return r;
	}
	r = json_pack("{s:s, s:s, s:s, s:s}", "contact", contact, "role", role, "channel", channel, "status", "queued");
	json_array_append_new(all, r);
	return r;
}

/* An answer to a notification: a person's "I'm on it", "I need help", "I am fine", or what the provider said. */
static const char *answer_of(const char *what, json_t *e)
{
	if (strcmp(what, "acknowledged") == 0)
		return "on_it";
	if (strcmp(what, "needs_help") == 0)
		return "needs_help";
	if (strcmp(what, "resolved") == 0)
		return jstr(e, "outcome") && strcmp(jstr(e, "outcome"), "false_alarm") == 0 ? "fine" : "resolved";
	return NULL;
}

json_t *ch_view_reached(json_t *stored, const struct ch_subject *subj)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach(stored, i, e) {
		const char *what = jstr(e, "what"), *contact, *role, *channel;
		json_t *r;

		if (!what)
			continue;
		entry_contact(e, subj, &contact, &role);
		channel = jstr(e, "channel") ? jstr(e, "channel") : jstr(e, "via");
		if (!contact || !role || !channel)
			continue;
		if (strcmp(what, "notified") == 0 || strcmp(what, "notify_failed") == 0 ||
		    strcmp(what, "rate_limited") == 0 || strcmp(what, "not_sent") == 0) {
			if (json_is_integer(json_object_get(e, "step")) && jint(e, "step") < 0)
				continue; /* an all clear, not a call for help */
			r = reached_slot(out, contact, role, channel);
			json_object_set_new(r, "status",
					    json_string(strcmp(what, "notified") == 0	  ? "sent"
							: strcmp(what, "notify_failed") == 0 ? "failed"
							: strcmp(what, "rate_limited") == 0  ? "limited"
											     : "not_sent"));
			json_object_set_new(r, "ts_ms", json_integer(jint(e, "ts_ms")));
		} else if (jstr(e, "dispatch")) {
			/* A provider's callback about one notification: a receipt or the person's answer. */
			const char *ans = answer_of(what, e);
			r = reached_slot(out, contact, role, channel);
			if (ans)
				json_object_set_new(r, "answer", json_string(ans));
			else if (jstr(e, "text") && !json_object_get(r, "answer"))
				json_object_set_new(r, "receipt", json_string(jstr(e, "text")));
			json_object_set_new(r, "answer_ms", json_integer(jint(e, "ts_ms")));
		}
	}
	return out;
}

/* ---------------------------------------------------------------- plan */

json_t *ch_view_plan(const struct ch_policy *pol, long long g, int64_t next_at_ms, int64_t opened_ms,
		     const struct ch_subject *subj, size_t max)
{
	json_t *out = json_array();
	size_t total = ch_policy_total_steps(pol);

	for (size_t k = g < 0 ? 0 : (size_t)g; out && pol && k < total && json_array_size(out) < max; k++) {
		const struct ch_policy_step *st = &pol->steps[k % pol->nsteps];
		json_t *roles = json_array(), *contacts = json_array(), *channels = json_array(), *o;
		/* The next one may have been brought forward ("I need help", "escalate now"). */
		int64_t due = (long long)k == g && next_at_ms > 0 ? next_at_ms : opened_ms + ch_policy_step_due_ms(pol, k);

		for (size_t r = 0; r < st->nroles; r++) {
			json_array_append_new(roles, json_string(st->roles[r]));
			for (size_t c = 0; subj && c < subj->ncontacts; c++) {
				const struct ch_contact *ct = &subj->contacts[c];
				if (strcmp(ct->role, st->roles[r]) != 0)
					continue;
				json_array_append_new(contacts, json_pack("{s:s, s:s}", "name", ct->name ? ct->name : "",
									  "role", ct->role));
				if (st->first_contact)
					break;
			}
		}
		for (size_t c = 0; c < st->nchannels; c++)
			json_array_append_new(channels, json_string(st->channels[c]));
		o = json_pack("{s:I, s:I, s:o, s:o, s:o}", "step", (json_int_t)k, "due_ms", (json_int_t)due, "roles", roles,
			      "contacts", contacts, "channels", channels);
		if (o && st->nfallback) {
			json_t *fb = json_array();
			for (size_t f = 0; f < st->nfallback; f++)
				json_array_append_new(fb, json_string(st->fallback[f]));
			json_object_set_new(o, "fallback", fb);
		}
		json_array_append_new(out, o);
	}
	return out;
}

/* ---------------------------------------------------------------- devices */

/* "87|1700000000000" from the health hash: the value and when it was said. */
static bool health_pair(json_t *health, const char *dev, const char *what, long *val, json_int_t *ms)
{
	char key[256];
	const char *v, *bar;
	long t;

	if (ch_fmt(key, sizeof(key), "%s|%s", dev, what) || !(v = jstr(health, key)) || !(bar = strchr(v, '|')))
		return false;
	char num[24];
	if ((size_t)(bar - v) >= sizeof(num))
		return false;
	memcpy(num, v, (size_t)(bar - v));
	num[bar - v] = '\0';
	if (ch_parse_long(num, 0, 1000, val) || ch_parse_long(bar + 1, 0, 0x7fffffffffffffffL, &t))
		return false;
	*ms = t;
	return true;
}

json_t *ch_view_devices(const struct ch_subject *subj, const struct ch_sstate *st, json_t *health, int64_t now_ms)
{
	json_t *out = json_array();

	for (size_t i = 0; out && subj && i < subj->ndevices; i++) {
		const struct ch_device *d = &subj->devices[i];
		uint32_t h = ch_engine_hash(d->id);
		int64_t last = 0;
		long v;
		json_int_t ms;
		bool offline = false;
		json_t *o = json_pack("{s:s, s:s, s:s}", "id", d->id, "type", d->type ? d->type : "", "location",
				      d->location ? d->location : "");

		if (!o)
			continue;
		if (d->location_names)
			json_object_set(o, "location_names", d->location_names);
		for (size_t k = 0; st && k < st->ndevs; k++)
			if (st->devs[k].dev_hash == h)
				last = st->devs[k].last_ms;
		json_object_set_new(o, "last_seen_ms", last > 0 ? json_integer(last) : json_null());
		if (health_pair(health, d->id, "battery", &v, &ms)) {
			json_object_set_new(o, "battery", json_integer(v));
			json_object_set_new(o, "battery_ms", json_integer(ms));
		} else {
			json_object_set_new(o, "battery", json_null());
		}
		if (health_pair(health, d->id, "online", &v, &ms)) {
			json_object_set_new(o, "online", json_boolean(v != 0));
			offline = v == 0;
		}
		if (d->heartbeat_ms > 0) {
			json_object_set_new(o, "heartbeat_s", json_integer(d->heartbeat_ms / 1000));
			/* Silent past its heartbeat (counted from when the hub started watching, if never heard). */
			int64_t since = last > 0 ? last : (st ? st->created_ms : now_ms);
			offline = offline || now_ms - since > d->heartbeat_ms;
		}
		json_object_set_new(o, "offline", json_boolean(offline));
		json_array_append_new(out, o);
	}
	return out;
}

json_t *ch_view_subject(const struct ch_subject *subj, const char *tz, json_t *devices)
{
	json_t *contacts = json_array();

	for (size_t i = 0; contacts && i < subj->ncontacts; i++) {
		const struct ch_contact *c = &subj->contacts[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "name", c->name ? c->name : "", "phone",
				      c->phone ? c->phone : "", "role", c->role, "order", c->order);
		if (o) {
			put_str(o, "quiet_hours", c->quiet_hours);
			put_str(o, "timezone", c->timezone);
			put_str(o, "language", c->language);
		}
		json_array_append_new(contacts, o);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id", subj->id, "name", subj->name ? subj->name : "",
			 "address", subj->address ? subj->address : "", "phone", subj->phone ? subj->phone : "", "tz",
			 tz ? tz : "UTC", "notes", subj->notes ? subj->notes : "", "contacts", contacts, "devices",
			 devices ? json_incref(devices) : json_array());
}

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

bool ch_view_subject_matches(const struct ch_subject *subj, const char *q)
{
	if (!q || !*q)
		return true;
	return contains_ci(subj->name, q) || contains_ci(subj->id, q) || contains_ci(subj->address, q) ||
	       contains_ci(subj->phone, q);
}
