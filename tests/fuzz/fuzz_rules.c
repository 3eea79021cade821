/*
 * fuzz_rules.c - libFuzzer target for the rules file parser.
 *
 * Rules files are written by administrators, not attackers, but they arrive
 * through the HTTP API and SIGHUP reloads into a running daemon, so a malformed
 * file must produce an error and never a crash or a leak.  Whatever loads is then
 * matched against a few fixed events from devices with and without a location
 * (every matcher of every kind, and presence) and its summaries rendered, so
 * operands of every kind reach the matcher.
 */
#include "event.h"
#include "rules.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const events[] = {
	"{\"device\":\"s1\",\"type\":\"smoke\",\"value\":true,\"data\":{\"level\":3}}",
	"{\"device\":\"b1\",\"type\":\"sos\",\"id\":\"e1\"}",
	("{\"device\":\"w1\",\"type\":\"water_meter\",\"value\":2.5,\"data\":{\"total_m3\":152.331,"
	 "\"a\":{\"b\":[\"x\",null]}}}"),
	"{\"device\":\"x\",\"type\":\"service.meal_missed\",\"value\":\"lunch\",\"ts\":0}",
};

static const struct ch_device devices[] = {
	{.id = (char *)"s1", .type = (char *)"smoke", .location = (char *)"Front Door"},
	{.id = (char *)"w1", .type = (char *)"water_meter", .location = (char *)"厨房"},
	{.id = (char *)"x", .type = (char *)"x", .location = NULL},
};

/* Every matcher the rule holds, against one event from each device and from none. */
static void match_all(const struct ch_matcher *m, size_t n, const struct ch_event *ev)
{
	for (size_t i = 0; i < n; i++) {
		(void)ch_matcher_matches(&m[i], ev, NULL);
		for (size_t d = 0; d < CH_ARRAY_LEN(devices); d++)
			(void)ch_matcher_matches(&m[i], ev, &devices[d]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ch_ruleset *rs = NULL;
	char err[512];

	if (ch_rules_parse("fuzz.json", (const char *)data, size, &rs, err, sizeof(err)) != 0) {
		/* Every refusal says where: "fuzz.json:line:col: ...". */
		if (rs || strncmp(err, "fuzz.json:", 10) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < CH_ARRAY_LEN(events); i++) {
		struct ch_event ev;
		enum ch_reject why;
		const struct ch_rule *hits[16];
		size_t n;

		if (ch_event_parse(events[i], strlen(events[i]), NULL, 1795824900000LL, &ev, &why,
				   err, sizeof(err)) != 0)
			abort();
		ch_rules_match_event(rs, &ev, hits, CH_ARRAY_LEN(hits), &n);
		for (size_t k = 0; k < n; k++) {
			static const char *const keys[] = {"device",	"location",  "type",
							   "value",	"subject",   "rule",
							   "duration", "threshold", "measured",
							   "since"};
			const char *vals[] = {ev.device, "厨房",	ev.type, ev.vstr, "王阿姨",
					      hits[k]->id, "8小时", "0.01",	"2.5",	"07:30"};
			char out[48];

			ch_rules_render(hits[k]->summary, keys, vals, CH_ARRAY_LEN(keys), out,
					sizeof(out));
			if (!ch_utf8_valid(out, strlen(out)))
				abort();
		}
		for (size_t k = 0; k < rs->n; k++) {
			const struct ch_rule *r = &rs->rules[k];

			match_all(&r->match, r->match.type ? 1 : 0, &ev);
			match_all(r->activity, r->nactivity, &ev);
			match_all(&r->first, r->first.type ? 1 : 0, &ev);
			match_all(r->then, r->nthen, &ev);
			/* raises was checked at load: it names an event rule. */
			if (r->raises && (!ch_rules_find(rs, r->raises) ||
					  ch_rules_find(rs, r->raises)->kind != CH_RULE_EVENT))
				abort();
		}
		if (rs->presence.enabled) {
			match_all(&rs->presence.exit, 1, &ev);
			match_all(rs->presence.inside, rs->presence.ninside, &ev);
		}
		ch_event_clear(&ev);
	}
	ch_rules_free(rs);
	return 0;
}
