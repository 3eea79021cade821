/*
 * alerts.c - building alert, job and notification documents.
 */
#include "alerts.h"

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
				json_t *job = json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:s, s:s, s:i}}", "sid",
							subj->id, "step", (int)step, "cid", cid, "channel",
							st->channels[ch], "contact", "name", str_or(ct->name, ""),
							"phone", str_or(ct->phone, ""), "role", ct->role, "order",
							ct->order);
				if (!job || json_array_append_new(jobs, job)) {
					json_decref(jobs);
					return NULL;
				}
			}
		}
	}
	return jobs;
}

void ch_alert_text(json_t *alert, const struct ch_subject *subj, char *out, size_t len)
{
	const char *sev = json_string_value(json_object_get(alert, "severity"));
	const char *sum = json_string_value(json_object_get(alert, "summary"));

	if (ch_fmt(out, len, "[%s] %s - %s, %s", str_or(sev, "alert"), str_or(sum, ""),
		   subj ? str_or(subj->name, "") : "", subj ? str_or(subj->address, "") : "")) {
		/* Truncated: still a usable message; keep what fits. */
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
