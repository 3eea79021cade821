/*
 * mqtt.h - the hub's MQTT connection.  The only module that sees libmosquitto.
 *
 * One thread of our own runs the network loop so that it can stop reading when
 * the ingest queue is full (backpressure to the broker instead of unbounded
 * memory) while still answering keepalives.  Persistent session, QoS 1, fixed
 * client id, a retained "online" status with "offline" as last will, reconnect
 * with capped exponential backoff and full jitter.  Publishing is thread-safe.
 */
#ifndef CH_MQTT_H
#define CH_MQTT_H

#include "ch.h"

struct ch_mqtt;

/*
 * Called in the MQTT thread for every message: must not block.  topic and
 * payload are borrowed for the call.
 */
typedef void (*ch_mqtt_message_fn)(void *arg, const char *topic, const void *payload, size_t len);
/* Backpressure: false stops reading from the socket until it turns true. */
typedef bool (*ch_mqtt_room_fn)(void *arg);
/* Called in the MQTT thread after each (re)connect and subscribe; m may publish. */
struct ch_mqtt;
typedef void (*ch_mqtt_connect_fn)(void *arg, struct ch_mqtt *m, bool session_present);

struct ch_mqtt_opts {
	const char *host;
	int port;
	const char *client_id;
	const char *username;
	const char *password; /* from the environment; copied, never logged */
	int keepalive_s;
	bool tls;
	const char *cafile, *certfile, *keyfile;
	bool tls_insecure;
	const char *status_topic; /* carehub/v1/status/<instance> */
	const char *const *subscriptions; /* topic filters, QoS 1 */
	size_t nsubscriptions;
	int64_t reconnect_min_ms, reconnect_max_ms;
	ch_mqtt_message_fn on_message;
	ch_mqtt_room_fn has_room;
	void (*wait_room)(void *arg, int ms);
	ch_mqtt_connect_fn on_connect;
	void *arg;
};

/* Creates the client and its thread; connecting happens in the thread. */
int ch_mqtt_start(const struct ch_mqtt_opts *o, struct ch_mqtt **out, char *err, size_t errlen);

/* Stops reading new messages (first step of a drain); publishing still works. */
void ch_mqtt_pause(struct ch_mqtt *m);

/* Publishes "offline", disconnects cleanly and joins the thread. */
void ch_mqtt_stop(struct ch_mqtt *m);

/* QoS 0-2; 0 or CH_EAGAIN when not connected (the message is then queued by libmosquitto). */
int ch_mqtt_publish(struct ch_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
		    bool retain);

/*
 * Replaces the topic filters (copied) without a reconnect: new ones are
 * subscribed before dropped ones are unsubscribed, so a message on a filter
 * kept or moved is never missed; while disconnected, the change waits for the
 * next connect (the broker's persistent session still holds the old ones
 * until then).  Any thread.
 */
int ch_mqtt_set_subscriptions(struct ch_mqtt *m, const char *const *subs, size_t n);

bool ch_mqtt_connected(struct ch_mqtt *m);
uint64_t ch_mqtt_received(struct ch_mqtt *m);

#endif
