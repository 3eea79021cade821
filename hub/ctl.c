/*
 * ctl.c - carehubctl's backtest: the rules over recorded events, no servers.
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
 * The other commands (the hub's HTTP API on the command line) and main() are
 * in ctl_cli.c.
 */
#include "ch.h"
#include "ctl.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "event.h"
#include "registry.h"
#include "rules.h"
#include "tz.h"

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

void ch_ctl_backtest_usage(FILE *f)
{
	fprintf(f, "usage: carehubctl backtest [-c CONFIG] [-r RULES] [-g REGISTRY] [--json] [FILE|-]\n"
		   "  Runs the rules over recorded canonical events (JSON lines) with a virtual clock\n"
		   "  and prints the alerts that would have fired and a summary per rule per day.\n"
		   "  -c, --config FILE     take the rules and registry files from a carehubd config\n"
		   "  -r, --rules FILE      rules file (overrides the config's)\n"
		   "  -g, --registry FILE   registry file (overrides the config's)\n"
		   "      --json            one JSON object per alert transition, then a summary line\n"
		   "      --no-progress     no progress bar, even on a terminal\n");
}

static void usage(FILE *f)
{
	ch_ctl_backtest_usage(f);
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

int ch_ctl_backtest(int argc, char **argv)
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
