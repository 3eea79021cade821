/*
 * fuzz_control.c - libFuzzer target for the control messages people send over
 * MQTT: silences and acknowledgements (control.c), checked against a small
 * registry and rule set.  The first byte picks the parser.
 */
#include "control.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_json[] =
	"{\"rules\":[{\"id\":\"idle\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\"}],\"for\":\"8h\","
	"\"severity\":\"high\"},{\"id\":\"sos\",\"kind\":\"event\",\"match\":{\"type\":\"sos\"},\"severity\":\"critical\"}]}";

static const char registry_json[] =
	"{\"subjects\":[{\"id\":\"s-001\",\"name\":\"n\",\"address\":\"a\",\"phone\":\"+8613800000000\","
	"\"timezone\":\"Asia/Shanghai\",\"devices\":[{\"id\":\"pir\",\"type\":\"motion\",\"location\":\"hall\"}],"
	"\"contacts\":[{\"name\":\"f\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"order\":1}]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ch_ruleset *rs;
	static struct ch_registry *reg;
	char err[512];
	enum ch_reject why;

	if (!rs && (ch_rules_parse("fuzz", rules_json, strlen(rules_json), &rs, err, sizeof(err)) ||
		    ch_registry_parse("fuzz", registry_json, strlen(registry_json), &reg, err, sizeof(err))))
		abort();
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct ch_silence_req q;
		if (ch_control_silence((const char *)data + 1, size - 1, reg, rs, 1793548800000LL, &q, &why, err,
				       sizeof(err)) == 0) {
			if (!q.subj || !q.doc || (q.kind == CH_SIL_SUBJECT) != (q.target[0] == '\0'))
				abort();
			free(q.doc);
		}
	} else {
		struct ch_ack_req q;
		if (ch_control_ack((const char *)data + 1, size - 1, reg, &q, &why, err, sizeof(err)) == 0 && !q.subj)
			abort();
	}
	return 0;
}
