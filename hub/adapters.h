/*
 * adapters.h - turns the messages of a fleet's own bridge (Zigbee2MQTT,
 * Tasmota: Zigbee, switches, buttons, relays, RF bridges and sensors; Homie 5;
 * or a vendor gateway described by JSON pointers) into canonical events, by
 * configuration instead of code.
 *
 * Real fleets cannot be made to publish carehub's canonical event: they speak
 * whatever their bridge speaks.  An adapter owns a few MQTT topic filters; the
 * hub subscribes to them, asks ch_adapters_match which adapter a message
 * belongs to and ch_adapters_convert for the events it means.  Device names
 * are emitted as the bridge gives them (friendly names may hold '/', spaces,
 * any Unicode); mapping them to registry ids by alias is the caller's job, but
 * the caller lends a lookup of the registry's device type, because the type
 * decides what some readings mean (any press of a button registered as "sos"
 * is an alarm; a Tasmota switch on a "door" is a door).
 *
 * Nothing is dropped in silence: every field the adapter neither maps nor
 * deliberately ignores (link quality, voltage, settings the bridge says are
 * settable) comes back in the unmapped report, with the device and a sample
 * of its value, for the caller to count, log and show.
 *
 * Bridges repeat their whole state with every report (a door contact with
 * every battery reading), so adapters remember the last value per (device,
 * type) and by default emit only changes; a press (sos) and a fall are never
 * suppressed.
 *
 * Ownership: conf is borrowed; everything the set keeps is copied.  Strings
 * returned by the accessors live as long as the set.  Not thread-safe:
 * convert keeps state and is called from one thread (ch_adapters_inherit may
 * run in another).
 */
#ifndef CH_ADAPTERS_H
#define CH_ADAPTERS_H

#include "ch.h"
#include "event.h"

#include <jansson.h>

struct ch_adapters;

/* The largest bridge document (Zigbee2MQTT's bridge/devices) taken, in bytes. */
#define CH_ADAPTERS_LARGE_MAX (4 * 1024 * 1024)

/*
 * Builds the adapter set from conf, the JSON array mqtt.adapters (borrowed; NULL
 * or empty: a set with no adapters).  On error returns CH_ECONFIG (or CH_ENOMEM)
 * and a message naming the adapter, e.g.
 * mqtt.adapters[1] (z2m): unknown kind "zigbee", expected zigbee2mqtt, tasmota, homie or generic
 */
int ch_adapters_new(json_t *conf, struct ch_adapters **out, char *err, size_t errlen);

/* NULL is fine. */
void ch_adapters_free(struct ch_adapters *a);

/*
 * Carries what from's adapters learned from their bridges (Zigbee2MQTT's
 * bridge/devices) over to the adapters of the same name and kind in to, so a
 * reload does not forget it until the bridge publishes again.  from may be in
 * use by its converting thread.
 */
void ch_adapters_inherit(struct ch_adapters *to, struct ch_adapters *from);

size_t ch_adapters_count(const struct ch_adapters *a);

/* The configured name of adapter i (the kind when the config gave none); NULL if out of range. */
const char *ch_adapters_name(const struct ch_adapters *a, size_t i);

/*
 * The MQTT topic filters of all adapters, k = 0 .. ch_adapters_nsubs()-1, in
 * adapter order ("zigbee2mqtt/#", "tele/#", "stat/#", ...).  *shared (may be
 * NULL) is false for a filter that must not go through a shared subscription:
 * a retained bridge document, which brokers never hand to $share subscribers.
 */
size_t ch_adapters_nsubs(const struct ch_adapters *a);
const char *ch_adapters_sub(const struct ch_adapters *a, size_t k, bool *shared);

/*
 * Index of the adapter whose filters match topic (MQTT wildcards + and #; a
 * topic starting with '$' never matches a leading wildcard), -1 if none.  First
 * match wins.
 */
int ch_adapters_match(const struct ch_adapters *a, const char *topic);

/* Is topic a bridge document some adapter takes up to CH_ADAPTERS_LARGE_MAX bytes of? */
bool ch_adapters_large(const struct ch_adapters *a, const char *topic);

/*
 * What an adapter may ask the registry: the type of the device a bridge name
 * (an id or an alias) names, or NULL when no device has that name.  NULL
 * lookup or function: no device is known.
 */
struct ch_adapter_lookup {
	const char *(*device_type)(void *arg, const char *name);
	void *arg;
};

/*
 * Where a conversion's results go (all borrowed from the caller):
 *  events:   appended, one object each:
 *            {"device","type", optional "value","ts","data", and "field": the
 *            bridge's field it came from, for the caller to report and drop}
 *  unmapped: appended, one object per field nobody maps:
 *            {"device","field","value": a sample as text, "reason": "unmapped" |
 *            "bad_value" (a known field whose value has the wrong form; the
 *            message's other fields still convert) | "unknown_code" (an RF code
 *            no rf_codes entry names), "alone": true when nothing else of that
 *            device in the message mapped}
 *  bridge:   when not NULL and the message was a bridge's device list, set to
 *            a new array, one object per device:
 *            {"ieee","name","model","vendor","description","readings":[...],
 *             "suggest": a registry device entry {"id","type","location","aliases"}}
 */
struct ch_adapter_out {
	json_t *events;
	json_t *unmapped;
	json_t **bridge;
};

/*
 * Converts one message of adapter idx (payload[0..len), not NUL-terminated,
 * untrusted).  Zero events is normal: bridge chatter, a repeated unchanged
 * state, fields that only go to the unmapped report.  Returns 0, or CH_EINVAL
 * for a malformed message with *why set and a one-line reason in err; nothing
 * is appended to events or unmapped then.  arrival_ms is the hub's arrival
 * time: events carry no "ts" unless the message gave one, but holds and RF
 * debouncing count time by it.
 */
int ch_adapters_convert(struct ch_adapters *a, int idx, const char *topic, const char *payload,
			size_t len, int64_t arrival_ms, const struct ch_adapter_lookup *lookup,
			const struct ch_adapter_out *out, enum ch_reject *why, char *err,
			size_t errlen);

#endif
