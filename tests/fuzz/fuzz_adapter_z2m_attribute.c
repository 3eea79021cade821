/*
 * fuzz_adapter_z2m_attribute.c - libFuzzer target for Zigbee2MQTT's attribute
 * output (<base>/<friendly name>/<attribute> with a bare value), with a field
 * mapping, an ignore list and an occupancy hold configured.
 *
 * The shared body (input format, invariants) is in fuzz_adapter.h.
 */
#define AD_CONF                                                                                     \
	"[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\",\"output\":\"attribute\",\"occupancy_hold\":\"5m\"," \
	"\"ignore\":[\"state\"],\"fields\":[{\"field\":\"alarm\",\"type\":\"smoke\",\"transform\":"        \
	"{\"map\":{\"ON\":true,\"OFF\":false}}}]}]"
#define AD_PREFIX "zigbee2mqtt/"
#define AD_DEFAULT_TOPIC "zigbee2mqtt/bedroom/radar/occupancy"

#include "fuzz_adapter.h"
