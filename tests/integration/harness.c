/*
 * harness.c - process, broker, Redis and HTTP helpers for integration tests.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CH_ARRAY_LEN_T(a) (sizeof(a) / sizeof((a)[0]))

/* Hubs this test started: a failing test must not leave them running. */
static pid_t started[16];

static void kill_started(void)
{
	for (size_t i = 0; i < CH_ARRAY_LEN_T(started); i++) {
		if (started[i] > 0) {
			kill(started[i], SIGKILL);
			waitpid(started[i], NULL, 0);
			started[i] = 0;
		}
	}
}

static void track(pid_t pid, bool add)
{
	for (size_t i = 0; i < CH_ARRAY_LEN_T(started); i++) {
		if (add ? started[i] == 0 : started[i] == pid) {
			started[i] = add ? pid : 0;
			return;
		}
	}
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	kill_started();
	va_start(ap, fmt);
	fprintf(stderr, "harness: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(99);
}

static int env_int(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v)
		die("%s is not set: run integration tests through tests/run", name);
	n = strtol(v, &end, 10);
	if (*end || n <= 0 || n > 65535)
		die("%s=%s is not a port", name, v);
	return (int)n;
}

int t_mqtt_port(void)
{
	return env_int("CH_TEST_MQTT_PORT");
}

int t_redis_port(void)
{
	return env_int("CH_TEST_REDIS_PORT");
}

const char *t_build_dir(void)
{
	const char *b = getenv("CH_BUILD_DIR");
	return b ? b : "build";
}

const char *t_src_dir(void)
{
	const char *s = getenv("CH_SRC_DIR");
	return s ? s : ".";
}

const char *t_scratch(const char *name)
{
	static char path[512];
	char cmd[1200];

	snprintf(path, sizeof(path), "%s/tests/scratch/%s-%d", t_build_dir(), name, (int)getpid());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", path, path);
	if (system(cmd) != 0)
		die("cannot make %s", path);
	return path;
}

int64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *t_log_notifications(const char *path, const char *alert_id)
{
	json_t *out = json_array();
	FILE *f = fopen(path, "r");
	char line[8192];

	/* One line per send: {"key", "step", ..., "notification": {the webhook body}}. */
	while (f && fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL), *n = json_object_get(j, "notification");
		const char *a = json_string_value(json_object_get(json_object_get(n, "alert"), "id"));
		if (a && strcmp(a, alert_id) == 0)
			json_array_append(out, n);
		json_decref(j);
	}
	if (f)
		fclose(f);
	return out;
}

int64_t t_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

bool t_wait(t_cond_fn cond, void *arg, int deadline_ms)
{
	int64_t end = t_now_ms() + deadline_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (t_now_ms() > end)
			return cond(arg);
		t_sleep_ms(20);
	}
}

/* ---------------------------------------------------------------- MQTT */

struct msg {
	char *topic;
	char *payload;
};

static struct {
	struct mosquitto *m;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct msg *msgs;
	size_t n, cap;
	int last_acked;
	bool connected;
} mq = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void mq_on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	(void)m;
	(void)arg;
	pthread_mutex_lock(&mq.mu);
	if (mq.n == mq.cap) {
		mq.cap = mq.cap ? mq.cap * 2 : 256;
		mq.msgs = realloc(mq.msgs, mq.cap * sizeof(*mq.msgs));
		if (!mq.msgs)
			die("oom");
	}
	mq.msgs[mq.n].topic = strdup(msg->topic);
	mq.msgs[mq.n].payload = strndup(msg->payload ? (const char *)msg->payload : "", (size_t)msg->payloadlen);
	mq.n++;
	pthread_mutex_unlock(&mq.mu);
}

static void mq_on_publish(struct mosquitto *m, void *arg, int mid)
{
	(void)m;
	(void)arg;
	pthread_mutex_lock(&mq.mu);
	if (mid > mq.last_acked)
		mq.last_acked = mid;
	pthread_cond_broadcast(&mq.cv);
	pthread_mutex_unlock(&mq.mu);
}

static void mq_on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)arg;
	if (rc == 0) {
		mosquitto_subscribe(m, NULL, "carehub/v1/#", 1);
		pthread_mutex_lock(&mq.mu);
		mq.connected = true;
		pthread_cond_broadcast(&mq.cv);
		pthread_mutex_unlock(&mq.mu);
	}
}

void t_mqtt_init(void)
{
	char id[64];

	mosquitto_lib_init();
	snprintf(id, sizeof(id), "carehub-test-%d", (int)getpid());
	mq.m = mosquitto_new(id, true, NULL);
	if (!mq.m)
		die("mosquitto_new");
	mosquitto_connect_callback_set(mq.m, mq_on_connect);
	mosquitto_message_callback_set(mq.m, mq_on_message);
	mosquitto_publish_callback_set(mq.m, mq_on_publish);
	mosquitto_reconnect_delay_set(mq.m, 1, 2, false);
	if (mosquitto_connect(mq.m, "127.0.0.1", t_mqtt_port(), 30) != MOSQ_ERR_SUCCESS)
		die("cannot connect to the test broker on port %d", t_mqtt_port());
	mosquitto_loop_start(mq.m);
	int64_t end = t_now_ms() + T_DEADLINE_MS;
	pthread_mutex_lock(&mq.mu);
	while (!mq.connected && t_now_ms() < end) {
		pthread_mutex_unlock(&mq.mu);
		t_sleep_ms(10);
		pthread_mutex_lock(&mq.mu);
	}
	pthread_mutex_unlock(&mq.mu);
	if (!mq.connected)
		die("test MQTT client did not connect");
	/* Let the subscription settle: wait for our own probe to come back. */
	char probe[80];
	snprintf(probe, sizeof(probe), "carehub/v1/test-probe/%d", (int)getpid());
	t_mqtt_publish(probe, "x", 1, 1);
	end = t_now_ms() + T_DEADLINE_MS;
	while (t_mqtt_count(probe) == 0 && t_now_ms() < end)
		t_sleep_ms(10);
}

void t_mqtt_publish(const char *topic, const void *payload, size_t len, int qos)
{
	int mid = 0, rc;
	int64_t end = t_now_ms() + T_DEADLINE_MS;

	while ((rc = mosquitto_publish(mq.m, &mid, topic, (int)len, payload, qos, false)) != MOSQ_ERR_SUCCESS) {
		if (t_now_ms() > end)
			die("publish to %s: %s", topic, mosquitto_strerror(rc));
		t_sleep_ms(50);
	}
	if (qos == 0)
		return;
	/* Wait for the broker's PUBACK so "published" means the broker has it. */
	pthread_mutex_lock(&mq.mu);
	while (mq.last_acked < mid && t_now_ms() < end) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&mq.cv, &mq.mu, &ts);
	}
	pthread_mutex_unlock(&mq.mu);
}

void t_publish_event(const char *device, const char *json)
{
	char topic[256];

	snprintf(topic, sizeof(topic), "carehub/v1/events/%s", device);
	t_mqtt_publish(topic, json, strlen(json), 1);
}

void t_mqtt_subscribe(const char *filter)
{
	mosquitto_subscribe(mq.m, NULL, filter, 1);
}

size_t t_mqtt_count(const char *topic)
{
	size_t c = 0;

	pthread_mutex_lock(&mq.mu);
	for (size_t i = 0; i < mq.n; i++)
		c += strcmp(mq.msgs[i].topic, topic) == 0;
	pthread_mutex_unlock(&mq.mu);
	return c;
}

char *t_mqtt_last(const char *topic)
{
	char *p = NULL;

	pthread_mutex_lock(&mq.mu);
	for (size_t i = mq.n; i-- > 0;) {
		if (strcmp(mq.msgs[i].topic, topic) == 0) {
			p = strdup(mq.msgs[i].payload);
			break;
		}
	}
	pthread_mutex_unlock(&mq.mu);
	return p;
}

void t_mqtt_done(void)
{
	mosquitto_disconnect(mq.m);
	mosquitto_loop_stop(mq.m, false);
	mosquitto_destroy(mq.m);
	mosquitto_lib_cleanup();
	for (size_t i = 0; i < mq.n; i++) {
		free(mq.msgs[i].topic);
		free(mq.msgs[i].payload);
	}
	free(mq.msgs);
	memset(&mq.msgs, 0, sizeof(mq.msgs));
	mq.n = mq.cap = 0;
}

/* ---------------------------------------------------------------- Redis */

static redisContext *rc_ctx;

static redisContext *redis(void)
{
	if (rc_ctx && rc_ctx->err) {
		redisFree(rc_ctx);
		rc_ctx = NULL;
	}
	if (!rc_ctx) {
		struct timeval tv = {5, 0};
		rc_ctx = redisConnectWithTimeout("127.0.0.1", t_redis_port(), tv);
		if (!rc_ctx || rc_ctx->err) {
			if (rc_ctx)
				redisFree(rc_ctx);
			rc_ctx = NULL;
		}
	}
	return rc_ctx;
}

static json_t *reply_json(const redisReply *r)
{
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
		return json_stringn(r->str, r->len);
	case REDIS_REPLY_INTEGER:
		return json_integer(r->integer);
	case REDIS_REPLY_ARRAY: {
		json_t *a = json_array();
		for (size_t i = 0; i < r->elements; i++)
			json_array_append_new(a, reply_json(r->element[i]));
		return a;
	}
	default:
		return json_null();
	}
}

static json_t *vredis(const char *fmt, va_list ap)
{
	redisContext *c = redis();
	redisReply *r;
	json_t *j;

	if (!c)
		return NULL;
	r = redisvCommand(c, fmt, ap);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		if (r)
			freeReplyObject(r);
		return NULL;
	}
	j = reply_json(r);
	freeReplyObject(r);
	return j;
}

json_t *t_redis(const char *fmt, ...)
{
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	j = vredis(fmt, ap);
	va_end(ap);
	return j;
}

long long t_redis_int(const char *fmt, ...)
{
	va_list ap;
	json_t *j;
	long long v = -1;

	va_start(ap, fmt);
	j = vredis(fmt, ap);
	va_end(ap);
	if (json_is_integer(j)) {
		v = json_integer_value(j);
	} else if (json_is_string(j)) {
		/* GET of a counter: Redis answers with the number as a string. */
		char *end;
		long long n = strtoll(json_string_value(j), &end, 10);
		if (end != json_string_value(j) && *end == '\0')
			v = n;
	}
	json_decref(j);
	return v;
}

char *t_redis_str(const char *fmt, ...)
{
	va_list ap;
	json_t *j;
	char *s = NULL;

	va_start(ap, fmt);
	j = vredis(fmt, ap);
	va_end(ap);
	if (json_is_string(j))
		s = strdup(json_string_value(j));
	json_decref(j);
	return s;
}

/* ---------------------------------------------------------------- hub */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("cannot write %s", path);
}

void t_hub_config(struct t_hub *h, const char *name, const char *channels_json, const char *policies_json,
		  const char *rules_file)
{
	char text[16384], rules[512];
	const char *dir;

	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s-%d", name, (int)getpid());
	snprintf(h->prefix, sizeof(h->prefix), "t:%s:", h->name);
	dir = t_scratch(name);
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	snprintf(h->config, sizeof(h->config), "%s/carehub.json", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/carehubd.log", h->dir);
	if (rules_file)
		snprintf(rules, sizeof(rules), "%s", rules_file);
	else
		snprintf(rules, sizeof(rules), "%s/config/rules.json", t_src_dir());
	if (!policies_json)
		policies_json = T_POLICY_FAMILY("\"hook\"");
	/* "%DIR%" in the channels stands for the test's scratch directory. */
	char chans[4096] = "{}";
	if (channels_json) {
		const char *p = channels_json;
		size_t o = 0;
		while (*p && o + 1 < sizeof(chans)) {
			if (strncmp(p, "%DIR%", 5) == 0) {
				o += (size_t)snprintf(chans + o, sizeof(chans) - o, "%s", h->dir);
				p += 5;
			} else {
				chans[o++] = *p++;
			}
		}
		chans[o < sizeof(chans) ? o : sizeof(chans) - 1] = '\0';
	}
	snprintf(text, sizeof(text),
		 "{\n"
		 "  \"instance\": \"%s\",\n"
		 "  \"state_dir\": \"%s/state\",\n"
		 "  \"plugins_dir\": \"%s/plugins\",\n"
		 "  \"mqtt\": {\"host\": \"127.0.0.1\", \"port\": %d, \"client_id\": \"%s\", \"keepalive\": 10,\n"
		 "           \"reconnect_min\": \"100ms\", \"reconnect_max\": \"1s\"},\n"
		 "  \"redis\": {\"host\": \"127.0.0.1\", \"port\": %d, \"prefix\": \"%s\"},\n"
		 "  \"registry\": {\"file\": \"%s/tests/integration/fixtures/registry.json\"},\n"
		 "  \"rules\": {\"file\": \"%s\"},\n"
		 "  \"policies\": %s,\n"
		 "  \"channels\": %s,\n"
		 "  \"log\": {\"level\": \"debug\"},\n"
		 "  \"care\": {\"digest\": false}\n"
		 "}\n",
		 h->name, h->dir, t_build_dir(), t_mqtt_port(), h->name, t_redis_port(), h->prefix, t_src_dir(), rules,
		 policies_json, chans);
	write_file(h->config, text);
}

static size_t online_count(const struct t_hub *h)
{
	char topic[160];
	size_t c = 0;

	snprintf(topic, sizeof(topic), "carehub/v1/status/%s", h->name);
	pthread_mutex_lock(&mq.mu);
	for (size_t i = 0; i < mq.n; i++)
		c += strcmp(mq.msgs[i].topic, topic) == 0 && strcmp(mq.msgs[i].payload, "online") == 0;
	pthread_mutex_unlock(&mq.mu);
	return c;
}

struct online_wait {
	struct t_hub *h;
	size_t before;
};

static bool online_cond(void *arg)
{
	struct online_wait *w = arg;
	int status;

	if (waitpid(w->h->pid, &status, WNOHANG) == w->h->pid)
		die("carehubd exited during start (see %s)", w->h->log);
	return online_count(w->h) > w->before;
}

void t_hub_start(struct t_hub *h, const char *const *extra)
{
	char bin[512];
	const char *argv[64];
	int argc = 0;
	struct online_wait w = {h, online_count(h)};
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/carehubd", t_build_dir());
	argv[argc++] = bin;
	argv[argc++] = "-c";
	argv[argc++] = h->config;
	for (size_t i = 0; extra && extra[i] && argc < 60; i++) {
		argv[argc++] = "-o";
		argv[argc++] = extra[i];
	}
	argv[argc] = NULL;
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	h->pid = pid;
	track(pid, true);
	static bool registered;
	if (!registered) {
		/* cmocka ends a failed test with exit(): take the hubs along. */
		atexit(kill_started);
		registered = true;
	}
	if (!t_wait(online_cond, &w, T_DEADLINE_MS))
		die("carehubd %s did not come online (see %s)", h->name, h->log);
}

void t_hub_stop(struct t_hub *h)
{
	int status = 0;
	int64_t end = t_now_ms() + 30000;

	if (h->pid <= 0)
		return;
	kill(h->pid, SIGTERM);
	while (waitpid(h->pid, &status, WNOHANG) == 0) {
		if (t_now_ms() > end) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, &status, 0);
			track(h->pid, false);
			die("carehubd %s did not stop within 30 s (see %s)", h->name, h->log);
		}
		t_sleep_ms(20);
	}
	track(h->pid, false);
	h->pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("carehubd %s exited with status %d (see %s)", h->name,
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), h->log);
}

void t_hub_kill(struct t_hub *h)
{
	int status;

	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, &status, 0);
	track(h->pid, false);
	h->pid = 0;
}

void t_hub_signal(struct t_hub *h, int sig)
{
	if (h->pid > 0)
		kill(h->pid, sig);
}

int t_hub_log_count(const struct t_hub *h, const char *s)
{
	FILE *f = fopen(h->log, "r");
	char line[8192];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

bool t_hub_log_contains(const struct t_hub *h, const char *s)
{
	FILE *f = fopen(h->log, "r");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	fclose(f);
	return found;
}

int t_run_carehubd(const char *const *args, char *out, size_t outlen)
{
	char bin[512];
	const char *argv[32];
	int argc = 0, pipefd[2], status;
	size_t got = 0;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/carehubd", t_build_dir());
	argv[argc++] = bin;
	for (size_t i = 0; args[i] && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	if (pipe(pipefd))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t n = read(pipefd[0], out + got, outlen - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got >= outlen - 1)
			break;
	}
	out[got] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void t_services(const char *verb)
{
	char cmd[1024];
	const char *dir = getenv("CH_TEST_SERVICES_DIR");

	if (!dir)
		die("CH_TEST_SERVICES_DIR is not set");
	snprintf(cmd, sizeof(cmd), "'%s/scripts/services' %s '%s' >/dev/null", t_src_dir(), verb, dir);
	if (system(cmd) != 0)
		die("%s failed", cmd);
	if (rc_ctx) {
		redisFree(rc_ctx);
		rc_ctx = NULL;
	}
}

/* ---------------------------------------------------------------- HTTP */

struct t_http {
	struct MHD_Daemon *d;
	pthread_mutex_t mu;
	int *plan;
	size_t nplan;
	struct t_http_req *reqs;
	size_t n, cap;
	volatile bool release;
	char reply[256]; /* answer body; "%d" becomes the request's number */
};

struct upload {
	char *buf;
	size_t len;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *data, size_t *size, void **con_cls)
{
	struct t_http *s = cls;
	struct upload *u = *con_cls;
	struct MHD_Response *resp;
	const char *v;
	int status;
	enum MHD_Result ret;

	(void)method;
	(void)version;
	if (!u) {
		u = calloc(1, sizeof(*u));
		*con_cls = u;
		return MHD_YES;
	}
	if (*size) {
		u->buf = realloc(u->buf, u->len + *size + 1);
		memcpy(u->buf + u->len, data, *size);
		u->len += *size;
		u->buf[u->len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&s->mu);
	status = s->plan[s->n < s->nplan ? s->n : s->nplan - 1];
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->reqs = realloc(s->reqs, s->cap * sizeof(*s->reqs));
	}
	struct t_http_req *r = &s->reqs[s->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s", url);
	if ((v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key")))
		snprintf(r->idem, sizeof(r->idem), "%s", v);
	if ((v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")))
		snprintf(r->auth, sizeof(r->auth), "%s", v);
	r->body = strdup(u->buf ? u->buf : "");
	r->status_sent = status;
	char *body = malloc(sizeof(s->reply) + 24);
	/* The format is the test's own constant with at most one %d. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(body, sizeof(s->reply) + 24, s->reply[0] ? s->reply : "{}", (int)s->n);
#pragma GCC diagnostic pop
	pthread_mutex_unlock(&s->mu);
	free(u->buf);
	free(u);
	*con_cls = NULL;
	if (status < 0) {
		int64_t end = t_now_ms() + 60000;
		while (!s->release && t_now_ms() < end)
			t_sleep_ms(20);
		status = 200;
	}
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct upload *u = *con_cls;

	(void)cls;
	(void)c;
	(void)t;
	if (u) {
		free(u->buf);
		free(u);
		*con_cls = NULL;
	}
}

void t_http_reply(struct t_http *s, const char *fmt)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->reply, sizeof(s->reply), "%s", fmt);
	pthread_mutex_unlock(&s->mu);
}

struct t_http *t_http_start(const int *statuses, size_t n)
{
	struct t_http *s = calloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	s->plan = malloc(n * sizeof(int));
	memcpy(s->plan, statuses, n * sizeof(int));
	s->nplan = n;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
				0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
				completed, s, MHD_OPTION_END);
	if (!s->d)
		die("cannot start the test HTTP server");
	return s;
}

int t_http_port(const struct t_http *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : 0;
}

size_t t_http_count(struct t_http *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

bool t_http_get(struct t_http *s, size_t i, struct t_http_req *out)
{
	bool ok = false;

	pthread_mutex_lock(&s->mu);
	if (i < s->n) {
		*out = s->reqs[i];
		out->body = strdup(s->reqs[i].body);
		ok = true;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void t_http_req_free(struct t_http_req *r)
{
	free(r->body);
	r->body = NULL;
}

struct http_wait {
	struct t_http *s;
	size_t n;
};

static bool http_cond(void *arg)
{
	struct http_wait *w = arg;
	return t_http_count(w->s) >= w->n;
}

bool t_http_wait(struct t_http *s, size_t n, int deadline_ms)
{
	struct http_wait w = {s, n};
	return t_wait(http_cond, &w, deadline_ms);
}

void t_http_release(struct t_http *s)
{
	s->release = true;
}

void t_http_stop(struct t_http *s)
{
	s->release = true;
	MHD_stop_daemon(s->d);
	for (size_t i = 0; i < s->n; i++)
		free(s->reqs[i].body);
	free(s->reqs);
	free(s->plan);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---------------------------------------------------------------- HTTP client */

static void curl_global_init_default(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int t_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p = -1;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		p = ntohs(a.sin_port);
	close(fd);
	if (p < 0)
		die("no free port: %s", strerror(errno));
	return p;
}

struct collect {
	char *out;
	size_t len, used;
};

static size_t collect_body(char *p, size_t size, size_t n, void *arg)
{
	struct collect *c = arg;
	size_t m = size * n;

	if (!c->len)
		return size * n;
	if (m > c->len - 1 - c->used)
		m = c->len - 1 - c->used;
	memcpy(c->out + c->used, p, m);
	c->used += m;
	c->out[c->used] = '\0';
	return size * n;
}

long t_http_call(const char *url, const char *const *headers, const char *body, char *out, size_t outlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct collect col = {out, outlen, 0};
	struct curl_slist *h = NULL;
	CURL *c;
	long status = 0;

	pthread_once(&once, curl_global_init_default);
	if (outlen)
		out[0] = '\0';
	c = curl_easy_init();
	if (!c)
		die("curl_easy_init");
	for (; headers && *headers; headers++)
		h = curl_slist_append(h, *headers);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &col);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}
