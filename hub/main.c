/*
 * main.c - carehubd: reads the configuration, starts the threads, and turns
 * signals into a drain (SIGTERM, SIGINT) or an atomic reload (SIGHUP).
 *
 * Under systemd (Type=notify) it says READY=1 once it serves, RELOADING=1 /
 * READY=1 around a SIGHUP, STOPPING=1 when it drains, and pings the watchdog
 * from its one-second loop (a hang there gets the hub restarted).
 *
 * Threads: this one waits for signals; mqtt reads the broker into the ingest
 * queue (journaling each message first); ingest applies batches to Redis;
 * dispatch sends notifications.  Each owns its own Redis connection.
 */
#include "ch.h"
#include "clock.h"
#include "adapters.h"
#include "care.h"
#include "checkin.h"
#include "config.h"
#include "dispatch.h"
#include "fleet.h"
#include "hass.h"
#include "ingest.h"
#include "http.h"
#include "api.h"
#include "auth.h"
#include "control.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "mqtt.h"
#include "plugin_host.h"
#include "queue.h"
#include "registry.h"
#include "rules.h"
#include "runtime.h"
#include "secret.h"
#include "store.h"
#include "stream.h"

#include <systemd/sd-daemon.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VERSION "0.1.0"
#define DRAIN_MS 10000
#define OVERSIZE_KEEP 4096

static struct {
	const char *config_path;
	const char **overrides;
	size_t noverrides;
	struct ch_queue *queue;
	struct ch_journal *journal;
	struct ch_mqtt *_Atomic mqtt;
	struct ch_dispatch *dispatch;
	size_t max_payload;
	char actor[192];
	char status_topic[256];
	char **subs; /* topic filters */
	size_t nsubs;
	char shared_group[128]; /* a connection setting: fixed at start */
	char instance[128];
	char redis_host[256];
	char redis_prefix[128];
	char redis_socket[256];
	char redis_user[128];
	char sync_topic[256];
	struct ch_ingest *_Atomic ingest;
	atomic_uint_fast64_t sync_nonce;
	/* Journal and queue take a message together: HTTP threads inject beside the MQTT thread,
	 * and the journal's trim point assumes queue order is journal order. */
	pthread_mutex_t intake_mu;
	struct ch_stream *stream;
	/* This thread's own connection, shared under cb_mu with the HTTP threads: callbacks taken
	 * (so a replay is refused) and the alert gauges. */
	struct ch_store *cb_store;
	pthread_mutex_t cb_mu;
} g = {.intake_mu = PTHREAD_MUTEX_INITIALIZER, .cb_mu = PTHREAD_MUTEX_INITIALIZER};

/* What an operator alerts on, read from Redis by the main thread every GAUGE_MS (so every instance
 * reports the same, whoever opened the alerts) and served from here by /metrics. */
#define GAUGE_MS 5000
static struct {
	atomic_llong open[CH_SEV_COUNT];
	atomic_llong oldest_critical_ms; /* opened_at_ms of the oldest critical alert not yet acknowledged; 0: none */
	atomic_bool known;               /* false until read, and while Redis is away */
} gauges;

static void usage(FILE *f)
{
	fprintf(f, "usage: carehubd -c FILE [-o path=value]... [--check]\n"
		   "  -c, --config FILE   configuration file (JSON)\n"
		   "  -o path=value       override one configuration value, e.g. -o mqtt.port=18830\n"
		   "      --check         validate configuration, rules, registry and channels, then exit\n"
		   "  -V, --version       print the version\n");
}

/* ---------------------------------------------------------------- hooks */

static int publish_hook(void *arg, const char *topic, const void *payload, size_t len, int qos, int retain)
{
	struct ch_mqtt *m = atomic_load(&g.mqtt);

	(void)arg;
	if (!m)
		return CH_EAGAIN;
	return ch_mqtt_publish(m, topic, payload, len, qos, retain != 0);
}

static void publish_alert(void *arg, const char *sid, const char *doc, size_t len)
{
	char topic[256];

	(void)arg;
	if (ch_fmt(topic, sizeof(topic), "carehub/v1/alerts/%s", sid) == 0)
		publish_hook(NULL, topic, doc, len, 1, 0);
	ch_hass_alert(sid); /* Home Assistant's "needs attention" follows */
}

static void jobs_ready(void *arg)
{
	(void)arg;
	if (g.dispatch)
		ch_dispatch_wake(g.dispatch);
}

static void enqueue(const char *topic, const char *payload, size_t len, size_t orig_len, int64_t arrival,
		    uint64_t seq)
{
	struct ch_msg m = {0};

	m.topic = ch_strdup(topic);
	m.payload = malloc(len + 1);
	if (!m.topic || !m.payload) {
		ch_msg_clear(&m);
		ch_log_rl("ingest-oom", 10000, CH_LOG_ERROR, "out of memory; message kept in the journal");
		return;
	}
	memcpy(m.payload, payload, len);
	m.payload[len] = '\0';
	m.len = len;
	m.orig_len = orig_len;
	m.arrival_ms = arrival;
	m.seq = seq;
	if (ch_queue_push(g.queue, &m)) {
		atomic_fetch_add(&ch_metrics.rejected[CH_REJ_OVERFLOW], 1);
		ch_log_rl("overflow", 10000, CH_LOG_ERROR, "ingest queue overflow; message kept in the journal");
		ch_msg_clear(&m);
	}
}

/* How much of a message to keep: all of it, or of an oversized one the start (for its dead letter). */
static size_t keep_len(const char *topic, size_t len)
{
	if (len <= g.max_payload)
		return len;
	if (len <= CH_ADAPTERS_LARGE_MAX) {
		/* A bridge's device list (Zigbee2MQTT's bridge/devices) may be larger than any reading. */
		struct ch_runtime *rt = ch_runtime_acquire();
		bool large = rt && ch_adapters_large(rt->adapters, topic);
		ch_runtime_release(rt);
		if (large)
			return len;
	}
	return len < OVERSIZE_KEEP ? len : OVERSIZE_KEEP;
}

/* libmosquitto thread: journal, enqueue, return.  Never blocks on Redis. */
static void on_message(void *arg, const char *topic, const void *payload, size_t len)
{
	size_t keep = keep_len(topic, len);
	int64_t now = ch_clock_now_ms();
	uint64_t seq = 0;

	(void)arg;
	if (strcmp(topic, g.sync_topic) == 0) {
		/* Our own marker: queued behind the backlog, never journaled. */
		if (len < 32)
			enqueue(topic, payload, len, len, now, 0);
		return;
	}
	atomic_fetch_add(&ch_metrics.events_in, 1);
	pthread_mutex_lock(&g.intake_mu);
	if (g.journal && ch_journal_append(g.journal, topic, payload, keep, len, now, &seq))
		seq = 0;
	enqueue(topic, payload, keep, len, now, seq);
	pthread_mutex_unlock(&g.intake_mu);
}

/*
 * MQTT thread, after each (re)connect: timers wait until the marker published
 * now comes back, which the broker delivers behind whatever it held for us.
 */
static void on_connect(void *arg, struct ch_mqtt *m, bool session_present)
{
	struct ch_ingest *ig = atomic_load(&g.ingest);
	uint64_t nonce = atomic_fetch_add(&g.sync_nonce, 1) + 1;
	char payload[32];

	(void)arg;
	(void)session_present;
	if (!ig)
		return;
	ch_ingest_sync_expect(ig, nonce);
	ch_fmt(payload, sizeof(payload), "%llu", (unsigned long long)nonce);
	ch_mqtt_publish(m, g.sync_topic, payload, strlen(payload), 1, false);
}

/* /healthz: the broker connection and Redis, as the correlator last saw it. */
static bool health(void *arg, char *detail, size_t len)
{
	struct ch_mqtt *m = atomic_load(&g.mqtt);
	struct ch_ingest *ig = atomic_load(&g.ingest);
	bool mqtt = m && ch_mqtt_connected(m), redis = ig && ch_ingest_redis_ok(ig);
	bool timers = ig && ch_ingest_timers_running(ig);

	(void)arg;
	ch_fmt(detail, len, "{\"instance\":\"%s\",\"mqtt\":%s,\"redis\":%s,\"timers\":%s,\"queue\":%zu}", g.instance,
	       mqtt ? "true" : "false", redis ? "true" : "false", timers ? "true" : "false",
	       g.queue ? ch_queue_depth(g.queue) : 0);
	return mqtt && redis;
}

static void refresh_gauges(void)
{
	long long open[CH_SEV_COUNT] = {0}, oldest = 0;
	json_t *arr = NULL, *a;
	char err[256];
	size_t i;
	int rc;

	pthread_mutex_lock(&g.cb_mu);
	rc = g.cb_store ? ch_store_alerts_open(g.cb_store, 100000, &arr, err, sizeof(err)) : CH_EAGAIN;
	pthread_mutex_unlock(&g.cb_mu);
	if (rc) {
		atomic_store(&gauges.known, false);
		return;
	}
	json_array_foreach(arr, i, a) {
		enum ch_severity sev;
		const char *state = json_string_value(json_object_get(a, "state"));
		long long at = json_integer_value(json_object_get(a, "opened_at_ms"));
		if (ch_severity_parse(json_string_value(json_object_get(a, "severity")), &sev))
			continue;
		open[sev]++;
		if (sev == CH_SEV_CRITICAL && state && strcmp(state, "open") == 0 && at > 0 && (!oldest || at < oldest))
			oldest = at;
	}
	json_decref(arr);
	for (int s = 0; s < CH_SEV_COUNT; s++)
		atomic_store(&gauges.open[s], open[s]);
	atomic_store(&gauges.oldest_critical_ms, oldest);
	atomic_store(&gauges.known, true);
}

static void metrics_extra(void *arg, char *buf, size_t len)
{
	struct ch_mqtt *m = atomic_load(&g.mqtt);
	struct ch_ingest *ig = atomic_load(&g.ingest);
	long long oldest = atomic_load(&gauges.oldest_critical_ms);
	size_t pos = 0;

	(void)arg;
	if (len)
		buf[0] = '\0';
	ch_fmt_append(buf, len, &pos,
		      "# HELP carehub_build_info The running carehubd.\n"
		      "# TYPE carehub_build_info gauge\n"
		      "carehub_build_info{version=\"%s\",plugin_abi=\"%d\"} 1\n"
		      "# HELP carehub_mqtt_up 1 while the broker connection is up.\n"
		      "# TYPE carehub_mqtt_up gauge\n"
		      "carehub_mqtt_up %d\n"
		      "# HELP carehub_redis_up 1 while Redis answers the correlator.\n"
		      "# TYPE carehub_redis_up gauge\n"
		      "carehub_redis_up %d\n",
		      VERSION, CH_PLUGIN_ABI_VERSION, m && ch_mqtt_connected(m), ig && ch_ingest_redis_ok(ig));
	if (atomic_load(&gauges.known)) {
		ch_fmt_append(buf, len, &pos,
			      "# HELP carehub_open_alerts Alerts open or acknowledged, not yet resolved, by severity.\n"
			      "# TYPE carehub_open_alerts gauge\n");
		for (int s = CH_SEV_COUNT - 1; s >= 0; s--)
			ch_fmt_append(buf, len, &pos, "carehub_open_alerts{severity=\"%s\"} %lld\n",
				      ch_severity_name((enum ch_severity)s), (long long)atomic_load(&gauges.open[s]));
		ch_fmt_append(buf, len, &pos,
			      "# HELP carehub_oldest_unacknowledged_critical_seconds Age of the oldest critical alert "
			      "nobody has acknowledged (0: none).\n"
			      "# TYPE carehub_oldest_unacknowledged_critical_seconds gauge\n"
			      "carehub_oldest_unacknowledged_critical_seconds %.3f\n",
			      oldest ? (double)(ch_clock_now_ms() - oldest) / 1000.0 : 0.0);
	}
	ch_fmt_append(buf, len, &pos,
	       "# HELP carehub_ingest_queue_depth Messages waiting in the ingest queue.\n"
	       "# TYPE carehub_ingest_queue_depth gauge\n"
	       "carehub_ingest_queue_depth %zu\n"
	       "# HELP carehub_dispatch_depth Sends in flight or waiting for a retry or a rate limit.\n"
	       "# TYPE carehub_dispatch_depth gauge\n"
	       "carehub_dispatch_depth %zu\n"
	       "# HELP carehub_stream_clients Live feeds (GET /v1/stream) connected.\n"
	       "# TYPE carehub_stream_clients gauge\n"
	       "carehub_stream_clients %zu\n",
	       g.queue ? ch_queue_depth(g.queue) : 0, ch_dispatch_depth(g.dispatch),
	       g.stream ? ch_stream_clients(g.stream) : 0);
}

/* Callbacks, the API's answers and silences: queued like a message from MQTT (journal, then the queue). */
static int inject(void *arg, const char *topic, const char *payload, size_t len)
{
	(void)arg;
	if (!ch_queue_has_room(g.queue))
		return CH_EFULL; /* the API answers 503: try again */
	on_message(NULL, topic, payload, len);
	return 0;
}

/*
 * A verified callback is taken once: its digest (channel, timestamp, body) is
 * claimed in Redis for twice the channel's callback_window, the span in which
 * its signature passes, so a replay to this hub, after a restart or to
 * another instance gets 409 and changes nothing.  CH_EDUP for a replay,
 * CH_EAGAIN while Redis is away (503: the provider tries again).
 */
static int claim_callback(const struct ch_runtime *rt, const char *channel, const struct ch_http_incoming *rq,
			  char *name, size_t namelen)
{
	const struct ch_channel_conf *cc = ch_config_channel(rt->cfg, channel);
	json_t *w = cc ? json_object_get(cc->options, "callback_window") : NULL;
	int64_t window_s = json_is_integer(w) ? json_integer_value(w) : 300;
	char hex[65], err[256];
	int rc;

	ch_http_callback_digest(channel, rq->headers, rq->body, rq->len, hex);
	ch_fmt(name, namelen, "callback:%s", hex);
	pthread_mutex_lock(&g.cb_mu);
	rc = g.cb_store ? ch_store_claim(g.cb_store, name, (2 * window_s + 60) * 1000, err, sizeof(err)) : CH_EAGAIN;
	pthread_mutex_unlock(&g.cb_mu);
	if (rc && rc != CH_EDUP)
		ch_log_rl("callback-claim", 10000, CH_LOG_WARN, "[%s] callback deferred: %s", channel,
			  g.cb_store ? err : "no Redis connection");
	return rc == CH_EDUP || rc == 0 ? rc : CH_EAGAIN;
}

static void unclaim_callback(const char *name)
{
	char err[256];

	pthread_mutex_lock(&g.cb_mu);
	if (g.cb_store)
		ch_store_unclaim(g.cb_store, name, err, sizeof(err));
	pthread_mutex_unlock(&g.cb_mu);
}

/*
 * POST /v1/callbacks/{channel} (an HTTP connection thread): the channel's plugin checks
 * the signature and says what happened; control.c turns that into an ack,
 * resolve, escalate or note, which goes into the journal and the ingest queue
 * exactly like one from carehub/v1/acks.  So a callback is durable once it is
 * answered 200, and the correlator applies it in order with everything else.
 */
static void callback(void *arg, const char *channel, const struct ch_http_incoming *rq, int *status, char *reply,
		     size_t len)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	struct ch_channel *ch = rt ? ch_runtime_channel(rt, channel) : NULL;
	struct ch_callback_request req = {
		.body = rq->body, .body_len = rq->len, .headers = rq->headers, .now_ms = ch_clock_now_ms()};
	struct ch_callback_result r;
	enum ch_ack_action act;
	char err[256], ref[128], claim[96];
	char *doc = NULL;
	int rc;

	if (!ch) {
		*status = 404;
		ch_fmt(reply, len, "{\"error\":\"no such channel\"}");
		goto out;
	}
	rc = ch_channel_callback(ch, &req, &r, err, sizeof(err));
	if (rc == CH_ENOTFOUND) {
		*status = 404;
		ch_fmt(reply, len, "{\"error\":\"this channel takes no callbacks\"}");
		goto out;
	}
	if (rc) {
		ch_metrics_inc(CH_MF_CALLBACKS, channel, rc == CH_EINVAL ? "not_understood" : "unauthorized");
		*status = rc == CH_EINVAL ? 400 : 401;
		ch_log_rl("callback-refused", 5000, CH_LOG_WARN, "[%s] callback from %s refused (%d): %s", channel,
			  rq->remote, *status, err);
		ch_fmt(reply, len, "{\"error\":\"%s\"}", *status == 401 ? "unauthorized" : "not understood");
		goto out;
	}
	/* An SMS sent back names no notification: the latest one sent to that number. */
	if (strncmp(r.idempotency_key, CH_CB_REPLY_TO, strlen(CH_CB_REPLY_TO)) == 0) {
		char phone[64], masked[64];
		ch_strlcpy(phone, r.idempotency_key + strlen(CH_CB_REPLY_TO), sizeof(phone));
		rc = arg ? ch_api_reply_key(arg, channel, phone, r.idempotency_key, sizeof(r.idempotency_key))
			 : CH_ENOTFOUND;
		if (rc) {
			ch_log_mask_phone(phone, masked, sizeof(masked));
			ch_log_rl("callback-reply", 5000, CH_LOG_INFO, "[%s] reply from %s %s", channel, masked,
				  rc == CH_ENOTFOUND ? "answers no recent notification: ignored" : "deferred: Redis away");
			/* Nothing to answer: 200 so the gateway does not resend it; busy: 503, it will. */
			*status = rc == CH_ENOTFOUND ? 200 : 503;
			ch_fmt(reply, len, rc == CH_ENOTFOUND ? "{\"ok\":true,\"action\":\"none\"}"
							      : "{\"error\":\"busy, try again\"}");
			goto out;
		}
	}
	/* The answer to a scheduled check-in call: the correlator moves its slot on (care.h). */
	if ((rc = ch_checkin_from_callback(rt->reg, channel, &r, &doc, err, sizeof(err))) != CH_ENOTFOUND) {
		if (rc == 0 && inject(NULL, CH_CHECKIN_TOPIC, doc, strlen(doc)))
			rc = CH_EFULL;
		*status = rc == 0 || rc == CH_EAGAIN ? 200 : rc == CH_EINVAL ? 400 : 503;
		ch_metrics_inc(CH_MF_CALLBACKS, channel, *status == 200 ? ch_control_callback_name(r.outcome) : "refused");
		ch_log(*status == 200 ? CH_LOG_INFO : CH_LOG_WARN, "[%s] check-in callback %s for %s: %s", channel,
		       ch_control_callback_name(r.outcome), r.idempotency_key, rc == 0 ? "queued" : err);
		if (*status == 200)
			ch_fmt(reply, len, "{\"ok\":true,\"action\":\"checkin\"}");
		else
			ch_fmt(reply, len, "{\"error\":\"%s\"}", *status == 400 ? "not a check-in of this channel" : "busy, try again");
		goto out;
	}
	rc = ch_control_from_callback(rt->reg, channel, &r, &doc, &act, err, sizeof(err));
	if (rc) {
		ch_metrics_inc(CH_MF_CALLBACKS, channel, "unknown_key");
		*status = rc == CH_ENOMEM ? 503 : 400;
		ch_log_rl("callback-unknown", 5000, CH_LOG_WARN, "[%s] callback from %s: %s", channel, rq->remote, err);
		ch_fmt(reply, len, "{\"error\":\"not a notification of this hub\"}");
		goto out;
	}
	if ((rc = claim_callback(rt, channel, rq, claim, sizeof(claim)))) {
		*status = rc == CH_EDUP ? 409 : 503;
		ch_metrics_inc(CH_MF_CALLBACKS, channel, rc == CH_EDUP ? "replayed" : "deferred");
		if (rc == CH_EDUP)
			ch_log_rl("callback-replay", 5000, CH_LOG_WARN, "[%s] callback from %s refused (409): a replay",
				  channel, rq->remote);
		ch_fmt(reply, len, "{\"error\":\"%s\"}", rc == CH_EDUP ? "replayed" : "busy, try again");
		goto out;
	}
	if (inject(NULL, CH_TOPIC_ACKS, doc, strlen(doc))) {
		/* Full (Redis away, a backlog): the provider will try again; nothing is half taken. */
		unclaim_callback(claim);
		*status = 503;
		ch_log_rl("callback-busy", 5000, CH_LOG_WARN, "[%s] callback deferred: the ingest queue is full", channel);
		ch_fmt(reply, len, "{\"error\":\"busy, try again\"}");
		goto out;
	}
	ch_metrics_inc(CH_MF_CALLBACKS, channel, ch_control_callback_name(r.outcome));
	ch_log_mask_phone(r.provider_ref, ref, sizeof(ref));
	ch_log(CH_LOG_INFO, "[%s] callback %s for %s (ref %s): %s", channel, ch_control_callback_name(r.outcome),
	       r.idempotency_key, ref[0] ? ref : "-", ch_control_action_name(act));
	*status = 200;
	ch_fmt(reply, len, "{\"ok\":true,\"action\":\"%s\"}", ch_control_action_name(act));
out:
	free(doc);
	ch_runtime_release(rt);
}

static bool has_room(void *arg)
{
	(void)arg;
	return ch_queue_has_room(g.queue);
}

static void wait_room(void *arg, int ms)
{
	(void)arg;
	ch_queue_wait_room(g.queue, ms);
}

static void replay(void *arg, uint64_t seq, const char *topic, const char *payload, size_t len, size_t orig_len,
		   int64_t arrival_ms)
{
	(*(size_t *)arg)++;
	while (!ch_queue_has_room(g.queue))
		ch_queue_wait_room(g.queue, 100);
	enqueue(topic, payload, len, orig_len, arrival_ms, seq);
}

/* ---------------------------------------------------------------- loading */

/* Secrets and TLS material for one run, wiped at exit (secret.h says where they come from). */
struct secrets {
	char *mqtt, *redis, *api, *metrics;
	char *tls_cert, *tls_key;
};

static void secrets_free(struct secrets *s)
{
	ch_secret_free(s->mqtt);
	ch_secret_free(s->redis);
	ch_secret_free(s->api);
	ch_secret_free(s->metrics);
	ch_secret_free(s->tls_cert);
	ch_secret_free(s->tls_key);
	*s = (struct secrets){0};
}

/*
 * Everything secret the config names.  A missing or readable-by-others file
 * stops the start (and --check), and so does an unset variable for MQTT,
 * Redis or the /metrics token; a missing API token only closes the API (503).
 */
static int secrets_load(const struct ch_config *cfg, struct secrets *s, char *err, size_t errlen)
{
	size_t n;
	int rc;

	*s = (struct secrets){0};
	if ((rc = ch_secret_read("mqtt.password", cfg->mqtt.password_env, cfg->mqtt.password_file, &s->mqtt, err,
				 errlen)) ||
	    (rc = ch_secret_read("redis.password", cfg->redis.password_env, cfg->redis.password_file, &s->redis, err,
				 errlen)))
		goto fail;
	if (cfg->http.enabled &&
	    ((rc = ch_secret_read("http.metrics_token", cfg->http.metrics_token_env, cfg->http.metrics_token_file,
				  &s->metrics, err, errlen)) ||
	     (cfg->http.tls.cert_file &&
	      ((rc = ch_secret_read_file("http.tls.cert_file", cfg->http.tls.cert_file, false, 1 << 20, &s->tls_cert, &n,
					 err, errlen)) ||
	       (rc = ch_secret_read_file("http.tls.key_file", cfg->http.tls.key_file, true, 1 << 20, &s->tls_key, &n,
					 err, errlen))))))
		goto fail;
	rc = ch_secret_read("http.token", cfg->http.token_env, cfg->http.token_file, &s->api, err, errlen);
	if (rc == CH_ENOTFOUND && !cfg->http.token_file)
		rc = 0; /* the API answers 503 until the hub is restarted with it */
	if (rc)
		goto fail;
	return 0;
fail:
	secrets_free(s);
	return rc;
}

/* The options outlive the runtime they came from: keep their strings in g. */
static void store_opts(const struct ch_config *cfg, const char *password, struct ch_store_opts *o)
{
	ch_strlcpy(g.redis_host, cfg->redis.host, sizeof(g.redis_host));
	ch_strlcpy(g.redis_prefix, cfg->redis.prefix, sizeof(g.redis_prefix));
	ch_strlcpy(g.redis_socket, cfg->redis.socket ? cfg->redis.socket : "", sizeof(g.redis_socket));
	ch_strlcpy(g.redis_user, cfg->redis.username ? cfg->redis.username : "", sizeof(g.redis_user));
	*o = (struct ch_store_opts){.host = g.redis_host, .port = cfg->redis.port, .db = cfg->redis.db,
				    .socket = g.redis_socket[0] ? g.redis_socket : NULL,
				    .username = g.redis_user[0] ? g.redis_user : NULL,
				    .password = password, .prefix = g.redis_prefix, .timeout_ms = 5000};
}

/*
 * Builds a complete runtime: config, rules, registry (upserted into Redis and
 * read back when st is given), channels.  Nothing is published here.
 */
static int load_runtime(struct ch_store *st, struct ch_runtime **out, char *err, size_t errlen)
{
	struct ch_runtime *rt = calloc(1, sizeof(*rt));
	struct ch_registry *file_reg = NULL;
	/* Channels borrow this for their whole life, across reloads. */
	static const struct ch_host_services svc = {.publish = publish_hook};
	json_t *all = NULL;
	int rc;

	if (!rt)
		return CH_ENOMEM;
	if ((rc = ch_config_load(g.config_path, g.overrides, g.noverrides, &rt->cfg, err, errlen)))
		goto fail;
	if ((rc = ch_rules_load(rt->cfg->rules.file, &rt->rules, err, errlen)))
		goto fail;
	if ((rc = ch_registry_load(rt->cfg->registry.file, &file_reg, err, errlen)))
		goto fail;
	if (st) {
		size_t n = ch_registry_count(file_reg);
		json_t **recs = calloc(n ? n : 1, sizeof(*recs));
		if (!recs) {
			rc = CH_ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			recs[i] = ch_registry_at(file_reg, i)->json;
		rc = ch_store_registry_upsert(st, recs, n, err, errlen);
		free(recs);
		if (rc)
			goto fail;
		if ((rc = ch_store_registry_read(st, &all, err, errlen)))
			goto fail;
		size_t m = json_array_size(all);
		json_t **items = calloc(m ? m : 1, sizeof(*items));
		if (!items) {
			rc = CH_ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < m; i++)
			items[i] = json_array_get(all, i);
		rc = ch_registry_from_subjects(items, m, &rt->reg, err, errlen);
		free(items);
		if (rc)
			goto fail;
		ch_registry_free(file_reg);
		file_reg = NULL;
	} else {
		rt->reg = file_reg;
		file_reg = NULL;
	}
	if ((rc = ch_adapters_new(rt->cfg->mqtt.adapters, &rt->adapters, err, errlen))) {
		char where[1100];
		ch_fmt(where, sizeof(where), "%s: %s", rt->cfg->file, err);
		ch_strlcpy(err, where, errlen);
		goto fail;
	}
	rt->channels = calloc(rt->cfg->nchannels ? rt->cfg->nchannels : 1, sizeof(*rt->channels));
	if (!rt->channels) {
		rc = CH_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < rt->cfg->nchannels; i++) {
		const struct ch_channel_conf *cc = &rt->cfg->channels[i];
		if ((rc = ch_channel_open(rt->cfg->plugins_dir, cc->name, cc->plugin, cc->options, &svc,
					  &rt->channels[i], err, errlen)))
			goto fail;
		rt->nchannels++;
	}
	if ((rc = ch_care_check(rt, err, errlen)))
		goto fail;
	json_decref(all);
	*out = rt;
	return 0;
fail:
	json_decref(all);
	ch_registry_free(file_reg);
	ch_runtime_free(rt);
	return rc;
}

static int check_only(void)
{
	struct ch_runtime *rt;
	struct secrets sec;
	char err[1024];
	int rc = load_runtime(NULL, &rt, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (secrets_load(rt->cfg, &sec, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", g.config_path, err);
		ch_runtime_free(rt);
		return 2;
	}
	secrets_free(&sec);
	printf("%s: ok (%zu rules, %zu subjects, %zu channels)\n", g.config_path, rt->rules->n,
	       ch_registry_count(rt->reg), rt->nchannels);
	ch_runtime_free(rt);
	return 0;
}

/*
 * The topic filters to subscribe: canonical events, silences, acks, every
 * adapter's filters (shared between hubs when configured; a retained bridge
 * document on its own unshared filter, since brokers give retained messages to
 * no $share subscriber) and this hub's own sync topic.  Replaces g.subs.
 */
static int build_subscriptions(const struct ch_runtime *rt)
{
	size_t na = ch_adapters_nsubs(rt->adapters), n = 0;
	char **subs = calloc(na + 5, sizeof(*subs));
	bool oom = !subs;

	for (size_t i = 0; subs && i < 3 + na; i++) {
		bool shared = true;
		const char *filter = i == 0   ? CH_TOPIC_EVENTS "+"
				     : i == 1 ? CH_TOPIC_SILENCES
				     : i == 2 ? CH_TOPIC_ACKS
						: ch_adapters_sub(rt->adapters, i - 3, &shared);
		char buf[512];
		if (!shared && !g.shared_group[0])
			continue; /* the adapter's "<base>/#" covers it */
		if (shared && g.shared_group[0])
			ch_fmt(buf, sizeof(buf), "$share/%s/%s", g.shared_group, filter);
		else
			ch_strlcpy(buf, filter, sizeof(buf));
		if (!(subs[n++] = ch_strdup(buf)))
			oom = true;
	}
	if (subs && !(subs[n++] = ch_strdup(g.sync_topic))) /* never shared: it is this hub's own */
		oom = true;
	if (oom) {
		for (size_t i = 0; subs && i < n; i++)
			free(subs[i]);
		free(subs);
		return CH_ENOMEM;
	}
	for (size_t i = 0; g.subs && i < g.nsubs; i++)
		free(g.subs[i]);
	free(g.subs);
	g.subs = subs;
	g.nsubs = n;
	return 0;
}

/*
 * SIGHUP (POST /v1/reload raises one): a whole new runtime, or none.  Adapters
 * change live: the runtime swap is atomic, then new topic filters are
 * subscribed before old ones go, so an event arriving meanwhile is converted by
 * the old set or the new one, never by neither.
 */
static void reload(struct ch_store *st)
{
	struct ch_runtime *rt, *old;
	struct ch_mqtt *mq = atomic_load(&g.mqtt);
	char err[1024];

	ch_log(CH_LOG_INFO, "SIGHUP: reloading %s", g.config_path);
	if (load_runtime(st, &rt, err, sizeof(err))) {
		ch_log(CH_LOG_ERROR, "reload failed, keeping the running configuration: %s", err);
		ch_runtime_reload_done(false, err);
		return;
	}
	ch_log_set_level_name(rt->cfg->log.level);
	old = ch_runtime_acquire();
	if (old)
		ch_adapters_inherit(rt->adapters, old->adapters);
	ch_runtime_release(old);
	ch_fmt(err, sizeof(err), "%zu rules, %zu subjects, %zu channels, %zu adapters", rt->rules->n,
	       ch_registry_count(rt->reg), rt->nchannels, ch_adapters_count(rt->adapters));
	/* The subscriptions follow the runtime, never lead it: a new filter's first message
	 * (a retained one comes at once) must find its adapter. */
	bool subs_ok = build_subscriptions(rt) == 0;
	ch_runtime_publish(rt);
	if (!subs_ok || (mq && ch_mqtt_set_subscriptions(mq, (const char *const *)g.subs, g.nsubs)))
		ch_log(CH_LOG_ERROR, "reload: out of memory changing the subscriptions; they apply at restart");
	ch_log(CH_LOG_INFO, "reloaded: %s (connection settings apply at restart)", err);
	ch_runtime_reload_done(true, err);
}

/*
 * The service tokens: http.token_env is the admin token "service" (unset: a
 * warning, sessions still work); each of http.service_tokens must be set.
 */
static int load_tokens(const struct ch_config *cfg, const char *admin, struct ch_auth_tokens **out, char *err,
		       size_t errlen)
{
	struct ch_auth_tokens *t = ch_auth_tokens_new();
	const char *v = admin;
	char *sv = NULL;
	int rc;

	*out = NULL;
	if (!t)
		return CH_ENOMEM;
	if (v && *v && ch_auth_tokens_add(t, "service", CH_ROLE_ADMIN, v))
		goto oom;
	if (!v || !*v)
		ch_log(CH_LOG_WARN, "http: %s is not set: no admin service token (operators can still sign in)",
		       cfg->http.token_env ? cfg->http.token_env : "http.token_env");
	for (size_t i = 0; i < cfg->http.nservice_tokens; i++) {
		const struct ch_service_token *st = &cfg->http.service_tokens[i];
		enum ch_role role;
		/* The variable, or a systemd credential of that name (secret.h). */
		if ((rc = ch_secret_read("http.service_tokens", st->token_env, NULL, &sv, err, errlen)) || !sv || !*sv) {
			if (!rc)
				ch_fmt(err, errlen, "service token %s: %s (named in the config) is empty", st->name,
				       st->token_env);
			ch_secret_free(sv);
			ch_auth_tokens_free(t);
			return rc == CH_ENOMEM ? rc : CH_ECONFIG;
		}
		rc = ch_role_parse(st->role, &role) || ch_auth_tokens_add(t, st->name, role, sv);
		ch_secret_free(sv);
		sv = NULL;
		if (rc)
			goto oom;
	}
	*out = t;
	return 0;
oom:
	ch_auth_tokens_free(t);
	ch_fmt(err, errlen, "out of memory");
	return CH_ENOMEM;
}

/* The live feed, the API and the HTTP server, in that order. */
static int start_http(const struct ch_config *cfg, const struct secrets *sec, const struct ch_store_opts *so,
		      struct ch_api **api, struct ch_http **http, char *err, size_t errlen)
{
	struct ch_auth_tokens *tokens;
	int rc;

	if ((rc = load_tokens(cfg, sec->api, &tokens, err, errlen)))
		return rc;
	struct ch_stream_opts sopts = {.store = so, .keepalive_ms = (int)cfg->http.sse_keepalive_ms,
				       .max_clients = (size_t)cfg->http.max_streams, .render = ch_api_render_change};
	if ((rc = ch_stream_start(&sopts, &g.stream, err, errlen))) {
		ch_auth_tokens_free(tokens);
		return rc;
	}
	struct ch_api_opts ao = {.store = so, .inject = inject, .tokens = tokens,
				 .session_ttl_ms = cfg->http.session_ttl_ms, .stream = g.stream,
				 .secure_cookies = sec->tls_cert != NULL};
	if ((rc = ch_api_open(&ao, api, err, errlen)))
		return rc;
	struct ch_http_opts ho = {.listen = cfg->http.listen, .port = cfg->http.port, .callback = callback,
				  .api = ch_api_handle, .health = health, .metrics_extra = metrics_extra, .arg = *api,
				  .max_connections = (unsigned)cfg->http.max_connections,
				  .max_per_ip = (unsigned)cfg->http.max_per_ip,
				  .timeout_s = (unsigned)((cfg->http.timeout_ms + 999) / 1000),
				  .metrics_token = sec->metrics, .tls_cert = sec->tls_cert, .tls_key = sec->tls_key};
	if ((rc = ch_http_start(&ho, http, err, errlen)))
		return rc;
	ch_log(CH_LOG_INFO, "http: listening on %s:%d (%s)", cfg->http.listen, ch_http_port(*http),
	       sec->tls_cert ? "https" : "plain http");
	return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
						 {"check", no_argument, NULL, 'k'},
						 {"version", no_argument, NULL, 'V'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	bool check = false;
	int opt;
	sigset_t sigs;
	struct ch_store *st = NULL;
	struct ch_store_opts so;
	struct ch_runtime *rt = NULL;
	struct ch_ingest *ig = NULL;
	struct ch_mqtt *mq = NULL;
	struct ch_http *http = NULL;
	struct ch_api *api = NULL;
	static struct secrets sec; /* static: reachable on every way out, wiped on the normal one */
	char err[1024];
	int rc, exit_code = 0;

	g.overrides = calloc((size_t)argc + 1, sizeof(*g.overrides));
	if (!g.overrides)
		return 1;
	while ((opt = getopt_long(argc, argv, "c:o:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'o':
			g.overrides[g.noverrides++] = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'V':
			printf("carehubd %s (plugin ABI %d)\n", VERSION, CH_PLUGIN_ABI_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!g.config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return check_only();

	/* Signals go to this thread only, through sigtimedwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* First load without Redis: a bad file must stop us before we touch anything. */
	if ((rc = load_runtime(NULL, &rt, err, sizeof(err)))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	ch_log_set_level_name(rt->cfg->log.level);
	if (secrets_load(rt->cfg, &sec, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", g.config_path, err);
		ch_runtime_free(rt);
		return 2;
	}
	ch_strlcpy(g.instance, rt->cfg->instance, sizeof(g.instance));
	ch_fmt(g.actor, sizeof(g.actor), "carehubd/%s", g.instance);
	ch_fmt(g.status_topic, sizeof(g.status_topic), "carehub/v1/status/%s", g.instance);
	ch_fmt(g.sync_topic, sizeof(g.sync_topic), "%s%s", CH_TOPIC_SYNC, g.instance);
	if (rt->cfg->mqtt.shared_group)
		ch_strlcpy(g.shared_group, rt->cfg->mqtt.shared_group, sizeof(g.shared_group));
	if (build_subscriptions(rt)) {
		ch_log(CH_LOG_ERROR, "out of memory");
		ch_runtime_free(rt);
		return 1;
	}
	g.max_payload = rt->cfg->limits.max_payload;
	store_opts(rt->cfg, sec.redis, &so);
	ch_runtime_free(rt);
	rt = NULL;

	/* Redis must hold the registry before events can be matched: wait for it. */
	rc = ch_store_open(&so, &st, err, sizeof(err));
	for (int attempt = 0; rc == CH_EAGAIN; attempt++) {
		struct timespec ts = {1, 0};
		siginfo_t si;
		ch_log_rl("startup-redis", 10000, CH_LOG_WARN, "waiting for Redis: %s", err);
		if (sigtimedwait(&sigs, &si, &ts) > 0 && si.si_signo != SIGHUP) {
			ch_store_close(st);
			return 0;
		}
		rc = ch_store_ensure(st, err, sizeof(err));
	}
	if (rc || (rc = load_runtime(st, &rt, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "%s", err);
		ch_store_close(st);
		return 2;
	}
	ch_runtime_publish(rt);
	rt = ch_runtime_acquire();

	if (ch_queue_new((size_t)rt->cfg->limits.queue_capacity, 1024, &g.queue)) {
		ch_log(CH_LOG_ERROR, "out of memory");
		return 1;
	}
	if ((rc = ch_fleet_start(&so, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "fleet: %s", err);
		return 1;
	}
	struct ch_hass_opts hopts = {.store = &so, .publish = publish_hook, .availability = g.status_topic};
	if ((rc = ch_hass_start(&hopts, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "homeassistant: %s", err);
		return 1;
	}
	struct ch_dispatch_opts dopts = {.store = &so, .consumer = g.instance, .actor = g.actor};
	if ((rc = ch_dispatch_start(&dopts, &g.dispatch, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "dispatch: %s", err);
		return 1;
	}
	struct ch_ingest_opts iopts = {.queue = g.queue, .store = &so, .actor = g.actor,
				       .publish_alert = publish_alert, .jobs_ready = jobs_ready};
	if ((rc = ch_ingest_start(&iopts, &ig, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "ingest: %s", err);
		return 1;
	}
	atomic_store(&g.ingest, ig);
	/* Replay what a previous run journaled but may not have applied. */
	size_t replayed = 0;
	if ((rc = ch_journal_open(rt->cfg->state_dir, replay, &replayed, &g.journal, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "%s", err);
		exit_code = 1;
		goto shutdown;
	}
	if (replayed)
		ch_log(CH_LOG_INFO, "journal: replaying %zu messages from the last run", replayed);
	ch_ingest_set_journal(ig, g.journal);

	/* HTTP before MQTT: when the hub says "online" its API and callbacks answer too. */
	if (rt->cfg->http.enabled && (rc = start_http(rt->cfg, &sec, &so, &api, &http, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "http: %s", err);
		exit_code = 1;
		goto shutdown;
	}
	struct ch_mqtt_opts mo = {
		.host = rt->cfg->mqtt.host,
		.port = rt->cfg->mqtt.port,
		.client_id = rt->cfg->mqtt.client_id,
		.username = rt->cfg->mqtt.username,
		.password = sec.mqtt,
		.keepalive_s = rt->cfg->mqtt.keepalive_s,
		.tls = rt->cfg->mqtt.tls.enabled,
		.cafile = rt->cfg->mqtt.tls.cafile,
		.certfile = rt->cfg->mqtt.tls.certfile,
		.keyfile = rt->cfg->mqtt.tls.keyfile,
		.tls_insecure = rt->cfg->mqtt.tls.insecure,
		.status_topic = g.status_topic,
		.subscriptions = (const char *const *)g.subs,
		.nsubscriptions = g.nsubs,
		.reconnect_min_ms = rt->cfg->mqtt.reconnect_min_ms,
		.reconnect_max_ms = rt->cfg->mqtt.reconnect_max_ms,
		.on_message = on_message,
		.has_room = has_room,
		.wait_room = wait_room,
		.on_connect = on_connect,
	};
	if ((rc = ch_mqtt_start(&mo, &mq, err, sizeof(err)))) {
		ch_log(CH_LOG_ERROR, "%s", err);
		exit_code = 1;
		goto shutdown;
	}
	atomic_store(&g.mqtt, mq);
	/* Connects now if it can; else at the next use (a callback waits for Redis with a 503). */
	if (ch_store_open(&so, &g.cb_store, err, sizeof(err)) == CH_ENOMEM) {
		ch_log(CH_LOG_ERROR, "out of memory");
		exit_code = 1;
		goto shutdown;
	}
	refresh_gauges();
	ch_log(CH_LOG_INFO, "carehubd %s started as %s: %zu rules, %zu subjects, %zu channels", VERSION, g.instance,
	       rt->rules->n, ch_registry_count(rt->reg), rt->nchannels);
	/* No-ops outside systemd ($NOTIFY_SOCKET unset). */
	sd_notifyf(0, "READY=1\nSTATUS=serving as %s: %zu subjects, %zu channels", g.instance, ch_registry_count(rt->reg),
		   rt->nchannels);
	uint64_t watchdog_us = 0;
	if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
		watchdog_us = 0;
	ch_runtime_release(rt);
	rt = NULL;

	for (int64_t gauged = ch_clock_mono_ms();;) {
		siginfo_t si;
		struct timespec ts = {1, 0};
		int s = sigtimedwait(&sigs, &si, &ts);
		if (ch_clock_mono_ms() - gauged >= GAUGE_MS) {
			refresh_gauges();
			gauged = ch_clock_mono_ms();
		}
		/* This loop wakes every second, well inside any sane WatchdogSec; a hang here (or in a
		 * gauge read past its timeout) lets systemd restart the hub. */
		if (watchdog_us)
			sd_notify(0, "WATCHDOG=1");
		if (s == SIGHUP) {
			sd_notify(0, "RELOADING=1");
			reload(st);
			sd_notify(0, "READY=1");
		} else if (s == SIGTERM || s == SIGINT) {
			sd_notify(0, "STOPPING=1");
			ch_log(CH_LOG_INFO, "%s: draining", s == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
	}

shutdown:
	ch_http_stop(http); /* first: it ends every live feed's connection */
	ch_api_close(api);
	ch_stream_stop(g.stream);
	g.stream = NULL;
	ch_store_close(g.cb_store);
	g.cb_store = NULL;
	if (mq)
		ch_mqtt_pause(mq);
	atomic_store(&g.ingest, NULL);
	ch_ingest_stop(ig, DRAIN_MS);
	ch_fleet_stop();
	ch_hass_stop();
	ch_dispatch_stop(g.dispatch, DRAIN_MS / 2);
	g.dispatch = NULL;
	atomic_store(&g.mqtt, NULL);
	ch_mqtt_stop(mq);
	ch_journal_close(g.journal);
	ch_queue_free(g.queue);
	ch_runtime_release(rt);
	ch_runtime_shutdown();
	ch_store_close(st);
	secrets_free(&sec);
	for (size_t i = 0; g.subs && i < g.nsubs; i++)
		free(g.subs[i]);
	free(g.subs);
	free(g.overrides);
	ch_log(CH_LOG_INFO,
	       "stopped; counters: events_in=%llu processed=%llu batches=%llu redis_round_trips=%llu "
	       "state_conflicts=%llu timers_fired=%llu",
	       (unsigned long long)atomic_load(&ch_metrics.events_in),
	       (unsigned long long)atomic_load(&ch_metrics.events_processed),
	       (unsigned long long)atomic_load(&ch_metrics.batches),
	       (unsigned long long)atomic_load(&ch_metrics.redis_round_trips),
	       (unsigned long long)atomic_load(&ch_metrics.state_conflicts),
	       (unsigned long long)atomic_load(&ch_metrics.timers_fired));
	return exit_code;
}
