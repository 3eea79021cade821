/*
 * control.h - the control messages people and care systems send the hub over
 * MQTT: silences (carehub/v1/silences) and acknowledgements (carehub/v1/acks).
 *
 * Pure parsers of untrusted payloads, checked against the registry and the
 * rules; the correlator applies what they return, the fuzzer drives them.
 * A refusal has a reject reason (dead letter) and a one-line explanation.
 */
#ifndef CH_CONTROL_H
#define CH_CONTROL_H

#include "ch.h"
#include "engine.h"
#include "event.h"
#include "registry.h"
#include "rules.h"
#include "../plugins/carehub_plugin.h"

struct ch_silence_req {
	const struct ch_subject *subj;
	enum ch_silence_kind kind;
	char target[CH_DEVICE_MAX]; /* rule or device id; "" for the subject */
	int64_t until_ms;           /* in the past: lifts the silence */
	char reason[501];
	char by[101];
	char account[65]; /* the signed-in account (API topic only, like ch_ack_req) */
	char role[16];
	/* What the store keeps: {"scope","target","until","until_ms","reason","by"[,"account","role"]};
	 * malloc'ed (ch_control_silence_doc). */
	char *doc;
};

/*
 * {"subject": ID, "rule": ID | "device": ID, "until": RFC 3339 | epoch ms,
 *  "for": duration | seconds, "reason": TEXT, "by": NAME}
 */
int ch_control_silence(const char *payload, size_t len, const struct ch_registry *reg, const struct ch_ruleset *rules,
		       int64_t now_ms, struct ch_silence_req *out, enum ch_reject *why, char *err, size_t errlen);
/* (Re)builds q->doc from its fields (after the account was cleared); 0 or CH_ENOMEM. */
int ch_control_silence_doc(struct ch_silence_req *q);

enum ch_ack_action {
	CH_ACK_ACK,      /* someone is on it: the escalation stops */
	CH_ACK_RESOLVE,  /* over, with an outcome code: all clear to those told */
	CH_ACK_ESCALATE, /* "I need help": the next step is due at once */
	CH_ACK_NOTE,     /* a line on the timeline only (a receipt, no answer) */
};

struct ch_ack_req {
	const struct ch_subject *subj;
	enum ch_ack_action action;
	char alert[CH_ID_MAX];
	char by[101];
	char outcome[32]; /* resolve: genuine, false_alarm, accidental, no_response, activity_resumed */
	char note[501];   /* exactly what the person wrote, "" for none */
	char via[64];     /* a channel, "api", ... or "" */
	/* The signed-in account that acted and its role: only from the API's own
	 * topic (CH_TOPIC_API_ACKS); the correlator clears them for anything that
	 * came from MQTT, so nobody can claim to be an operator by typing a name. */
	char account[65];
	char role[16];
	char text[800];   /* the timeline's line: "resolved by NAME: note" */
	char dispatch[256]; /* the notification it answers (callbacks), else "" */
	bool undelivered;   /* a provider said that notification never arrived: fall back */
	char told[80];      /* with undelivered: "cid|channel", the alert's told entry of that notification */
};

/*
 * {"alert": "s-001:3", "action": "ack" | "resolve" | "escalate" | "note", "by": NAME,
 *  "outcome": CODE (resolve), "note": TEXT (required for note), "via": CHANNEL,
 *  "dispatch": KEY, "undelivered": true, "account": NAME, "role": ROLE}
 * A note that is present must be a string or null (a number is refused, never
 * dropped: what is stored is what was sent).
 * "escalate" and "note" extend the SPEC's ack/resolve: provider callbacks use
 * them (needs_help; delivery receipts and unanswered calls), and so may apps.
 */
int ch_control_ack(const char *payload, size_t len, const struct ch_registry *reg, struct ch_ack_req *out,
		   enum ch_reject *why, char *err, size_t errlen);

const char *ch_control_action_name(enum ch_ack_action a);

/* true when s is one of the resolve outcome codes. */
bool ch_control_outcome_ok(const char *s);

/*
 * What the store keeps with a person's answer besides the timeline's line:
 * {"note","via","dispatch","account","role"} (members only when non-empty), malloc'ed
 * JSON, or NULL when out of memory.
 */
char *ch_control_ack_info(const struct ch_ack_req *q);
const char *ch_control_callback_name(enum ch_callback_outcome o);

/*
 * A provider callback a channel's plugin verified and parsed, turned into the
 * control message above (which the hub then handles like one from MQTT):
 *   confirmed_safe from the subject ("self")  -> resolve, outcome false_alarm
 *   confirmed_safe from another contact       -> ack ("I am on it")
 *   needs_help                                -> escalate
 *   accepted (caseworker took the task)       -> ack
 *   closed                                    -> resolve with r->resolution (else genuine)
 *   failed (undeliverable, the call failed)   -> note, "undelivered": the hub
 *                                                tries the step's fallback
 *   anything else, and anything about an all clear -> note
 * by is r->by, else the contact's name and role.  *doc is malloc'ed JSON.
 * CH_ENOTFOUND when the key names no alert of a known subject, CH_EINVAL when
 * it belongs to another channel or the outcome is unknown.
 */
int ch_control_from_callback(const struct ch_registry *reg, const char *channel, const struct ch_callback_result *r,
			     char **doc, enum ch_ack_action *action, char *err, size_t errlen);

#endif
