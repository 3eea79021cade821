/*
 * test_engine.c - the correlation engine as pure functions of (state, input,
 * now): inactivity with day windows (DST included), sliding windows,
 * sequences, presence, silences, lifecycle (cooldown, flapping, auto-resolve),
 * device health and the state's encoding.  Time is virtual: every call gets
 * its `now`, nothing reads the system clock.
 */
#include "engine.h"
#include "clock.h"
#include "registry.h"
#include "rules.h"
#include "tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S 1000LL
#define M (60 * S)
#define H (60 * M)

static const char registry_head[] =
	"{\"subjects\":[{\"id\":\"s1\",\"name\":\"A\",\"address\":\"x\",\"phone\":\"+8613800000001\","
	"\"timezone\":\"";
static const char registry_tail[] =
	"\",\"devices\":["
	"{\"id\":\"pir\",\"type\":\"motion\",\"location\":\"hall\",\"heartbeat\":\"1h\"},"
	"{\"id\":\"pir2\",\"type\":\"motion\",\"location\":\"bedroom\",\"heartbeat\":\"1h\"},"
	"{\"id\":\"door\",\"type\":\"door\",\"location\":\"Front Door\"},"
	"{\"id\":\"wm\",\"type\":\"water_meter\",\"location\":\"kitchen\"},"
	"{\"id\":\"fall\",\"type\":\"fall\",\"location\":\"bathroom\"},"
	"{\"id\":\"case\",\"type\":\"service\",\"location\":\"case system\"}],"
	"\"contacts\":[{\"name\":\"B\",\"phone\":\"+8613800000002\",\"role\":\"family\",\"order\":1}]}]}";

struct fx {
	struct ch_ruleset *rules;
	struct ch_registry *reg;
	const struct ch_subject *subj;
	struct ch_engine_ctx cx;
	struct ch_sstate st;
	struct ch_actions out;
};

static void fx_init(struct fx *f, const char *rules_json, const char *zone, int64_t t0)
{
	char err[512], reg[2048];

	memset(f, 0, sizeof(*f));
	if (ch_rules_parse("t", rules_json, strlen(rules_json), &f->rules, err, sizeof(err)))
		fail_msg("rules: %s", err);
	snprintf(reg, sizeof(reg), "%s%s%s", registry_head, zone, registry_tail);
	if (ch_registry_parse("r", reg, strlen(reg), &f->reg, err, sizeof(err)))
		fail_msg("registry: %s", err);
	f->subj = ch_registry_at(f->reg, 0);
	f->cx.rules = f->rules;
	f->cx.subj = f->subj;
	if (ch_tz_get(zone, &f->cx.tz, err, sizeof(err)))
		fail_msg("tz: %s", err);
	ch_sstate_init(&f->st, t0);
}

static void fx_free(struct fx *f)
{
	ch_sstate_clear(&f->st);
	ch_rules_free(f->rules);
	ch_registry_free(f->reg);
}

/* Feeds one event (value as JSON text) at event time ts = now. */
static size_t ev(struct fx *f, const char *device, const char *type, const char *value, int64_t ts)
{
	char json[512], err[256];
	struct ch_event_limits lim = {65536, 16, 10 * M};
	struct ch_event e;
	enum ch_reject why;
	const struct ch_device *dev = NULL;

	snprintf(json, sizeof(json), "{\"device\":\"%s\",\"type\":\"%s\",\"ts\":%lld%s%s}", device, type,
		 (long long)ts, value ? ",\"value\":" : "", value ? value : "");
	if (ch_event_parse(json, strlen(json), &lim, ts, &e, &why, err, sizeof(err)))
		fail_msg("event: %s", err);
	ch_registry_find_device(f->reg, device, &dev);
	f->out.n = f->out.dropped = 0;
	ch_engine_event(&f->st, &f->cx, &e, dev, ts, &f->out);
	ch_event_clear(&e);
	return f->out.n;
}

static size_t tick(struct fx *f, int64_t now)
{
	f->out.n = f->out.dropped = 0;
	ch_engine_tick(&f->st, &f->cx, now, &f->out);
	return f->out.n;
}

static const struct ch_action *act(struct fx *f, enum ch_action_kind k, const char *rule)
{
	for (size_t i = 0; i < f->out.n; i++) {
		if (f->out.a[i].kind == k && strcmp(f->out.a[i].rule->id, rule) == 0)
			return &f->out.a[i];
	}
	return NULL;
}

/* 2026-11-02T00:00:00+08:00 */
#define SH_MIDNIGHT 1793548800000LL

static const char *inactivity_rules =
	"{\"rules\":[{\"id\":\"idle\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\","
	"\"where\":[[\"value\",\"==\",true]]}],\"for\":\"8h\",\"severity\":\"high\",\"cooldown\":\"0s\"}]}";

static void inactivity_fires_once_then_rearms(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT + 9 * H;
	const struct ch_action *a;

	(void)state;
	fx_init(&f, inactivity_rules, "Asia/Shanghai", t0);
	ev(&f, "pir", "motion", "true", t0);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0), t0 + 8 * H);
	assert_int_equal(tick(&f, t0 + 8 * H - 1), 0);
	/* A PIR's "false" after its timeout is not a sign of life. */
	ev(&f, "pir", "motion", "false", t0 + 2 * M);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0 + 2 * M), t0 + 8 * H);
	assert_int_equal(tick(&f, t0 + 8 * H + 5 * S), 1);
	a = act(&f, CH_ACT_OPEN, "idle");
	assert_non_null(a);
	assert_int_equal(a->at_ms, t0 + 8 * H);
	assert_non_null(strstr(a->why, "no sign of life for 8h"));
	/* Once. */
	assert_int_equal(tick(&f, t0 + 20 * H), 0);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0 + 20 * H), INT64_MAX);
	/* Activity resolves it and re-arms. */
	ev(&f, "pir", "motion", "true", t0 + 21 * H);
	a = act(&f, CH_ACT_RESOLVE, "idle");
	assert_non_null(a);
	assert_string_equal(a->outcome, "activity_resumed");
	assert_int_equal(tick(&f, t0 + 29 * H), 1);
	assert_non_null(act(&f, CH_ACT_OPEN, "idle"));
	fx_free(&f);
}

static void inactivity_late_sign_of_life_resolves(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT + 9 * H;

	(void)state;
	fx_init(&f, inactivity_rules, "Asia/Shanghai", t0);
	ev(&f, "pir", "motion", "true", t0);
	assert_int_equal(tick(&f, t0 + 8 * H), 1);
	/* An older reading than the last one changes nothing. */
	ev(&f, "pir", "motion", "true", t0 - H);
	assert_null(act(&f, CH_ACT_RESOLVE, "idle"));
	/* A reading from before the deadline that arrives late: the alarm was false. */
	f.out.n = 0;
	{
		char err[256];
		struct ch_event_limits lim = {65536, 16, 10 * M};
		struct ch_event e;
		enum ch_reject why;
		const struct ch_device *dev = NULL;
		char json[128];
		snprintf(json, sizeof(json), "{\"device\":\"pir\",\"type\":\"motion\",\"value\":true,\"ts\":%lld}",
			 (long long)(t0 + 7 * H));
		assert_int_equal(ch_event_parse(json, strlen(json), &lim, t0 + 8 * H, &e, &why, err, sizeof(err)), 0);
		ch_registry_find_device(f.reg, "pir", &dev);
		ch_engine_event(&f.st, &f.cx, &e, dev, t0 + 8 * H + M, &f.out);
		ch_event_clear(&e);
	}
	assert_non_null(act(&f, CH_ACT_RESOLVE, "idle"));
	fx_free(&f);
}

static const char *day_rules =
	"{\"rules\":[{\"id\":\"day\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\","
	"\"where\":[[\"value\",\"==\",true]]}],\"for\":\"8h\",\"during\":\"07:00-22:00\",\"severity\":\"high\"}]}";

static void inactivity_counts_only_inside_the_day_window(void **state)
{
	struct fx f;
	/* 21:00 local: 1 h counts tonight, 7 h from 07:00 tomorrow: due 14:00. */
	int64_t t0 = SH_MIDNIGHT + 21 * H;

	(void)state;
	fx_init(&f, day_rules, "Asia/Shanghai", t0);
	ev(&f, "pir", "motion", "true", t0);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0), SH_MIDNIGHT + 24 * H + 14 * H);
	assert_int_equal(tick(&f, SH_MIDNIGHT + 24 * H + 13 * H), 0);
	assert_int_equal(tick(&f, SH_MIDNIGHT + 24 * H + 14 * H), 1);
	fx_free(&f);
}

static void inactivity_window_is_dst_correct(void **state)
{
	struct fx f;
	/* New York, 2026-03-07 21:00 EST = 2026-03-08T02:00Z.  Clocks spring forward
	 * at 02:00 on the 8th; 07:00 EDT that day is 11:00Z.  1 h counts on the 7th,
	 * 7 h from 07:00 EDT: due 14:00 EDT = 18:00Z on the 8th. */
	int64_t t0 = 1772935200000LL;         /* 2026-03-08T02:00:00Z */
	int64_t due = 1772992800000LL;        /* 2026-03-08T18:00:00Z */

	(void)state;
	fx_init(&f, day_rules, "America/New_York", t0);
	ev(&f, "pir", "motion", "true", t0);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0), due);
	fx_free(&f);
}

static const char *water_rules =
	"{\"rules\":[{\"id\":\"low\",\"kind\":\"aggregate\",\"match\":{\"type\":\"water_meter\"},\"fn\":\"sum\","
	"\"window\":\"12h\",\"op\":\"<\",\"threshold\":0.01,\"severity\":\"high\",\"cooldown\":\"0s\"},"
	"{\"id\":\"leak\",\"kind\":\"aggregate\",\"match\":{\"type\":\"water_meter\"},\"fn\":\"sum\","
	"\"window\":\"24h\",\"op\":\">\",\"threshold\":2,\"severity\":\"medium\"}]}";

static void low_water_fires_after_quiet_taps_and_not_on_a_normal_day(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT;

	(void)state;
	fx_init(&f, water_rules, "Asia/Shanghai", t0);
	/* A normal day: 0.02 m3 every 2 h for two days. */
	for (int64_t t = t0; t < t0 + 48 * H; t += 2 * H) {
		ev(&f, "wm", "water_meter", "0.02", t);
		assert_null(act(&f, CH_ACT_OPEN, "low"));
		assert_null(act(&f, CH_ACT_OPEN, "leak"));
	}
	/* Then nothing: the last reading was at t0 + 46 h; once it leaves the 12 h
	 * window (bucket resolution 1 h) the sum is 0. */
	int64_t due = ch_engine_next_deadline(&f.st, &f.cx, t0 + 47 * H);
	assert_true(due >= t0 + 46 * H + 11 * H && due <= t0 + 46 * H + 13 * H);
	assert_int_equal(tick(&f, due - 1), 0);
	assert_int_equal(tick(&f, due), 1);
	assert_non_null(act(&f, CH_ACT_OPEN, "low"));
	/* Water again: resolved. */
	ev(&f, "wm", "water_meter", "0.05", due + H);
	assert_non_null(act(&f, CH_ACT_RESOLVE, "low"));
	fx_free(&f);
}

static void low_water_waits_for_a_full_window_and_leak_fires(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT;

	(void)state;
	fx_init(&f, water_rules, "Asia/Shanghai", t0);
	/* Watching for less than 12 h: no verdict on "too little". */
	assert_int_equal(tick(&f, t0), 0);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0), t0 + 12 * H);
	assert_int_equal(tick(&f, t0 + 11 * H), 0);
	assert_int_equal(tick(&f, t0 + 12 * H), 1);
	assert_non_null(act(&f, CH_ACT_OPEN, "low"));
	/* 2.5 m3 in a few hours: a leak. */
	ev(&f, "wm", "water_meter", "1.0", t0 + 13 * H);
	ev(&f, "wm", "water_meter", "1.5", t0 + 14 * H);
	assert_non_null(act(&f, CH_ACT_OPEN, "leak"));
	fx_free(&f);
}

static const char *night_rules =
	"{\"rules\":[{\"id\":\"night_door\",\"kind\":\"aggregate\",\"match\":{\"type\":\"door\",\"location\":\"front door\","
	"\"where\":[[\"value\",\"==\",\"open\"]]},\"fn\":\"count\",\"window\":\"8h\",\"during\":\"22:00-06:00\","
	"\"op\":\">=\",\"threshold\":3,\"severity\":\"medium\"},"
	"{\"id\":\"wander\",\"kind\":\"sequence\",\"first\":{\"type\":\"door\",\"location\":\"front door\","
	"\"where\":[[\"value\",\"==\",\"open\"]]},\"then\":{\"type\":\"motion\",\"where\":[[\"value\",\"==\",true]]},"
	"\"within\":\"10m\",\"during\":\"22:00-06:00\",\"severity\":\"high\"}]}";

static void door_count_at_night_and_wandering(void **state)
{
	struct fx f;
	int64_t n = SH_MIDNIGHT + 23 * H; /* 23:00 local */

	(void)state;
	fx_init(&f, night_rules, "Asia/Shanghai", SH_MIDNIGHT);
	/* Daytime openings count for neither rule. */
	ev(&f, "door", "door", "\"open\"", SH_MIDNIGHT + 15 * H);
	ev(&f, "door", "door", "\"open\"", SH_MIDNIGHT + 16 * H);
	assert_int_equal(tick(&f, SH_MIDNIGHT + 17 * H), 0);
	/* 23:00 out and back within 3 min: no wandering. */
	ev(&f, "door", "door", "\"open\"", n);
	ev(&f, "pir", "motion", "true", n + 3 * M);
	assert_int_equal(tick(&f, n + 20 * M), 0);
	/* 02:10 out, nobody back: wandering at 02:20. */
	ev(&f, "door", "door", "\"open\"", n + 3 * H + 10 * M);
	assert_int_equal(tick(&f, n + 3 * H + 19 * M), 0);
	assert_int_equal(tick(&f, n + 3 * H + 20 * M), 1);
	const struct ch_action *a = act(&f, CH_ACT_OPEN, "wander");
	assert_non_null(a);
	assert_int_equal(a->at_ms, n + 3 * H + 20 * M);
	/* Third opening of the night: the count rule fires. */
	ev(&f, "door", "door", "\"open\"", n + 4 * H);
	assert_non_null(act(&f, CH_ACT_OPEN, "night_door"));
	fx_free(&f);
}

static const char *fall_rules =
	"{\"rules\":[{\"id\":\"fall\",\"kind\":\"event\",\"match\":{\"type\":\"fall\"},\"severity\":\"high\"},"
	"{\"id\":\"long_lie\",\"kind\":\"sequence\",\"first\":{\"type\":\"fall\"},\"then\":{\"type\":\"motion\","
	"\"where\":[[\"value\",\"==\",true]]},\"within\":\"2m\",\"raises\":\"fall\",\"severity\":\"critical\"}]}";

static void fall_then_no_motion_raises_severity(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT + 10 * H;
	const struct ch_action *a;

	(void)state;
	fx_init(&f, fall_rules, "Asia/Shanghai", t0);
	ev(&f, "fall", "fall", "true", t0);
	assert_non_null(act(&f, CH_ACT_OPEN, "fall"));
	assert_int_equal(tick(&f, t0 + 2 * M), 1);
	a = act(&f, CH_ACT_RAISE, "fall");
	assert_non_null(a);
	assert_int_equal(a->severity, CH_SEV_CRITICAL);
	assert_string_equal(a->key, "fall");
	fx_free(&f);
}

static const char *presence_rules =
	"{\"rules\":[{\"id\":\"idle\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\","
	"\"where\":[[\"value\",\"==\",true]]},{\"type\":\"door\"}],\"for\":\"1h\",\"severity\":\"high\"},"
	"{\"id\":\"sos\",\"kind\":\"event\",\"match\":{\"type\":\"sos\"},\"severity\":\"critical\"},"
	"{\"id\":\"soft\",\"kind\":\"event\",\"match\":{\"type\":\"service.meal_missed\"},\"severity\":\"low\"}],"
	"\"presence\":{\"exit\":{\"type\":\"door\",\"location\":\"front door\"},"
	"\"inside\":[{\"type\":\"motion\",\"where\":[[\"value\",\"==\",true]]}],\"confirm\":\"10m\"}}";

static void leaving_by_the_front_door_suspends_inactivity(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT + 9 * H;

	(void)state;
	fx_init(&f, presence_rules, "Asia/Shanghai", t0);
	ev(&f, "pir", "motion", "true", t0);
	ev(&f, "door", "door", "\"open\"", t0 + M);
	assert_int_equal(tick(&f, t0 + 11 * M), 0);
	assert_int_equal(f.st.away, CH_AWAY_OUT);
	assert_int_equal(tick(&f, t0 + 5 * H), 0);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0 + 5 * H), INT64_MAX);
	/* Back: door, then motion inside; the hour counts from there. */
	ev(&f, "door", "door", "\"open\"", t0 + 6 * H);
	ev(&f, "pir", "motion", "true", t0 + 6 * H + M);
	assert_int_equal(f.st.away, CH_HOME);
	assert_int_equal(tick(&f, t0 + 7 * H), 0);
	assert_int_equal(tick(&f, t0 + 7 * H + M), 1);
	fx_free(&f);
}

static void hospital_stay_suspends_until_discharge(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT + 9 * H;

	(void)state;
	fx_init(&f, presence_rules, "Asia/Shanghai", t0);
	ev(&f, "pir", "motion", "true", t0);
	ev(&f, "case", "service.hospital_admission", NULL, t0 + 10 * M);
	assert_int_equal(f.st.away, CH_AWAY_HOSPITAL);
	assert_int_equal(tick(&f, t0 + 48 * H), 0);
	/* A visitor's motion does not end a hospital stay. */
	ev(&f, "pir", "motion", "true", t0 + 49 * H);
	assert_int_equal(f.st.away, CH_AWAY_HOSPITAL);
	ev(&f, "case", "service.hospital_discharge", NULL, t0 + 50 * H);
	assert_int_equal(f.st.away, CH_HOME);
	assert_int_equal(tick(&f, t0 + 51 * H - 1), 0);
	assert_int_equal(tick(&f, t0 + 51 * H), 1);
	fx_free(&f);
}

static void silences_hold_what_they_name_and_nothing_more(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT + 9 * H;

	(void)state;
	fx_init(&f, presence_rules, "Asia/Shanghai", t0);
	ev(&f, "pir", "motion", "true", t0);
	assert_int_equal(ch_engine_silence(&f.st, CH_SIL_SUBJECT, NULL, t0 + 3 * H), 0);
	/* The subject is silenced: inactivity and a low event are held, SOS is not. */
	assert_int_equal(tick(&f, t0 + 2 * H), 0);
	ev(&f, "case", "service.meal_missed", NULL, t0 + 2 * H);
	assert_null(act(&f, CH_ACT_OPEN, "soft"));
	ev(&f, "case", "sos", NULL, t0 + 2 * H + M);
	assert_non_null(act(&f, CH_ACT_OPEN, "sos"));
	/* Held rules ask for no timer; the silence's end is the next deadline. */
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0 + 2 * H + M), t0 + 3 * H);
	assert_int_equal(tick(&f, t0 + 3 * H), 1);
	assert_non_null(act(&f, CH_ACT_OPEN, "idle"));
	/* A rule silence holds that rule only. */
	assert_int_equal(ch_engine_silence(&f.st, CH_SIL_RULE, "soft", t0 + 10 * H), 0);
	ev(&f, "case", "service.meal_missed", NULL, t0 + 4 * H);
	assert_null(act(&f, CH_ACT_OPEN, "soft"));
	/* A device silence: its events are ignored (no sign of life from it either). */
	ev(&f, "pir", "motion", "true", t0 + 5 * H);
	assert_non_null(act(&f, CH_ACT_RESOLVE, "idle"));
	assert_int_equal(ch_engine_silence(&f.st, CH_SIL_DEVICE, "pir", t0 + 10 * H), 0);
	ev(&f, "pir", "motion", "true", t0 + 5 * H + 30 * M);
	assert_int_equal(ch_engine_next_deadline(&f.st, &f.cx, t0 + 5 * H + 30 * M), t0 + 6 * H);
	fx_free(&f);
}

static const char *lifecycle_rules =
	"{\"rules\":[{\"id\":\"idle\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\","
	"\"where\":[[\"value\",\"==\",true]]}],\"for\":\"10m\",\"severity\":\"high\",\"cooldown\":\"30m\","
	"\"flap\":{\"opens\":3,\"within\":\"6h\"}}]}";

static void cooldown_and_flapping(void **state)
{
	struct fx f;
	int64_t t = SH_MIDNIGHT + 9 * H;

	(void)state;
	fx_init(&f, lifecycle_rules, "Asia/Shanghai", t);
	ev(&f, "pir", "motion", "true", t);
	assert_int_equal(tick(&f, t + 10 * M), 1);      /* open #1 */
	ev(&f, "pir", "motion", "true", t + 11 * M);     /* resolved at +11m */
	assert_non_null(act(&f, CH_ACT_RESOLVE, "idle"));
	/* Due at +21m but in cooldown until +41m. */
	assert_int_equal(tick(&f, t + 25 * M), 0);
	assert_int_equal(tick(&f, t + 41 * M), 1);      /* open #2 */
	ev(&f, "pir", "motion", "true", t + 42 * M);
	assert_non_null(act(&f, CH_ACT_RESOLVE, "idle"));
	assert_int_equal(tick(&f, t + 72 * M), 1);      /* open #3: flapping */
	assert_int_equal(f.st.rules[0].flapping, 1);
	/* Flapping: activity no longer resolves it by itself; a person must. */
	assert_int_equal(ev(&f, "pir", "motion", "true", t + 73 * M), 0);
	ch_engine_resolved(&f.st, &f.cx, "idle", t + 80 * M);
	assert_int_equal(f.st.rules[0].open, 0);
	fx_free(&f);
}

static const char *health_rules =
	"{\"rules\":[{\"id\":\"offline\",\"kind\":\"device_health\",\"check\":\"silent\",\"severity\":\"low\"},"
	"{\"id\":\"battery\",\"kind\":\"device_health\",\"check\":\"battery\",\"below\":20,\"severity\":\"low\"},"
	"{\"id\":\"idle\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\","
	"\"where\":[[\"value\",\"==\",true]]}],\"for\":\"3h\",\"severity\":\"high\"}]}";

static void device_health_and_the_inactivity_caveat(void **state)
{
	struct fx f;
	int64_t t0 = SH_MIDNIGHT + 9 * H;
	const struct ch_action *a;

	(void)state;
	fx_init(&f, health_rules, "Asia/Shanghai", t0);
	ev(&f, "pir", "motion", "true", t0);
	ev(&f, "pir2", "motion", "false", t0);
	/* pir (1 h heartbeat) falls silent at t0 + 1 h; pir2 keeps reporting "false". */
	ev(&f, "pir2", "motion", "false", t0 + 50 * M);
	assert_int_equal(tick(&f, t0 + H), 1);
	a = act(&f, CH_ACT_OPEN, "offline");
	assert_non_null(a);
	assert_string_equal(a->key, "offline|pir");
	assert_int_equal(a->at_ms, t0 + H);
	/* Three hours of no motion: the alert says one of two sensors is silent. */
	ev(&f, "pir2", "motion", "false", t0 + 100 * M);
	ev(&f, "pir2", "motion", "false", t0 + 150 * M);
	tick(&f, t0 + 3 * H);
	a = act(&f, CH_ACT_OPEN, "idle");
	assert_non_null(a);
	assert_non_null(strstr(a->caveat, "1 of 2 activity sensors silent"));
	/* It speaks again: back. */
	ev(&f, "pir", "motion", "false", t0 + 4 * H);
	a = act(&f, CH_ACT_RESOLVE, "offline");
	assert_non_null(a);
	assert_string_equal(a->outcome, "device_back");
	/* Battery: below 20 opens, 22 does not clear (hysteresis), 30 does. */
	ev(&f, "wm", "battery", "15", t0 + 5 * H);
	assert_non_null(act(&f, CH_ACT_OPEN, "battery"));
	ev(&f, "wm", "battery", "22", t0 + 6 * H);
	assert_null(act(&f, CH_ACT_RESOLVE, "battery"));
	ev(&f, "wm", "battery", "30", t0 + 7 * H);
	assert_non_null(act(&f, CH_ACT_RESOLVE, "battery"));
	fx_free(&f);
}

static void state_round_trips_and_bad_bytes_are_refused(void **state)
{
	struct fx f;
	struct ch_sstate back;
	uint8_t buf[8192];
	size_t n;
	int64_t t0 = SH_MIDNIGHT;

	(void)state;
	fx_init(&f, water_rules, "Asia/Shanghai", t0);
	ev(&f, "wm", "water_meter", "0.02", t0 + H);
	ev(&f, "pir", "motion", "true", t0 + H);
	ch_engine_silence(&f.st, CH_SIL_DEVICE, "pir", t0 + 9 * H);
	n = ch_sstate_encode(&f.st, f.rules, buf, sizeof(buf));
	assert_true(n > 0 && n <= ch_sstate_encoded_max(&f.st));
	assert_int_equal(ch_sstate_decode(&back, buf, n), 0);
	assert_int_equal(back.nrules, f.st.nrules);
	assert_int_equal(back.ndevs, f.st.ndevs);
	assert_int_equal(back.nsil, 1);
	assert_memory_equal(back.rules[0].val, f.st.rules[0].val, sizeof(back.rules[0].val));
	/* Same decisions from the decoded state. */
	assert_int_equal(ch_engine_next_deadline(&back, &f.cx, t0 + 2 * H),
			 ch_engine_next_deadline(&f.st, &f.cx, t0 + 2 * H));
	ch_sstate_clear(&back);
	/* Truncated, trailing garbage, wrong magic: refused. */
	assert_int_equal(ch_sstate_decode(&back, buf, n - 1), CH_EINVAL);
	buf[n] = 0;
	assert_int_equal(ch_sstate_decode(&back, buf, n + 1), CH_EINVAL);
	buf[0] = 'X';
	assert_int_equal(ch_sstate_decode(&back, buf, n), CH_EINVAL);
	assert_int_equal(ch_sstate_decode(&back, buf, 0), CH_EINVAL);
	/* Too small a buffer: 0, not an overflow. */
	assert_int_equal(ch_sstate_encode(&f.st, f.rules, buf, 10), 0);
	fx_free(&f);
}

static void fake_clock_moves_only_when_told(void **state)
{
	(void)state;
	ch_clock_fake_set(SH_MIDNIGHT);
	assert_int_equal(ch_clock_now_ms(), SH_MIDNIGHT);
	ch_clock_fake_advance(8 * H);
	assert_int_equal(ch_clock_now_ms(), SH_MIDNIGHT + 8 * H);
	ch_clock_fake_off();
	assert_true(ch_clock_now_ms() > SH_MIDNIGHT + 8 * H);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inactivity_fires_once_then_rearms),
		cmocka_unit_test(inactivity_late_sign_of_life_resolves),
		cmocka_unit_test(inactivity_counts_only_inside_the_day_window),
		cmocka_unit_test(inactivity_window_is_dst_correct),
		cmocka_unit_test(low_water_fires_after_quiet_taps_and_not_on_a_normal_day),
		cmocka_unit_test(low_water_waits_for_a_full_window_and_leak_fires),
		cmocka_unit_test(door_count_at_night_and_wandering),
		cmocka_unit_test(fall_then_no_motion_raises_severity),
		cmocka_unit_test(leaving_by_the_front_door_suspends_inactivity),
		cmocka_unit_test(hospital_stay_suspends_until_discharge),
		cmocka_unit_test(silences_hold_what_they_name_and_nothing_more),
		cmocka_unit_test(cooldown_and_flapping),
		cmocka_unit_test(device_health_and_the_inactivity_caveat),
		cmocka_unit_test(state_round_trips_and_bad_bytes_are_refused),
		cmocka_unit_test(fake_clock_moves_only_when_told),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	ch_tz_cache_clear();
	return rc;
}
