/*
 * fuzz_config.c - libFuzzer target for the configuration loader (jdoc's
 * position scanner, overrides and every validator) and the registry parser.
 *
 * The input is split at the first NUL: before it, a configuration; after it,
 * a registry.  Either may be garbage.  A refusal must say where
 * ("fuzz.json:line:col: ..." or "-o ...: ..."), never crash or leak.
 */
#include "config.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const overrides[] = {"mqtt.port=18830", "channels.x.plugin=log", "limits.max_depth=8"};
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, 0, size);
	size_t clen = nul ? (size_t)(nul - data) : size;
	struct ch_config *cfg = NULL;
	struct ch_registry *reg = NULL;
	char err[1024];

	/* Half the inputs run with overrides, so the override paths get fuzzed too. */
	size_t nover = (size & 1) ? CH_ARRAY_LEN(overrides) : 0;
	if (ch_config_parse("fuzz.json", text, clen, overrides, nover, &cfg, err, sizeof(err)) == 0) {
		if (!ch_config_policy(cfg, NULL, "critical"))
			abort(); /* a valid config always has a policy for every severity */
		ch_config_free(cfg);
	} else if (cfg || (strncmp(err, "fuzz.json:", 10) != 0 && strncmp(err, "-o ", 3) != 0 &&
			   !strstr(err, ": cannot open"))) {
		abort();
	}
	if (nul) {
		const char *r = (const char *)nul + 1;
		size_t rlen = size - clen - 1;
		if (ch_registry_parse("reg.json", r, rlen, &reg, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < ch_registry_count(reg); i++) {
				const struct ch_subject *s = ch_registry_at(reg, i);
				for (size_t k = 0; k < s->ndevices; k++) {
					if (ch_registry_find_device(reg, s->devices[k].id, NULL) != s)
						abort();
				}
			}
			ch_registry_free(reg);
		} else if (reg || strncmp(err, "reg.json:", 9) != 0) {
			abort();
		}
	}
	return 0;
}
