/*
 * fuzz_adapter_z2m_bridge.c - libFuzzer target for the retained
 * <base>/bridge/devices document Zigbee2MQTT publishes: every device's
 * friendly name, IEEE address, definition and (nested) exposes, from which the
 * adapter learns settings to ignore and builds registry suggestions.
 *
 * The shared body (input format, invariants) is in fuzz_adapter.h; without a
 * topic line the input is the device list.
 */
#define AD_CONF "[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\"}]"
#define AD_PREFIX "zigbee2mqtt/"
#define AD_DEFAULT_TOPIC "zigbee2mqtt/bridge/devices"

#include "fuzz_adapter.h"
