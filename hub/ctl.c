/*
 * ctl.c - carehubctl: the hub's tools on the command line.
 *
 *   carehubctl backtest [-c CONFIG] [-r RULES] [-g REGISTRY] [--json] [FILE|-]
 *
 * backtest runs the correlation engine (engine.c, the very code carehubd runs)
 * over a recorded file of canonical events, one JSON object per line, with a
 * virtual clock driven by event time: before each event every deadline that
 * fell due earlier fires, in time order, exactly as the hub's timers would.
 * It prints each alert transition (when, rule, subject, why) and a summary of
 * opened alerts per rule per local day; --json prints one JSON object per
 * transition and a final {"summary": ...} line.  No Redis, no broker.
 *
 *   carehubctl alerts [--state S] [--severity S] [--subject ID] [--json]
 *   carehubctl alert ID [--json]
 *   carehubctl ack ID --by NAME [--note TEXT]
 *   carehubctl resolve ID --by NAME --outcome CODE [--note TEXT]
 *   carehubctl silence --subject ID [--rule R | --device D] --for DURATION --reason TEXT --by NAME
 *   carehubctl subjects [--json]
 *   carehubctl report --subject ID [--weeks N] [--lang zh] [--json]
 *   carehubctl report --subject ID --file EVENTS -g REGISTRY [--weeks N] [--at TIME] [--lang zh] [--json]
 *
 * are the HTTP API (api.h) on the command line: --url (default $CAREHUB_URL,
 * else http://127.0.0.1:8370), the bearer token from $CAREHUB_API_TOKEN (or
 * the variable --token-env names).  Exit 0, 1 when the hub said no or could
 * not be reached (its answer on stderr), 2 for a usage error.
 */
#include "ch.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "event.h"
#include "registry.h"
#include "report.h"
#include "rules.h"
#include "tz.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES (256 * 1024)

struct open_alert {
	char key[160];
	long n;
};

struct subj_run {
	const struct ch_subject *subj;
	const struct ch_tz *tz;
	struct ch_sstate st;
	int64_t next;
	long seq;
	struct open_alert *open;
	size_t nopen, capopen;
};

/* Opened alerts per (local day, rule). */
struct day_count {
	char day[16];
	size_t rule;
	size_t n;
};

struct bt {
	const struct ch_ruleset *rules;
	const struct ch_registry *reg;
	bool json;
	struct subj_run *subs;
	size_t nsubs;
	struct day_count *days;
	size_t ndays, capdays;
	size_t transitions, opened;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: carehubctl backtest [-c CONFIG] [-r RULES] [-g REGISTRY] [--json] [FILE|-]\n"
		   "  Runs the rules over recorded canonical events (JSON lines) with a virtual clock\n"
		   "  and prints the alerts that would have fired and a summary per rule per day.\n"
		   "  -c, --config FILE     take the rules and registry files from a carehubd config\n"
		   "  -r, --rules FILE      rules file (overrides the config's)\n"
		   "  -g, --registry FILE   registry file (overrides the config's)\n"
		   "      --json            one JSON object per alert transition, then a summary line\n"
		   "      --no-progress     no progress bar, even on a terminal\n"
		   "usage: carehubctl alerts [--state S] [--severity S] [--subject ID] [--json]\n"
		   "       carehubctl alert ID [--json]\n"
		   "       carehubctl ack ID --by NAME [--note TEXT]\n"
		   "       carehubctl resolve ID --by NAME --outcome CODE [--note TEXT]\n"
		   "       carehubctl silence --subject ID [--rule R | --device D] --for DURATION --reason TEXT --by NAME\n"
		   "       carehubctl subjects [--json]\n"
		   "       carehubctl report --subject ID [--weeks N] [--lang zh] [--json]\n"
		   "       carehubctl report --subject ID --file EVENTS -g REGISTRY [--weeks N] [--at TIME] [--lang zh] [--json]\n"
		   "  report: each week against the person's own norm, with flags; with --file, computed over a\n"
		   "  recorded file of events (as backtest reads them) instead of the hub's aggregates\n"
		   "  The hub's HTTP API: --url URL ($CAREHUB_URL, else http://127.0.0.1:8370), the token\n"
		   "  from $CAREHUB_API_TOKEN or the variable --token-env NAME names.\n");
}

static struct subj_run *run_for(struct bt *b, const struct ch_subject *subj, int64_t now)
{
	char err[256];

	for (size_t i = 0; i < b->nsubs; i++) {
		if (b->subs[i].subj == subj)
			return &b->subs[i];
	}
	struct subj_run *n = realloc(b->subs, (b->nsubs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	b->subs = n;
	struct subj_run *r = &b->subs[b->nsubs++];
	memset(r, 0, sizeof(*r));
	r->subj = subj;
	if (ch_tz_get(subj->timezone ? subj->timezone : "UTC", &r->tz, err, sizeof(err))) {
		fprintf(stderr, "carehubctl: subject %s: %s; using UTC\n", subj->id, err);
		ch_tz_get("UTC", &r->tz, err, sizeof(err));
	}
	ch_sstate_init(&r->st, now);
	r->next = INT64_MAX;
	return r;
}

static void count_day(struct bt *b, const struct subj_run *r, const struct ch_action *a)
{
	char day[16];
	size_t rule = (size_t)(a->rule - b->rules->rules);

	ch_tz_local_date(r->tz, a->at_ms, day, sizeof(day));
	for (size_t i = 0; i < b->ndays; i++) {
		if (b->days[i].rule == rule && strcmp(b->days[i].day, day) == 0) {
			b->days[i].n++;
			return;
		}
	}
	if (b->ndays == b->capdays) {
		size_t cap = b->capdays ? b->capdays * 2 : 64;
		struct day_count *d = realloc(b->days, cap * sizeof(*d));
		if (!d)
			return;
		b->days = d;
		b->capdays = cap;
	}
	b->days[b->ndays] = (struct day_count){.rule = rule, .n = 1};
	ch_strlcpy(b->days[b->ndays].day, day, sizeof(b->days[b->ndays].day));
	b->ndays++;
}

/* The simulated alert id of a key: opened ones get the next number, as the store does. */
static long alert_number(struct subj_run *r, const struct ch_action *a)
{
	for (size_t i = 0; i < r->nopen; i++) {
		if (strcmp(r->open[i].key, a->key) == 0) {
			long n = r->open[i].n;
			if (a->kind == CH_ACT_RESOLVE)
				r->open[i] = r->open[--r->nopen];
			return n;
		}
	}
	if (a->kind != CH_ACT_OPEN)
		return 0;
	if (r->nopen == r->capopen) {
		size_t cap = r->capopen ? r->capopen * 2 : 8;
		struct open_alert *o = realloc(r->open, cap * sizeof(*o));
		if (!o)
			return ++r->seq;
		r->open = o;
		r->capopen = cap;
	}
	ch_strlcpy(r->open[r->nopen].key, a->key, sizeof(r->open[r->nopen].key));
	r->open[r->nopen].n = ++r->seq;
	return r->open[r->nopen++].n;
}

/* One JSON object on a line of its own; takes the reference. */
static void print_json(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void report(struct bt *b, struct subj_run *r, const struct ch_actions *acts)
{
	for (size_t i = 0; i < acts->n; i++) {
		const struct ch_action *a = &acts->a[i];
		char at[40], local[40], id[160];
		long n = alert_number(r, a);

		ch_clock_format(a->at_ms, at, sizeof(at));
		ch_tz_format(r->tz, a->at_ms, local, sizeof(local));
		if (n)
			ch_fmt(id, sizeof(id), "%s:%ld", r->subj->id, n);
		else
			ch_strlcpy(id, "", sizeof(id));
		b->transitions++;
		if (a->kind == CH_ACT_OPEN) {
			b->opened++;
			count_day(b, r, a);
		}
		if (b->json) {
			json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "at", at, "local",
					      local, "at_ms", (json_int_t)a->at_ms, "kind", ch_action_kind_name(a->kind),
					      "rule", a->rule->id, "subject", r->subj->id, "severity",
					      ch_severity_name(a->severity), "alert", id, "key", a->key, "why", a->why);
			if (o && a->outcome)
				json_object_set_new(o, "outcome", json_string(a->outcome));
			if (o && a->caveat[0])
				json_object_set_new(o, "caveat", json_string(a->caveat));
			print_json(o);
		} else {
			printf("%s  %-8s %-18s %-12s %-8s %s%s%s%s\n", local, ch_action_kind_name(a->kind),
			       a->rule->id, r->subj->id, ch_severity_name(a->severity), a->why,
			       a->caveat[0] ? " [caveat: " : "", a->caveat, a->caveat[0] ? "]" : "");
		}
	}
	if (acts->dropped)
		fprintf(stderr, "carehubctl: %zu alert changes did not fit one step\n", acts->dropped);
}

static void update_next(struct bt *b, struct subj_run *r, int64_t now)
{
	struct ch_engine_ctx cx = {b->rules, r->subj, r->tz};

	r->next = ch_engine_next_deadline(&r->st, &cx, now);
}

/* Fires, in time order across subjects, every deadline at or before t. */
static void advance(struct bt *b, int64_t t)
{
	for (;;) {
		struct subj_run *due = NULL;
		struct ch_actions acts;

		for (size_t i = 0; i < b->nsubs; i++) {
			if (b->subs[i].next <= t && (!due || b->subs[i].next < due->next))
				due = &b->subs[i];
		}
		if (!due)
			return;
		int64_t now = due->next;
		struct ch_engine_ctx cx = {b->rules, due->subj, due->tz};
		acts.n = acts.dropped = 0;
		ch_engine_tick(&due->st, &cx, now, &acts);
		report(b, due, &acts);
		update_next(b, due, now);
		if (due->next <= now)
			due->next = now + 1; /* never spin on one instant */
	}
}

static void progress(off_t pos, off_t size, size_t events, bool done)
{
	int width = 40, fill = size > 0 ? (int)((double)pos / (double)size * width) : 0;
	char bar[64];

	if (fill > width)
		fill = width;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, ' ', (size_t)(width - fill));
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %3d%% %zu events%s", bar, size > 0 ? (int)(100.0 * (double)pos / (double)size) : 0,
		events, done ? "\n" : "");
}

static void summary(struct bt *b, size_t events, size_t skipped, double secs)
{
	if (b->json) {
		json_t *per = json_object();
		for (size_t i = 0; per && i < b->ndays; i++) {
			const char *rule = b->rules->rules[b->days[i].rule].id;
			json_t *r = json_object_get(per, rule);
			if (!r) {
				r = json_object();
				json_object_set_new(per, rule, r);
			}
			json_object_set_new(r, b->days[i].day, json_integer((json_int_t)b->days[i].n));
		}
		json_t *o = json_pack("{s:{s:I, s:I, s:I, s:I, s:o}}", "summary", "events", (json_int_t)events,
				      "skipped", (json_int_t)skipped, "transitions", (json_int_t)b->transitions,
				      "opened", (json_int_t)b->opened, "per_rule_per_day", per ? per : json_object());
		print_json(o);
	} else {
		printf("\nopened alerts per rule per local day:\n");
		for (size_t ri = 0; ri < b->rules->n; ri++) {
			size_t total = 0, ndays = 0;
			for (size_t i = 0; i < b->ndays; i++) {
				if (b->days[i].rule != ri)
					continue;
				if (!total)
					printf("  %s:", b->rules->rules[ri].id);
				printf(" %s=%zu", b->days[i].day, b->days[i].n);
				total += b->days[i].n;
				ndays++;
			}
			if (total)
				printf("  (total %zu)\n", total);
		}
		printf("%zu events, %zu skipped, %zu alert transitions, %zu opened\n", events, skipped, b->transitions,
		       b->opened);
	}
	fflush(stdout);
	fprintf(stderr, "backtest: %zu events in %.3f s (%.0f events/s)\n", events, secs,
		secs > 0 ? (double)events / secs : 0.0);
}

static int backtest(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"rules", required_argument, NULL, 'r'},
					     {"registry", required_argument, NULL, 'g'},
					     {"json", no_argument, NULL, 'j'},
					     {"no-progress", no_argument, NULL, 'P'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *config = NULL, *rules_path = NULL, *reg_path = NULL, *path = "-";
	struct ch_config *cfg = NULL;
	struct ch_ruleset *rules = NULL;
	struct ch_registry *reg = NULL;
	struct bt b = {0};
	bool show_progress = isatty(2);
	char err[1024];
	char *line = NULL;
	size_t cap = 0, events = 0, skipped = 0, lineno = 0;
	ssize_t len;
	FILE *in;
	off_t size = 0;
	int64_t now = INT64_MIN, t0;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:r:g:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			rules_path = optarg;
			break;
		case 'g':
			reg_path = optarg;
			break;
		case 'j':
			b.json = true;
			break;
		case 'P':
			show_progress = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config) {
		if (ch_config_load(config, NULL, 0, &cfg, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		if (!rules_path)
			rules_path = cfg->rules.file;
		if (!reg_path)
			reg_path = cfg->registry.file;
	}
	if (!rules_path || !reg_path) {
		fprintf(stderr, "carehubctl backtest: need the rules and the registry (-r, -g or -c)\n");
		ch_config_free(cfg);
		return 2;
	}
	if (ch_rules_load(rules_path, &rules, err, sizeof(err)) || ch_registry_load(reg_path, &reg, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		ch_rules_free(rules);
		ch_config_free(cfg);
		return 2;
	}
	in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!in) {
		fprintf(stderr, "carehubctl backtest: %s: %s\n", path, strerror(errno));
		rc = 2;
		goto out;
	}
	struct stat sb;
	if (fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode))
		size = sb.st_size;
	else
		show_progress = false;
	b.rules = rules;
	b.reg = reg;
	t0 = ch_clock_mono_ms();
	while ((len = getline(&line, &cap, in)) != -1) {
		struct ch_event_limits lim = {LINE_MAX_BYTES, 32, INT64_MAX / 4};
		struct ch_event ev;
		enum ch_reject why;
		const struct ch_device *dev = NULL;
		const struct ch_subject *subj;
		struct subj_run *r;
		struct ch_actions acts;
		char e[256];

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (ch_event_parse(line, (size_t)len, &lim, now == INT64_MIN ? 0 : now, &ev, &why, e, sizeof(e))) {
			fprintf(stderr, "%s:%zu: %s: %s\n", path, lineno, ch_reject_name(why), e);
			skipped++;
			continue;
		}
		subj = ch_registry_find_device(reg, ev.device, &dev);
		if (!subj) {
			fprintf(stderr, "%s:%zu: device \"%s\" is not in the registry\n", path, lineno, ev.device);
			ch_event_clear(&ev);
			skipped++;
			continue;
		}
		/* The virtual clock only moves forward; a late event is applied at the current time. */
		if (ev.ts_ms > now) {
			advance(&b, ev.ts_ms - 1);
			now = ev.ts_ms;
		}
		r = run_for(&b, subj, now);
		if (r) {
			struct ch_engine_ctx cx = {rules, subj, r->tz};
			acts.n = acts.dropped = 0;
			ch_engine_event(&r->st, &cx, &ev, dev, now, &acts);
			report(&b, r, &acts);
			update_next(&b, r, now);
		}
		ch_event_clear(&ev);
		events++;
		if (show_progress && (events & 4095) == 0)
			progress(ftello(in), size, events, false);
	}
	if (now != INT64_MIN)
		advance(&b, now);
	if (show_progress)
		progress(size, size, events, true);
	summary(&b, events, skipped, (double)(ch_clock_mono_ms() - t0) / 1000.0);
	if (in != stdin)
		fclose(in);
out:
	free(line);
	for (size_t i = 0; i < b.nsubs; i++) {
		ch_sstate_clear(&b.subs[i].st);
		free(b.subs[i].open);
	}
	free(b.subs);
	free(b.days);
	ch_registry_free(reg);
	ch_rules_free(rules);
	ch_config_free(cfg);
	ch_tz_cache_clear();
	return rc;
}

/* ---------------------------------------------------------------- the API */

struct reply {
	char *data;
	size_t len;
};

static size_t grab(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t m = size * n;
	char *d = realloc(r->data, r->len + m + 1);

	if (!d)
		return 0;
	memcpy(d + r->len, p, m);
	r->len += m;
	d[r->len] = '\0';
	r->data = d;
	return m;
}

struct api_opts {
	const char *url, *token_env, *state, *severity, *subject, *by, *note, *outcome, *rule, *device, *dur, *reason;
	bool json;
};

/* One request; the parsed answer in *out (NULL if not JSON).  The HTTP status, or 0 with err. */
static long api_call(const struct api_opts *o, const char *path, const char *body, json_t **out, char *err,
		     size_t errlen)
{
	const char *token = getenv(o->token_env);
	struct curl_slist *h = NULL;
	struct reply r = {0};
	char url[1024], auth[512];
	long status = 0;
	CURL *c;
	CURLcode rc;

	*out = NULL;
	if (!token || !*token) {
		ch_fmt(err, errlen, "%s is not set: the API needs its bearer token", o->token_env);
		return 0;
	}
	if (ch_fmt(url, sizeof(url), "%s%s", o->url, path) || ch_fmt(auth, sizeof(auth), "Authorization: Bearer %s", token)) {
		ch_fmt(err, errlen, "URL or token too long");
		return 0;
	}
	c = curl_easy_init();
	if (!c) {
		ch_fmt(err, errlen, "out of memory");
		return 0;
	}
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grab);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		ch_fmt(err, errlen, "%s: %s", o->url, curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r.data)
		*out = json_loadb(r.data, r.len, 0, NULL);
	if (status >= 300)
		ch_fmt(err, errlen, "HTTP %ld: %s", status,
		       json_string_value(json_object_get(*out, "error")) ? json_string_value(json_object_get(*out, "error"))
									: (r.data ? r.data : ""));
	free(r.data);
	return status;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static int sev_rank(const char *s)
{
	enum ch_severity v;
	return ch_severity_parse(s, &v) ? -1 : (int)v;
}

static int by_severity_then_age(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int d = sev_rank(jstr(y, "severity")) - sev_rank(jstr(x, "severity"));
	json_int_t tx = json_integer_value(json_object_get(x, "opened_at_ms"));
	json_int_t ty = json_integer_value(json_object_get(y, "opened_at_ms"));

	return d ? d : (tx > ty) - (tx < ty);
}

static void print_alerts(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	int64_t now = ch_clock_now_ms();

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(list, i);
	qsort(v, n, sizeof(*v), by_severity_then_age);
	for (size_t i = 0; i < n; i++) {
		char age[32];
		int64_t ms = now - json_integer_value(json_object_get(v[i], "opened_at_ms"));
		ch_fmt_duration(ms > 1000 ? ms / 1000 * 1000 : ms, age, sizeof(age)); /* whole seconds */
		printf("%-12s %-8s %-12s %8s  %s  %s  %s\n", jstr(v[i], "id"), jstr(v[i], "severity"), jstr(v[i], "state"), age,
		       jstr(v[i], "subject_name"), jstr(v[i], "address"), jstr(v[i], "summary"));
	}
	free(v);
}

static void print_alert(json_t *a)
{
	json_t *doc = json_object_get(a, "alert"), *t;
	size_t i;

	printf("%s  %s  %s  %s\n  opened %s, count %lld%s%s\n", jstr(doc, "id"), jstr(doc, "severity"), jstr(doc, "state"),
	       jstr(doc, "summary"), jstr(doc, "opened_at"), (long long)json_integer_value(json_object_get(doc, "count")),
	       *jstr(doc, "outcome") ? ", outcome " : "", jstr(doc, "outcome"));
	json_array_foreach(json_object_get(a, "timeline"), i, t) {
		json_t *e = json_is_string(t) ? json_loads(json_string_value(t), 0, NULL) : json_incref(t);
		const char *role = jstr(json_object_get(e, "contact"), "role");
		printf("  %s  %-14s %s%s%s%s%s%s%s\n", jstr(e, "ts"), jstr(e, "what"), jstr(e, "by"),
		       *jstr(e, "channel") ? " on " : "", jstr(e, "channel"), *role ? " to " : "", role,
		       *jstr(e, "text") || *jstr(e, "reason") ? ": " : "", *jstr(e, "text") ? jstr(e, "text") : jstr(e, "reason"));
		json_decref(e);
	}
}

static int api_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},	    {"token-env", required_argument, NULL, 't'},
		{"state", required_argument, NULL, 's'},    {"severity", required_argument, NULL, 'v'},
		{"subject", required_argument, NULL, 'S'},  {"by", required_argument, NULL, 'b'},
		{"note", required_argument, NULL, 'n'},	    {"outcome", required_argument, NULL, 'o'},
		{"rule", required_argument, NULL, 'r'},	    {"device", required_argument, NULL, 'd'},
		{"for", required_argument, NULL, 'f'},	    {"reason", required_argument, NULL, 'R'},
		{"json", no_argument, NULL, 'j'},	    {NULL, 0, NULL, 0}};
	const char *cmd = argv[0], *id = NULL, *env_url = getenv("CAREHUB_URL");
	struct api_opts o = {.url = env_url && *env_url ? env_url : "http://127.0.0.1:8370", .token_env = "CAREHUB_API_TOKEN"};
	char path[1024], err[1024];
	json_t *out = NULL, *body = NULL;
	char *text = NULL;
	long status;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 't': o.token_env = optarg; break;
		case 's': o.state = optarg; break;
		case 'v': o.severity = optarg; break;
		case 'S': o.subject = optarg; break;
		case 'b': o.by = optarg; break;
		case 'n': o.note = optarg; break;
		case 'o': o.outcome = optarg; break;
		case 'r': o.rule = optarg; break;
		case 'd': o.device = optarg; break;
		case 'f': o.dur = optarg; break;
		case 'R': o.reason = optarg; break;
		case 'j': o.json = true; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc || ((strcmp(cmd, "alert") == 0 || strcmp(cmd, "ack") == 0 || strcmp(cmd, "resolve") == 0) && !id) ||
	    ((strcmp(cmd, "alerts") == 0 || strcmp(cmd, "subjects") == 0 || strcmp(cmd, "silence") == 0) && id)) {
		usage(stderr);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(cmd, "alerts") == 0) {
		char *q_state = o.state ? curl_easy_escape(NULL, o.state, 0) : NULL;
		char *q_sev = o.severity ? curl_easy_escape(NULL, o.severity, 0) : NULL;
		char *q_subj = o.subject ? curl_easy_escape(NULL, o.subject, 0) : NULL;
		ch_fmt(path, sizeof(path), "/v1/alerts?limit=1000%s%s%s%s%s%s", q_state ? "&state=" : "", q_state ? q_state : "",
		       q_sev ? "&severity=" : "", q_sev ? q_sev : "", q_subj ? "&subject=" : "", q_subj ? q_subj : "");
		curl_free(q_state);
		curl_free(q_sev);
		curl_free(q_subj);
	} else if (strcmp(cmd, "alert") == 0) {
		ch_fmt(path, sizeof(path), "/v1/alerts/%s", id);
	} else if (strcmp(cmd, "ack") == 0 || strcmp(cmd, "resolve") == 0) {
		ch_fmt(path, sizeof(path), "/v1/alerts/%s/%s", id, cmd);
		body = json_pack("{s:s?, s:s?, s:s?}", "by", o.by, "note", o.note, "outcome", o.outcome);
	} else if (strcmp(cmd, "silence") == 0) {
		ch_fmt(path, sizeof(path), "/v1/silences");
		body = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "subject", o.subject, "rule", o.rule, "device",
				 o.device, "for", o.dur, "reason", o.reason, "by", o.by);
	} else {
		ch_fmt(path, sizeof(path), "/v1/subjects");
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	status = api_call(&o, path, text, &out, err, sizeof(err));
	free(text);
	if (status < 200 || status >= 300) {
		fprintf(stderr, "carehubctl %s: %s\n", cmd, err);
		json_decref(out);
		curl_global_cleanup();
		return 1;
	}
	if (o.json || status == 202) {
		char *dump = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", dump ? dump : "{}");
		free(dump);
	} else if (strcmp(cmd, "alerts") == 0) {
		print_alerts(json_object_get(out, "alerts"));
	} else if (strcmp(cmd, "alert") == 0) {
		print_alert(out);
	} else {
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(out, "subjects"), i, s)
			printf("%-10s %s  %s  %s\n", jstr(s, "id"), jstr(s, "name"), jstr(s, "address"), jstr(s, "phone"));
	}
	json_decref(out);
	curl_global_cleanup();
	return 0;
}

/* carehubctl report: from the hub (the API), or over a recorded file with --file. */
static int report_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},	   {"token-env", required_argument, NULL, 't'},
		{"subject", required_argument, NULL, 'S'}, {"weeks", required_argument, NULL, 'w'},
		{"file", required_argument, NULL, 'f'},	   {"registry", required_argument, NULL, 'g'},
		{"at", required_argument, NULL, 'a'},	   {"lang", required_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},	   {NULL, 0, NULL, 0}};
	const char *env_url = getenv("CAREHUB_URL"), *file = NULL, *reg_path = NULL, *at = NULL, *lang = "en";
	struct api_opts o = {.url = env_url && *env_url ? env_url : "http://127.0.0.1:8370", .token_env = "CAREHUB_API_TOKEN"};
	long weeks = CH_REPORT_DEFAULT_WEEKS;
	json_t *out = NULL;
	char err[1024];
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "g:", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 't': o.token_env = optarg; break;
		case 'S': o.subject = optarg; break;
		case 'w':
			if (ch_parse_long(optarg, 1, CH_TREND_MAX_WEEKS, &weeks)) {
				fprintf(stderr, "carehubctl report: --weeks is 1..8\n");
				return 2;
			}
			break;
		case 'f': file = optarg; break;
		case 'g': reg_path = optarg; break;
		case 'a': at = optarg; break;
		case 'l': lang = optarg; break;
		case 'j': o.json = true; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !o.subject || (file && !reg_path) || (at && !file)) {
		usage(stderr);
		return 2;
	}
	if (file) {
		struct ch_registry *reg = NULL;
		struct ch_trend_hist h;
		struct ch_trend_report r;
		const struct ch_subject *s;
		const struct ch_tz *tz = NULL;
		int64_t at_ms = 0, end = 0;
		size_t events, skipped;
		if (at && ch_event_parse_rfc3339(at, &at_ms)) {
			fprintf(stderr, "carehubctl report: --at is RFC 3339, e.g. 2026-11-29T00:00:00+08:00\n");
			return 2;
		}
		if (ch_registry_load(reg_path, &reg, err, sizeof(err)) || !(s = ch_registry_subject(reg, o.subject))) {
			fprintf(stderr, "carehubctl report: %s\n", reg ? "no such subject in the registry" : err);
			ch_registry_free(reg);
			return 2;
		}
		if (ch_tz_get(s->timezone, &tz, err, sizeof(err)))
			tz = NULL;
		if (ch_report_from_file(file, s, reg, at_ms, (int)weeks, &h, &r, &end, &events, &skipped, err, sizeof(err))) {
			fprintf(stderr, "carehubctl report: %s\n", err);
			rc = 1;
		} else {
			if (skipped)
				fprintf(stderr, "carehubctl report: %zu lines skipped (not events of this registry)\n", skipped);
			out = ch_report_json(s, tz, end, &h, &r);
		}
		ch_registry_free(reg);
		ch_tz_cache_clear();
	} else {
		char path[512], *q = curl_easy_escape(NULL, o.subject, 0);
		curl_global_init(CURL_GLOBAL_DEFAULT);
		ch_fmt(path, sizeof(path), "/v1/subjects/%s/report?weeks=%ld", q ? q : "", weeks);
		curl_free(q);
		long status = api_call(&o, path, NULL, &out, err, sizeof(err));
		curl_global_cleanup();
		if (status != 200) {
			fprintf(stderr, "carehubctl report: %s\n", err);
			json_decref(out);
			return 1;
		}
	}
	if (out && o.json) {
		char *dump = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", dump ? dump : "{}");
		free(dump);
	} else if (out) {
		ch_report_print(stdout, out, lang);
	}
	json_decref(out);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "backtest") == 0)
		return backtest(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return report_cmd(argc - 1, argv + 1);
	static const char *const api_cmds[] = {"alerts", "alert", "ack", "resolve", "silence", "subjects"};
	for (size_t i = 0; i < CH_ARRAY_LEN(api_cmds); i++) {
		if (strcmp(argv[1], api_cmds[i]) == 0)
			return api_cmd(argc - 1, argv + 1);
	}
	fprintf(stderr, "carehubctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
