/*
 * fuzz_state.c - libFuzzer target for the engine state decoder.
 *
 * The state comes back from Redis, which anything with access to it can
 * write; a bad blob must be refused (the hub then starts the subject afresh),
 * never read out of bounds.  A blob that decodes is driven through the engine
 * (a tick, the next deadline, an encode that must decode back to the same
 * bytes) with the default rule pack, so whatever a decoded state holds is safe
 * to act on.
 */
#include "engine.h"
#include "registry.h"
#include "rules.h"
#include "tz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_json[] =
	"{\"rules\":["
	"{\"id\":\"idle\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\"}],\"for\":\"8h\","
	"\"during\":\"07:00-22:00\",\"severity\":\"high\"},"
	"{\"id\":\"low\",\"kind\":\"aggregate\",\"match\":{\"type\":\"water_meter\"},\"fn\":\"sum\",\"window\":\"12h\","
	"\"op\":\"<\",\"threshold\":0.01,\"severity\":\"high\"},"
	"{\"id\":\"cnt\",\"kind\":\"aggregate\",\"match\":{\"type\":\"door\"},\"fn\":\"max\",\"window\":\"1h\","
	"\"op\":\">=\",\"threshold\":3,\"severity\":\"low\"},"
	"{\"id\":\"fall\",\"kind\":\"event\",\"match\":{\"type\":\"fall\"},\"severity\":\"high\"},"
	"{\"id\":\"seq\",\"kind\":\"sequence\",\"first\":{\"type\":\"fall\"},\"then\":{\"type\":\"motion\"},"
	"\"within\":\"2m\",\"raises\":\"fall\",\"severity\":\"critical\"},"
	"{\"id\":\"off\",\"kind\":\"device_health\",\"check\":\"silent\",\"heartbeat\":\"1h\",\"severity\":\"low\"}],"
	"\"presence\":{\"exit\":{\"type\":\"door\"},\"inside\":[{\"type\":\"motion\"}]}}";

static const char registry_json[] =
	"{\"subjects\":[{\"id\":\"s\",\"name\":\"n\",\"address\":\"a\",\"phone\":\"+8613800000000\","
	"\"timezone\":\"Asia/Shanghai\",\"devices\":[{\"id\":\"pir\",\"type\":\"motion\",\"location\":\"hall\"},"
	"{\"id\":\"wm\",\"type\":\"water_meter\",\"location\":\"kitchen\"}],"
	"\"contacts\":[{\"name\":\"f\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"order\":1}]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ch_ruleset *rs;
	static struct ch_registry *reg;
	static const struct ch_tz *tz;
	struct ch_sstate st, back;
	struct ch_actions out;
	char err[512];

	if (!rs) {
		if (ch_rules_parse("fuzz", rules_json, strlen(rules_json), &rs, err, sizeof(err)) ||
		    ch_registry_parse("fuzz", registry_json, strlen(registry_json), &reg, err, sizeof(err)) ||
		    ch_tz_get("UTC", &tz, err, sizeof(err)))
			abort();
	}
	if (ch_sstate_decode(&st, data, size) != 0)
		return 0;
	struct ch_engine_ctx cx = {rs, ch_registry_at(reg, 0), tz};
	int64_t now = 1793548800000LL;
	size_t cap = ch_sstate_encoded_max(&st);
	uint8_t *buf = malloc(cap), *buf2 = malloc(cap);

	/* Round trip before anything moves: same bytes again (rule states are all kept only if known). */
	if (buf && buf2) {
		size_t n = ch_sstate_encode(&st, rs, buf, cap);
		if (n && ch_sstate_decode(&back, buf, n) == 0) {
			size_t m = ch_sstate_encode(&back, rs, buf2, cap);
			if (m != n || memcmp(buf, buf2, n) != 0)
				abort();
			ch_sstate_clear(&back);
		}
	}
	out.n = out.dropped = 0;
	ch_engine_tick(&st, &cx, now, &out);
	(void)ch_engine_next_deadline(&st, &cx, now);
	ch_engine_resolved(&st, &cx, "idle", now);
	ch_engine_resolved(&st, &cx, "off|pir", now);
	free(buf);
	free(buf2);
	ch_sstate_clear(&st);
	return 0;
}
