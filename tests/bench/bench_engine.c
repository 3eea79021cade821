/*
 * bench_engine.c - figures for the correlation engine (scripts/bench-engine):
 *
 *  1. Redis round trips per event and memory per subject, measured on a real
 *     carehubd running the default rule pack: a day of synthetic household
 *     events for --subjects homes is published to the broker; when the hub
 *     has applied them it is stopped and its counters (logged at exit) give
 *     round trips per event; MEMORY USAGE of sampled subjects' keys gives the
 *     bytes each household costs in Redis.
 *  2. Timers: the cost of arming (the per-subject commit that writes the next
 *     deadline) and of claiming and firing one due timer, with 1 000, 100 000
 *     and 1 000 000 timers armed, through the same store calls the hub makes.
 *
 * Printed figures, never pass/fail.  Loopback only; it signals only the hub
 * it started, by pid.
 */
#include "ch.h"
#include "clock.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	const char *dir, *src, *hub, *plugins;
	int mqtt_port, redis_port, subjects, hours;
} o = {.subjects = 1000, .hours = 24};

static void die(const char *fmt, ...) CH_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench-engine: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static redisContext *redis(void)
{
	redisContext *c = redisConnect("127.0.0.1", o.redis_port);

	if (!c || c->err)
		die("redis: %s", c ? c->errstr : "out of memory");
	return c;
}

static long long rint_(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	long long v = -1;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if (r && r->type == REDIS_REPLY_STRING)
		v = atoll(r->str);
	freeReplyObject(r);
	return v;
}

/* ---------------------------------------------------------------- part 1: the hub */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		die("cannot write %s: %s", path, strerror(errno));
}

static void write_registry(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot write %s", path);
	fprintf(f, "{\"subjects\":[\n");
	for (int i = 0; i < o.subjects; i++) {
		fprintf(f,
			"%s{\"id\":\"b-%05d\",\"name\":\"bench %d\",\"address\":\"loopback\",\"phone\":\"+8613800000000\","
			"\"timezone\":\"Asia/Shanghai\",\"devices\":["
			"{\"id\":\"b%05d-pir1\",\"type\":\"motion\",\"location\":\"living room\"},"
			"{\"id\":\"b%05d-pir2\",\"type\":\"motion\",\"location\":\"bedroom\"},"
			"{\"id\":\"b%05d-door\",\"type\":\"door\",\"location\":\"front door\"},"
			"{\"id\":\"b%05d-wm\",\"type\":\"water_meter\",\"location\":\"kitchen\"},"
			"{\"id\":\"b%05d-smoke\",\"type\":\"smoke\",\"location\":\"kitchen\"},"
			"{\"id\":\"b%05d-bed\",\"type\":\"bed\",\"location\":\"bedroom\"}],"
			"\"contacts\":[{\"name\":\"f\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"order\":1},"
			"{\"name\":\"m\",\"phone\":\"+8613800000002\",\"role\":\"maintenance\",\"order\":2}]}\n",
			i ? "," : "", i, i, i, i, i, i, i, i);
	}
	fprintf(f, "]}\n");
	if (fclose(f))
		die("cannot write %s", path);
}

static pid_t start_hub(const char *config, const char *log)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		FILE *l = freopen(log, "w", stderr);
		(void)l;
		execl(o.hub, o.hub, "-c", config, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop_hub(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		sleep_ms(100);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* A day of one household, in event time: motion through the day, water use, doors, a quiet night. */
static size_t household_day(struct mosquitto *m, int i, int64_t day0)
{
	size_t n = 0;
	char topic[128], payload[256], dev[32];

	for (int h = 0; h < o.hours; h++) {
		int local = (h + 8) % 24; /* day0 is 00:00 UTC = 08:00 in Shanghai */
		bool awake = local >= 7 && local < 22;
		for (int k = 0; k < (awake ? 6 : 1); k++) {
			int64_t ts = day0 + (int64_t)h * 3600000 + k * 600000 + (i % 600) * 1000;
			const char *what = k % 3 == 0 ? "pir1" : k % 3 == 1 ? "pir2" : "wm";
			snprintf(dev, sizeof(dev), "b%05d-%s", i, what);
			if (strcmp(what, "wm") == 0)
				snprintf(payload, sizeof(payload),
					 "{\"id\":\"%s:%d:%d\",\"device\":\"%s\",\"type\":\"water_meter\",\"ts\":%lld,"
					 "\"value\":0.004}",
					 dev, h, k, dev, (long long)ts);
			else
				snprintf(payload, sizeof(payload),
					 "{\"id\":\"%s:%d:%d\",\"device\":\"%s\",\"type\":\"motion\",\"ts\":%lld,"
					 "\"value\":true}",
					 dev, h, k, dev, (long long)ts);
			snprintf(topic, sizeof(topic), "carehub/v1/events/%s", dev);
			while (mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, 1, false) ==
			       MOSQ_ERR_NOMEM)
				sleep_ms(5);
			n++;
		}
		if (awake && h % 5 == 0) {
			int64_t ts = day0 + (int64_t)h * 3600000 + 1800000;
			snprintf(dev, sizeof(dev), "b%05d-door", i);
			snprintf(payload, sizeof(payload),
				 "{\"id\":\"%s:%d\",\"device\":\"%s\",\"type\":\"door\",\"ts\":%lld,\"value\":\"closed\"}",
				 dev, h, dev, (long long)ts);
			snprintf(topic, sizeof(topic), "carehub/v1/events/%s", dev);
			mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, 1, false);
			n++;
		}
	}
	return n;
}

static void part_hub(void)
{
	char config[1024], reg[1024], log[1024], text[4096];
	struct mosquitto *m;
	redisContext *c = redis();
	size_t events = 0;
	int64_t day0 = ch_clock_now_ms() - (int64_t)o.hours * 3600000 - 60000;
	pid_t pid;

	day0 -= day0 % 3600000;
	snprintf(reg, sizeof(reg), "%s/registry.json", o.dir);
	snprintf(config, sizeof(config), "%s/carehub.json", o.dir);
	snprintf(log, sizeof(log), "%s/hub-engine.log", o.dir);
	write_registry(reg);
	snprintf(text, sizeof(text),
		 "{\"instance\":\"bench-engine\",\"state_dir\":\"%s/state-engine\",\"plugins_dir\":\"%s\","
		 "\"mqtt\":{\"host\":\"127.0.0.1\",\"port\":%d,\"client_id\":\"bench-engine\"},"
		 "\"redis\":{\"host\":\"127.0.0.1\",\"port\":%d,\"prefix\":\"be:\"},"
		 "\"registry\":{\"file\":\"%s\"},\"rules\":{\"file\":\"%s/config/rules.json\"},"
		 "\"policies\":{\"file\":\"%s/config/policies.json\"},"
		 "\"channels\":{\"console\":{\"plugin\":\"log\",\"path\":\"%s/console.jsonl\"},"
		 "\"log\":{\"plugin\":\"log\",\"path\":\"%s/n.jsonl\"}},"
		 "\"limits\":{\"future_skew\":\"5m\"},\"log\":{\"level\":\"info\"}}",
		 o.dir, o.plugins, o.mqtt_port, o.redis_port, reg, o.src, o.src, o.dir, o.dir);
	write_file(config, text);
	pid = start_hub(config, log);

	mosquitto_lib_init();
	m = mosquitto_new("bench-engine-pub", true, NULL);
	if (!m || mosquitto_connect(m, "127.0.0.1", o.mqtt_port, 30) != MOSQ_ERR_SUCCESS)
		die("mqtt connect");
	mosquitto_loop_start(m);
	/* Let the hub subscribe and start every subject's state first. */
	for (int i = 0; i < 300 && rint_(c, "ZCARD be:timers") < o.subjects; i++)
		sleep_ms(100);
	long long before = rint_(c, "DBSIZE");
	int64_t t0 = ch_clock_mono_ms();
	for (int i = 0; i < o.subjects; i++)
		events += household_day(m, i, day0);
	/* Every event has an id, so each applied one left a dedup key: wait for
	 * at least that many new keys, then for the key count to stop moving. */
	long long last = -1;
	int64_t settled = 0;
	for (int i = 0; i < 3000; i++) {
		long long n = rint_(c, "DBSIZE");
		if (n != last) {
			last = n;
			settled = ch_clock_mono_ms();
		} else if (n >= before + (long long)events && ch_clock_mono_ms() - settled >= 1000) {
			break;
		}
		sleep_ms(20);
	}
	double secs = (double)(settled - t0) / 1000.0;
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	stop_hub(pid);

	/* Counters the hub logged at exit. */
	unsigned long long processed = 0, rtt = 0, batches = 0, conflicts = 0, fired = 0;
	FILE *f = fopen(log, "r");
	char line[2048];
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "counters:");
		if (p)
			sscanf(p,
			       "counters: events_in=%*u processed=%llu batches=%llu redis_round_trips=%llu "
			       "state_conflicts=%llu timers_fired=%llu",
			       &processed, &batches, &rtt, &conflicts, &fired);
	}
	if (f)
		fclose(f);

	/* Memory of sampled households: everything of the subject but the dedup keys, plus its timer. */
	long long mem = 0, dedup = 0, ndedup = 0, sample = o.subjects < 50 ? o.subjects : 50;
	long long timers_mem = rint_(c, "MEMORY USAGE be:timers");
	for (int i = 0; i < sample; i++) {
		int sid = i * (o.subjects / (int)sample);
		static const char *const keys[] = {"eng", "seq", "silences"};
		for (size_t k = 0; k < CH_ARRAY_LEN(keys); k++) {
			long long v = rint_(c, "MEMORY USAGE be:{b-%05d}:%s", sid, keys[k]);
			if (v > 0)
				mem += v;
		}
		redisReply *r = redisCommand(c, "KEYS be:{b-%05d}:dedup:*", sid);
		for (size_t j = 0; r && r->type == REDIS_REPLY_ARRAY && j < r->elements && j < 50; j++) {
			long long v = rint_(c, "MEMORY USAGE %s", r->element[j]->str);
			if (v > 0) {
				dedup += v;
				ndedup++;
			}
		}
		freeReplyObject(r);
	}
	long long eng_len = rint_(c, "HSTRLEN be:{b-00000}:eng s");
	redisFree(c);

	printf("hub with the default pack, %d households, a %d h day each:\n", o.subjects, o.hours);
	printf("  events published %zu, applied by the hub %llu in %.1f s (%.0f events/s)\n", events, processed,
	       secs, secs > 0 ? (double)processed / secs : 0);
	printf("  Redis round trips %llu for %llu events: %.3f per event (aim <= 1), %llu batches, %llu "
	       "compare-and-set conflicts, %llu timer evaluations\n",
	       rtt, processed, processed ? (double)rtt / (double)processed : 0, batches, conflicts, fired);
	printf("  memory per household in Redis: %lld bytes (engine state %lld bytes encoded; eng, seq "
	       "keys + timer entry %lld) (aim < 2048)\n",
	       sample ? mem / sample + timers_mem / o.subjects : 0, eng_len, timers_mem / o.subjects);
	printf("  plus %lld bytes per event id remembered for dedup (24 h; one key per event)\n",
	       ndedup ? dedup / ndedup : 0);
}

/* ---------------------------------------------------------------- part 2: timers */

static void fill_timers(redisContext *c, long long from, long long to)
{
	const long long chunk = 10000;

	for (long long i = from; i < to; i += chunk) {
		long long n = to - i < chunk ? to - i : chunk;
		for (long long j = 0; j < n; j++)
			redisAppendCommand(c, "ZADD bt:timers %lld f-%lld", 4102444800000LL + (i + j), i + j);
		for (long long j = 0; j < n; j++) {
			redisReply *r;
			if (redisGetReply(c, (void **)&r) != REDIS_OK)
				die("redis: %s", c->errstr);
			freeReplyObject(r);
		}
	}
}

static void part_timers(void)
{
	static const long long sizes[] = {1000, 100000, 1000000};
	struct ch_store_opts so = {"127.0.0.1", o.redis_port, 0, NULL, "bt:", 5000};
	struct ch_store *st;
	redisContext *c = redis();
	char err[512];
	uint8_t blob[64] = {'b', 'e', 'n', 'c', 'h'};
	const int ops = 2000;
	long long have = 0;

	if (ch_store_open(&so, &st, err, sizeof(err)))
		die("store: %s", err);
	printf("\ntimers (one sorted set of absolute deadlines), %d operations each:\n", ops);
	printf("  %10s  %14s  %14s  %12s\n", "armed", "arm us/op", "fire us/op", "bytes/timer");
	for (size_t s = 0; s < CH_ARRAY_LEN(sizes); s++) {
		fill_timers(c, have, sizes[s]);
		have = sizes[s];
		int64_t now = ch_clock_now_ms();
		/* Arm: the per-subject commit with a new deadline, as the hub writes it. */
		int64_t t0 = ch_clock_mono_ms();
		for (int i = 0; i < ops; i++) {
			char sid[32];
			struct ch_store_group g = {.sid = sid, .expect = -1, .state = blob, .state_len = 5,
						   .deadline = now + 3600000 + i};
			struct ch_ingest_result res;
			snprintf(sid, sizeof(sid), "arm-%d", i);
			if (ch_store_ingest(st, &g, 1, NULL, 0, now, "bench", 1000, &res, err, sizeof(err)))
				die("arm: %s", err);
			ch_ingest_result_clear(&res);
		}
		double arm = (double)(ch_clock_mono_ms() - t0) * 1000.0 / ops;
		/* Fire: one timer comes due, is claimed with its state, evaluated and re-armed. */
		t0 = ch_clock_mono_ms();
		for (int i = 0; i < ops; i++) {
			char sid[32];
			struct ch_state_blob *b;
			size_t n;
			struct ch_ingest_result res;
			snprintf(sid, sizeof(sid), "arm-%d", i);
			redisReply *r = redisCommand(c, "ZADD bt:timers %lld %s", (long long)now - 1, sid);
			freeReplyObject(r);
			if (ch_store_timers_claim(st, now, 10000, 16, &b, &n, err, sizeof(err)) || n != 1)
				die("claim: %s (%zu due)", err, n);
			struct ch_store_group g = {.sid = sid, .expect = b[0].version, .state = blob, .state_len = 5,
						   .deadline = now + 7200000 + i};
			if (ch_store_ingest(st, &g, 1, NULL, 0, now, "bench", 1000, &res, err, sizeof(err)))
				die("fire commit: %s", err);
			ch_ingest_result_clear(&res);
			ch_state_blobs_free(b, n);
		}
		double fire = (double)(ch_clock_mono_ms() - t0) * 1000.0 / ops;
		long long mem = rint_(c, "MEMORY USAGE bt:timers");
		printf("  %10lld  %14.1f  %14.1f  %12.1f\n", have + ops, arm, fire,
		       (double)mem / (double)(have + ops));
	}
	printf("  (fire = make one due, claim it with its state, commit the next deadline: 3 round trips)\n");
	redisCommand(c, "DEL bt:timers");
	redisFree(c);
	ch_store_close(st);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
					     {"src", required_argument, NULL, 's'},
					     {"hub", required_argument, NULL, 'h'},
					     {"plugins", required_argument, NULL, 'p'},
					     {"mqtt-port", required_argument, NULL, 'm'},
					     {"redis-port", required_argument, NULL, 'r'},
					     {"subjects", required_argument, NULL, 'n'},
					     {"hours", required_argument, NULL, 'H'},
					     {"only", required_argument, NULL, 'o'},
					     {NULL, 0, NULL, 0}};
	const char *only = "";
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o.dir = optarg; break;
		case 's': o.src = optarg; break;
		case 'h': o.hub = optarg; break;
		case 'p': o.plugins = optarg; break;
		case 'm': o.mqtt_port = atoi(optarg); break;
		case 'r': o.redis_port = atoi(optarg); break;
		case 'n': o.subjects = atoi(optarg); break;
		case 'H': o.hours = atoi(optarg); break;
		case 'o': only = optarg; break;
		default: die("bad arguments");
		}
	}
	if (!o.dir || !o.src || !o.hub || !o.plugins || !o.mqtt_port || !o.redis_port || o.subjects < 1 ||
	    o.hours < 1)
		die("need --dir --src --hub --plugins --mqtt-port --redis-port");
	if (!*only || strcmp(only, "hub") == 0)
		part_hub();
	if (!*only || strcmp(only, "timers") == 0)
		part_timers();
	return 0;
}
