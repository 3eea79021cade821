/*
 * fuzz_adapter_tasmota.c - libFuzzer target for the Tasmota (Zigbee2Tasmota) adapter,
 * which reads bytes straight from a fleet's bridge: ZbReceived objects of many devices
 * and LWT words.
 *
 * The shared body (input format, invariants) is in fuzz_adapter.h.
 */
#define AD_CONF \
	"[{\"name\":\"tasmota\",\"kind\":\"tasmota\"}]"
#define AD_PREFIX "tele/"
#define AD_DEFAULT_TOPIC "tele/zbbridge/SENSOR"

#include "fuzz_adapter.h"
