/*
 * fuzz_adapter_generic.c - libFuzzer target for the generic JSON-pointer gateway
 * adapter, which reads bytes straight from a fleet's bridge: JSON pointers, transforms
 * and timestamps steered by the payload.
 *
 * The shared body (input format, invariants) is in fuzz_adapter.h.
 */
#define AD_CONF \
	"[{\"name\":\"gw\",\"kind\":\"generic\",\"topic\":\"gw/+/up\","\
	"\"device\":{\"topic_level\":1},"\
	"\"timestamp\":{\"pointer\":\"/t\",\"format\":\"epoch_s\"},"\
	"\"fields\":[{\"pointer\":\"/leak\",\"type\":\"water_leak\","\
	"\"transform\":{\"map\":{\"ON\":true,\"OFF\":false,\"1\":\"x\"}}},"\
	"{\"pointer\":\"/pir\",\"type\":\"motion\",\"transform\":{\"bool\":true,\"invert\":true}},"\
	"{\"pointer\":\"/a~1b/0/~0c\",\"type\":\"water_meter\","\
	"\"transform\":{\"scale\":0.001,\"offset\":-1}},"\
	"{\"pointer\":\"\",\"type\":\"raw\"}]},"\
	"{\"name\":\"dev\",\"kind\":\"generic\",\"topic\":\"dev/#\","\
	"\"device\":{\"pointer\":\"/d/id\"},"\
	"\"timestamp\":{\"pointer\":\"/ts\",\"format\":\"rfc3339\"},\"only_changes\":true,"\
	"\"fields\":[{\"pointer\":\"/v\",\"type\":\"heart_rate\"},"\
	"{\"pointer\":\"/s\",\"type\":\"sos\",\"transform\":{\"bool\":true}}]}]"
#define AD_PREFIX ""
#define AD_DEFAULT_TOPIC "gw/WM0099/up"

#include "fuzz_adapter.h"
