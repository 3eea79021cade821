/*
 * fuzz_adapter_zigbee2mqtt.c - libFuzzer target for the Zigbee2MQTT adapter, which reads
 * bytes straight from a fleet's bridge: friendly names with '/', bridge and availability
 * topics, and device objects.
 *
 * The shared body (input format, invariants) is in fuzz_adapter.h.
 */
#define AD_CONF \
	"[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\"}]"
#define AD_PREFIX "zigbee2mqtt/"
#define AD_DEFAULT_TOPIC "zigbee2mqtt/living room/pir"

#include "fuzz_adapter.h"
