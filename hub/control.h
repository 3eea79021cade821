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

struct ch_silence_req {
	const struct ch_subject *subj;
	enum ch_silence_kind kind;
	char target[CH_DEVICE_MAX]; /* rule or device id; "" for the subject */
	int64_t until_ms;           /* in the past: lifts the silence */
	char *doc; /* what the store keeps: {"scope","target","until","until_ms","reason","by"}; malloc'ed */
};

/*
 * {"subject": ID, "rule": ID | "device": ID, "until": RFC 3339 | epoch ms,
 *  "for": duration | seconds, "reason": TEXT, "by": NAME}
 */
int ch_control_silence(const char *payload, size_t len, const struct ch_registry *reg, const struct ch_ruleset *rules,
		       int64_t now_ms, struct ch_silence_req *out, enum ch_reject *why, char *err, size_t errlen);

struct ch_ack_req {
	const struct ch_subject *subj;
	bool resolve;
	char alert[CH_ID_MAX];
	char by[101];
	char outcome[32]; /* resolve: genuine, false_alarm, accidental, no_response, activity_resumed */
	char text[600];   /* the timeline's line: "resolved by NAME: note" */
};

/* {"alert": "s-001:3", "action": "ack" | "resolve", "by": NAME, "outcome": CODE, "note": TEXT} */
int ch_control_ack(const char *payload, size_t len, const struct ch_registry *reg, struct ch_ack_req *out,
		   enum ch_reject *why, char *err, size_t errlen);

#endif
