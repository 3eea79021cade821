/*
 * registry.h - subjects (the people watched over), their devices and contacts.
 *
 * The registry file is upserted into Redis at start and on reload; the daemon
 * then reads the whole registry back from Redis (so records edited through the
 * API count too) and builds this immutable in-memory index for device lookups.
 */
#ifndef CH_REGISTRY_H
#define CH_REGISTRY_H

#include "ch.h"

#include <jansson.h>

struct ch_checkin_conf;

struct ch_device {
	char *id;
	char *type;
	/* The room as rules match it ("front door"): the registry's plain string, or of
	 * {"zh": "厨房", "en": "kitchen"} the "en" name (else the first).  Messages take
	 * the name in their own language from location_names. */
	char *location;
	json_t *location_names; /* lang -> name ({"en": ...} from "location_en" too); NULL if none; owned */
	int64_t heartbeat_ms; /* 0: none declared */
	char **aliases;       /* other names a bridge uses: friendly name, IEEE address */
	size_t naliases;
};

struct ch_contact {
	char *name;
	char *phone;
	char *role; /* self, family, caregiver, neighbour, caseworker, centre, maintenance */
	int order;
	char *quiet_hours; /* "22:00-07:00" or NULL */
	char *timezone;    /* the contact's IANA zone for quiet hours; NULL: the subject's */
	char *language;    /* "zh", "en", "zh-CN" for message texts; NULL: the config's */
};

struct ch_subject {
	char *id;
	char *name;
	char *address;
	char *phone;
	char *timezone;
	char *notes;
	struct ch_device *devices;
	size_t ndevices;
	struct ch_contact *contacts; /* sorted by order */
	size_t ncontacts;
	json_t *json; /* the subject's record as stored, owned */
	/* "check_in" (its own, else its group's; checkin.h): scheduled calls; NULL: none.  Owned. */
	struct ch_checkin_conf *check_in;
};

struct ch_registry;

/*
 * Parses and validates {"subjects":[...], "groups":[...]} from a file; errors
 * with file:line:col.  A group ({"id", "name", "check_in"}) lends its
 * "check_in" to the subjects that name it in "group" and have none of their
 * own ("check_in": false opts one out); the record kept in Redis carries the
 * block it got, so records read back need no groups.
 */
int ch_registry_load(const char *path, struct ch_registry **out, char *err, size_t errlen);
int ch_registry_parse(const char *name, const char *text, size_t len, struct ch_registry **out,
		      char *err, size_t errlen);

/* Builds a registry from subject records already validated (e.g. read back from Redis). */
int ch_registry_from_subjects(json_t *const *subjects, size_t n, struct ch_registry **out, char *err,
			      size_t errlen);

void ch_registry_free(struct ch_registry *reg);

size_t ch_registry_count(const struct ch_registry *reg);
const struct ch_subject *ch_registry_at(const struct ch_registry *reg, size_t i);
const struct ch_subject *ch_registry_subject(const struct ch_registry *reg, const char *subject_id);

/*
 * Device lookup by id or by alias (a Zigbee friendly name, an IEEE address):
 * the subject the device watches over, and the device.  O(1).
 */
const struct ch_subject *ch_registry_find_device(const struct ch_registry *reg, const char *device_id,
						 const struct ch_device **dev);

#endif
