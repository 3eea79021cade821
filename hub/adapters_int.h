/*
 * adapters_int.h - what adapters_conf.c (configuration) and adapters.c
 * (conversion) share inside the adapters module; not for other modules.
 */
#ifndef CH_ADAPTERS_INT_H
#define CH_ADAPTERS_INT_H

#include "adapters.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds on untrusted input: anything larger is not a sensor reading. */
#define AD_MAX_PAYLOAD (256 * 1024)
#define AD_MAX_DEPTH 32
#define AD_MAX_DEVICE 256     /* bytes of a device name or topic level */
#define AD_MAX_EVENTS 512     /* events from one message */
#define AD_MAX_TEXT 1024      /* plain-text payloads (Homie values, LWT) */

/*
 * The only-changes memory: (adapter, device, type) -> last emitted value.
 * Bounded; when full it is simply emptied, which costs at most one repeated
 * event per key afterwards (a state the rules already know), far cheaper than an
 * eviction policy, and a fleet with 100k live sensor keys is beyond one hub.
 */
#define MEMO_BUCKETS 16384
#define MEMO_MAX 100000

enum ad_kind { AD_Z2M, AD_TASMOTA, AD_HOMIE, AD_GENERIC };

enum ts_format { TS_NONE, TS_EPOCH_MS, TS_EPOCH_S, TS_RFC3339 };

struct gfield {
	char *pointer;
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
	char *base;      /* base_topic / prefix */
	char *filter;
	bool only_changes;
	json_t *props;   /* homie: "<node>/<property>" -> type, owned */
	int dev_level;   /* generic: -1 when the device comes from dev_pointer */
	char *dev_pointer;
	char *ts_pointer;
	enum ts_format ts_format;
	struct gfield *fields;
	size_t nfields;
};

struct memo {
	struct memo *next;
	char *value;     /* points into the same allocation, after the key */
	char key[];
};

struct ch_adapters {
	struct adapter *v;
	size_t n;
	struct memo **buckets; /* lazily allocated */
	size_t memo_count;
};

bool ch_adapters__bad_pointer(const char *p);
json_t *ch_adapters__ptr_get(json_t *doc, const char *p);
bool ch_adapters__filter_valid(const char *f);
bool ch_adapters__topic_matches(const char *f, const char *t);
void ch_adapters__memo_clear(struct ch_adapters *a);

#endif
