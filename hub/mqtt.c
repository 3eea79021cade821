/*
 * mqtt.c - libmosquitto with our own loop thread.
 *
 * mosquitto_threaded_set(true) tells the library another thread runs the loop,
 * so publishes from the correlator and dispatcher only queue packets and wake
 * this loop through its socket pair.
 */
#include "mqtt.h"
#include "backoff.h"
#include "clock.h"
#include "log.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct ch_mqtt {
	struct mosquitto *mosq;
	struct ch_mqtt_opts o;
	char *host, *client_id, *status_topic;
	pthread_mutex_t subs_mu; /* subs, nsubs and gone: changed live by a reload */
	char **subs;
	size_t nsubs;
	char **gone;             /* filters dropped while disconnected: unsubscribed at the next connect */
	size_t ngone;
	pthread_t thread;
	atomic_bool running;
	atomic_bool paused;
	atomic_bool connected;
	atomic_uint_fast64_t received;
	uint64_t rnd;
	int attempt;
};

static void on_connect(struct mosquitto *mosq, void *arg, int rc, int flags, const mosquitto_property *props)
{
	struct ch_mqtt *m = arg;

	(void)props;
	if (rc != 0) {
		ch_log_rl("mqtt-connack", 10000, CH_LOG_ERROR, "mqtt: broker refused connection: %s",
			  mosquitto_connack_string(rc));
		return;
	}
	m->attempt = 0;
	atomic_store(&m->connected, true);
	ch_log(CH_LOG_INFO, "mqtt: connected to %s:%d as %s (session %s)", m->host, m->o.port, m->client_id,
	       (flags & 1) ? "resumed" : "new");
	pthread_mutex_lock(&m->subs_mu);
	for (size_t i = 0; i < m->nsubs; i++) {
		int src = mosquitto_subscribe(mosq, NULL, m->subs[i], 1);
		if (src != MOSQ_ERR_SUCCESS)
			ch_log(CH_LOG_ERROR, "mqtt: subscribe %s: %s", m->subs[i], mosquitto_strerror(src));
	}
	/* The persistent session still holds what a reload dropped while we were away. */
	for (size_t i = 0; i < m->ngone; i++) {
		mosquitto_unsubscribe(mosq, NULL, m->gone[i]);
		free(m->gone[i]);
	}
	m->ngone = 0;
	pthread_mutex_unlock(&m->subs_mu);
	mosquitto_publish(mosq, NULL, m->status_topic, 6, "online", 1, true);
	if (m->o.on_connect)
		m->o.on_connect(m->o.arg, m, (flags & 1) != 0);
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc, const mosquitto_property *props)
{
	struct ch_mqtt *m = arg;

	(void)mosq;
	(void)props;
	atomic_store(&m->connected, false);
	if (atomic_load(&m->running))
		ch_log_rl("mqtt-disconnect", 10000, CH_LOG_WARN, "mqtt: disconnected (%s)",
			  rc ? mosquitto_strerror(rc) : "by request");
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	struct ch_mqtt *m = arg;

	(void)mosq;
	(void)props;
	atomic_fetch_add(&m->received, 1);
	m->o.on_message(m->o.arg, msg->topic, msg->payload, (size_t)msg->payloadlen);
}

static void sleep_ms_while_running(struct ch_mqtt *m, int64_t ms)
{
	int64_t until = ch_clock_mono_ms() + ms;

	while (atomic_load(&m->running)) {
		int64_t left = until - ch_clock_mono_ms();
		if (left <= 0)
			break;
		/* Returns at once when not connected; sleeps otherwise. */
		struct timespec ts = {0, (long)(left > 100 ? 100 : left) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void *loop_thread(void *arg)
{
	struct ch_mqtt *m = arg;
	bool ever = false;

	while (atomic_load(&m->running)) {
		int rc;

		if (!atomic_load(&m->connected) && !ever) {
			rc = mosquitto_connect_bind_v5(m->mosq, m->host, m->o.port, m->o.keepalive_s, NULL, NULL);
			if (rc == MOSQ_ERR_SUCCESS) {
				ever = true;
			} else {
				int64_t d = ch_backoff_full_jitter(m->o.reconnect_min_ms, m->o.reconnect_max_ms,
								   ++m->attempt, ch_rand64(&m->rnd));
				ch_log_rl("mqtt-connect", 10000, CH_LOG_WARN, "mqtt: cannot connect to %s:%d: %s; retrying",
					  m->host, m->o.port, mosquitto_strerror(rc));
				sleep_ms_while_running(m, d < 100 ? 100 : d);
				continue;
			}
		}
		if (atomic_load(&m->paused) || (m->o.has_room && !m->o.has_room(m->o.arg))) {
			/* Keep the connection alive without reading: the broker holds the backlog. */
			mosquitto_loop_misc(m->mosq);
			if (mosquitto_want_write(m->mosq))
				mosquitto_loop_write(m->mosq, 1);
			if (m->o.wait_room && !atomic_load(&m->paused))
				m->o.wait_room(m->o.arg, 50);
			else
				sleep_ms_while_running(m, 50);
			continue;
		}
		rc = mosquitto_loop(m->mosq, 100, 1);
		if (rc == MOSQ_ERR_SUCCESS)
			continue;
		if (!atomic_load(&m->running))
			break;
		atomic_store(&m->connected, false);
		int64_t d = ch_backoff_full_jitter(m->o.reconnect_min_ms, m->o.reconnect_max_ms, ++m->attempt,
						   ch_rand64(&m->rnd));
		ch_log_rl("mqtt-loop", 10000, CH_LOG_WARN, "mqtt: connection lost (%s); reconnecting in %lld ms",
			  mosquitto_strerror(rc), (long long)d);
		sleep_ms_while_running(m, d);
		if (atomic_load(&m->running))
			mosquitto_reconnect(m->mosq);
	}
	return NULL;
}

static char *dup_or_die(const char *s, bool *oom)
{
	char *p = ch_strdup(s);

	if (s && !p)
		*oom = true;
	return p;
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
	mosquitto_lib_init();
}

int ch_mqtt_start(const struct ch_mqtt_opts *o, struct ch_mqtt **out, char *err, size_t errlen)
{
	struct ch_mqtt *m;
	bool oom = false;
	int rc;

	pthread_once(&lib_once, lib_init);
	m = calloc(1, sizeof(*m));
	if (!m)
		return CH_ENOMEM;
	m->o = *o;
	m->host = dup_or_die(o->host, &oom);
	m->client_id = dup_or_die(o->client_id, &oom);
	m->status_topic = dup_or_die(o->status_topic, &oom);
	pthread_mutex_init(&m->subs_mu, NULL);
	m->subs = calloc(o->nsubscriptions + 1, sizeof(*m->subs));
	if (!m->subs)
		oom = true;
	for (size_t i = 0; m->subs && i < o->nsubscriptions; i++)
		m->subs[i] = dup_or_die(o->subscriptions[i], &oom);
	m->nsubs = o->nsubscriptions;
	m->rnd = (uint64_t)ch_clock_mono_ms() ^ (uint64_t)(uintptr_t)m;
	if (oom)
		goto nomem;

	/* clean_session=false: the broker keeps our QoS 1 backlog while we are away. */
	m->mosq = mosquitto_new(m->client_id, false, m);
	if (!m->mosq)
		goto nomem;
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_threaded_set(m->mosq, true);
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	mosquitto_max_inflight_messages_set(m->mosq, 100);
	if (o->username || o->password) {
		rc = mosquitto_username_pw_set(m->mosq, o->username, o->password);
		if (rc)
			goto moserr;
	}
	if (o->tls) {
		rc = mosquitto_tls_set(m->mosq, o->cafile, NULL, o->certfile, o->keyfile, NULL);
		if (rc)
			goto moserr;
		mosquitto_tls_insecure_set(m->mosq, o->tls_insecure);
	}
	rc = mosquitto_will_set(m->mosq, m->status_topic, 7, "offline", 1, true);
	if (rc)
		goto moserr;
	atomic_store(&m->running, true);
	if (pthread_create(&m->thread, NULL, loop_thread, m)) {
		ch_fmt(err, errlen, "mqtt: cannot start thread");
		atomic_store(&m->running, false);
		ch_mqtt_stop(m);
		return CH_ENOMEM;
	}
	*out = m;
	return 0;
moserr:
	ch_fmt(err, errlen, "mqtt: %s", mosquitto_strerror(rc));
	ch_mqtt_stop(m);
	return CH_ECONFIG;
nomem:
	ch_mqtt_stop(m);
	return CH_ENOMEM;
}

void ch_mqtt_pause(struct ch_mqtt *m)
{
	atomic_store(&m->paused, true);
}

void ch_mqtt_stop(struct ch_mqtt *m)
{
	if (!m)
		return;
	if (atomic_exchange(&m->running, false))
		pthread_join(m->thread, NULL);
	if (m->mosq) {
		if (atomic_load(&m->connected)) {
			/* A clean stop says "offline" itself: the will only fires on a crash. */
			mosquitto_publish(m->mosq, NULL, m->status_topic, 7, "offline", 1, true);
			for (int i = 0; i < 20 && mosquitto_want_write(m->mosq); i++)
				mosquitto_loop(m->mosq, 50, 1);
			mosquitto_disconnect(m->mosq);
			mosquitto_loop(m->mosq, 50, 1);
		}
		mosquitto_destroy(m->mosq);
	}
	for (size_t i = 0; m->subs && i < m->nsubs; i++)
		free(m->subs[i]);
	free(m->subs);
	for (size_t i = 0; i < m->ngone; i++)
		free(m->gone[i]);
	free(m->gone);
	pthread_mutex_destroy(&m->subs_mu);
	free(m->host);
	free(m->client_id);
	free(m->status_topic);
	free(m);
}

int ch_mqtt_publish(struct ch_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
		    bool retain)
{
	int rc;

	if (len > 256u * 1024 * 1024)
		return CH_EINVAL;
	rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, qos, retain);
	if (rc == MOSQ_ERR_SUCCESS)
		return 0;
	if (rc == MOSQ_ERR_NO_CONN)
		return CH_EAGAIN;
	ch_log_rl("mqtt-publish", 10000, CH_LOG_WARN, "mqtt: publish to %s: %s", topic, mosquitto_strerror(rc));
	return CH_EIO;
}

static bool in_list(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

int ch_mqtt_set_subscriptions(struct ch_mqtt *m, const char *const *subs, size_t n)
{
	char **next = calloc(n + 1, sizeof(*next)), **gone;
	size_t ngone = 0;
	bool oom = false;

	for (size_t i = 0; next && i < n; i++)
		next[i] = dup_or_die(subs[i], &oom);
	gone = calloc(m->nsubs + m->ngone + 1, sizeof(*gone));
	if (!next || !gone || oom) {
		for (size_t i = 0; next && i < n; i++)
			free(next[i]);
		free(next);
		free(gone);
		return CH_ENOMEM;
	}
	pthread_mutex_lock(&m->subs_mu);
	/* New filters first: for a moment both are subscribed, so nothing falls between them. */
	for (size_t i = 0; i < n; i++) {
		if (in_list(m->subs, m->nsubs, next[i]))
			continue;
		int rc = atomic_load(&m->connected) ? mosquitto_subscribe(m->mosq, NULL, next[i], 1) : MOSQ_ERR_NO_CONN;
		ch_log(rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN ? CH_LOG_INFO : CH_LOG_ERROR,
		       "mqtt: subscribe %s%s%s", next[i],
		       rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN ? "" : ": ",
		       rc == MOSQ_ERR_SUCCESS ? "" : rc == MOSQ_ERR_NO_CONN ? " (at the next connect)" : mosquitto_strerror(rc));
	}
	for (size_t i = 0; i < m->ngone; i++)
		if (!in_list(next, n, m->gone[i]))
			gone[ngone++] = m->gone[i];
		else
			free(m->gone[i]);
	for (size_t i = 0; i < m->nsubs; i++) {
		if (in_list(next, n, m->subs[i])) {
			free(m->subs[i]);
			continue;
		}
		if (atomic_load(&m->connected) && mosquitto_unsubscribe(m->mosq, NULL, m->subs[i]) == MOSQ_ERR_SUCCESS) {
			ch_log(CH_LOG_INFO, "mqtt: unsubscribe %s", m->subs[i]);
			free(m->subs[i]);
		} else {
			gone[ngone++] = m->subs[i];
		}
	}
	free(m->subs);
	free(m->gone);
	m->subs = next;
	m->nsubs = n;
	m->gone = gone;
	m->ngone = ngone;
	pthread_mutex_unlock(&m->subs_mu);
	return 0;
}

bool ch_mqtt_connected(struct ch_mqtt *m)
{
	return atomic_load(&m->connected);
}

uint64_t ch_mqtt_received(struct ch_mqtt *m)
{
	return atomic_load(&m->received);
}
