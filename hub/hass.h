/*
 * hass.h - Home Assistant MQTT discovery out.  Per subject, three entities a
 * family's Home Assistant shows with no configuration: a binary_sensor "Needs
 * attention" (device class problem: on while any alert of the subject is open
 * or acknowledged, the alerts as attributes), a sensor "Open alerts" and a
 * timestamp sensor "Last activity" (the last event that counts as a sign of
 * life for the rules' inactivity matchers).
 *
 * Configured by mqtt.homeassistant:
 *   {"enabled": true, "discovery_prefix": "homeassistant",
 *    "state_prefix": "carehub/v1/ha", "subjects": ["s-001"] (default: all),
 *    "interval": "60s", "name": "name" | "id"}
 * Topics (all retained):
 *   <discovery_prefix>/binary_sensor/carehub_<sid>/attention/config
 *   <discovery_prefix>/sensor/carehub_<sid>/open_alerts/config
 *   <discovery_prefix>/sensor/carehub_<sid>/last_activity/config
 *   <state_prefix>/<sid>/state   {"attention":"ON"|"OFF","open_alerts":N,
 *                                 "last_activity": RFC 3339 or null,"alerts":[...]}
 * Each subject's topics are its own, so a broker ACL can give a family its
 * parent's and no one else's.  Configs are published again every ten minutes
 * (a broker without persistence forgets retained messages) and emptied, which
 * removes the entities, when a subject leaves the registry or the selection.
 *
 * A thread of this module publishes; the correlator tells it of applied
 * events (ch_hass_event) and the alert publisher of alert changes
 * (ch_hass_alert).  Process-wide; the configuration is read from the current
 * runtime on every cycle, so a reload applies.
 */
#ifndef CH_HASS_H
#define CH_HASS_H

#include "ch.h"
#include "event.h"
#include "registry.h"
#include "rules.h"
#include "store.h"

#include <jansson.h>

struct ch_hass_conf {
	bool enabled;
	char discovery_prefix[128];
	char state_prefix[128];
	json_t *subjects; /* borrowed from the config: array of ids, or NULL for all */
	int64_t interval_ms;
	bool by_id;       /* entities named by subject id instead of name */
};

/* Reads mqtt.homeassistant (j borrowed; NULL: disabled); CH_ECONFIG with the reason. */
int ch_hass_conf_parse(json_t *j, struct ch_hass_conf *out, char *err, size_t errlen);

/*
 * The discovery config of one entity ("attention", "open_alerts",
 * "last_activity") of subject s: a new object, and its topic in topic.
 * availability: the hub's status topic (online/offline), or NULL.
 */
json_t *ch_hass_discovery(const struct ch_hass_conf *c, const struct ch_subject *s, const char *entity,
			  const char *availability, char *topic, size_t tlen);

/* The state document of a subject from its unresolved alert documents (borrowed) and last activity (0: none). */
json_t *ch_hass_state(json_t *alerts, int64_t last_activity_ms);

/* Is ev a sign of life for any inactivity rule of rules (with none: motion, door, bed, appliance...)? */
bool ch_hass_is_activity(const struct ch_ruleset *rules, const struct ch_event *ev, const struct ch_device *dev);

struct ch_hass_opts {
	const struct ch_store_opts *store; /* outlives the thread */
	/* Publishes a message; 0 when it went or was queued. */
	int (*publish)(void *arg, const char *topic, const void *payload, size_t len, int qos, int retain);
	void *arg;
	const char *availability; /* the hub's status topic; copied */
};

int ch_hass_start(const struct ch_hass_opts *o, char *err, size_t errlen);
void ch_hass_stop(void);

/* The correlator applied ev of subj: a sign of life moves "Last activity". */
void ch_hass_event(const struct ch_ruleset *rules, const struct ch_subject *subj, const struct ch_event *ev,
		   const struct ch_device *dev);
/* An alert of sid changed: its state is published again soon. */
void ch_hass_alert(const char *sid);

#endif
