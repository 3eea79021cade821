/*
 * control.c - silences and acknowledgements: parsing and validation.
 */
#include "control.h"
#include "clock.h"
#include "store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const outcomes[] = {"genuine", "false_alarm", "accidental", "no_response", "activity_resumed"};

static json_t *load_object(const char *payload, size_t len, enum ch_reject *why, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o;

	if (!ch_utf8_valid(payload, len)) {
		*why = CH_REJ_BAD_UTF8;
		ch_fmt(err, errlen, "not well-formed UTF-8");
		return NULL;
	}
	o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		*why = o ? CH_REJ_NOT_OBJECT : CH_REJ_NOT_JSON;
		ch_fmt(err, errlen, "not a JSON object");
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool text_ok(const char *s, size_t max)
{
	return s && *s && strlen(s) <= max;
}

int ch_control_silence(const char *payload, size_t len, const struct ch_registry *reg, const struct ch_ruleset *rules,
		       int64_t now_ms, struct ch_silence_req *out, enum ch_reject *why, char *err, size_t errlen)
{
	json_t *o = load_object(payload, len, why, err, errlen), *until, *dur, *doc;
	const char *sid, *rule, *device, *reason, *by;
	const struct ch_device *dev = NULL;
	char at[40];
	int64_t ms = 0;

	memset(out, 0, sizeof(*out));
	if (!o)
		return CH_EINVAL;
	*why = CH_REJ_BAD_FIELD;
	sid = json_string_value(json_object_get(o, "subject"));
	rule = json_string_value(json_object_get(o, "rule"));
	device = json_string_value(json_object_get(o, "device"));
	reason = json_string_value(json_object_get(o, "reason"));
	by = json_string_value(json_object_get(o, "by"));
	until = json_object_get(o, "until");
	dur = json_object_get(o, "for");
	if (!sid || !(out->subj = ch_registry_subject(reg, sid))) {
		*why = CH_REJ_UNKNOWN_DEVICE;
		ch_fmt(err, errlen, "silence names no subject of the registry");
		goto fail;
	}
	if ((rule && device) || (rule && !ch_rules_find(rules, rule)) ||
	    (device && (ch_registry_find_device(reg, device, &dev) != out->subj || !dev))) {
		ch_fmt(err, errlen, "silence: give one of \"rule\" (a rule id) or \"device\" (a device of the subject), "
				    "or neither for the whole subject");
		goto fail;
	}
	if (!text_ok(reason, 500) || (by && strlen(by) > 100)) {
		ch_fmt(err, errlen, "silence needs a \"reason\" (1-500 bytes of text) and at most 100 bytes of \"by\"");
		goto fail;
	}
	if (json_is_integer(until) && json_integer_value(until) >= 0 && json_integer_value(until) < 253402300800000LL) {
		ms = json_integer_value(until);
	} else if (json_is_string(until) && ch_event_parse_rfc3339(json_string_value(until), &ms) == 0) {
		/* parsed */
	} else if (!until && json_is_string(dur) && ch_parse_duration(json_string_value(dur), &ms) == 0 &&
		   ms <= 400LL * 86400000) {
		ms += now_ms;
	} else if (!until && json_is_integer(dur) && json_integer_value(dur) >= 0 &&
		   json_integer_value(dur) <= 400LL * 86400) {
		ms = now_ms + json_integer_value(dur) * 1000;
	} else {
		ch_fmt(err, errlen, "silence needs \"until\" (RFC 3339 or epoch ms) or \"for\" (a duration such as \"2h\", "
				    "at most 400 days)");
		goto fail;
	}
	out->kind = rule ? CH_SIL_RULE : device ? CH_SIL_DEVICE : CH_SIL_SUBJECT;
	ch_strlcpy(out->target, rule ? rule : device ? dev->id : "", sizeof(out->target));
	out->until_ms = ms;
	ch_clock_format(ms, at, sizeof(at));
	doc = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "scope", rule ? "rule" : device ? "device" : "subject", "target",
			out->target, "until", at, "until_ms", (json_int_t)ms, "reason", reason, "by", by ? by : "");
	out->doc = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!out->doc) {
		*why = CH_REJ_OVERFLOW;
		ch_fmt(err, errlen, "out of memory");
		goto fail;
	}
	json_decref(o);
	*why = CH_REJ_NONE;
	return 0;
fail:
	json_decref(o);
	out->subj = NULL;
	return CH_EINVAL;
}

int ch_control_ack(const char *payload, size_t len, const struct ch_registry *reg, struct ch_ack_req *out,
		   enum ch_reject *why, char *err, size_t errlen)
{
	json_t *o = load_object(payload, len, why, err, errlen);
	const char *alert, *action, *by, *outcome, *note;
	char sid[CH_DEVICE_MAX];
	long num;
	bool ok_outcome = false;

	memset(out, 0, sizeof(*out));
	if (!o)
		return CH_EINVAL;
	*why = CH_REJ_BAD_FIELD;
	alert = json_string_value(json_object_get(o, "alert"));
	action = json_string_value(json_object_get(o, "action"));
	by = json_string_value(json_object_get(o, "by"));
	outcome = json_string_value(json_object_get(o, "outcome"));
	note = json_string_value(json_object_get(o, "note"));
	if (!alert || strlen(alert) >= sizeof(out->alert) || ch_store_alert_id_split(alert, sid, sizeof(sid), &num) ||
	    !(out->subj = ch_registry_subject(reg, sid))) {
		*why = CH_REJ_UNKNOWN_DEVICE;
		ch_fmt(err, errlen, "ack: \"alert\" is not the id of an alert of a known subject");
		goto fail;
	}
	if (!action || (strcmp(action, "ack") != 0 && strcmp(action, "resolve") != 0) || !text_ok(by, 100) ||
	    (note && strlen(note) > 500)) {
		ch_fmt(err, errlen, "ack: needs \"action\": \"ack\" or \"resolve\", \"by\" (1-100 bytes) and an optional "
				    "\"note\" (up to 500)");
		goto fail;
	}
	for (size_t i = 0; outcome && i < CH_ARRAY_LEN(outcomes); i++)
		ok_outcome = ok_outcome || strcmp(outcome, outcomes[i]) == 0;
	out->resolve = strcmp(action, "resolve") == 0;
	if (out->resolve && !ok_outcome) {
		ch_fmt(err, errlen, "resolve needs \"outcome\": genuine, false_alarm, accidental, no_response or "
				    "activity_resumed");
		goto fail;
	}
	ch_strlcpy(out->alert, alert, sizeof(out->alert));
	ch_strlcpy(out->by, by, sizeof(out->by));
	ch_strlcpy(out->outcome, out->resolve ? outcome : "", sizeof(out->outcome));
	ch_fmt(out->text, sizeof(out->text), "%s by %s%s%s", out->resolve ? "resolved" : "acknowledged", by,
	       note ? ": " : "", note ? note : "");
	json_decref(o);
	*why = CH_REJ_NONE;
	return 0;
fail:
	json_decref(o);
	out->subj = NULL;
	return CH_EINVAL;
}
