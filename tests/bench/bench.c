/*
 * bench.c - the measuring half of scripts/bench: drives a real carehubd against
 * the private broker and Redis the script started, and prints events/s through
 * the hub beside a plain mosquitto_sub draining the same stream, then the
 * latency from publish to webhook at a fixed rate.
 *
 * Why it measures the way it does:
 *  - Throughput comes from a backlog that both consumers hold in persistent
 *    sessions, so both drain exactly the same N messages from the same broker in
 *    the same run, and neither is capped by how fast we can publish.  The last
 *    event is a smoke alarm for a subject kept for that purpose: the hub reads
 *    one connection in order and applies events in order, so that one webhook
 *    means everything before it was applied.
 *  - The adapter figure drains the same backlog (size, mix, seed) published in
 *    Zigbee2MQTT form to zigbee2mqtt/<alias>, through a hub with a zigbee2mqtt
 *    adapter and its own session and Redis prefix, timed the same way: the
 *    issue wants it within 20% of the canonical rate.  only_changes is off so
 *    every message is an event, as in the canonical stream.
 *  - Latency is measured live, paced to absolute deadlines: a smoke alarm for a
 *    subject with no open alert is a probe whose webhook we wait for (a second
 *    one for the same subject only counts into the open alert and sends nothing).
 *
 * Figures are printed, never asserted: performance claims come from here, not
 * from timed tests.  Everything is on loopback and bounded in count and time;
 * the only processes it signals are the ones it started, by pid, also when it
 * is interrupted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <microhttpd.h>
#include <mosquitto.h>

#define EVENTS_FILTER "carehub/v1/events/+"
#define ALERTS_TOPIC "carehub/v1/alerts/"
#define INSTANCE "bench"
#define RAW_ID "bench-raw"     /* the mosquitto_sub session */
#define MARKER_SUBJECT "s-marker"
#define MARKER_DEVICE "smoke-marker"
#define Z2M_BASE "zigbee2mqtt"
#define Z2M_ALIAS "zb "        /* + device id: a friendly name with a space, as people name them */
#define PUB_WINDOW 1000        /* unacknowledged publishes in flight */
#define MAX_BODY (1024 * 1024) /* a webhook body larger than this is refused */
#define MAX_CHILDREN 4
#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

/* ---------------------------------------------------------------- basics */

struct opts {
	const char *dir;     /* scratch directory: configs, registry, logs */
	const char *src;     /* repository root: config/rules.json */
	const char *hub;     /* carehubd binary */
	const char *plugins; /* built plugins */
	const char *sub;     /* mosquitto_sub binary */
	const char *samples; /* optional CSV of every probe: when sent, how long it took */
	int mqtt_port, redis_port;
	long events, max_queued, rate, duration_s, subjects;
	uint64_t seed;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * NS_PER_MS};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* snprintf that treats truncation as the error it is. */
static int fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		say("internal: formatted text longer than %zu bytes", len);
		return -1;
	}
	return n;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* 1234567.8 -> "1,234,568": figures people read at a glance. */
static const char *grouped(char *buf, size_t len, double v)
{
	char digits[32];
	long long n = llround(v);
	size_t nd, o = 0;

	if (snprintf(digits, sizeof(digits), "%lld", n < 0 ? -n : n) < 0 || len < 2)
		return "?";
	nd = strlen(digits);
	if (n < 0)
		buf[o++] = '-';
	for (size_t i = 0; i < nd && o + 2 < len; i++) {
		if (i && (nd - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* splitmix64: a fixed seed gives the same stream, so runs compare. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- children */

/*
 * Pids we started and have not reaped.  The signal handler reads them, so they
 * are plain sig_atomic_t slots, not a list.
 */
static volatile sig_atomic_t g_child[MAX_CHILDREN];
static sigset_t g_sigs; /* the signals on_signal handles */

/*
 * Held across "reap and forget" and "fork and remember": otherwise the handler
 * could signal a pid already reaped, which by then may be someone else's.
 * Only the main thread takes these signals (main blocks them in the others).
 */
static void sigs_hold(bool hold)
{
	pthread_sigmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &g_sigs, NULL);
}

static void child_track(pid_t pid, bool on)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (on ? g_child[i] == 0 : g_child[i] == pid) {
			g_child[i] = on ? pid : 0;
			return;
		}
	}
}

/* Only async-signal-safe calls: TERM our children, give them time, then KILL. */
static void on_signal(int sig)
{
	struct timespec tick = {0, 100 * NS_PER_MS};

	for (int i = 0; i < MAX_CHILDREN; i++)
		if (g_child[i] > 0)
			kill((pid_t)g_child[i], SIGTERM);
	for (int i = 0; i < MAX_CHILDREN; i++) {
		pid_t pid = (pid_t)g_child[i];
		int t;
		if (pid <= 0)
			continue;
		for (t = 0; t < 120 && waitpid(pid, NULL, WNOHANG) == 0; t++)
			nanosleep(&tick, NULL);
		if (t == 120) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	_exit(128 + sig);
}

/*
 * Starts argv with the given stdout/stderr (-1: /dev/null).  The child dies with
 * us (PDEATHSIG), so not even a SIGKILL of the bench leaves a hub behind.
 */
static pid_t spawn(const char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid(), pid;

	sigs_hold(true);
	pid = fork();
	if (pid < 0) {
		sigs_hold(false);
		say("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		sigset_t none;

		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent || null < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(null, 0) < 0 || dup2(out_fd >= 0 ? out_fd : null, 1) < 0 ||
		    dup2(err_fd >= 0 ? err_fd : null, 2) < 0)
			_exit(127);
		/* Our broker and HTTP sockets are none of the child's business. */
		close_range(3, ~0U, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	child_track(pid, true);
	sigs_hold(false);
	return pid;
}

/* Waits up to ms for pid to exit: 0 and its status, or -1 if it still runs. */
static int wait_child(pid_t pid, int ms, int *status)
{
	int64_t end = now_ns() + (int64_t)ms * NS_PER_MS;

	for (;;) {
		pid_t r;

		sigs_hold(true);
		r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			child_track(pid, false);
			sigs_hold(false);
			if (r < 0)
				*status = 0;
			return 0;
		}
		sigs_hold(false);
		if (now_ns() > end)
			return -1;
		sleep_ms(10);
	}
}

/* TERM, then KILL after grace_ms; the exit code, or 128+signal. */
static int stop_child(pid_t pid, int grace_ms)
{
	int status = 0;

	kill(pid, SIGTERM);
	if (wait_child(pid, grace_ms, &status)) {
		say("pid %d ignored SIGTERM for %d ms; killing it", (int)pid, grace_ms);
		kill(pid, SIGKILL);
		sigs_hold(true);
		waitpid(pid, &status, 0);
		child_track(pid, false);
		sigs_hold(false);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int open_log(const struct opts *o, const char *name)
{
	char path[1024];
	int fd;

	if (fmt(path, sizeof(path), "%s/%s", o->dir, name) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		say("%s: %s", path, strerror(errno));
	return fd;
}

/* Runs mosquitto_sub with extra arguments to completion; 0 if it exited 0. */
static int run_sub(const struct opts *o, const char *const *extra, int ms)
{
	const char *argv[32];
	char port[16];
	int n = 0, status, fd;
	pid_t pid;

	if (fmt(port, sizeof(port), "%d", o->mqtt_port) < 0 || (fd = open_log(o, "mosquitto_sub.log")) < 0)
		return -1;
	argv[n++] = o->sub;
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	for (size_t i = 0; extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = spawn(argv, -1, fd);
	close(fd);
	if (pid < 0)
		return -1;
	if (wait_child(pid, ms, &status)) {
		stop_child(pid, 2000);
		say("mosquitto_sub did not finish in %d ms (see %s/mosquitto_sub.log)", ms, o->dir);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say("mosquitto_sub failed (see %s/mosquitto_sub.log)", o->dir);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- webhook sink */

/*
 * Records when the notification for each subject's smoke alert arrives.  The
 * time taken is when the whole body is in: that is when a receiver could act.
 */
struct sink {
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t mu;
	long nsubjects;
	int64_t *recv_ns; /* by subject index: first smoke notification this phase */
	int64_t marker_ns;
	long total, smoke, repeats, unreadable;
};

struct upload {
	char *buf;
	size_t len;
	bool too_big;
};

/* "s-00042" -> 41; the marker -> -2; anything else -> -1. */
static long subject_index(const char *id, long n)
{
	long v;

	if (strcmp(id, MARKER_SUBJECT) == 0)
		return -2;
	if (strncmp(id, "s-", 2) != 0 || parse_long(id + 2, 1, n, &v))
		return -1;
	return v - 1;
}

static void sink_record(struct sink *s, const char *body, size_t len, int64_t t)
{
	json_t *doc = json_loadb(body, len, 0, NULL);
	const char *rule = NULL, *sid = NULL;

	json_unpack(doc, "{s:{s:s}, s:{s:s}}", "alert", "rule", &rule, "subject", "id", &sid);
	pthread_mutex_lock(&s->mu);
	s->total++;
	if (!rule || !sid) {
		s->unreadable++;
	} else if (strcmp(rule, "smoke") == 0) {
		long i = subject_index(sid, s->nsubjects);
		s->smoke++;
		if (i == -2 && !s->marker_ns)
			s->marker_ns = t;
		else if (i >= 0 && !s->recv_ns[i])
			s->recv_ns[i] = t;
		else
			s->repeats++;
	}
	pthread_mutex_unlock(&s->mu);
	json_decref(doc);
}

static enum MHD_Result sink_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				    const char *version, const char *data, size_t *size, void **con_cls)
{
	struct sink *s = cls;
	struct upload *u = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;

	(void)url;
	(void)version;
	if (!u) {
		if (!(u = calloc(1, sizeof(*u))))
			return MHD_NO;
		*con_cls = u;
		return MHD_YES;
	}
	if (*size) {
		if (u->len + *size > MAX_BODY) {
			u->too_big = true;
		} else if (!u->too_big) {
			char *nb = realloc(u->buf, u->len + *size + 1);
			if (!nb)
				return MHD_NO;
			u->buf = nb;
			memcpy(u->buf + u->len, data, *size);
			u->len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") != 0 || u->too_big || !u->buf)
		status = MHD_HTTP_BAD_REQUEST;
	else
		sink_record(s, u->buf, u->len, now_ns());
	resp = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void sink_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
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

static int sink_start(struct sink *s, long nsubjects)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	const union MHD_DaemonInfo *info;

	pthread_mutex_init(&s->mu, NULL);
	s->nsubjects = nsubjects;
	s->recv_ns = calloc((size_t)nsubjects, sizeof(*s->recv_ns));
	if (!s->recv_ns)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				sink_handler, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
				sink_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!s->d) {
		say("cannot start the webhook sink on 127.0.0.1");
		return -1;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return s->port ? 0 : -1;
}

/* Forgets everything recorded: the next phase starts from nothing. */
static void sink_reset(struct sink *s)
{
	pthread_mutex_lock(&s->mu);
	memset(s->recv_ns, 0, (size_t)s->nsubjects * sizeof(*s->recv_ns));
	s->marker_ns = 0;
	s->total = s->smoke = s->repeats = s->unreadable = 0;
	pthread_mutex_unlock(&s->mu);
}

static void sink_stop(struct sink *s)
{
	if (s->d)
		MHD_stop_daemon(s->d);
	free(s->recv_ns);
	pthread_mutex_destroy(&s->mu);
}

/* ---------------------------------------------------------------- MQTT client */

/* One connection publishes the events and watches the hub's status topic. */
struct client {
	struct mosquitto *m;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ready; /* connected and subscribed */
	int subacks;
	long sent, acked;
	long online_seen;
	int64_t online_ns;
	long nsubjects;
	int64_t *alert_ns; /* by subject index: first alert document this phase */
};

static struct client g_mq = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void mq_on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)arg;
	if (rc == 0) {
		mosquitto_subscribe(m, NULL, "carehub/v1/alerts/+", 0);
		mosquitto_subscribe(m, NULL, "carehub/v1/status/" INSTANCE, 1);
	}
}

static void mq_on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
	(void)m;
	(void)arg;
	(void)mid;
	(void)n;
	(void)granted;
	/* The status subscription goes last, so its SUBACK means both are in place. */
	pthread_mutex_lock(&g_mq.mu);
	if (++g_mq.subacks >= 2)
		g_mq.ready = true;
	pthread_cond_broadcast(&g_mq.cv);
	pthread_mutex_unlock(&g_mq.mu);
}

static void mq_on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	int64_t t = now_ns();

	(void)m;
	(void)arg;
	/* Published once the event is applied in Redis: splits the latency in two. */
	if (strncmp(msg->topic, ALERTS_TOPIC, strlen(ALERTS_TOPIC)) == 0) {
		long i = subject_index(msg->topic + strlen(ALERTS_TOPIC), g_mq.nsubjects);
		pthread_mutex_lock(&g_mq.mu);
		if (i >= 0 && g_mq.alert_ns && !g_mq.alert_ns[i])
			g_mq.alert_ns[i] = t;
		pthread_mutex_unlock(&g_mq.mu);
		return;
	}
	/* A retained copy is the last run's word, not this start's. */
	if (msg->retain || msg->payloadlen != 6 || memcmp(msg->payload, "online", 6) != 0)
		return;
	pthread_mutex_lock(&g_mq.mu);
	g_mq.online_seen++;
	g_mq.online_ns = t;
	pthread_cond_broadcast(&g_mq.cv);
	pthread_mutex_unlock(&g_mq.mu);
}

static void mq_on_publish(struct mosquitto *m, void *arg, int mid)
{
	(void)m;
	(void)arg;
	(void)mid;
	pthread_mutex_lock(&g_mq.mu);
	g_mq.acked++;
	pthread_cond_broadcast(&g_mq.cv);
	pthread_mutex_unlock(&g_mq.mu);
}

/* Waits on the client's condition for at most ms; the caller holds mu. */
static void mq_wait(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * NS_PER_MS;
	if (ts.tv_nsec >= NS_PER_S) {
		ts.tv_sec++;
		ts.tv_nsec -= NS_PER_S;
	}
	pthread_cond_timedwait(&g_mq.cv, &g_mq.mu, &ts);
}

static int mq_start(const struct opts *o)
{
	g_mq.nsubjects = o->subjects;
	g_mq.alert_ns = calloc((size_t)o->subjects, sizeof(*g_mq.alert_ns));
	if (!g_mq.alert_ns)
		return -1;
	pthread_condattr_t ca;
	char id[64];
	int rc;
	int64_t end;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g_mq.cv, &ca);
	pthread_condattr_destroy(&ca);
	mosquitto_lib_init();
	if (fmt(id, sizeof(id), "bench-pub-%d", (int)getpid()) < 0 || !(g_mq.m = mosquitto_new(id, true, NULL)))
		return -1;
	/* Nagle would add its delay to the latency we measure, and it isn't the hub's. */
	mosquitto_int_option(g_mq.m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_max_inflight_messages_set(g_mq.m, PUB_WINDOW);
	mosquitto_connect_callback_set(g_mq.m, mq_on_connect);
	mosquitto_subscribe_callback_set(g_mq.m, mq_on_subscribe);
	mosquitto_message_callback_set(g_mq.m, mq_on_message);
	mosquitto_publish_callback_set(g_mq.m, mq_on_publish);
	if ((rc = mosquitto_connect(g_mq.m, "127.0.0.1", o->mqtt_port, 30)) != MOSQ_ERR_SUCCESS ||
	    (rc = mosquitto_loop_start(g_mq.m)) != MOSQ_ERR_SUCCESS) {
		say("broker at 127.0.0.1:%d: %s", o->mqtt_port, mosquitto_strerror(rc));
		return -1;
	}
	end = now_ns() + 10 * NS_PER_S;
	pthread_mutex_lock(&g_mq.mu);
	while (!g_mq.ready && now_ns() < end)
		mq_wait(100);
	rc = g_mq.ready ? 0 : -1;
	pthread_mutex_unlock(&g_mq.mu);
	if (rc)
		say("no subscription acknowledgement from the broker in 10 s");
	return rc;
}

static void mq_stop(void)
{
	if (g_mq.m) {
		mosquitto_disconnect(g_mq.m);
		mosquitto_loop_stop(g_mq.m, false);
		mosquitto_destroy(g_mq.m);
		mosquitto_lib_cleanup();
	}
	/* Only now: the loop thread wrote into it until it stopped. */
	free(g_mq.alert_ns);
	g_mq.alert_ns = NULL;
}

/* QoS 1 publish; blocks while PUB_WINDOW publishes wait for their PUBACK. */
static int mq_publish(const char *topic, const char *payload, int len)
{
	int64_t end = now_ns() + 30 * NS_PER_S;
	int rc;

	pthread_mutex_lock(&g_mq.mu);
	while (g_mq.sent - g_mq.acked >= PUB_WINDOW && now_ns() < end)
		mq_wait(100);
	rc = g_mq.sent - g_mq.acked < PUB_WINDOW ? 0 : -1;
	if (!rc)
		g_mq.sent++;
	pthread_mutex_unlock(&g_mq.mu);
	if (rc) {
		say("the broker acknowledged nothing for 30 s");
		return -1;
	}
	rc = mosquitto_publish(g_mq.m, NULL, topic, len, payload, 1, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		say("publish to %s: %s", topic, mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

/* Waits until the broker acknowledged every publish. */
static int mq_drain(int ms)
{
	int64_t end = now_ns() + (int64_t)ms * NS_PER_MS;
	int rc;

	pthread_mutex_lock(&g_mq.mu);
	while (g_mq.acked < g_mq.sent && now_ns() < end)
		mq_wait(100);
	rc = g_mq.acked >= g_mq.sent ? 0 : -1;
	if (rc)
		say("%ld publishes still unacknowledged after %d ms", g_mq.sent - g_mq.acked, ms);
	pthread_mutex_unlock(&g_mq.mu);
	return rc;
}

static long mq_online_seen(int64_t *at)
{
	long n;

	pthread_mutex_lock(&g_mq.mu);
	n = g_mq.online_seen;
	if (at)
		*at = g_mq.online_ns;
	pthread_mutex_unlock(&g_mq.mu);
	return n;
}

/* ---------------------------------------------------------------- events */

/* The fleet's mix, in permille; smoke alarms are the rare events that matter. */
enum kind { K_MOTION, K_WATER, K_DOOR, K_TEMP, K_HEARTBEAT, K_BATTERY, K_SMOKE };
static const struct {
	const char *type;
	int permille;
} mix[] = {
	[K_MOTION] = {"motion", 500},     [K_WATER] = {"water_meter", 200}, [K_DOOR] = {"door", 100},
	[K_TEMP] = {"temperature", 70},   [K_HEARTBEAT] = {"heartbeat", 60}, [K_BATTERY] = {"battery", 60},
	[K_SMOKE] = {"smoke", 10},
};
#define NKINDS (sizeof(mix) / sizeof(mix[0]))

/* Device prefixes of every subject, in registry order (see write_registry). */
static const char *const dev_prefix[] = {"pir", "smoke", "wm", "door", "th"};
static const char *const dev_type[] = {"motion", "smoke", "water_meter", "door", "temperature"};
static const char *const dev_location[] = {"hall", "kitchen", "kitchen", "front", "bedroom"};
#define NDEVICES (sizeof(dev_prefix) / sizeof(dev_prefix[0]))

struct gen {
	uint64_t rng;
	long nsubjects;
	long seq;
	char tag[24];    /* makes event ids unique to this run and phase */
	bool probes;     /* phase B: smoke goes to subjects that had none yet */
	bool z2m;        /* Zigbee2MQTT form to zigbee2mqtt/<alias> instead of canonical */
	long next_probe; /* next such subject */
};

struct event {
	char topic[96];
	char payload[512];
	int len;
	long subject;   /* index */
	bool smoke;
	bool probe;
};

/*
 * The canonical event gen_event just drew, as a Zigbee2MQTT device would say it:
 * value is the canonical ",\"value\":..." fragment.  Water meters have no
 * Zigbee reading: they send a (dry) water_leak instead, so the count and the
 * mix stay those of the canonical stream; a heartbeat is a linkquality report,
 * which makes no event (as a canonical heartbeat does make one).
 */
static int z2m_event(struct event *e, const char *dname, size_t k, const char *value)
{
	const char *v = strchr(value, ':');

	v = v ? v + 1 : "";
	if (fmt(e->topic, sizeof(e->topic), Z2M_BASE "/" Z2M_ALIAS "%s", dname) < 0)
		return -1;
	switch (k) {
	case K_MOTION: e->len = fmt(e->payload, sizeof(e->payload), "{\"occupancy\":%s}", v); break;
	case K_WATER: e->len = fmt(e->payload, sizeof(e->payload), "{\"water_leak\":false}"); break;
	case K_DOOR:
		/* Zigbee contact sensors say true when the magnet is there: closed. */
		e->len = fmt(e->payload, sizeof(e->payload), "{\"contact\":%s}",
			     strstr(v, "closed") ? "true" : "false");
		break;
	case K_TEMP: e->len = fmt(e->payload, sizeof(e->payload), "{\"temperature\":%s}", v); break;
	case K_HEARTBEAT: e->len = fmt(e->payload, sizeof(e->payload), "{\"linkquality\":80}"); break;
	case K_BATTERY: e->len = fmt(e->payload, sizeof(e->payload), "{\"battery\":%s}", v); break;
	default: e->len = fmt(e->payload, sizeof(e->payload), "{\"smoke\":true}"); break;
	}
	return e->len < 0 ? -1 : 0;
}

static int gen_event(struct gen *g, struct event *e)
{
	uint64_t r = rnd(&g->rng);
	int pick = (int)(r % 1000);
	size_t k = 0;
	int dev;
	char dname[32], value[96];
	struct timespec wall;

	while (k + 1 < NKINDS && pick >= mix[k].permille) {
		pick -= mix[k].permille;
		k++;
	}
	r = rnd(&g->rng);
	e->subject = (long)(r % (uint64_t)g->nsubjects);
	e->smoke = k == K_SMOKE;
	e->probe = false;
	if (e->smoke && g->probes && g->next_probe < g->nsubjects) {
		e->subject = g->next_probe++;
		e->probe = true;
	}
	r >>= 20;
	switch (k) {
	case K_MOTION:
		dev = 0;
		fmt(value, sizeof(value), ",\"value\":%s", r % 10 < 7 ? "true" : "false");
		break;
	case K_WATER:
		dev = 2;
		fmt(value, sizeof(value), ",\"value\":0.%03d,\"data\":{\"total_m3\":%d.%03d}", (int)(r % 30) + 1,
		    100 + (int)((r >> 8) % 200), (int)((r >> 16) % 1000));
		break;
	case K_DOOR:
		dev = 3;
		fmt(value, sizeof(value), ",\"value\":\"%s\"", r % 2 ? "open" : "closed");
		break;
	case K_TEMP:
		dev = 4;
		fmt(value, sizeof(value), ",\"value\":%d.%d", 16 + (int)(r % 15), (int)((r >> 8) % 10));
		break;
	case K_HEARTBEAT:
		dev = (int)(r % NDEVICES);
		value[0] = '\0';
		break;
	case K_BATTERY: {
		static const int battery_dev[] = {0, 3, 4};
		dev = battery_dev[r % 3];
		fmt(value, sizeof(value), ",\"value\":%d", 30 + (int)((r >> 8) % 71));
		break;
	}
	default:
		dev = 1;
		fmt(value, sizeof(value), ",\"value\":true");
		break;
	}
	if (fmt(dname, sizeof(dname), "%s-%05ld", dev_prefix[dev], e->subject + 1) < 0)
		return -1;
	if (g->z2m)
		return z2m_event(e, dname, k, value);
	if (fmt(e->topic, sizeof(e->topic), "carehub/v1/events/%s", dname) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &wall);
	e->len = fmt(e->payload, sizeof(e->payload),
		     "{\"id\":\"%s:%s-%ld\",\"device\":\"%s\",\"type\":\"%s\",\"ts\":%lld%s}", dname, g->tag, g->seq++,
		     dname, mix[k].type, (long long)wall.tv_sec * 1000 + wall.tv_nsec / NS_PER_MS, value);
	return e->len < 0 ? -1 : 0;
}

static int marker_event(struct gen *g, struct event *e)
{
	e->subject = -1;
	e->smoke = true;
	e->probe = false;
	if (g->z2m) {
		if (fmt(e->topic, sizeof(e->topic), Z2M_BASE "/" Z2M_ALIAS MARKER_DEVICE) < 0)
			return -1;
		e->len = fmt(e->payload, sizeof(e->payload), "{\"smoke\":true}");
		return e->len < 0 ? -1 : 0;
	}
	if (fmt(e->topic, sizeof(e->topic), "carehub/v1/events/" MARKER_DEVICE) < 0)
		return -1;
	e->len = fmt(e->payload, sizeof(e->payload),
		     "{\"id\":\"" MARKER_DEVICE ":%s-%ld\",\"device\":\"" MARKER_DEVICE "\",\"type\":\"smoke\","
		     "\"value\":true}",
		     g->tag, g->seq++);
	return e->len < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- files */

static int write_registry(const struct opts *o, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		say("%s: %s", path, strerror(errno));
		return -1;
	}
	fputs("{\"subjects\":[\n", f);
	for (long i = 1; i <= o->subjects; i++) {
		fprintf(f, "{\"id\":\"s-%05ld\",\"name\":\"Bench Elder %ld\",\"address\":\"%ld Bench Road, Baoshan\","
			   "\"timezone\":\"Asia/Shanghai\",\"devices\":[",
			i, i, i);
		for (size_t d = 0; d < NDEVICES; d++)
			fprintf(f, "%s{\"id\":\"%s-%05ld\",\"type\":\"%s\",\"location\":\"%s\","
				   "\"aliases\":[\"" Z2M_ALIAS "%s-%05ld\"]}",
				d ? "," : "", dev_prefix[d], i, dev_type[d], dev_location[d], dev_prefix[d], i);
		fprintf(f, "],\"contacts\":[{\"name\":\"Family %ld\",\"phone\":\"+86138%08ld\",\"role\":\"family\","
			   "\"order\":1}]},\n",
			i, i);
	}
	fputs("{\"id\":\"" MARKER_SUBJECT "\",\"name\":\"Bench Marker\",\"address\":\"0 Bench Road\","
	      "\"timezone\":\"Asia/Shanghai\",\"devices\":[{\"id\":\"" MARKER_DEVICE "\",\"type\":\"smoke\","
	      "\"location\":\"kitchen\",\"aliases\":[\"" Z2M_ALIAS MARKER_DEVICE "\"]}],\"contacts\":[{\"name\":\"Marker Family\",\"phone\":\"+8613900000000\","
	      "\"role\":\"family\",\"order\":1}]}\n]}\n",
	      f);
	if (ferror(f) | fclose(f)) {
		say("%s: write failed", path);
		return -1;
	}
	return 0;
}

/*
 * Every severity, and the rule-named fire_gas policy the smoke rule asks for,
 * notify the family at once on the one webhook channel: each alert makes one
 * notification, which is what we time.
 */
static int write_config(const struct opts *o, const char *path, const char *state, const char *prefix, int sink_port,
			bool adapter)
{
	char url[96], registry[1024], rules[1024];
	json_t *step, *root;
	int rc;

	if (fmt(url, sizeof(url), "http://127.0.0.1:%d/hook", sink_port) < 0 ||
	    fmt(registry, sizeof(registry), "%s/registry.json", o->dir) < 0 ||
	    fmt(rules, sizeof(rules), "%s/config/rules.json", o->src) < 0)
		return -1;
	step = json_pack("{s:[{s:s, s:[s], s:[s]}]}", "steps", "after", "0s", "roles", "family", "channels", "hook");
	root = json_pack("{s:s, s:s, s:s,"
			 " s:{s:s, s:i, s:s, s:i}, s:{s:s, s:i, s:s}, s:{s:s}, s:{s:s},"
			 " s:{s:{s:s, s:s, s:s, s:s, s:s}, s:{s:O, s:O}},"
			 " s:{s:{s:s, s:s}}, s:{s:i, s:i}, s:{s:s}}",
			 "instance", INSTANCE, "state_dir", state, "plugins_dir", o->plugins,
			 "mqtt", "host", "127.0.0.1", "port", o->mqtt_port, "client_id", "bench-hub", "keepalive", 30,
			 "redis", "host", "127.0.0.1", "port", o->redis_port, "prefix", prefix,
			 "registry", "file", registry, "rules", "file", rules,
			 "policies", "by_severity", "critical", "p", "high", "p", "medium", "p", "low", "p", "info", "p",
			 "policies", "p", step, "fire_gas", step,
			 "channels", "hook", "plugin", "webhook", "url", url,
			 "limits", "queue_capacity", 20000, "batch_size", 256, "log", "level", "warn");
	/*
	 * Its own client id, so its session holds only the Zigbee2MQTT backlog;
	 * only_changes off, so every message is an event as in the canonical run.
	 */
	if (root && adapter &&
	    (json_object_set_new(json_object_get(root, "mqtt"), "client_id", json_string("bench-hub-z")) ||
	     json_object_set_new(json_object_get(root, "mqtt"), "adapters",
				 json_pack("[{s:s, s:s, s:s, s:b}]", "name", "z2m", "kind", "zigbee2mqtt",
					   "base_topic", Z2M_BASE, "only_changes", 0)))) {
		json_decref(root);
		root = NULL;
	}
	rc = root ? json_dump_file(root, path, JSON_INDENT(2)) : -1;
	if (rc)
		say("%s: cannot write the configuration", path);
	json_decref(step);
	json_decref(root);
	return rc ? -1 : 0;
}

/* Alerts opened and input rejected under a prefix: both say the run was sane. */
static void redis_counts(const struct opts *o, const char *prefix, long long *open, long long *rejected)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", o->redis_port, tv);
	redisReply *r;

	*open = *rejected = -1;
	if (!c || c->err) {
		redisFree(c);
		return;
	}
	if ((r = redisCommand(c, "ZCARD %salerts:open", prefix)) && r->type == REDIS_REPLY_INTEGER)
		*open = r->integer;
	freeReplyObject(r);
	if ((r = redisCommand(c, "XLEN %sdeadletter", prefix)) && r->type == REDIS_REPLY_INTEGER)
		*rejected = r->integer;
	freeReplyObject(r);
	redisFree(c);
}

/* ---------------------------------------------------------------- CPU accounting */

/*
 * CPU seconds per process over a drain say where the time went, which the rate
 * alone cannot: on a small machine the hub, broker and Redis share the CPUs.
 */
struct cpu {
	pid_t broker, redis; /* from the pid files scripts/services wrote; read, never signalled */
	double ticks;
};

/* CPU seconds (user + system) pid has used so far, or NAN. */
static double proc_cpu_s(const struct cpu *c, pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	const char *p;
	FILE *f;
	size_t n;

	if (pid <= 0 || fmt(path, sizeof(path), "/proc/%d/stat", (int)pid) < 0 || !(f = fopen(path, "r")))
		return NAN;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields count from the last ')'. */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) / c->ticks;
}

static pid_t pid_file(const struct opts *o, const char *name)
{
	char path[1024], line[32];
	long v = 0;
	FILE *f;

	if (fmt(path, sizeof(path), "%s/%s", o->dir, name) < 0 || !(f = fopen(path, "r")))
		return 0;
	if (fgets(line, sizeof(line), f))
		line[strcspn(line, "\n")] = '\0';
	else
		line[0] = '\0';
	fclose(f);
	return parse_long(line, 1, INT_MAX, &v) ? 0 : (pid_t)v;
}

/* ---------------------------------------------------------------- the hub */

struct hub {
	const char *bin; /* borrowed from opts */
	pid_t pid;
	char config[1024];
	char log[1024];
	int64_t online_ns;
};

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Starts carehubd and waits for its live "online": it has subscribed by then. */
static int hub_start(struct hub *h)
{
	const char *argv[] = {h->bin, "-c", h->config, NULL};
	long before = mq_online_seen(NULL);
	int64_t end = now_ns() + 60 * NS_PER_S;
	int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), status;

	if (fd < 0) {
		say("%s: %s", h->log, strerror(errno));
		return -1;
	}
	h->pid = spawn(argv, fd, fd);
	close(fd);
	if (h->pid < 0)
		return -1;
	while (mq_online_seen(&h->online_ns) == before) {
		if (wait_child(h->pid, 0, &status) == 0) {
			say("carehubd exited with status %d during start; see %s", exit_code(status), h->log);
			h->pid = 0;
			return -1;
		}
		if (now_ns() > end) {
			say("carehubd did not come online in 60 s; see %s", h->log);
			stop_child(h->pid, 15000);
			h->pid = 0;
			return -1;
		}
		sleep_ms(2);
	}
	return 0;
}

/* SIGTERM drains and exits; anything but 0 is a finding worth reporting. */
static int hub_stop(struct hub *h)
{
	int code;

	if (h->pid <= 0)
		return 0;
	code = stop_child(h->pid, 20000);
	h->pid = 0;
	if (code) {
		say("carehubd exited with status %d on SIGTERM; see %s", code, h->log);
		return -1;
	}
	return 0;
}

static bool hub_alive(struct hub *h)
{
	int status;

	if (h->pid > 0 && wait_child(h->pid, 0, &status) == 0) {
		say("carehubd died (status %d); see %s", exit_code(status), h->log);
		h->pid = 0;
	}
	return h->pid > 0;
}

static int hub_files(const struct opts *o, struct hub *h, char phase, int sink_port)
{
	char state[1024], prefix[32];

	h->bin = o->hub;
	if (fmt(h->config, sizeof(h->config), "%s/carehub-%c.json", o->dir, phase) < 0 ||
	    fmt(h->log, sizeof(h->log), "%s/carehubd-%c.log", o->dir, phase) < 0 ||
	    fmt(state, sizeof(state), "%s/state-%c", o->dir, phase) < 0 ||
	    fmt(prefix, sizeof(prefix), "bench:%c:", phase) < 0)
		return -1;
	/* Phases differ in Redis prefix and journal, so phase b starts with no open alerts. */
	return write_config(o, h->config, state, prefix, sink_port, phase == 'z');
}

/* ---------------------------------------------------------------- measurements */

struct results {
	double pub_s;          /* publishing the backlog */
	double raw_s;          /* mosquitto_sub: first to last message */
	double hub_s;          /* carehubd: online to the marker's webhook */
	double raw_cpu[2];     /* mosquitto_sub, broker */
	double hub_cpu[3];     /* carehubd, broker, redis */
	double load;           /* 1-minute load average at the start */
	long hooks, hooks_expected;
	long long open_a, rejected_a;
	double z_pub_s, z_hub_s;  /* the Zigbee2MQTT backlog: published, drained by carehubd */
	double z_hub_cpu[3];
	long z_hooks, z_hooks_expected;
	long long open_z, rejected_z;
	long probes, received; /* phase b */
	int64_t *lat_ns;       /* received of them, sorted */
	long alerted;
	int64_t *alert_lat_ns; /* publish to the alert document on MQTT, sorted */
	double pub_rate_b;
	int64_t behind_ns;     /* worst lag of the publisher behind its schedule */
	long long open_b, rejected_b;
};

/*
 * Times a plain mosquitto_sub resuming the raw session and draining n events:
 * from its first output to its n-th line (one line per payload).
 */
static int raw_drain(const struct opts *o, const struct cpu *c, long n, double *secs, double cpu[2])
{
	double sub0 = NAN, broker0 = NAN;
	char port[16], count[24], buf[65536];
	const char *argv[] = {o->sub, "-h", "127.0.0.1", "-p", port, "-c", "-i", RAW_ID, "-q", "1",
			      "-t", EVENTS_FILTER, "-C", count, NULL};
	int pfd[2], fd, status;
	long lines = 0;
	int64_t first = 0, last = 0, end = now_ns() + (30000 + n) * NS_PER_MS;
	pid_t pid;

	if (fmt(port, sizeof(port), "%d", o->mqtt_port) < 0 || fmt(count, sizeof(count), "%ld", n) < 0)
		return -1;
	if (pipe2(pfd, O_CLOEXEC)) {
		say("pipe: %s", strerror(errno));
		return -1;
	}
	if ((fd = open_log(o, "mosquitto_sub.log")) < 0 || (pid = spawn(argv, pfd[1], fd)) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(pfd[1]);
	close(fd);
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int64_t left = (end - now_ns()) / NS_PER_MS;
		ssize_t got;

		if (left <= 0)
			break;
		if (poll(&p, 1, left > 200 ? 200 : (int)left) <= 0)
			continue;
		got = read(pfd[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		int64_t t = now_ns();
		if (!first) {
			first = t;
			sub0 = proc_cpu_s(c, pid);
			broker0 = proc_cpu_s(c, c->broker);
		}
		for (const char *q = buf; (q = memchr(q, '\n', (size_t)(buf + got - q))); q++)
			lines++;
		if (lines >= n && !last) {
			last = t;
			cpu[1] = proc_cpu_s(c, c->broker) - broker0;
		}
	}
	close(pfd[0]);
	/* Not reaped yet, so its final times are still there to read. */
	cpu[0] = proc_cpu_s(c, pid) - sub0;
	if (wait_child(pid, 5000, &status))
		stop_child(pid, 2000);
	if (lines < n) {
		say("mosquitto_sub got %ld of %ld events in time; did the broker drop some (max_queued_messages)? "
		    "see %s/mosquitto_sub.log",
		    lines, n, o->dir);
		return -1;
	}
	if (last <= first) {
		say("all %ld events came in one read: too few to time, use more --events", n);
		return -1;
	}
	*secs = (double)(last - first) / NS_PER_S;
	return 0;
}

/*
 * Times a started hub draining its backlog: from its live "online" to the
 * marker's webhook, with the CPU each process used meanwhile; then waits a
 * little for the smoke notifications the marker overtook (distinct + 1 expected).
 */
static int hub_drain(const struct opts *o, const struct cpu *c, struct sink *s, struct hub *h, long distinct,
		     double *secs, double cpu[3], long *hooks, long *expected)
{
	double cpu0[3];
	long marker_hooks;
	int64_t end, marker = 0;

	cpu0[0] = proc_cpu_s(c, h->pid);
	cpu0[1] = proc_cpu_s(c, c->broker);
	cpu0[2] = proc_cpu_s(c, c->redis);
	end = now_ns() + (30000 + o->events) * NS_PER_MS;
	while (!marker) {
		pthread_mutex_lock(&s->mu);
		marker = s->marker_ns;
		pthread_mutex_unlock(&s->mu);
		if (marker)
			break;
		if (!hub_alive(h))
			return -1;
		if (now_ns() > end) {
			pthread_mutex_lock(&s->mu);
			say("no webhook for the marker event within %ld s (the sink got %ld requests, %ld without "
			    "alert.rule and subject.id); see %s",
			    (30000 + o->events) / 1000, s->total, s->unreadable, h->log);
			pthread_mutex_unlock(&s->mu);
			return -1;
		}
		sleep_ms(5);
	}
	*secs = (double)(marker - h->online_ns) / NS_PER_S;
	cpu[0] = proc_cpu_s(c, h->pid) - cpu0[0];
	cpu[1] = proc_cpu_s(c, c->broker) - cpu0[1];
	cpu[2] = proc_cpu_s(c, c->redis) - cpu0[2];
	/* The marker can overtake a few notifications still in flight: let them land. */
	*expected = distinct + 1;
	end = now_ns() + 10 * NS_PER_S;
	do {
		pthread_mutex_lock(&s->mu);
		marker_hooks = s->smoke - s->repeats;
		pthread_mutex_unlock(&s->mu);
		if (marker_hooks >= *expected)
			break;
		sleep_ms(20);
	} while (now_ns() < end);
	*hooks = marker_hooks;
	return 0;
}

/* Phase a: the same backlog drained by mosquitto_sub, then by carehubd. */
static int phase_a(const struct opts *o, const struct cpu *c, struct sink *s, struct results *res)
{
	static const char *const make_session[] = {"-c", "-i", RAW_ID, "-q", "1", "-t", EVENTS_FILTER, "-E", NULL};
	/* A clean connect with the same id ends the session, so phase b doesn't queue for it. */
	static const char *const end_session[] = {"-i", RAW_ID, "-t", EVENTS_FILTER, "-E", NULL};
	struct hub h = {0};
	struct gen g = {.rng = o->seed, .nsubjects = o->subjects};
	struct event e;
	char *smoked = calloc((size_t)o->subjects, 1);
	long distinct = 0;
	int64_t t0;
	int rc = -1;

	if (!smoked || fmt(g.tag, sizeof(g.tag), "a%x", (unsigned)getpid()) < 0 ||
	    hub_files(o, &h, 'a', s->port))
		goto out;
	say("phase a: creating the persistent sessions of carehubd and mosquitto_sub");
	if (hub_start(&h) || hub_stop(&h) || run_sub(o, make_session, 10000))
		goto out;

	say("phase a: publishing %ld events (QoS 1) into both sessions", o->events);
	t0 = now_ns();
	for (long i = 0; i + 1 < o->events; i++) {
		if (gen_event(&g, &e) || mq_publish(e.topic, e.payload, e.len))
			goto out;
		if (e.smoke && !smoked[e.subject]) {
			smoked[e.subject] = 1;
			distinct++;
		}
	}
	if (marker_event(&g, &e) || mq_publish(e.topic, e.payload, e.len) || mq_drain(60000))
		goto out;
	res->pub_s = (double)(now_ns() - t0) / NS_PER_S;

	say("phase a: mosquitto_sub draining its backlog");
	if (raw_drain(o, c, o->events, &res->raw_s, res->raw_cpu) || run_sub(o, end_session, 10000))
		goto out;

	say("phase a: carehubd draining its backlog");
	sink_reset(s);
	if (hub_start(&h))
		goto out;
	if (hub_drain(o, c, s, &h, distinct, &res->hub_s, res->hub_cpu, &res->hooks, &res->hooks_expected))
		goto out;
	if (hub_stop(&h))
		goto out;
	redis_counts(o, "bench:a:", &res->open_a, &res->rejected_a);
	rc = 0;
out:
	if (h.pid > 0)
		stop_child(h.pid, 20000);
	free(smoked);
	return rc;
}

/*
 * Phase z: the same backlog (size, mix, seed) in Zigbee2MQTT form, drained by
 * a hub with the adapter under its own session and Redis prefix, as phase a.
 */
static int phase_z(const struct opts *o, const struct cpu *c, struct sink *s, struct results *res)
{
	struct hub h = {0};
	struct gen g = {.rng = o->seed, .nsubjects = o->subjects, .z2m = true};
	struct event e;
	char *smoked = calloc((size_t)o->subjects, 1);
	long distinct = 0;
	int64_t t0;
	int rc = -1;

	if (!smoked || fmt(g.tag, sizeof(g.tag), "z%x", (unsigned)getpid()) < 0 ||
	    hub_files(o, &h, 'z', s->port))
		goto out;
	say("phase z: creating the persistent session of carehubd with the zigbee2mqtt adapter");
	if (hub_start(&h) || hub_stop(&h))
		goto out;
	say("phase z: publishing %ld events in Zigbee2MQTT form (QoS 1) to " Z2M_BASE "/<alias>", o->events);
	t0 = now_ns();
	for (long i = 0; i + 1 < o->events; i++) {
		if (gen_event(&g, &e) || mq_publish(e.topic, e.payload, e.len))
			goto out;
		if (e.smoke && !smoked[e.subject]) {
			smoked[e.subject] = 1;
			distinct++;
		}
	}
	if (marker_event(&g, &e) || mq_publish(e.topic, e.payload, e.len) || mq_drain(60000))
		goto out;
	res->z_pub_s = (double)(now_ns() - t0) / NS_PER_S;

	say("phase z: carehubd draining its backlog through the adapter");
	sink_reset(s);
	if (hub_start(&h) ||
	    hub_drain(o, c, s, &h, distinct, &res->z_hub_s, res->z_hub_cpu, &res->z_hooks, &res->z_hooks_expected) ||
	    hub_stop(&h))
		goto out;
	redis_counts(o, "bench:z:", &res->open_z, &res->rejected_z);
	rc = 0;
out:
	if (h.pid > 0)
		stop_child(h.pid, 20000);
	free(smoked);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Turns the probes' publish times and what the sink and the alert watcher saw
 * into sorted latencies (and the CSV, if asked for).  Works on snapshots taken
 * under each writer's lock: a late arrival can't change what we compute.
 */
static int probe_results(const struct opts *o, struct sink *s, const int64_t *pub, int64_t t0, struct results *res)
{
	size_t np = (size_t)(res->probes ? res->probes : 1);
	int64_t *alert_at = calloc(np, sizeof(*alert_at)), *hook_at = calloc(np, sizeof(*hook_at));
	FILE *csv = NULL;
	int rc = -1;

	res->lat_ns = calloc(np, sizeof(*res->lat_ns));
	res->alert_lat_ns = calloc(np, sizeof(*res->alert_lat_ns));
	if (!alert_at || !hook_at || !res->lat_ns || !res->alert_lat_ns)
		goto out;
	pthread_mutex_lock(&g_mq.mu);
	memcpy(alert_at, g_mq.alert_ns, (size_t)res->probes * sizeof(*alert_at));
	pthread_mutex_unlock(&g_mq.mu);
	pthread_mutex_lock(&s->mu);
	memcpy(hook_at, s->recv_ns, (size_t)res->probes * sizeof(*hook_at));
	pthread_mutex_unlock(&s->mu);
	if (o->samples && !(csv = fopen(o->samples, "w")))
		say("%s: %s", o->samples, strerror(errno));
	if (csv)
		fputs("sent_ms,alert_ms,webhook_ms\n", csv);
	for (long i = 0; i < res->probes; i++) {
		if (alert_at[i])
			res->alert_lat_ns[res->alerted++] = alert_at[i] - pub[i];
		if (hook_at[i])
			res->lat_ns[res->received++] = hook_at[i] - pub[i];
		if (csv)
			fprintf(csv, "%.3f,%.3f,%.3f\n", (double)(pub[i] - t0) / NS_PER_MS,
				alert_at[i] ? (double)(alert_at[i] - pub[i]) / NS_PER_MS : NAN,
				hook_at[i] ? (double)(hook_at[i] - pub[i]) / NS_PER_MS : NAN);
	}
	if (csv && (ferror(csv) | fclose(csv)))
		say("%s: write failed", o->samples);
	qsort(res->alert_lat_ns, (size_t)res->alerted, sizeof(*res->alert_lat_ns), cmp_i64);
	qsort(res->lat_ns, (size_t)res->received, sizeof(*res->lat_ns), cmp_i64);
	rc = 0;
out:
	free(alert_at);
	free(hook_at);
	return rc;
}

/*
 * Phase b: a live stream at a fixed rate; smoke alarms for fresh subjects are
 * probes.  1: measured, but some probes never got their webhook.
 */
static int phase_b(const struct opts *o, struct sink *s, struct results *res)
{
	struct hub h = {0};
	struct gen g = {.rng = o->seed ^ 0xb0b, .nsubjects = o->subjects, .probes = true};
	struct event e;
	long total = o->rate * o->duration_s, got;
	int64_t *pub = calloc((size_t)o->subjects, sizeof(*pub));
	int64_t t0, end;
	int rc = -1;

	if (!pub || fmt(g.tag, sizeof(g.tag), "b%x", (unsigned)getpid()) < 0 || hub_files(o, &h, 'b', s->port))
		goto out;
	sink_reset(s);
	pthread_mutex_lock(&g_mq.mu);
	memset(g_mq.alert_ns, 0, (size_t)g_mq.nsubjects * sizeof(*g_mq.alert_ns));
	pthread_mutex_unlock(&g_mq.mu);
	if (hub_start(&h))
		goto out;
	/* Let the hub finish starting (dispatcher, first connections) before the clock runs. */
	sleep_ms(500);
	say("phase b: publishing %ld ev/s for %ld s", o->rate, o->duration_s);
	t0 = now_ns() + 10 * NS_PER_MS;
	for (long i = 0; i < total; i++) {
		int64_t due = t0 + i * NS_PER_S / o->rate, t;
		struct timespec ts = {(time_t)(due / NS_PER_S), (long)(due % NS_PER_S)};

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		if (gen_event(&g, &e))
			goto out;
		t = now_ns();
		if (t - due > res->behind_ns)
			res->behind_ns = t - due;
		if (e.probe)
			pub[e.subject] = t;
		if (mq_publish(e.topic, e.payload, e.len))
			goto out;
		if ((i & 1023) == 0 && !hub_alive(&h))
			goto out;
	}
	res->pub_rate_b = (double)total * NS_PER_S / (double)(now_ns() - t0);
	if (mq_drain(30000))
		goto out;
	res->probes = g.next_probe;
	end = now_ns() + 30 * NS_PER_S;
	for (;;) {
		got = 0;
		pthread_mutex_lock(&s->mu);
		for (long i = 0; i < res->probes; i++)
			got += s->recv_ns[i] != 0;
		pthread_mutex_unlock(&s->mu);
		if (got == res->probes || now_ns() > end || !hub_alive(&h))
			break;
		sleep_ms(20);
	}
	if (probe_results(o, s, pub, t0, res))
		goto out;
	if (hub_stop(&h))
		goto out;
	redis_counts(o, "bench:b:", &res->open_b, &res->rejected_b);
	rc = 0;
	if (res->received < res->probes) {
		say("only %ld of %ld probe webhooks arrived within 30 s; see %s", res->received, res->probes, h.log);
		rc = 1;
	}
out:
	if (h.pid > 0)
		stop_child(h.pid, 20000);
	free(pub);
	return rc;
}

/* ---------------------------------------------------------------- report */

/* Nearest rank: the value at or below which q of the samples lie. */
static double pct_ms(const int64_t *v, long n, double q)
{
	long k = (long)ceil(q * (double)n);

	if (n == 0)
		return NAN;
	if (k < 1)
		k = 1;
	return (double)v[k - 1] / NS_PER_MS;
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	fmt(buf, len, "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && c) {
			c += 1 + strspn(c + 1, " \t");
			c[strcspn(c, "\n")] = '\0';
			fmt(buf, len, "%s", c);
			break;
		}
	}
	if (f)
		fclose(f);
}

static void report(const struct opts *o, const struct results *r, bool did_a, bool did_b, bool did_z)
{
	char a[32], b[32], c[32], cpu[256];
	double raw = did_a ? o->events / r->raw_s : 0, hub = did_a ? o->events / r->hub_s : 0;
	double zhub = did_z ? o->events / r->z_hub_s : 0;
	double p99 = did_b ? pct_ms(r->lat_ns, r->received, 0.99) : NAN;

	cpu_model(cpu, sizeof(cpu));
	printf("\ncarehub bench: %s subjects, mix", grouped(a, sizeof(a), (double)o->subjects));
	for (size_t k = 0; k < NKINDS; k++)
		printf(" %s %g%%", mix[k].type, mix[k].permille / 10.0);
	printf("\nmachine: %ld CPUs (%s), load average %.2f at the start; loopback only: broker, Redis, hub and "
	       "webhook sink on 127.0.0.1\n",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, r->load);
	if (did_a) {
		printf("backlog of %s events published in %.2f s (%s ev/s, QoS 1)\n", grouped(a, sizeof(a), (double)o->events),
		       r->pub_s, grouped(b, sizeof(b), o->events / r->pub_s));
		printf("  raw mosquitto_sub drain:  %9s ev/s   (%.2f s, first to last message)\n",
		       grouped(a, sizeof(a), raw), r->raw_s);
		printf("  carehubd through Redis:   %9s ev/s   (%.2fx raw; %.2f s, online to the last event's webhook)\n",
		       grouped(b, sizeof(b), hub), hub / raw, r->hub_s);
		printf("  CPU seconds: raw drain: mosquitto_sub %.2f, broker %.2f; hub drain: carehubd %.2f, broker %.2f, "
		       "redis %.2f\n",
		       r->raw_cpu[0], r->raw_cpu[1], r->hub_cpu[0], r->hub_cpu[1], r->hub_cpu[2]);
		printf("  alerts opened: %lld, notifications %ld of %ld expected, events rejected: %lld\n", r->open_a,
		       r->hooks, r->hooks_expected, r->rejected_a);
	}
	if (did_z) {
		printf("the same backlog in Zigbee2MQTT form to " Z2M_BASE "/<alias> (water meters send water_leak:false, "
		       "heartbeats linkquality: no event), published in %.2f s\n",
		       r->z_pub_s);
		if (did_a)
			printf("  carehubd, canonical events:      %9s ev/s\n", grouped(a, sizeof(a), hub));
		printf("  carehubd, Zigbee2MQTT adapter:   %9s ev/s", grouped(b, sizeof(b), zhub));
		if (did_a)
			printf("   (%.2fx canonical; aim >= 0.80x)", zhub / hub);
		printf("   (%.2f s, online to the last event's webhook)\n", r->z_hub_s);
		printf("  CPU seconds: carehubd %.2f, broker %.2f, redis %.2f\n", r->z_hub_cpu[0], r->z_hub_cpu[1],
		       r->z_hub_cpu[2]);
		printf("  alerts opened: %lld, notifications %ld of %ld expected, events rejected: %lld\n", r->open_z,
		       r->z_hooks, r->z_hooks_expected, r->rejected_z);
	}
	if (did_b) {
		printf("latency at %s ev/s for %ld s (sent at %s ev/s, worst %.1f ms behind schedule), publish -> webhook:\n",
		       grouped(a, sizeof(a), (double)o->rate), o->duration_s, grouped(b, sizeof(b), r->pub_rate_b),
		       (double)r->behind_ns / NS_PER_MS);
		printf("  n=%ld of %ld probes  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", r->received,
		       r->probes, pct_ms(r->lat_ns, r->received, 0.5), pct_ms(r->lat_ns, r->received, 0.9), p99,
		       r->received ? (double)r->lat_ns[r->received - 1] / NS_PER_MS : NAN);
		printf("  publish -> alert document on MQTT (after Redis, via the broker): n=%ld  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
		       r->alerted, pct_ms(r->alert_lat_ns, r->alerted, 0.5), pct_ms(r->alert_lat_ns, r->alerted, 0.99),
		       r->alerted ? (double)r->alert_lat_ns[r->alerted - 1] / NS_PER_MS : NAN);
		if (r->received < 100)
			printf("  (fewer than 100 probes: p99 is the maximum; --duration 60 gives ~600)\n");
		printf("  alerts opened: %lld, events rejected: %lld\n", r->open_b, r->rejected_b);
	}
	printf("aims:");
	if (did_a)
		printf(" hub >= 0.8x raw: %s (%.2fx)%s", hub >= 0.8 * raw ? "met" : "NOT met", hub / raw,
		       did_b || (did_z && did_a) ? ";" : "");
	if (did_a && did_z)
		printf(" adapter >= 0.8x canonical: %s (%.2fx)%s", zhub >= 0.8 * hub ? "met" : "NOT met", zhub / hub,
		       did_b ? ";" : "");
	if (did_z && !did_a)
		printf(" adapter >= 0.8x canonical: not measured (--only throughput measures both)%s", did_b ? ";" : "");
	if (did_b)
		printf(" p99 < 50 ms at %s ev/s: %s (%.1f ms)", grouped(c, sizeof(c), (double)o->rate),
		       p99 < 50 ? "met" : "NOT met", p99);
	printf("\n");
	fflush(stdout);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench --dir DIR --src DIR --hub PATH --plugins DIR --mqtt-port N --redis-port N\n"
		   "             [--sub PATH] [--events N] [--max-queued N] [--rate N] [--duration S]\n"
		   "             [--subjects N] [--seed N] [--only throughput|adapters|latency]\n"
		   "             [--samples CSV]\n"
		   "Normally run through scripts/bench, which starts the broker and Redis.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'D'},       {"src", required_argument, NULL, 'S'},
		{"hub", required_argument, NULL, 'H'},       {"plugins", required_argument, NULL, 'P'},
		{"sub", required_argument, NULL, 'u'},       {"mqtt-port", required_argument, NULL, 'm'},
		{"redis-port", required_argument, NULL, 'r'}, {"events", required_argument, NULL, 'n'},
		{"max-queued", required_argument, NULL, 'q'}, {"rate", required_argument, NULL, 'R'},
		{"duration", required_argument, NULL, 'd'},  {"subjects", required_argument, NULL, 's'},
		{"seed", required_argument, NULL, 'x'},      {"only", required_argument, NULL, 'o'},
		{"samples", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
	struct opts o = {.sub = "mosquitto_sub", .events = 100000, .max_queued = 100000, .rate = 1000,
			 .duration_s = 10, .subjects = 2000, .seed = 20221128};
	struct results res = {0};
	struct cpu cpu = {.ticks = (double)sysconf(_SC_CLK_TCK)};
	FILE *lf;
	struct sink sink = {0};
	struct sigaction sa = {.sa_handler = on_signal};
	bool do_a = true, do_b = true, do_z = true;
	long v, port;
	char path[1024];
	int opt, li = -1, rc = 1, lost = 0;

	while ((opt = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
		switch (opt) {
		case 'D': o.dir = optarg; break;
		case 'S': o.src = optarg; break;
		case 'H': o.hub = optarg; break;
		case 'P': o.plugins = optarg; break;
		case 'u': o.sub = optarg; break;
		case 'C': o.samples = optarg; break;
		case 'm':
		case 'r':
			if (parse_long(optarg, 1, 65535, &port))
				goto badarg;
			*(opt == 'm' ? &o.mqtt_port : &o.redis_port) = (int)port;
			break;
		case 'n': if (parse_long(optarg, 2, 10000000, &o.events)) goto badarg; break;
		case 'q': if (parse_long(optarg, 0, 100000000, &o.max_queued)) goto badarg; break;
		case 'R': if (parse_long(optarg, 1, 100000, &o.rate)) goto badarg; break;
		case 'd': if (parse_long(optarg, 1, 600, &o.duration_s)) goto badarg; break;
		case 's': if (parse_long(optarg, 1, 99999, &o.subjects)) goto badarg; break;
		case 'x':
			if (parse_long(optarg, 0, LONG_MAX, &v))
				goto badarg;
			o.seed = (uint64_t)v;
			break;
		case 'o':
			/* throughput: canonical and adapter drains; adapters: the adapter drain alone. */
			do_a = strcmp(optarg, "throughput") == 0;
			do_z = do_a || strcmp(optarg, "adapters") == 0;
			do_b = strcmp(optarg, "latency") == 0;
			if (!do_z && !do_b)
				goto badarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !o.dir || !o.src || !o.hub || !o.plugins || !o.mqtt_port || !o.redis_port) {
		usage(stderr);
		return 2;
	}
	/* A broker that caps a session's queue would drop part of the backlog. */
	if ((do_a || do_z) && o.max_queued && o.events > o.max_queued) {
		say("--events %ld is more than the broker queues for an offline session (max_queued_messages %ld)",
		    o.events, o.max_queued);
		return 2;
	}
	if (do_b && o.rate * o.duration_s > 10000000) {
		say("--rate times --duration is more than 10,000,000 events");
		return 2;
	}

	sigemptyset(&g_sigs);
	sigaddset(&g_sigs, SIGINT);
	sigaddset(&g_sigs, SIGTERM);
	sigaddset(&g_sigs, SIGHUP);
	sa.sa_mask = g_sigs;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Threads started now inherit the blocked set: the signals come to this one. */
	sigs_hold(true);
	if (sink_start(&sink, o.subjects) || mq_start(&o)) {
		sigs_hold(false);
		goto out;
	}
	sigs_hold(false);
	if (fmt(path, sizeof(path), "%s/registry.json", o.dir) < 0 || write_registry(&o, path))
		goto out;
	cpu.broker = pid_file(&o, "mosquitto.pid");
	cpu.redis = pid_file(&o, "redis.pid");
	res.load = NAN;
	if ((lf = fopen("/proc/loadavg", "r"))) {
		if (fscanf(lf, "%lf", &res.load) != 1)
			res.load = NAN;
		fclose(lf);
	}
	if (do_a && phase_a(&o, &cpu, &sink, &res))
		goto out;
	if (do_z && phase_z(&o, &cpu, &sink, &res))
		goto out;
	if (do_b && (lost = phase_b(&o, &sink, &res)) < 0)
		goto out;
	report(&o, &res, do_a, do_b, do_z);
	/* Lost notifications are an error, even with the figures printed. */
	rc = lost ? 1 : 0;
out:
	mq_stop();
	sink_stop(&sink);
	free(res.lat_ns);
	free(res.alert_lat_ns);
	return rc;
badarg:
	say("bad value for --%s: %s", li >= 0 ? longopts[li].name : "?", optarg);
	usage(stderr);
	return 2;
}
