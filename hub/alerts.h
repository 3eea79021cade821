/*
 * alerts.h - pure decisions about alerts: the alert document a rule match opens,
 * the notification jobs of an escalation step, and the notification document a
 * channel sends.  No I/O: the correlator and the dispatcher call these and unit
 * tests call them with hand-made registries and rules.
 */
#ifndef CH_ALERTS_H
#define CH_ALERTS_H

#include "ch.h"
#include "config.h"
#include "event.h"
#include "registry.h"
#include "rules.h"
#include "engine.h"

#include <jansson.h>

/*
 * The alert document template for a rule match (the store adds id, state,
 * count and times).  Returns a new JSON object or NULL.
 */
json_t *ch_alert_template(const struct ch_rule *rule, const struct ch_subject *subj,
			  const struct ch_device *dev, const struct ch_event *ev);

/*
 * The alert document template for an engine decision (any rule kind):
 * rule, kind, severity, category, subject, device, location, type, summary
 * (the rule's template rendered with {device} {location} {type} {value}
 * {subject} {rule} {duration} {threshold} {measured} {since}), policy, reason
 * (why, in English), caveat (when something makes it less certain) and
 * condition_at (when the condition became true, in the subject's zone).
 */
json_t *ch_alert_for_action(const struct ch_action *a, const struct ch_subject *subj, const struct ch_tz *tz);
/*
 * The same with the summary's {location} in lang (the rule pack's language,
 * the config's "language"): "厨房烟感报警", never "kitchen烟感报警".  tpl may be NULL.
 */
struct ch_templates;
json_t *ch_alert_for_action_in(const struct ch_action *a, const struct ch_subject *subj, const struct ch_tz *tz,
			       const struct ch_templates *tpl, const char *lang);

/*
 * The jobs of one escalation step: for each role of the step, each contact of
 * the subject with that role (in contact order; only the first with
 * "contacts": "first"), each channel of the step:
 *   {"sid","step","cid","channel","contact":{"name","phone","role","order"},
 *    "fallback":[CHANNEL...], "lane":CHANNEL, "lane_fallback":[...],
 *    "next":[{"cid","contact"}...], "when_limited":"fallback"}
 *   (the last five only when the step says so)
 * cid is a stable short hash of the contact (no phone number in keys or logs).
 * Returns a new JSON array (possibly empty) or NULL.
 */
json_t *ch_alert_step_jobs(const struct ch_policy *pol, size_t step, const struct ch_subject *subj);

/*
 * After a send of job `failed` (an outbox job: sid, step, cid, channel,
 * contact, key, alert...) failed for good: the job to try instead, or NULL.
 * The step's "fallback" channels come first, to the same contact, in order;
 * with "contacts": "first", when they are used up, the next contact of the
 * role from the step's own channel ("lane") with the fallbacks again.  The
 * new job's key is alert:step:cid:channel like every other (a re-notification's
 * alert:tag:cid:channel).  An all clear only changes channel
 * (alert:clear:cid:channel): it goes to those told.
 * New reference.
 */
json_t *ch_alert_next_job(json_t *failed);

/*
 * A policy's schedule: steps run in order, then the whole list again `repeat`
 * times; global step g is step g % nsteps of round g / nsteps, due at
 * round * (last step's after + repeat_after) + that step's after, counted from
 * the alert's opening.
 */
size_t ch_policy_total_steps(const struct ch_policy *pol);
int64_t ch_policy_step_due_ms(const struct ch_policy *pol, size_t g);

/* The delay from global step g to step g + 1 (the repeat gap after a round's last step). */
int64_t ch_policy_step_gap_ms(const struct ch_policy *pol, size_t g);

/*
 * Re-notification: a new occurrence of an open (or acknowledged) alert's event
 * (a second SOS press, the smoke alarm again) tells people at once.  Who: the
 * contacts of the step the escalation is at, and the centre: the subject's
 * contacts of role centre, on the channels (and fallbacks) of the first step
 * of the policy that names the centre, or the current step's when none does
 * (a policy without the centre still has the 24h centre hear of a new press,
 * if the subject has one).  Which step is current only the store knows, so
 * this gives every step's jobs and the store picks one:
 *   {"every": MS, "tag": TAG, "total": N, "cycle": MS,
 *    "steps": [{"after": MS, "jobs": [JOB...]}, ...]}
 * every: the rule's minimum interval between re-notifications; total: the
 * policy's steps counting repeats; step g is due floor(g / nsteps) * cycle +
 * steps[g % nsteps].after after the escalation's start.  Jobs are
 * ch_alert_step_jobs' with "renotify": TAG and quiet hours applied for sev at
 * now_ms; the store keys them <alert>:<tag>:<cid>:<channel>, so they differ
 * from the step's own keys and from another occurrence's.  New reference or
 * NULL.
 */
json_t *ch_alert_renotify(const struct ch_policy *pol, const struct ch_subject *subj, const struct ch_tz *tz,
			  enum ch_severity sev, int64_t every_ms, const char *tag, int64_t now_ms);

/*
 * The key part of one occurrence's re-notification: "r" and 12 hex digits of
 * FNV-1a 64 over device and event id, so a replay of the same event (a restart,
 * the journal) gives the same keys and the dispatcher never sends them twice.
 */
#define CH_RENOTIFY_TAG_LEN 14
void ch_alert_renotify_tag(const char *device, const char *event_id, char out[CH_RENOTIFY_TAG_LEN]);

/*
 * Quiet hours: for an alert below high, each job whose contact is inside its
 * quiet_hours (in the contact's timezone, else tz: the subject's) at now gets "hold_until": the end of
 * those quiet hours (epoch ms).  The store keeps held jobs aside and releases
 * them then, if the alert is still open.  Returns how many were held.
 */
size_t ch_alert_hold_quiet(json_t *jobs, const struct ch_subject *subj, const struct ch_tz *tz,
			   enum ch_severity sev, int64_t now_ms);

/* Stable contact id: 8 hex digits of FNV-1a over role and phone. */
void ch_alert_contact_id(const char *role, const char *phone, char out[9]);

/*
 * The notification document (the webhook body of the SPEC) for one job:
 * {"id":KEY,"alert":{"id","rule","severity","state","subject","opened_at","summary"},
 *  "subject":{"id","name","address"},"contact":{"name","phone","role"},"step":N,
 *  "attempt":N,"text":"..."}.  alert is the stored alert document.
 */
json_t *ch_alert_notification(const char *key, json_t *alert, const struct ch_subject *subj,
			      json_t *contact, int step, int attempt, const char *text);

/* The subject's contact whose ch_alert_contact_id is cid, or NULL (borrowed from subj). */
const struct ch_contact *ch_alert_find_contact(const struct ch_subject *subj, const char *cid);

/*
 * How to word one message: everything but the alert, the subject and the
 * contact.  All borrowed.
 */
struct ch_templates;
struct ch_tz;
struct ch_render_opts {
	const struct ch_templates *tpl; /* NULL: the summary only */
	const char *lang;               /* the contact's language, else the config's */
	const char *channel, *plugin;
	bool all_clear;
	const char *centre_phone;       /* config centre_phone, may be NULL */
	const struct ch_tz *tz;         /* the subject's zone (NULL: UTC) */
	const struct ch_tz *contact_tz; /* the contact's own zone, NULL: the subject's */
};

/*
 * The message text one contact gets on one channel (template.h): "all_clear"
 * when o->all_clear or the alert is resolved.  {time} is when the alert
 * opened, "MM-DD HH:MM" in the contact's zone, with " (UTC+1)" after it when
 * that zone is not at the subject's offset then; {location} the device's room
 * in the message's language; {note} the operator's note on the alert.
 * contact is the job's {"name","role",...}.  out is always NUL-terminated.
 */
void ch_alert_render(const struct ch_render_opts *o, json_t *alert, const struct ch_subject *subj, json_t *contact,
		     char *out, size_t len);

/* "MM-DD HH:MM" of at in zone, with " (UTC+H[:MM])" when its offset differs from ref's then. */
void ch_alert_local_time(const struct ch_tz *zone, const struct ch_tz *ref, int64_t at, char *out, size_t len);

#endif
