/*
 * fuzz_adapter_tasmota_rf.c - libFuzzer target for Tasmota beyond Zigbee: the
 * RF bridge's RfReceived with a code map, Switch/Button states and actions,
 * POWER (RESULT, STATE and plain stat/<topic>/POWER) and wired SENSOR
 * telemetry, under both the tele and the stat prefix.
 *
 * The shared body (input format, invariants) is in fuzz_adapter.h; a first
 * line is the whole topic ("tele/rfbridge/RESULT", "stat/hall/POWER2").
 */
#define AD_CONF                                                                                    \
	"[{\"name\":\"tasmota\",\"kind\":\"tasmota\",\"rf_debounce\":\"2s\",\"rf_codes\":{"             \
	"\"E8329E\":\"hall door\",\"0x7028D2\":{\"device\":\"pir\",\"type\":\"motion\",\"value\":true}}," \
	"\"fields\":[{\"field\":\"ENERGY.Power\",\"type\":\"power\"}]}]"
#define AD_PREFIX ""
#define AD_DEFAULT_TOPIC "tele/rfbridge/RESULT"

#include "fuzz_adapter.h"
