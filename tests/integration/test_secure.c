/*
 * test_secure.c - the hub on the secured setup a server runs (issue 17):
 * mosquitto from `scripts/services --secure` (no anonymous access, a password
 * per account, config/mosquitto/carehub.acl) with a TLS listener whose CA and
 * certificate this test makes with openssl; Redis with its default user off,
 * the hub's ACL user and a unix socket; carehubd reading its passwords from
 * private files and serving HTTPS.
 *
 *  - the hub connects over TLS as carehub-hub, to Redis as "carehub" on the
 *    socket, and answers /healthz over HTTPS only; /metrics wants its token;
 *  - an anonymous client cannot even connect, over TLS or not, so its
 *    resolve never arrives: the SOS stays open;
 *  - a bridge account may not resolve, may not fake the hub's status and may
 *    not read alerts: its resolve is dropped (the console's later ack is what
 *    the alert shows), a fresh subscriber still sees "online", and the
 *    alerts never reach it (nor the events the console);
 *  - the console topic carries the notification with name, address and
 *    phone numbers masked.
 *
 * The services of tests/run stay open for the other tests; this one starts
 * its own secured pair under its scratch directory and stops them.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <mosquitto.h>
#include <pthread.h>

static char dir[600], svc[700], tls[700], ca_file[800], secrets[1100];
static int mqtt_port, mqtt_tls_port, redis_port, http_port;
static char redis_socket[1100];
static struct t_hub hub;

/* ---------------------------------------------------------------- set-up */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

/* A CA and a server certificate for localhost / 127.0.0.1, made here: nothing shipped is trusted. */
static void make_ca(void)
{
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	sh("mkdir -p '%s' && cd '%s' && "
	   "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=carehub test CA' -keyout ca.key -out ca.crt "
	   ">/dev/null 2>&1 && "
	   "openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key -out server.csr >/dev/null 2>&1 && "
	   "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' >ext && "
	   "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out server.crt "
	   ">/dev/null 2>&1 && chmod 600 server.key",
	   tls, tls);
	snprintf(ca_file, sizeof(ca_file), "%s/ca.crt", tls);
}

static void stop_services(void)
{
	char cmd[1200];

	if (!svc[0])
		return;
	snprintf(cmd, sizeof(cmd), "'%s/scripts/services' stop '%s' 2>/dev/null", t_src_dir(), svc);
	if (system(cmd) != 0)
		fprintf(stderr, "could not stop the services in %s\n", svc);
	svc[0] = '\0';
}

static void start_services(void)
{
	char cmd[2048], line[1024];
	FILE *p;

	snprintf(svc, sizeof(svc), "%s/svc", dir);
	snprintf(cmd, sizeof(cmd), "'%s/scripts/services' start '%s' --secure --tls-dir '%s' 2>/dev/null", t_src_dir(),
		 svc, tls);
	/* cmocka ends a failed set-up with exit(): the services go too. */
	atexit(stop_services);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "CH_MQTT_PORT=", 13) == 0)
			mqtt_port = atoi(line + 13);
		else if (strncmp(line, "CH_MQTT_TLS_PORT=", 17) == 0)
			mqtt_tls_port = atoi(line + 17);
		else if (strncmp(line, "CH_REDIS_PORT=", 14) == 0)
			redis_port = atoi(line + 14);
		else if (strncmp(line, "CH_REDIS_SOCKET=", 16) == 0)
			snprintf(redis_socket, sizeof(redis_socket), "%s", line + 16);
		else if (strncmp(line, "CH_SECRETS=", 11) == 0)
			snprintf(secrets, sizeof(secrets), "%s", line + 11);
	}
	assert_int_equal(pclose(p), 0);
	assert_true(mqtt_port > 0 && mqtt_tls_port > 0 && redis_port > 0 && redis_socket[0] && secrets[0]);
}

static void password(const char *account, char *out, size_t len)
{
	char path[1300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/mqtt-%s", secrets, account);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(out, (int)len, f));
	out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* ---------------------------------------------------------------- HTTPS */

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	char *b = arg;
	size_t have = strlen(b), add = size * n;

	if (have + add >= 4096 * 8)
		add = 4096 * 8 - 1 - have;
	memcpy(b + have, p, add);
	b[have + add] = '\0';
	return size * n;
}

/* GET on the hub over https (or http when plain); the status, 0 when no HTTP answer came. */
static long get(const char *scheme, const char *path, const char *bearer, char *body)
{
	char url[256], auth[256];
	struct curl_slist *h = NULL;
	long status = 0;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	body[0] = '\0';
	snprintf(url, sizeof(url), "%s://localhost:%d%s", scheme, http_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	if (bearer) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		h = curl_slist_append(h, auth);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static bool healthy(void *arg)
{
	char body[4096 * 8];
	int status;

	(void)arg;
	bool ok = get("https", "/healthz", NULL, body) == 200;
	if (waitpid(hub.pid, &status, WNOHANG) == hub.pid)
		fail_msg("carehubd exited during start (see %s)", hub.log);
	return ok;
}

static void start_hub(void)
{
	char o[12][2048], bin[600];
	const char *argv[40];
	int argc = 0;

	http_port = t_free_port();
	setenv("CH_TEST_API_TOKEN", "api-token-for-the-test", 1);
	setenv("CH_TEST_METRICS_TOKEN", "metrics-token-for-the-test", 1);
	t_hub_config(&hub, "secure", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"},"
				     " \"console\": {\"plugin\": \"mqtt\", \"topic\": \"carehub/v1/console\"}}",
		     T_POLICY_FAMILY("\"console\""), NULL);
	/* The names TLS checks against are the certificate's: localhost. */
	snprintf(o[0], sizeof(o[0]), "mqtt.host=localhost");
	snprintf(o[1], sizeof(o[1]), "mqtt.port=%d", mqtt_tls_port);
	snprintf(o[2], sizeof(o[2]), "mqtt.tls={\"cafile\": \"%s/ca.crt\"}", tls);
	snprintf(o[3], sizeof(o[3]), "mqtt.username=carehub-hub");
	snprintf(o[4], sizeof(o[4]), "mqtt.password_file=%s/mqtt-carehub-hub", secrets);
	snprintf(o[5], sizeof(o[5]), "redis.socket=%s", redis_socket);
	snprintf(o[6], sizeof(o[6]), "redis.username=carehub");
	snprintf(o[7], sizeof(o[7]), "redis.password_file=%s/redis-carehub", secrets);
	snprintf(o[8], sizeof(o[8]), "http={\"enabled\": true, \"port\": %d, \"token_env\": \"CH_TEST_API_TOKEN\", "
				     "\"metrics_token_env\": \"CH_TEST_METRICS_TOKEN\", "
				     "\"tls\": {\"cert_file\": \"%s/server.crt\", \"key_file\": \"%s/server.key\"}}",
		 http_port, tls, tls);
	snprintf(bin, sizeof(bin), "%s/carehubd", t_build_dir());
	argv[argc++] = bin;
	argv[argc++] = "-c";
	argv[argc++] = hub.config;
	for (int i = 0; i < 9; i++) {
		argv[argc++] = "-o";
		argv[argc++] = o[i];
	}
	argv[argc] = NULL;
	hub.pid = fork();
	assert_true(hub.pid >= 0);
	if (hub.pid == 0) {
		FILE *f = freopen(hub.log, "a", stdout);
		if (!f || dup2(fileno(stdout), 2) < 0)
			_exit(126);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (!t_wait(healthy, NULL, T_DEADLINE_MS))
		fail_msg("carehubd did not answer /healthz over https (see %s)", hub.log);
}

struct metrics_wait {
	const char *want, *not;
};

static bool metrics_show(void *arg)
{
	struct metrics_wait *w = arg;
	char body[4096 * 8];

	body[0] = '\0';
	if (get("https", "/metrics", "metrics-token-for-the-test", body) != 200)
		return false;
	return strstr(body, w->want) && (!w->not || !strstr(body, w->not));
}

/* Waits until /metrics holds want (and not `not`): the gauges are read from Redis every few seconds. */
static void wait_metrics(const char *want, const char *not)
{
	struct metrics_wait w = {want, not};

	if (!t_wait(metrics_show, &w, T_DEADLINE_MS))
		fail_msg("/metrics never showed %s", want);
}

/* ---------------------------------------------------------------- MQTT clients */

struct client {
	struct mosquitto *m;
	pthread_mutex_t mu;
	int connack;   /* -1 until the broker answers CONNECT */
	int granted;   /* QoS the last SUBACK granted (128: refused), -1 before */
	int published; /* PUBACKs seen */
	char **topics, **payloads;
	size_t n, cap;
};

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct client *c = arg;

	(void)m;
	pthread_mutex_lock(&c->mu);
	c->connack = rc;
	pthread_mutex_unlock(&c->mu);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *qos)
{
	struct client *c = arg;

	(void)m;
	(void)mid;
	pthread_mutex_lock(&c->mu);
	c->granted = n > 0 ? qos[0] : -1;
	pthread_mutex_unlock(&c->mu);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
	struct client *c = arg;

	(void)m;
	(void)mid;
	pthread_mutex_lock(&c->mu);
	c->published++;
	pthread_mutex_unlock(&c->mu);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct client *c = arg;

	(void)m;
	pthread_mutex_lock(&c->mu);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->topics = realloc(c->topics, c->cap * sizeof(*c->topics));
		c->payloads = realloc(c->payloads, c->cap * sizeof(*c->payloads));
		assert_non_null(c->topics);
		assert_non_null(c->payloads);
	}
	c->topics[c->n] = strdup(msg->topic);
	c->payloads[c->n] = strndup(msg->payload ? msg->payload : "", (size_t)msg->payloadlen);
	c->n++;
	pthread_mutex_unlock(&c->mu);
}

static bool answered(void *arg)
{
	struct client *c = arg;
	bool done;

	pthread_mutex_lock(&c->mu);
	done = c->connack >= 0;
	pthread_mutex_unlock(&c->mu);
	return done;
}

/* Connects as account (NULL: anonymous), over TLS when tls_on; returns the CONNACK code (0: accepted). */
static int client_connect(struct client *c, const char *account, bool tls_on)
{
	static int serial;
	char pw[128], id[96];

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->connack = c->granted = -1;
	snprintf(id, sizeof(id), "t-secure-%s-%d-%d", account ? account : "anon", (int)getpid(), ++serial);
	c->m = mosquitto_new(id, true, c);
	assert_non_null(c->m);
	mosquitto_connect_callback_set(c->m, on_connect);
	mosquitto_subscribe_callback_set(c->m, on_subscribe);
	mosquitto_publish_callback_set(c->m, on_publish);
	mosquitto_message_callback_set(c->m, on_message);
	if (account) {
		password(account, pw, sizeof(pw));
		assert_int_equal(mosquitto_username_pw_set(c->m, account, pw), MOSQ_ERR_SUCCESS);
	}
	if (tls_on) {
		assert_int_equal(mosquitto_tls_set(c->m, ca_file, NULL, NULL, NULL, NULL), MOSQ_ERR_SUCCESS);
	}
	assert_int_equal(mosquitto_connect(c->m, tls_on ? "localhost" : "127.0.0.1", tls_on ? mqtt_tls_port : mqtt_port,
					   30),
			 MOSQ_ERR_SUCCESS);
	mosquitto_loop_start(c->m);
	assert_true(t_wait(answered, c, T_DEADLINE_MS));
	return c->connack;
}

static bool subscribed(void *arg)
{
	struct client *c = arg;
	bool done;

	pthread_mutex_lock(&c->mu);
	done = c->granted >= 0;
	pthread_mutex_unlock(&c->mu);
	return done;
}

/* The QoS granted (128 when the ACL refuses the filter). */
static int client_subscribe(struct client *c, const char *filter)
{
	pthread_mutex_lock(&c->mu);
	c->granted = -1;
	pthread_mutex_unlock(&c->mu);
	assert_int_equal(mosquitto_subscribe(c->m, NULL, filter, 1), MOSQ_ERR_SUCCESS);
	assert_true(t_wait(subscribed, c, T_DEADLINE_MS));
	return c->granted;
}

struct pub_wait {
	struct client *c;
	int want;
};

static bool acked(void *arg)
{
	struct pub_wait *w = arg;
	bool done;

	pthread_mutex_lock(&w->c->mu);
	done = w->c->published >= w->want;
	pthread_mutex_unlock(&w->c->mu);
	return done;
}

/* QoS 1 and waits for the PUBACK: the broker has dealt with it (taken or, by the ACL, dropped). */
static void client_publish(struct client *c, const char *topic, const char *payload, bool retain)
{
	struct pub_wait w = {c, 0};

	pthread_mutex_lock(&c->mu);
	w.want = c->published + 1;
	pthread_mutex_unlock(&c->mu);
	assert_int_equal(mosquitto_publish(c->m, NULL, topic, (int)strlen(payload), payload, 1, retain),
			 MOSQ_ERR_SUCCESS);
	assert_true(t_wait(acked, &w, T_DEADLINE_MS));
}

/* The last payload on topic containing needle (NULL: any), copied; NULL if none. */
static char *client_last(struct client *c, const char *topic, const char *needle)
{
	char *out = NULL;

	pthread_mutex_lock(&c->mu);
	for (size_t i = c->n; i-- > 0 && !out;) {
		if (strcmp(c->topics[i], topic) == 0 && (!needle || strstr(c->payloads[i], needle)))
			out = strdup(c->payloads[i]);
	}
	pthread_mutex_unlock(&c->mu);
	return out;
}

static size_t client_count(struct client *c, const char *topic, const char *needle)
{
	size_t k = 0;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++)
		k += strcmp(c->topics[i], topic) == 0 && (!needle || strstr(c->payloads[i], needle));
	pthread_mutex_unlock(&c->mu);
	return k;
}

struct msg_wait {
	struct client *c;
	const char *topic, *needle;
};

static bool has_msg(void *arg)
{
	struct msg_wait *w = arg;

	return client_count(w->c, w->topic, w->needle) > 0;
}

static void wait_msg(struct client *c, const char *topic, const char *needle)
{
	struct msg_wait w = {c, topic, needle};

	if (!t_wait(has_msg, &w, T_DEADLINE_MS))
		fail_msg("nothing on %s with %s", topic, needle ? needle : "anything");
}

static void client_close(struct client *c)
{
	mosquitto_disconnect(c->m);
	mosquitto_loop_stop(c->m, true);
	mosquitto_destroy(c->m);
	for (size_t i = 0; i < c->n; i++) {
		free(c->topics[i]);
		free(c->payloads[i]);
	}
	free(c->topics);
	free(c->payloads);
	pthread_mutex_destroy(&c->mu);
}

/* ---------------------------------------------------------------- tests */

static int setup(void **state)
{
	(void)state;
	mosquitto_lib_init();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(dir, sizeof(dir), "%s", t_scratch("secure-services"));
	make_ca();
	start_services();
	start_hub();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	stop_services();
	curl_global_cleanup();
	mosquitto_lib_cleanup();
	return 0;
}

static void https_only_and_metrics_token(void **state)
{
	char body[4096 * 8];

	(void)state;
	assert_int_equal(get("https", "/healthz", NULL, body), 200);
	assert_non_null(strstr(body, "\"mqtt\":true"));
	assert_non_null(strstr(body, "\"redis\":true"));
	/* Plain HTTP on the same port gets no answer a browser would take. */
	assert_true(get("http", "/healthz", NULL, body) != 200);
	assert_int_equal(get("https", "/metrics", NULL, body), 401);
	assert_int_equal(get("https", "/metrics", "wrong", body), 401);
	assert_int_equal(get("https", "/metrics", "metrics-token-for-the-test", body), 200);
	assert_non_null(strstr(body, "carehub_events_in_total"));
	assert_true(t_hub_log_contains(&hub, "http: serving https"));
}

static void nobody_anonymous_and_each_account_its_own_topics(void **state)
{
	struct client anon, anon_tls, console, gateway, bridge, late;
	char sos[256], topic[128], ack[512], resolve[512], *doc, *id_end, alert[64];

	(void)state;
	/* Anonymous: refused at CONNECT, plain or TLS (5: not authorised). */
	assert_int_equal(client_connect(&anon, NULL, false), 5);
	assert_int_equal(client_connect(&anon_tls, NULL, true), 5);

	/* The centre's console over TLS sees alerts, the console topic and status. */
	assert_int_equal(client_connect(&console, "console", true), 0);
	assert_int_equal(client_subscribe(&console, "carehub/v1/alerts/#"), 1);
	assert_int_equal(client_subscribe(&console, "carehub/v1/console"), 1);
	assert_int_equal(client_subscribe(&console, "carehub/v1/status/#"), 1);
	/* ...but not the events (mosquitto grants the subscription and filters each message by the ACL). */
	assert_int_equal(client_subscribe(&console, "carehub/v1/events/#"), 1);

	/* A gateway writes events: an SOS. */
	assert_int_equal(client_connect(&gateway, "gateway", false), 0);
	snprintf(sos, sizeof(sos), "{\"id\":\"sos-1:%d\",\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}",
		 (int)getpid());
	client_publish(&gateway, "carehub/v1/events/sos-1", sos, false);
	wait_msg(&console, "carehub/v1/alerts/s-001", "\"state\":\"open\"");
	/* Had the console been allowed to read the event, it would have come before the alert. */
	assert_int_equal(client_count(&console, "carehub/v1/events/sos-1", NULL), 0);
	doc = client_last(&console, "carehub/v1/alerts/s-001", "\"state\":\"open\"");
	char *p = strstr(doc, "\"id\":\"");
	assert_non_null(p);
	p += 6;
	id_end = strchr(p, '"');
	snprintf(alert, sizeof(alert), "%.*s", (int)(id_end - p), p);
	free(doc);

	/* The gauges an operator alerts on: one critical alert open, nobody on it yet. */
	wait_metrics("carehub_open_alerts{severity=\"critical\"} 1\n",
		     "carehub_oldest_unacknowledged_critical_seconds 0.000\n");

	/* The console topic: the notification, names, address and phones masked. */
	wait_msg(&console, "carehub/v1/console", alert);
	doc = client_last(&console, "carehub/v1/console", alert);
	assert_non_null(strstr(doc, "\"name\":\"王**\""));
	assert_non_null(strstr(doc, "+861********11"));
	assert_null(strstr(doc, "秀英"));
	assert_null(strstr(doc, "测试路"));
	assert_null(strstr(doc, "13800000011"));
	free(doc);

	/* A bridge: its resolve and a retained fake "offline" are dropped, alerts are not its to read. */
	assert_int_equal(client_connect(&bridge, "bridge-zigbee2mqtt", true), 0);
	assert_int_equal(client_subscribe(&bridge, "carehub/v1/alerts/#"), 1);
	assert_int_equal(client_subscribe(&bridge, "zigbee2mqtt/#"), 1);
	snprintf(resolve, sizeof(resolve),
		 "{\"alert\":\"%s\",\"action\":\"resolve\",\"by\":\"intruder\",\"outcome\":\"false_alarm\"}", alert);
	client_publish(&bridge, "carehub/v1/acks", resolve, false);
	snprintf(topic, sizeof(topic), "carehub/v1/status/%s", hub.name);
	client_publish(&bridge, topic, "offline", true);
	/* The events topic of the canonical format is the gateway's, not the bridge's. */
	client_publish(&bridge, "carehub/v1/events/sos-1", sos, false);

	/* The anonymous resolve could not even be sent; the bridge's was dropped before the broker
	 * acknowledged it.  What the console sends next is what the alert shows. */
	assert_int_equal(client_connect(&late, "console", true), 0);
	snprintf(ack, sizeof(ack), "{\"alert\":\"%s\",\"action\":\"ack\",\"by\":\"centre operator 7\"}", alert);
	client_publish(&late, "carehub/v1/acks", ack, false);
	wait_msg(&console, "carehub/v1/alerts/s-001", "\"state\":\"acknowledged\"");
	assert_int_equal(client_count(&console, "carehub/v1/alerts/s-001", "\"state\":\"resolved\""), 0);
	assert_int_equal(client_count(&console, "carehub/v1/alerts/s-001", "intruder"), 0);
	assert_int_equal(client_count(&console, topic, "offline"), 0);
	wait_metrics("carehub_oldest_unacknowledged_critical_seconds 0.000\n", NULL);

	/* The bridge's own topic comes back to it; no alert came before it (the ACL filtered them). */
	client_publish(&bridge, "zigbee2mqtt/t-probe", "{}", false);
	wait_msg(&bridge, "zigbee2mqtt/t-probe", NULL);
	assert_int_equal(client_count(&bridge, "carehub/v1/alerts/s-001", NULL), 0);
	/* A newcomer gets the retained status: still the hub's own "online". */
	assert_int_equal(client_subscribe(&late, topic), 1);
	wait_msg(&late, topic, NULL);
	doc = client_last(&late, topic, NULL);
	assert_string_equal(doc, "online");
	free(doc);

	/* The hub saw one event and one answer: nothing from the bridge reached it. */
	char body[4096 * 8];
	assert_int_equal(get("https", "/metrics", "metrics-token-for-the-test", body), 200);
	assert_non_null(strstr(body, "carehub_mqtt_up 1\n"));
	assert_non_null(strstr(body, "carehub_redis_up 1\n"));
	assert_non_null(strstr(body, "carehub_build_info{version=\""));
	assert_non_null(strstr(body, "carehub_first_notify_seconds_count 1\n"));
	assert_non_null(strstr(body, "carehub_alerts_total{rule=\"sos\",state=\"acknowledged\"} 1"));
	assert_null(strstr(body, "state=\"resolved\""));

	client_close(&anon);
	client_close(&anon_tls);
	client_close(&console);
	client_close(&gateway);
	client_close(&bridge);
	client_close(&late);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(https_only_and_metrics_token),
		cmocka_unit_test(nobody_anonymous_and_each_account_its_own_topics),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
