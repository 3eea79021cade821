/*
 * api_view.h - what the API shows, built from what the store keeps: pure
 * functions of (stored documents, registry, policy, now), so the console's
 * view of an alert is unit-tested with no Redis and no HTTP.
 *
 * The shapes are the API contract (API12.md):
 *   item      id, rule, severity, category, state, subject, subject_name,
 *             address, device, location, summary, count, opened_at, opened_ms,
 *             acked_at, acked_ms, acked_by, resolved_at, resolved_ms,
 *             resolved_by, outcome, note, tz, reason, caveat, updated_ms
 *   timeline  [{ts_ms, kind, actor, contact, role, channel, step, text,
 *              outcome, note}] oldest first, people by name
 *   reached   [{contact, role, channel, status, answer, ts_ms}]: who has been
 *             told, how, and what they answered
 *   plan      [{step, due_ms, roles, contacts: [{name, role}], channels}]:
 *             what the escalation does next, and when
 *   devices   [{id, type, location, battery, battery_ms, last_seen_ms,
 *              online, offline, heartbeat_s}]
 */
#ifndef CH_API_VIEW_H
#define CH_API_VIEW_H

#include "ch.h"
#include "config.h"
#include "engine.h"
#include "registry.h"

#include <jansson.h>

/* The list item of a stored alert document (new reference); subj may be NULL; tz the subject's zone name. */
json_t *ch_view_item(json_t *doc, const struct ch_subject *subj, const char *tz);

/* Sorts items in place: severity (critical first), then age (oldest first). */
void ch_view_sort(json_t *items);

/* Severity rank for sorting and filtering: critical 4 .. info 0; -1 unknown. */
int ch_view_severity_rank(const char *severity);

/* The stored timeline (array of entries) as the API shows it (new reference). */
json_t *ch_view_timeline(json_t *stored, const struct ch_subject *subj);

/* Who has been told, how, and what they answered, from the stored timeline (new reference). */
json_t *ch_view_reached(json_t *stored, const struct ch_subject *subj);

/*
 * The steps still to come: pol and the next global step g (counting repeats)
 * from the alert's escalation, opened_ms from the alert; at most max entries.
 * An empty array when pol is NULL (nothing left, or the alert was answered).
 */
json_t *ch_view_plan(const struct ch_policy *pol, long long g, int64_t next_at_ms, int64_t opened_ms,
		     const struct ch_subject *subj, size_t max);

/*
 * Each registry device of subj with what is known of its health: st is the
 * subject's engine state (last event per device; may be NULL), health the
 * P{sid}:devhealth object ({"<dev>|battery": "87|<ms>", "<dev>|online":
 * "0|<ms>"}; may be NULL), now for "offline" (silent past its heartbeat, or
 * reported offline).  New reference.
 */
json_t *ch_view_devices(const struct ch_subject *subj, const struct ch_sstate *st, json_t *health, int64_t now_ms);

/* The subject as the console shows it: name, address, phone, tz, notes, contacts (with phones), devices. */
json_t *ch_view_subject(const struct ch_subject *subj, const char *tz, json_t *devices);

/* Does subj match a search text (name, id, address, phone; case-insensitive substring)? */
bool ch_view_subject_matches(const struct ch_subject *subj, const char *q);

#endif
