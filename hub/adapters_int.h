/*
 * adapters_int.h - what the files of the adapters module share: the
 * configuration (adapters_conf.c), the common conversion machinery
 * (adapters.c) and one file per bridge (adapters_z2m.c, adapters_tasmota.c,
 * adapters_homie.c for Homie 5 and generic gateways).  Not for other modules.
 */
#ifndef CH_ADAPTERS_INT_H
#define CH_ADAPTERS_INT_H

#include "adapters.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds on untrusted input: anything larger is not a sensor reading. */
#define AD_MAX_PAYLOAD (256 * 1024)
#define AD_MAX_DEPTH 32
#define AD_MAX_DEVICE 256     /* bytes of a device name or topic level */
#define AD_MAX_EVENTS 512     /* events from one message */
#define AD_MAX_UNMAPPED 64    /* unmapped fields reported from one message */
#define AD_MAX_TEXT 1024      /* plain-text payloads (Homie values, LWT, attributes) */
#define AD_MAX_FILTERS 3
#define AD_MAX_BRIDGE_DEVICES 2000

/*
 * The only-changes memory: (adapter, device, type) -> last emitted value and
 * when.  Bounded; when full it is simply emptied, which costs at most one
 * repeated event per key afterwards (a state the rules already know), far
 * cheaper than an eviction policy, and a fleet with 100k live sensor keys is
 * beyond one hub.  RF debouncing keeps its last sighting of a code here too.
 */
#define MEMO_BUCKETS 16384
#define MEMO_MAX 100000

enum ad_kind { AD_Z2M, AD_TASMOTA, AD_HOMIE, AD_GENERIC };

/* Zigbee2MQTT's advanced.output setting, which the adapter must mirror. */
enum z2m_output { OUT_JSON, OUT_ATTRIBUTE, OUT_BOTH };

enum ts_format { TS_NONE, TS_EPOCH_MS, TS_EPOCH_S, TS_RFC3339 };

/* A configured mapping: a JSON pointer (generic) or a bridge field name, to an event type. */
struct gfield {
	char *pointer;  /* generic */
	char *field;    /* zigbee2mqtt, tasmota, homie: the field as the bridge names it */
	char *type;
	json_t *map;    /* owned copy or NULL */
	bool to_bool;
	bool invert;
	bool has_lin;   /* scale or offset given */
	double scale, offset;
};

struct adapter {
	char *name;
	enum ad_kind kind;
	char *base;      /* base_topic / tele prefix */
	char *stat;      /* tasmota: the stat prefix */
	char *filters[AD_MAX_FILTERS];
	bool shared[AD_MAX_FILTERS]; /* false: subscribed without $share (retained documents) */
	size_t nfilters;
	bool only_changes;
	enum z2m_output output;
	int64_t hold_ms;        /* zigbee2mqtt occupancy_hold: a held occupancy counts again after this */
	int64_t rf_debounce_ms; /* tasmota: the same RF code within this is one press */
	json_t *props;   /* homie: "<node>/<property>" -> type, owned */
	json_t *rf;      /* tasmota: RF code (upper-case hex) -> {"device", "type"?, "value"?} */
	json_t *ignore;  /* field -> true: deliberately not mapped, not reported */
	int dev_level;   /* generic: -1 when the device comes from dev_pointer */
	char *dev_pointer;
	char *ts_pointer;
	enum ts_format ts_format;
	struct gfield *fields;
	size_t nfields;
	/* zigbee2mqtt: what bridge/devices said, friendly name -> {"config": {prop: true}, "ieee"};
	 * written by the converting thread, read by ch_adapters_inherit: under set->mu. */
	json_t *learned;
};

struct memo {
	struct memo *next;
	int64_t at;      /* when this value was last emitted (arrival time) */
	char *value;     /* points into the same allocation, after the key */
	char key[];
};

struct ch_adapters {
	struct adapter *v;
	size_t n;
	struct memo **buckets; /* lazily allocated */
	size_t memo_count;
	pthread_mutex_t mu;    /* guards each adapter's learned */
};

/* State of one conversion: the scratch events, the unmapped report and where a rejection goes. */
struct conv {
	struct ch_adapters *set;
	int idx;
	struct adapter *ad;
	json_t *tmp;       /* events, moved to the caller only when the message converted */
	json_t *unmapped;  /* the caller's, borrowed */
	json_t **bridge;   /* the caller's, may be NULL */
	const struct ch_adapter_lookup *lk;
	int64_t now;
	enum ch_reject *why;
	char *err;
	size_t errlen;
};

/* adapters.c: helpers shared by config and conversion */
bool adapters__bad_pointer(const char *p);
json_t *adapters__ptr_get(json_t *doc, const char *p);
bool adapters__filter_valid(const char *f);
bool adapters__topic_matches(const char *f, const char *t);
void adapters__memo_clear(struct ch_adapters *a);

/* adapters.c: conversion machinery shared by the bridges (adapters__ names: inside the module only) */
int adapters__reject(struct conv *cv, enum ch_reject why, const char *fmt, const char *a);
/* Queues one event; value is stolen (NULL: no "value"); *ev (may be NULL) the queued event, to add "data". */
int adapters__event(struct conv *cv, const char *device, const char *type, json_t *value, const char *field,
	     json_t **ev);
/* Reports a field the hub received and could not map (reason "unmapped", "bad_value", "unknown_code"). */
void adapters__unmapped(struct conv *cv, const char *device, const char *field, json_t *value, const char *reason);
/* The registry type of the device a bridge name names, or NULL. */
const char *adapters__device_type(struct conv *cv, const char *name);
bool adapters__ignored(struct conv *cv, const char *device, const char *field, const char *const *builtin);
int adapters__parse_json(struct conv *cv, const char *payload, size_t len, bool object, json_t **root);
int adapters__plain_text(struct conv *cv, const char *payload, size_t len, char *buf, size_t cap);
int adapters__availability(struct conv *cv, const char *device, const char *payload, size_t len);
bool adapters__text_bool(const char *s, bool *out);
bool adapters__text_number(const char *s, double *out);
bool adapters__as_number(json_t *v, double *out);
json_t *adapters__number_json(json_t *orig, double d);
/* A bare value (attribute output, plain payloads): true/false/number/string; NULL for "". */
json_t *adapters__scalar(const char *text);
/* A configured field's transform chain: 0, or CH_EINVAL when v does not fit (nothing set). */
int adapters__transform(const struct gfield *f, json_t *v, json_t **val);
/* Applies the configured fields of kind field= to obj; handled[] marks what they took. */
const struct gfield *adapters__field_for(const struct adapter *ad, const char *field);
int adapters__apply_field(struct conv *cv, const char *device, const struct gfield *f, json_t *v);
/* The value says nothing new now, so no event (a debounced RF code, a held state): the memo knows. */
bool adapters__seen_within(struct ch_adapters *a, int idx, const char *key, int64_t now, int64_t within);

/* The known event value forms of bridge fields. */
enum conv_as { AS_BOOL, AS_BOOL01, AS_DOOR, AS_DOOR01, AS_NUMBER };
/* One bridge field to its canonical value; false when the form is wrong.  *val NULL for null. */
bool adapters__field_value(enum conv_as as, json_t *v, json_t **val);

struct fmap {
	const char *key;
	const char *type;
	enum conv_as as;
};

/* Maps the table's keys present in obj (configured fields first win); marks them in done. */
int adapters__map_table(struct conv *cv, const char *device, json_t *obj, const struct fmap *m, size_t n);

/* Per bridge */
int adapters__z2m(struct conv *cv, const char *rest, const char *payload, size_t len);
int adapters__tasmota(struct conv *cv, bool stat, const char *rest, const char *payload, size_t len);
int adapters__homie(struct conv *cv, const char *rest, const char *payload, size_t len);
int adapters__generic(struct conv *cv, const char *topic, const char *payload, size_t len);
/* Every key of obj that nothing mapped and nothing ignores, reported as unmapped. */
void adapters__report_rest(struct conv *cv, const char *device, json_t *obj, const char *prefix,
		    const char *const *builtin_ignore, const struct fmap *m, size_t n,
		    const char *const *handled);

#endif
