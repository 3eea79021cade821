/*
 * adapters.h - turns the messages of a fleet's own bridge (Zigbee2MQTT, Tasmota
 * Zigbee, Homie 5, or a vendor gateway described by JSON pointers) into canonical
 * events, by configuration instead of code.
 *
 * Real fleets cannot be made to publish carehub's canonical event: they speak
 * whatever their bridge speaks.  An adapter owns one MQTT topic filter; the hub
 * subscribes to it, asks ch_adapters_match which adapter a message belongs to and
 * ch_adapters_convert for the events it means.  Device names are emitted as the
 * bridge gives them (friendly names may hold '/', spaces, any Unicode); mapping
 * them to registry ids by alias is the caller's job.
 *
 * Bridges repeat their whole state with every report (a door contact with every
 * battery reading), so adapters remember the last value per (device, type) and by
 * default emit only changes; sos and fall are never suppressed.
 *
 * Ownership: conf is borrowed; everything the set keeps is copied.  Strings
 * returned by the accessors live as long as the set.  Not thread-safe: convert
 * keeps state and is called from one thread.
 */
#ifndef CH_ADAPTERS_H
#define CH_ADAPTERS_H

#include "ch.h"
#include "event.h"

#include <jansson.h>

struct ch_adapters;

/*
 * Builds the adapter set from conf, the JSON array mqtt.adapters (borrowed; NULL
 * or empty: a set with no adapters).  On error returns CH_ECONFIG (or CH_ENOMEM)
 * and a message naming the adapter, e.g.
 * mqtt.adapters[1] (z2m): unknown kind "zigbee", expected zigbee2mqtt, tasmota, homie or generic
 */
int ch_adapters_new(json_t *conf, struct ch_adapters **out, char *err, size_t errlen);

/* NULL is fine. */
void ch_adapters_free(struct ch_adapters *a);

size_t ch_adapters_count(const struct ch_adapters *a);

/* The MQTT topic filter to subscribe for adapter i ("zigbee2mqtt/#"); NULL if i is out of range. */
const char *ch_adapters_filter(const struct ch_adapters *a, size_t i);

/* The configured name of adapter i (the kind when the config gave none); NULL if out of range. */
const char *ch_adapters_name(const struct ch_adapters *a, size_t i);

/*
 * Index of the adapter whose filter matches topic (MQTT wildcards + and #; a
 * topic starting with '$' never matches a leading wildcard), -1 if none.  First
 * match wins.
 */
int ch_adapters_match(const struct ch_adapters *a, const char *topic);

/*
 * Converts one message of adapter idx (payload[0..len), not NUL-terminated,
 * untrusted) into zero or more canonical events appended to out (a JSON array,
 * borrowed; each a new object {"device","type", optional "value","ts"}).  Zero
 * events is normal: bridge chatter, a repeated unchanged state, unknown fields.
 * Returns 0, or CH_EINVAL for a malformed message with *why set and a one-line
 * reason in err; nothing is appended to out then.  arrival_ms is the hub's
 * arrival time (events carry no "ts" unless the message gave one).
 */
int ch_adapters_convert(struct ch_adapters *a, int idx, const char *topic, const char *payload,
			size_t len, int64_t arrival_ms, json_t *out, enum ch_reject *why, char *err,
			size_t errlen);

#endif
