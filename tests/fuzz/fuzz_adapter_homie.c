/*
 * fuzz_adapter_homie.c - libFuzzer target for the Homie 5 adapter, which reads bytes
 * straight from a fleet's bridge: plain-text property values, $state and attribute
 * topics.
 *
 * The shared body (input format, invariants) is in fuzz_adapter.h.
 */
#define AD_CONF \
	"[{\"name\":\"homie\",\"kind\":\"homie\",\"properties\":"\
	"{\"button/pressed\":\"sos\",\"x/y\":\"custom\"}}]"
#define AD_PREFIX "homie/5/"
#define AD_DEFAULT_TOPIC "homie/5/kitchen/sensor/motion"

#include "fuzz_adapter.h"
