/*
 * harness.h - what integration tests share: a real carehubd process started
 * with a config written for the test, a real broker and Redis (ports from
 * tests/run), and a small HTTP server playing a provider.
 *
 * Every wait has a deadline; nothing sleeps a fixed time and hopes.
 */
#ifndef CH_TEST_HARNESS_H
#define CH_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Deadline for conditions that should hold "within a second" on any machine. */
#define T_DEADLINE_MS 15000
#define CH_TEST_LEN(a) (sizeof(a) / sizeof((a)[0]))

int t_mqtt_port(void);
int t_redis_port(void);
const char *t_build_dir(void);
const char *t_src_dir(void);
/* A fresh scratch directory for one test (under the build dir). */
const char *t_scratch(const char *name);

/* Policies text: every severity notifies the family at once on the given channel(s),
 * e.g. T_POLICY_FAMILY("\"log\"") or T_POLICY_FAMILY("\"hook\",\"console\""). */
#define T_POLICY_FAMILY(channels)                                                                   \
	"{\"by_severity\":{\"critical\":\"p\",\"high\":\"p\",\"medium\":\"p\",\"low\":\"p\","          \
	"\"info\":\"p\"},\"policies\":{\"p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],"      \
	"\"channels\":[" channels "]}]}}}"

/* ---- the hub ---- */
struct t_hub {
	pid_t pid;
	char name[64];     /* instance and client id */
	char prefix[96];   /* redis prefix, unique per test */
	char dir[512];     /* scratch dir: config, state, logs */
	char config[600];
	char log[600];
};

/*
 * Writes a config for the test (channels given as a JSON object text, policies
 * as JSON text; NULL for defaults) and starts carehubd; waits until it says
 * "online" on its status topic.  extra_overrides: NULL-terminated "-o" values.
 */
void t_hub_config(struct t_hub *h, const char *name, const char *channels_json, const char *policies_json,
		  const char *rules_file);
void t_hub_start(struct t_hub *h, const char *const *extra_overrides);
/* SIGTERM, waits for a clean exit (status 0: no sanitizer findings). */
void t_hub_stop(struct t_hub *h);
/* Sends a signal (SIGHUP for a reload). */
void t_hub_signal(struct t_hub *h, int sig);
/* How many log lines contain s. */
int t_hub_log_count(const struct t_hub *h, const char *s);
/* SIGKILL, waits for the process. */
void t_hub_kill(struct t_hub *h);
/* Runs carehubd with args (NULL-terminated), captures stderr+stdout into out; returns exit status. */
int t_run_carehubd(const char *const *args, char *out, size_t outlen);
/* true if the hub's log contains s. */
bool t_hub_log_contains(const struct t_hub *h, const char *s);

/* ---- MQTT ---- */
void t_mqtt_init(void);
void t_mqtt_publish(const char *topic, const void *payload, size_t len, int qos);
void t_publish_event(const char *device, const char *json);
/* Subscribes a collector; t_mqtt_messages returns how many arrived on a topic. */
void t_mqtt_subscribe(const char *filter);
size_t t_mqtt_count(const char *topic);
/* Last payload seen on topic (malloc'ed copy) or NULL. */
char *t_mqtt_last(const char *topic);
void t_mqtt_done(void);

/* ---- Redis ---- */
/* Runs a command (printf-style like redisCommand); returns the reply as JSON
 * (strings, integers, arrays, null) or NULL on error. Caller decrefs. */
json_t *t_redis(const char *fmt, ...);
long long t_redis_int(const char *fmt, ...);
/* String reply or NULL, malloc'ed. */
char *t_redis_str(const char *fmt, ...);

/* ---- the log channel ---- */
/* The notification documents the log plugin wrote to path for one alert, in order (a new array). */
json_t *t_log_notifications(const char *path, const char *alert_id);

/* ---- waiting ---- */
typedef bool (*t_cond_fn)(void *arg);
/* Polls cond every 20 ms until true or deadline_ms passes; returns the last result. */
bool t_wait(t_cond_fn cond, void *arg, int deadline_ms);
int64_t t_now_ms(void);  /* monotonic: for waiting */
int64_t t_wall_ms(void); /* epoch ms: to compare with times the hub stores */
void t_sleep_ms(int ms);

/* ---- HTTP provider ---- */
struct t_http_req {
	char path[256];
	char idem[256];
	char auth[256];
	char *body;
	int status_sent;
};

struct t_http;
/* Starts a server on a free loopback port; responses follow the plan:
 * statuses[i] for the i-th request, the last one repeated; -1 means hang
 * (no answer until released or the client gives up). */
struct t_http *t_http_start(const int *statuses, size_t n);
int t_http_port(const struct t_http *s);
/* The answer's body, as the provider would shape it; "%d" becomes the request's number (default "{}"). */
void t_http_reply(struct t_http *s, const char *fmt);
size_t t_http_count(struct t_http *s);
/* Copy of request i (body malloc'ed; free with t_http_req_free). */
bool t_http_get(struct t_http *s, size_t i, struct t_http_req *out);
void t_http_req_free(struct t_http_req *r);
void t_http_stop(struct t_http *s);
/* Lets every hanging request (plan -1) answer 200 now, and later ones at once. */
void t_http_release(struct t_http *s);
/* Waits until at least n requests arrived. */
bool t_http_wait(struct t_http *s, size_t n, int deadline_ms);

/* A loopback TCP port free right now (for carehubd's HTTP server). */
int t_free_port(void);
/*
 * A request to url: POST body when body is non-NULL, else GET; headers a
 * NULL-terminated list of "Name: value" (may be NULL).  The status (0 when no
 * answer came within 5 s); the answer's body, cut to fit, in out.
 */
long t_http_call(const char *url, const char *const *headers, const char *body, char *out, size_t outlen);

/* ---- services ---- */
/* Stops and restarts redis-server / mosquitto (scripts/services). */
void t_services(const char *verb);

#endif
