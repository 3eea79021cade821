/*
 * fuzz_event.c - libFuzzer target for the canonical event parser, the first code
 * that touches bytes from MQTT.
 *
 * Runs ch_event_parse with the default limits, and on success the rest of the
 * hot path a payload can steer: field lookups by dotted path and matching
 * against a small rule set that exercises every operator, then renders a summary
 * from the event's own strings.  ASan/UBSan turn any memory or arithmetic slip
 * into a crash; leaks surface through LeakSanitizer.
 */
#include "event.h"
#include "rules.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The daemon's defaults: what a real deployment runs with. */
static const struct ch_event_limits limits = {
	.max_payload = 64 * 1024,
	.max_depth = 32,
	.future_skew_ms = 5 * 60 * 1000,
};

static const char ruleset_json[] =
	"{\"rules\":["
	"{\"id\":\"smoke\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\",\"where\":"
	"[[\"value\",\"!=\",false],[\"value\",\"!=\",0]]},\"severity\":\"critical\","
	"\"summary\":\"{location}烟感报警\"},"
	"{\"id\":\"svc\",\"kind\":\"event\",\"match\":{\"type\":\"service.*\",\"where\":"
	"[[\"data.meal\",\"in\",[\"lunch\",\"dinner\",1,true,null]],[\"id\",\"exists\"]]},"
	"\"severity\":\"low\"},"
	"{\"id\":\"num\",\"kind\":\"event\",\"match\":{\"type\":\"water_meter\",\"where\":"
	"[[\"value\",\">\",2],[\"value\",\"<=\",1e300],[\"data.total_m3\",\">=\",-1],"
	"[\"data.a.b.0\",\"<\",\"zzz\"],[\"ts\",\"absent\"],[\"data.x\",\"==\",{\"k\":[1,2.0]}]]},"
	"\"severity\":\"medium\",\"summary\":\"{type}/{device}/{value}/{subject}/{rule}\"},"
	"{\"id\":\"any\",\"kind\":\"event\",\"match\":{\"type\":\"fall\"},\"severity\":\"high\","
	"\"enabled\":false}"
	"]}";

static struct ch_ruleset *rs;

static void load_rules(void)
{
	char err[256];

	if (rs)
		return;
	if (ch_rules_parse("fuzz_event", ruleset_json, strlen(ruleset_json), &rs, err,
			   sizeof(err)) != 0)
		abort(); /* the built-in rule set must load, or the target tests nothing */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ch_event ev;
	enum ch_reject why;
	char err[256];
	const struct ch_rule *hits[8];
	size_t n = 0;

	load_rules();
	/* A fixed arrival keeps runs reproducible; it sits in 2026 like the seeds. */
	if (ch_event_parse((const char *)data, size, &limits, 1795824900000LL, &ev, &why, err,
			   sizeof(err)) != 0) {
		if (why == CH_REJ_NONE || why >= CH_REJ_COUNT || !err[0] || ev.root)
			abort();
		return 0;
	}
	if (why != CH_REJ_NONE || !ev.root || !ev.device[0] || !ev.type[0])
		abort();
	if (ev.vkind == CH_VAL_STRING && !ev.vstr)
		abort();

	(void)ch_event_field(&ev, "data.a.b.0");
	(void)ch_event_field(&ev, "value.x");
	ch_rules_match_event(rs, &ev, hits, CH_ARRAY_LEN(hits), &n);
	for (size_t i = 0; i < n; i++) {
		static const char *const keys[] = {"device", "location", "type", "value", "subject",
						   "rule"};
		const char *vals[] = {ev.device, ev.id, ev.type, ev.vstr, ev.id, hits[i]->id};
		char out[64];

		ch_rules_render(hits[i]->summary, keys, vals, CH_ARRAY_LEN(keys), out, sizeof(out));
		if (strlen(out) >= sizeof(out) || !ch_utf8_valid(out, strlen(out)))
			abort();
	}
	ch_event_clear(&ev);
	return 0;
}
