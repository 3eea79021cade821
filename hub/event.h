/*
 * event.h - the canonical event: parsing and validation of untrusted payloads.
 *
 * Pure: no I/O, no globals; the arrival time and limits come in as arguments so
 * the fuzzer and the unit tests call it directly.  Every rejection has a reason
 * code whose name goes to the dead-letter stream and the metrics.
 */
#ifndef CH_EVENT_H
#define CH_EVENT_H

#include "ch.h"

#include <jansson.h>

enum ch_reject {
	CH_REJ_NONE = 0,
	CH_REJ_OVERSIZE,       /* payload larger than limits.max_payload */
	CH_REJ_BAD_UTF8,       /* not well-formed UTF-8 */
	CH_REJ_TOO_DEEP,       /* nesting deeper than limits.max_depth */
	CH_REJ_NOT_JSON,       /* syntax error */
	CH_REJ_NOT_OBJECT,     /* valid JSON but not an object */
	CH_REJ_MISSING_FIELD,  /* device or type absent */
	CH_REJ_BAD_FIELD,      /* a field of the wrong type or form (ts, id too long, ...) */
	CH_REJ_FUTURE_TS,      /* ts further ahead of arrival than limits.future_skew_ms */
	CH_REJ_UNKNOWN_DEVICE, /* device not in the registry (decided by the caller) */
	CH_REJ_TOPIC_MISMATCH, /* device in topic differs from device in payload */
	CH_REJ_OVERFLOW,       /* ingest queue overflowed (kept in the journal) */
	CH_REJ_COUNT
};

/* "oversize", "bad_utf8", ...: stable names used in dead letters and metrics. */
const char *ch_reject_name(enum ch_reject r);

struct ch_event_limits {
	size_t max_payload;
	int max_depth;
	int64_t future_skew_ms;
};

enum ch_value_kind { CH_VAL_NONE = 0, CH_VAL_BOOL, CH_VAL_NUMBER, CH_VAL_STRING, CH_VAL_OTHER };

#define CH_ID_MAX 128
#define CH_DEVICE_MAX 96
#define CH_TYPE_MAX 64

struct ch_event {
	char id[CH_ID_MAX];         /* "" when the payload had none */
	char device[CH_DEVICE_MAX];
	char type[CH_TYPE_MAX];
	int64_t ts_ms;              /* event time; arrival time when the payload had none */
	bool ts_given;
	enum ch_value_kind vkind;
	bool vbool;
	double vnum;
	const char *vstr; /* borrowed from root */
	json_t *root;     /* the parsed object, owned (one reference) */
};

/*
 * Parses payload[0..len) (not NUL-terminated) as a canonical event.  On success
 * returns 0 and fills *ev (release with ch_event_clear).  On rejection returns
 * CH_EINVAL, sets *reason and a one-line explanation in err; *ev is left empty.
 */
int ch_event_parse(const char *payload, size_t len, const struct ch_event_limits *lim,
		   int64_t arrival_ms, struct ch_event *ev, enum ch_reject *reason, char *err,
		   size_t errlen);

void ch_event_clear(struct ch_event *ev);

/*
 * Looks up a field by dotted path in the event ("value", "type", "data.total_m3",
 * "data.level").  Returns a borrowed json_t or NULL.
 */
json_t *ch_event_field(const struct ch_event *ev, const char *path);

/*
 * Parses a timestamp: RFC 3339 with any offset ("2026-11-28T08:15:00+08:00",
 * fractional seconds, "Z") or epoch milliseconds as a JSON integer.
 */
int ch_event_parse_rfc3339(const char *s, int64_t *out_ms);

#endif
