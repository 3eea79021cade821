/*
 * alerts.c - building alert, job and notification documents.
 */
#include "alerts.h"
#include "template.h"
#include "tz.h"

#include <string.h>

static const char *str_or(const char *s, const char *def)
{
	return s && *s ? s : def;
}

json_t *ch_alert_template(const struct ch_rule *rule, const struct ch_subject *subj,
			  const struct ch_device *dev, const struct ch_event *ev)
{
	char summary[512], value[64] = "";
	const char *keys[] = {"device", "location", "type", "value", "subject", "rule"};
	const char *vals[6];

	switch (ev->vkind) {
	case CH_VAL_BOOL:
		ch_strlcpy(value, ev->vbool ? "true" : "false", sizeof(value));
		break;
	case CH_VAL_NUMBER:
		ch_fmt(value, sizeof(value), "%g", ev->vnum);
		break;
	case CH_VAL_STRING:
		ch_strlcpy(value, ev->vstr, sizeof(value));
		break;
	default:
		break;
	}
	vals[0] = ev->device;
	vals[1] = dev ? str_or(dev->location, "") : "";
	vals[2] = ev->type;
	vals[3] = value;
	vals[4] = subj->name;
	vals[5] = rule->id;
	ch_rules_render(rule->summary ? rule->summary : "{type} from {device}", keys, vals, 6, summary,
			sizeof(summary));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s*}", "rule", rule->id, "severity",
			 ch_severity_name(rule->severity), "category",
			 rule->category == CH_CAT_MAINTENANCE ? "maintenance" : "safety", "subject", subj->id,
			 "device", ev->device, "location", vals[1], "type", ev->type, "summary", summary,
			 "policy", rule->policy);
}

json_t *ch_alert_for_action(const struct ch_action *a, const struct ch_subject *subj, const struct ch_tz *tz)
{
	return ch_alert_for_action_in(a, subj, tz, NULL, NULL);
}

json_t *ch_alert_for_action_in(const struct ch_action *a, const struct ch_subject *subj, const struct ch_tz *tz,
			       const struct ch_templates *tpl, const char *lang)
{
	const struct ch_rule *r = a->rule;
	const struct ch_event *ev = a->ev;
	const struct ch_device *dev = a->dev;
	const char *keys[] = {"device", "location", "type", "value", "subject", "rule", "duration", "threshold",
			      "measured", "since"};
	const char *vals[CH_ARRAY_LEN(keys)];
	char summary[512], value[64] = "", duration[32] = "", threshold[32] = "", at[40];
	int64_t d = r->kind == CH_RULE_INACTIVITY ? r->for_ms
		    : r->kind == CH_RULE_AGGREGATE ? r->window_ms
		    : r->kind == CH_RULE_SEQUENCE  ? r->within_ms
						   : 0;
	json_t *doc;

	if (ev && ev->vkind == CH_VAL_BOOL)
		ch_strlcpy(value, ev->vbool ? "true" : "false", sizeof(value));
	else if (ev && ev->vkind == CH_VAL_NUMBER)
		ch_fmt(value, sizeof(value), "%g", ev->vnum);
	else if (ev && ev->vkind == CH_VAL_STRING)
		ch_strlcpy(value, ev->vstr, sizeof(value));
	else
		ch_strlcpy(value, a->measured, sizeof(value));
	if (d)
		ch_fmt_duration(d, duration, sizeof(duration));
	if (r->kind == CH_RULE_AGGREGATE)
		ch_fmt(threshold, sizeof(threshold), "%g", r->threshold);
	vals[0] = ev ? ev->device : dev ? dev->id : "";
	vals[1] = dev ? str_or(dev->location, "") : "";
	if (dev && tpl && lang)
		vals[1] = ch_template_location(tpl, lang, dev->location, dev->location_names);
	vals[2] = ev ? ev->type : dev ? str_or(dev->type, "") : ch_rule_kind_name(r->kind);
	vals[3] = value;
	vals[4] = subj->name ? subj->name : subj->id;
	vals[5] = r->id;
	vals[6] = duration;
	vals[7] = threshold;
	vals[8] = a->measured;
	vals[9] = a->since;
	ch_rules_render(r->summary ? r->summary : "{rule}: {subject}", keys, vals, CH_ARRAY_LEN(keys), summary,
			sizeof(summary));
	ch_tz_format(tz, a->at_ms, at, sizeof(at));
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s*, s:s, s:s, s:I}", "rule", r->id, "kind",
			ch_rule_kind_name(r->kind), "severity", ch_severity_name(a->severity), "category",
			r->category == CH_CAT_MAINTENANCE ? "maintenance" : "safety", "subject", subj->id, "device",
			vals[0], "location", dev ? str_or(dev->location, "") : "", "type", vals[2], "summary", summary,
			"policy", r->policy, "reason",
			a->why, "condition_at", at, "condition_at_ms", (json_int_t)a->at_ms);
	if (doc && a->caveat[0])
		json_object_set_new(doc, "caveat", json_string(a->caveat));
	return doc;
}

size_t ch_alert_hold_quiet(json_t *jobs, const struct ch_subject *subj, const struct ch_tz *tz,
			   enum ch_severity sev, int64_t now_ms)
{
	size_t i, held = 0;
	json_t *job;

	if (sev >= CH_SEV_HIGH || !subj)
		return 0;
	json_array_foreach(jobs, i, job) {
		const struct ch_contact *ct = ch_alert_find_contact(subj, json_string_value(json_object_get(job, "cid")));
		const struct ch_tz *zone = tz;
		char err[256];
		int s, e;

		if (!ct || !ct->quiet_hours || ch_parse_daywindow(ct->quiet_hours, &s, &e) || s == e)
			continue;
		/* A son abroad keeps his own nights. */
		if (ct->timezone && ch_tz_get(ct->timezone, &zone, err, sizeof(err)))
			zone = tz;
		if (!ch_tz_in_window(zone, s, e, now_ms))
			continue;
		int64_t until = ch_tz_next_window_edge(zone, s, e, now_ms);
		if (until != INT64_MAX) {
			json_object_set_new(job, "hold_until", json_integer(until));
			held++;
		}
	}
	return held;
}

size_t ch_policy_total_steps(const struct ch_policy *pol)
{
	return pol && pol->nsteps ? pol->nsteps * (size_t)(1 + (pol->repeat > 0 ? pol->repeat : 0)) : 0;
}

int64_t ch_policy_step_due_ms(const struct ch_policy *pol, size_t g)
{
	size_t n = pol->nsteps, round = g / n;

	return (int64_t)round * (pol->steps[n - 1].after_ms + pol->repeat_after_ms) + pol->steps[g % n].after_ms;
}

int64_t ch_policy_step_gap_ms(const struct ch_policy *pol, size_t g)
{
	return ch_policy_step_due_ms(pol, g + 1) - ch_policy_step_due_ms(pol, g);
}

void ch_alert_contact_id(const char *role, const char *phone, char out[9])
{
	uint32_t h = 2166136261u;

	for (const char *p = role ? role : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '|') * 16777619u;
	for (const char *p = phone ? phone : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	ch_fmt(out, 9, "%08x", h);
}

static json_t *contact_json(const struct ch_contact *ct)
{
	return json_pack("{s:s, s:s, s:s, s:i}", "name", str_or(ct->name, ""), "phone", str_or(ct->phone, ""), "role",
			 ct->role, "order", ct->order);
}

static json_t *str_array(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The contacts after the first of a role, for "contacts": "first": [{"cid","contact"}...]. */
static json_t *next_contacts(const struct ch_subject *subj, const char *role, size_t after)
{
	json_t *a = json_array();

	for (size_t c = after + 1; a && c < subj->ncontacts; c++) {
		const struct ch_contact *ct = &subj->contacts[c];
		char cid[9];

		if (strcmp(ct->role, role) != 0)
			continue;
		ch_alert_contact_id(ct->role, ct->phone, cid);
		if (json_array_append_new(a, json_pack("{s:s, s:o}", "cid", cid, "contact", contact_json(ct)))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *ch_alert_step_jobs(const struct ch_policy *pol, size_t step, const struct ch_subject *subj)
{
	json_t *jobs = json_array();

	if (!jobs || !pol || step >= pol->nsteps)
		return jobs;
	const struct ch_policy_step *st = &pol->steps[step];
	for (size_t r = 0; r < st->nroles; r++) {
		for (size_t c = 0; c < subj->ncontacts; c++) {
			const struct ch_contact *ct = &subj->contacts[c];
			char cid[9];

			if (strcmp(ct->role, st->roles[r]) != 0)
				continue;
			ch_alert_contact_id(ct->role, ct->phone, cid);
			for (size_t ch = 0; ch < st->nchannels; ch++) {
				json_t *job = json_pack("{s:s, s:i, s:s, s:s, s:o}", "sid", subj->id, "step", (int)step,
							"cid", cid, "channel", st->channels[ch], "contact",
							contact_json(ct));
				if (job && st->nfallback)
					json_object_set_new(job, "fallback", str_array(st->fallback, st->nfallback));
				if (job && st->fallback_when_limited)
					json_object_set_new(job, "when_limited", json_string("fallback"));
				if (job && st->first_contact) {
					json_object_set_new(job, "lane", json_string(st->channels[ch]));
					if (st->nfallback)
						json_object_set_new(job, "lane_fallback",
								    str_array(st->fallback, st->nfallback));
					json_object_set_new(job, "next", next_contacts(subj, ct->role, c));
				}
				if (!job || json_array_append_new(jobs, job)) {
					json_decref(jobs);
					return NULL;
				}
			}
			if (st->first_contact)
				break; /* the others of this role only if every channel to this one fails */
		}
	}
	return jobs;
}

json_t *ch_alert_next_job(json_t *failed)
{
	json_t *fb = json_object_get(failed, "fallback"), *nx = json_object_get(failed, "next");
	json_t *next, *rest;
	const char *alert = json_string_value(json_object_get(failed, "alert"));
	const char *cid, *channel;
	char key[512];

	if (json_is_array(fb) && json_array_size(fb) > 0 && json_is_string(json_array_get(fb, 0))) {
		/* The same contact on the next channel. */
		if (!(next = json_deep_copy(failed)))
			return NULL;
		json_object_set(next, "channel", json_array_get(fb, 0));
		rest = json_array();
		for (size_t i = 1; rest && i < json_array_size(fb); i++)
			json_array_append(rest, json_array_get(fb, i));
		json_object_set_new(next, "fallback", rest);
	} else if (!json_is_true(json_object_get(failed, "all_clear")) && json_is_array(nx) && json_array_size(nx) > 0 &&
		   json_is_string(json_object_get(failed, "lane"))) {
		/* Every channel to this contact failed: the next contact of the role, from the step's channel. */
		json_t *who = json_array_get(nx, 0);
		if (!json_is_string(json_object_get(who, "cid")) || !json_is_object(json_object_get(who, "contact")) ||
		    !(next = json_deep_copy(failed)))
			return NULL;
		json_object_set(next, "cid", json_object_get(who, "cid"));
		json_object_set(next, "contact", json_object_get(who, "contact"));
		json_object_set(next, "channel", json_object_get(failed, "lane"));
		json_object_set_new(next, "fallback", json_deep_copy(json_object_get(failed, "lane_fallback")));
		if (!json_object_get(next, "fallback") || json_is_null(json_object_get(next, "fallback")))
			json_object_del(next, "fallback");
		rest = json_array();
		for (size_t i = 1; rest && i < json_array_size(nx); i++)
			json_array_append(rest, json_array_get(nx, i));
		json_object_set_new(next, "next", rest);
	} else {
		return NULL;
	}
	cid = json_string_value(json_object_get(next, "cid"));
	channel = json_string_value(json_object_get(next, "channel"));
	if (!alert || !cid || !channel) {
		json_decref(next);
		return NULL;
	}
	/* A new key per contact and channel: the step stays once per person. */
	if (json_is_true(json_object_get(next, "all_clear")))
		ch_fmt(key, sizeof(key), "%s:clear:%s:%s", alert, cid, channel);
	else if (json_is_string(json_object_get(next, "renotify")))
		ch_fmt(key, sizeof(key), "%s:%s:%s:%s", alert, json_string_value(json_object_get(next, "renotify")), cid,
		       channel);
	else
		ch_fmt(key, sizeof(key), "%s:%lld:%s:%s", alert,
		       (long long)json_integer_value(json_object_get(next, "step")), cid, channel);
	json_object_set_new(next, "key", json_string(key));
	json_object_del(next, "hold_until");
	return next;
}

const struct ch_contact *ch_alert_find_contact(const struct ch_subject *subj, const char *cid)
{
	for (size_t i = 0; subj && cid && i < subj->ncontacts; i++) {
		char c[9];
		ch_alert_contact_id(subj->contacts[i].role, subj->contacts[i].phone, c);
		if (strcmp(c, cid) == 0)
			return &subj->contacts[i];
	}
	return NULL;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

void ch_alert_local_time(const struct ch_tz *zone, const struct ch_tz *ref, int64_t at, char *out, size_t len)
{
	char date[16], hhmm[8], zs[24] = "";
	int32_t off = ch_tz_offset_s(zone, at);

	/* "11-28 08:15": what a relative reads, without the year. */
	ch_tz_local_date(zone, at, date, sizeof(date));
	ch_tz_local_hhmm(zone, at, hhmm, sizeof(hhmm));
	if (off != ch_tz_offset_s(ref, at)) {
		int32_t a = off < 0 ? -off : off;
		if (a % 3600)
			ch_fmt(zs, sizeof(zs), " (UTC%c%d:%02d)", off < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
		else
			ch_fmt(zs, sizeof(zs), " (UTC%c%d)", off < 0 ? '-' : '+', a / 3600);
	}
	ch_fmt(out, len, "%s %s%s", date + 5, hhmm, zs);
}

static const struct ch_device *alert_device(const struct ch_subject *subj, json_t *alert)
{
	const char *id = jstr(alert, "device");

	for (size_t i = 0; subj && id && i < subj->ndevices; i++)
		if (strcmp(subj->devices[i].id, id) == 0)
			return &subj->devices[i];
	return NULL;
}

void ch_alert_render(const struct ch_render_opts *o, json_t *alert, const struct ch_subject *subj, json_t *contact,
		     char *out, size_t len)
{
	int64_t at = json_integer_value(json_object_get(alert, "opened_at_ms"));
	const struct ch_device *dev = alert_device(subj, alert);
	const char *state = jstr(alert, "state");
	bool all_clear = o->all_clear;
	char when[48] = "";

	if (at > 0)
		ch_alert_local_time(o->contact_tz ? o->contact_tz : o->tz, o->tz, at, when, sizeof(when));
	struct ch_template_vars v = {
		.subject = subj ? subj->name : NULL,
		.address = subj ? subj->address : NULL,
		.rule = jstr(alert, "rule"),
		.severity = jstr(alert, "severity"),
		.summary = jstr(alert, "summary"),
		.reason = jstr(alert, "reason"),
		.time = when,
		.location = dev ? dev->location : jstr(alert, "location"),
		.location_names = dev ? dev->location_names : NULL,
		.outcome = jstr(alert, "outcome"),
		.contact = jstr(contact, "name"),
		.role = jstr(contact, "role"),
		.centre_phone = o->centre_phone,
		.note = jstr(alert, "note"),
	};
	if (state && strcmp(state, "resolved") == 0)
		all_clear = true;
	if (!o->tpl ||
	    ch_template_render(o->tpl, o->lang, o->channel, o->plugin, all_clear ? "all_clear" : "alert", &v, out, len)) {
		if (len)
			ch_fmt(out, len, "%s", str_or(v.summary, "")); /* no templates: still say what happened */
	}
}

json_t *ch_alert_notification(const char *key, json_t *alert, const struct ch_subject *subj,
			      json_t *contact, int step, int attempt, const char *text)
{
	json_t *a = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(alert, "id"),
			      "rule", json_object_get(alert, "rule"), "severity",
			      json_object_get(alert, "severity"), "state", json_object_get(alert, "state"),
			      "subject", json_object_get(alert, "subject"), "opened_at",
			      json_object_get(alert, "opened_at"), "summary", json_object_get(alert, "summary"));
	json_t *s = json_pack("{s:s, s:s, s:s}", "id", subj ? subj->id : "", "name",
			      subj ? str_or(subj->name, "") : "", "address", subj ? str_or(subj->address, "") : "");
	json_t *c = json_pack("{s:O?, s:O?, s:O?}", "name", json_object_get(contact, "name"), "phone",
			      json_object_get(contact, "phone"), "role", json_object_get(contact, "role"));

	if (!a || !s || !c) {
		json_decref(a);
		json_decref(s);
		json_decref(c);
		return NULL;
	}
	return json_pack("{s:s, s:o, s:o, s:o, s:i, s:i, s:s}", "id", key, "alert", a, "subject", s, "contact",
			 c, "step", step, "attempt", attempt, "text", text ? text : "");
}

/* ------------------------------------------------------------------ */
/* Re-notification of a new occurrence                                 */
/* ------------------------------------------------------------------ */

static bool step_names(const struct ch_policy_step *st, const char *role)
{
	for (size_t r = 0; r < st->nroles; r++) {
		if (strcmp(st->roles[r], role) == 0)
			return true;
	}
	return false;
}

/*
 * The centre's jobs for a re-notification of step i: none when the step names
 * the centre itself; else the centre contacts on the channels of the first
 * step that names the centre, or of step i when no step does.
 */
static json_t *centre_jobs(const struct ch_policy *pol, size_t i, const struct ch_subject *subj)
{
	const struct ch_policy_step *via = &pol->steps[i];
	char role[] = "centre";
	char *roles[] = {role};

	if (step_names(via, role))
		return json_array();
	for (size_t k = 0; k < pol->nsteps; k++) {
		if (step_names(&pol->steps[k], role)) {
			via = &pol->steps[k];
			break;
		}
	}
	struct ch_policy_step one = {.roles = roles, .nroles = 1, .channels = via->channels,
				     .nchannels = via->nchannels, .fallback = via->fallback,
				     .nfallback = via->nfallback, .first_contact = via->first_contact,
				     .fallback_when_limited = via->fallback_when_limited};
	struct ch_policy p1 = {.name = pol->name, .steps = &one, .nsteps = 1};
	return ch_alert_step_jobs(&p1, 0, subj);
}

json_t *ch_alert_renotify(const struct ch_policy *pol, const struct ch_subject *subj, const struct ch_tz *tz,
			  enum ch_severity sev, int64_t every_ms, const char *tag, int64_t now_ms)
{
	json_t *steps, *out;

	if (!pol || !pol->nsteps || !subj || !tag)
		return NULL;
	if (!(steps = json_array()))
		return NULL;
	for (size_t i = 0; i < pol->nsteps; i++) {
		json_t *jobs = ch_alert_step_jobs(pol, i, subj), *extra = centre_jobs(pol, i, subj), *job;
		size_t k;

		if (!jobs || !extra || json_array_extend(jobs, extra)) {
			json_decref(jobs);
			json_decref(extra);
			json_decref(steps);
			return NULL;
		}
		json_decref(extra);
		json_array_foreach(jobs, k, job)
			json_object_set_new(job, "renotify", json_string(tag));
		ch_alert_hold_quiet(jobs, subj, tz, sev, now_ms);
		if (json_array_append_new(steps, json_pack("{s:I, s:o}", "after", (json_int_t)pol->steps[i].after_ms,
							   "jobs", jobs))) {
			json_decref(steps);
			return NULL;
		}
	}
	out = json_pack("{s:I, s:s, s:I, s:I, s:o}", "every", (json_int_t)every_ms, "tag", tag, "total",
			(json_int_t)ch_policy_total_steps(pol), "cycle",
			(json_int_t)(pol->steps[pol->nsteps - 1].after_ms + pol->repeat_after_ms), "steps", steps);
	return out;
}

void ch_alert_renotify_tag(const char *device, const char *event_id, char out[CH_RENOTIFY_TAG_LEN])
{
	uint64_t h = 14695981039346656037ull;
	const char *parts[] = {device ? device : "", "|", event_id ? event_id : ""};

	for (size_t i = 0; i < CH_ARRAY_LEN(parts); i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
	}
	ch_fmt(out, CH_RENOTIFY_TAG_LEN, "r%012llx", (unsigned long long)(h & 0xffffffffffffull));
}
