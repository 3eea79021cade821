/*
 * control.c - silences and acknowledgements: parsing and validation.
 */
#include "control.h"
#include "alerts.h"
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
	json_t *o = load_object(payload, len, why, err, errlen), *until, *dur;
	const char *sid, *rule, *device, *reason, *by, *account, *role;
	const struct ch_device *dev = NULL;
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
	if (json_is_null(until))
		until = NULL;
	if (json_is_null(dur))
		dur = NULL;
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
	ch_strlcpy(out->reason, reason, sizeof(out->reason));
	ch_strlcpy(out->by, by ? by : "", sizeof(out->by));
	account = json_string_value(json_object_get(o, "account"));
	role = json_string_value(json_object_get(o, "role"));
	if (account && text_ok(account, 64) && role && text_ok(role, 15)) {
		ch_strlcpy(out->account, account, sizeof(out->account));
		ch_strlcpy(out->role, role, sizeof(out->role));
	}
	if (ch_control_silence_doc(out)) {
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

int ch_control_silence_doc(struct ch_silence_req *q)
{
	const char *scope = q->kind == CH_SIL_RULE ? "rule" : q->kind == CH_SIL_DEVICE ? "device" : "subject";
	char at[40];
	json_t *doc;

	free(q->doc);
	ch_clock_format(q->until_ms, at, sizeof(at));
	doc = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "scope", scope, "target", q->target, "until", at, "until_ms",
			(json_int_t)q->until_ms, "reason", q->reason, "by", q->by);
	if (doc && q->account[0]) {
		json_object_set_new(doc, "account", json_string(q->account));
		json_object_set_new(doc, "role", json_string(q->role));
	}
	q->doc = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return q->doc ? 0 : CH_ENOMEM;
}

static int split_key(const char *key, char *alert, size_t alen, char *step, size_t slen, char *cid,
		     char *channel, size_t chlen);

static const char *const action_names[] = {
	[CH_ACK_ACK] = "ack", [CH_ACK_RESOLVE] = "resolve", [CH_ACK_ESCALATE] = "escalate", [CH_ACK_NOTE] = "note"};

bool ch_control_outcome_ok(const char *s)
{
	for (size_t i = 0; s && i < CH_ARRAY_LEN(outcomes); i++)
		if (strcmp(s, outcomes[i]) == 0)
			return true;
	return false;
}

/* The timeline's line for an answer. */
static void ack_text(struct ch_ack_req *out, int act, const char *via)
{
	static const char *const verbs[] = {[CH_ACK_ACK] = "acknowledged by ", [CH_ACK_RESOLVE] = "resolved by ",
					    [CH_ACK_ESCALATE] = "needs help, next step at once: ", [CH_ACK_NOTE] = ""};
	const char *note = out->note[0] ? out->note : NULL;

	if (act == CH_ACK_NOTE && out->account[0])
		ch_fmt(out->text, sizeof(out->text), "note by %s: %s", out->by, out->note);
	else if (act == CH_ACK_NOTE)
		ch_fmt(out->text, sizeof(out->text), "%s%s%s (%s)", via ? via : "", via ? ": " : "", out->note, out->by);
	else if (act == CH_ACK_ESCALATE && out->account[0])
		ch_fmt(out->text, sizeof(out->text), "escalated now by %s%s%s", out->by, note ? ": " : "",
		       note ? note : "");
	else
		ch_fmt(out->text, sizeof(out->text), "%s%s%s%s%s%s", verbs[act], out->by, via ? " via " : "",
		       via ? via : "", note ? ": " : "", note ? note : "");
}

int ch_control_ack(const char *payload, size_t len, const struct ch_registry *reg, struct ch_ack_req *out,
		   enum ch_reject *why, char *err, size_t errlen)
{
	json_t *o = load_object(payload, len, why, err, errlen);
	const char *alert, *action, *by, *outcome, *note, *via, *account, *role;
	json_t *jnote;
	char sid[CH_DEVICE_MAX];
	long num;
	int act = -1;

	memset(out, 0, sizeof(*out));
	if (!o)
		return CH_EINVAL;
	*why = CH_REJ_BAD_FIELD;
	alert = json_string_value(json_object_get(o, "alert"));
	action = json_string_value(json_object_get(o, "action"));
	by = json_string_value(json_object_get(o, "by"));
	outcome = json_string_value(json_object_get(o, "outcome"));
	jnote = json_object_get(o, "note");
	if (json_is_null(jnote))
		jnote = NULL; /* null is no note; a number or an object is refused */
	note = json_string_value(jnote);
	via = json_string_value(json_object_get(o, "via"));
	account = json_string_value(json_object_get(o, "account"));
	role = json_string_value(json_object_get(o, "role"));
	const char *dispatch = json_string_value(json_object_get(o, "dispatch"));
	json_t *undelivered = json_object_get(o, "undelivered");
	if (!alert || strlen(alert) >= sizeof(out->alert) || ch_store_alert_id_split(alert, sid, sizeof(sid), &num) ||
	    !(out->subj = ch_registry_subject(reg, sid))) {
		*why = CH_REJ_UNKNOWN_DEVICE;
		ch_fmt(err, errlen, "ack: \"alert\" is not the id of an alert of a known subject");
		goto fail;
	}
	for (size_t i = 0; action && i < CH_ARRAY_LEN(action_names); i++) {
		if (strcmp(action, action_names[i]) == 0)
			act = (int)i;
	}
	if (act < 0 || !text_ok(by, 100) || (jnote && !note) || (note && strlen(note) > 500) ||
	    (via && !text_ok(via, 63)) || (act == CH_ACK_NOTE && !text_ok(note, 500)) ||
	    (dispatch && !text_ok(dispatch, sizeof(out->dispatch) - 1)) ||
	    (undelivered && (!json_is_boolean(undelivered) || !dispatch)) || (account && !text_ok(account, 64)) ||
	    (role && !text_ok(role, 15))) {
		ch_fmt(err, errlen, "ack: needs \"action\": \"ack\", \"resolve\", \"escalate\" or \"note\", \"by\" (1-100 "
				    "bytes), a \"note\" (a string of up to 500; required for \"note\") and an optional \"via\"");
		goto fail;
	}
	out->action = (enum ch_ack_action)act;
	if (out->action == CH_ACK_RESOLVE && !ch_control_outcome_ok(outcome)) {
		ch_fmt(err, errlen, "resolve needs \"outcome\": genuine, false_alarm, accidental, no_response or "
				    "activity_resumed");
		goto fail;
	}
	ch_strlcpy(out->alert, alert, sizeof(out->alert));
	ch_strlcpy(out->by, by, sizeof(out->by));
	ch_strlcpy(out->note, note ? note : "", sizeof(out->note));
	ch_strlcpy(out->via, via ? via : "", sizeof(out->via));
	ch_strlcpy(out->account, account ? account : "", sizeof(out->account));
	ch_strlcpy(out->role, account && role ? role : "", sizeof(out->role));
	ch_strlcpy(out->dispatch, dispatch ? dispatch : "", sizeof(out->dispatch));
	out->undelivered = json_is_true(undelivered) && act == CH_ACK_NOTE;
	if (out->undelivered) {
		char a[CH_ID_MAX], step[16], cid[9], chan[64];
		if (split_key(dispatch, a, sizeof(a), step, sizeof(step), cid, chan, sizeof(chan)) || strcmp(a, alert) != 0) {
			ch_fmt(err, errlen, "ack: \"dispatch\" is not a notification key of this alert");
			goto fail;
		}
		ch_fmt(out->told, sizeof(out->told), "%s|%s", cid, chan);
	}
	ch_strlcpy(out->outcome, out->action == CH_ACK_RESOLVE ? outcome : "", sizeof(out->outcome));
	ack_text(out, act, via);
	json_decref(o);
	*why = CH_REJ_NONE;
	return 0;
fail:
	json_decref(o);
	out->subj = NULL;
	return CH_EINVAL;
}

char *ch_control_ack_info(const struct ch_ack_req *q)
{
	json_t *o = json_object();
	char *s;

	if (!o)
		return NULL;
	if (q->note[0])
		json_object_set_new(o, "note", json_string(q->note));
	if (q->via[0])
		json_object_set_new(o, "via", json_string(q->via));
	if (q->dispatch[0])
		json_object_set_new(o, "dispatch", json_string(q->dispatch));
	if (q->account[0]) {
		json_object_set_new(o, "account", json_string(q->account));
		json_object_set_new(o, "role", json_string(q->role));
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

const char *ch_control_action_name(enum ch_ack_action a)
{
	return (size_t)a < CH_ARRAY_LEN(action_names) ? action_names[a] : "?";
}

/* Splits "<alert>:<step>:<cid>:<channel>" from the right (subject ids may hold ':'). */
static int split_key(const char *key, char *alert, size_t alen, char *step, size_t slen, char *cid,
		     char *channel, size_t chlen)
{
	const char *p[3];
	const char *end = key + strlen(key);

	for (int k = 0; k < 3; k++) {
		const char *q = end;
		while (q > key && q[-1] != ':')
			q--;
		if (q == key)
			return CH_EINVAL;
		p[k] = q;
		end = q - 1;
	}
	/* p[0] channel, p[1] cid, p[2] step; the alert is what comes before. */
	if ((size_t)(end - key) >= alen || (size_t)(p[1] - 1 - p[2]) >= slen || p[0] - 1 - p[1] != 8 ||
	    strlen(p[0]) >= chlen)
		return CH_EINVAL;
	memcpy(alert, key, (size_t)(end - key));
	alert[end - key] = '\0';
	memcpy(step, p[2], (size_t)(p[1] - 1 - p[2]));
	step[p[1] - 1 - p[2]] = '\0';
	memcpy(cid, p[1], 8);
	cid[8] = '\0';
	ch_strlcpy(channel, p[0], chlen);
	return 0;
}

static const char *const cb_names[] = {
	[CH_CB_DELIVERED] = "delivered", [CH_CB_ANSWERED] = "answered",   [CH_CB_CONFIRMED_SAFE] = "confirmed_safe",
	[CH_CB_NEEDS_HELP] = "needs_help", [CH_CB_NO_ANSWER] = "no_answer", [CH_CB_FAILED] = "failed",
	[CH_CB_BUSY] = "busy",           [CH_CB_ACCEPTED] = "accepted",   [CH_CB_CLOSED] = "closed"};

const char *ch_control_callback_name(enum ch_callback_outcome o)
{
	return (size_t)o < CH_ARRAY_LEN(cb_names) && cb_names[o] ? cb_names[o] : "unknown";
}

int ch_control_from_callback(const struct ch_registry *reg, const char *channel, const struct ch_callback_result *r,
			     char **doc, enum ch_ack_action *action, char *err, size_t errlen)
{
	char alert[CH_ID_MAX], step[16], cid[9], chan[64], sid[CH_DEVICE_MAX], by[101], note[400];
	const struct ch_subject *subj;
	const struct ch_contact *ct = NULL;
	const char *name = ch_control_callback_name(r->outcome), *outcome = NULL;
	bool clear;
	long num;
	json_t *o;

	*doc = NULL;
	if (split_key(r->idempotency_key, alert, sizeof(alert), step, sizeof(step), cid, chan, sizeof(chan)) ||
	    ch_store_alert_id_split(alert, sid, sizeof(sid), &num) || !(subj = ch_registry_subject(reg, sid))) {
		ch_fmt(err, errlen, "the callback's key is not one of this hub's notifications");
		return CH_ENOTFOUND;
	}
	if (strcmp(chan, channel) != 0) {
		ch_fmt(err, errlen, "the callback's key belongs to channel %s, not %s", chan, channel);
		return CH_EINVAL;
	}
	if (strcmp(name, "unknown") == 0) {
		ch_fmt(err, errlen, "unknown callback outcome %d", (int)r->outcome);
		return CH_EINVAL;
	}
	ct = ch_alert_find_contact(subj, cid);
	clear = strcmp(step, "clear") == 0;
	if (r->by[0])
		ch_strlcpy(by, r->by, sizeof(by));
	else if (ct && ct->name && *ct->name)
		ch_fmt(by, sizeof(by), "%s (%s)", ct->name, ct->role);
	else
		ch_fmt(by, sizeof(by), "%s", ct ? ct->role : "unknown contact");
	/* A receipt about the all clear changes nothing; only the person's answers act. */
	*action = CH_ACK_NOTE;
	if (!clear) {
		switch (r->outcome) {
		case CH_CB_CONFIRMED_SAFE:
			/* "I am fine" from the person the alert is about ends it; anyone else
			 * pressing 1 says "I am on it" (their script asks that): it stops the
			 * escalation but is not proof that she is well. */
			if (ct && strcmp(ct->role, "self") == 0) {
				*action = CH_ACK_RESOLVE;
				outcome = "false_alarm";
			} else if (ct) {
				*action = CH_ACK_ACK;
			}
			break;
		case CH_CB_NEEDS_HELP:
			*action = CH_ACK_ESCALATE;
			break;
		case CH_CB_ACCEPTED:
			*action = CH_ACK_ACK;
			break;
		case CH_CB_CLOSED:
			*action = CH_ACK_RESOLVE;
			outcome = r->resolution[0] ? r->resolution : "genuine";
			break;
		default:
			break;
		}
	}
	ch_fmt(note, sizeof(note), "%s%s step %s%s%s", name, clear ? " (all clear)" : "", clear ? "-" : step,
	       r->reason[0] ? ", " : "", r->reason);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s*}", "alert", alert, "action", action_names[*action], "by",
		      by, "via", channel, "note", note, "dispatch", r->idempotency_key, "outcome", outcome);
	if (o && !clear && r->outcome == CH_CB_FAILED)
		json_object_set_new(o, "undelivered", json_true());
	*doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!*doc) {
		ch_fmt(err, errlen, "out of memory");
		return CH_ENOMEM;
	}
	return 0;
}
