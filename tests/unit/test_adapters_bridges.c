/*
 * test_adapters_bridges.c - Tasmota (Zigbee2Tasmota, switches, buttons, relays,
 * the Sonoff RF bridge, wired sensors), Homie 5, generic gateways and the
 * adapters' configuration.  Zigbee2MQTT and the shared machinery are in
 * test_adapters.c.
 *
 * Tasmota payloads follow its documentation (Buttons-and-Switches, RF-Protocol,
 * Sonoff RF Bridge, Zigbee); each test names the device it plays.
 */
#include "adapters_test.h"

/* ---- Tasmota ----------------------------------------------------------- */

static const char tas_conf[] = "[{\"name\":\"tasmota\",\"kind\":\"tasmota\"}]";

/* Zigbee2Tasmota (Sonoff ZBBridge): ZbReceived, one device per key. */
static void tasmota_zbbridge_zbreceived(void **state)
{
	struct ch_adapters *a = make(tas_conf);
	json_t *e, *un;

	(void)state;
	assert_int_equal(ch_adapters_nsubs(a), 2);
	assert_string_equal(ch_adapters_sub(a, 0, NULL), "tele/#");
	assert_string_equal(ch_adapters_sub(a, 1, NULL), "stat/#");
	e = conv(a, "tele/zbbridge/SENSOR",
		 "{\"ZbReceived\":{\"0x5A1C\":{\"Device\":\"0x5A1C\",\"Name\":\"kitchen_smoke\","
		 "\"Fire\":1,\"BatteryPercentage\":87,\"Endpoint\":1,\"LinkQuality\":70}}}");
	expect_count(e, 2);
	expect_ev(e, 0, "kitchen_smoke", "smoke", "true");
	expect_ev(e, 1, "kitchen_smoke", "battery", "87");
	json_decref(e);
	/* No Name: the short address.  Two devices in one report. */
	e = conv(a, "tele/zbbridge/SENSOR",
		 "{\"ZbReceived\":{\"0x1234\":{\"Device\":\"0x1234\",\"Contact\":1,\"Endpoint\":1},"
		 "\"0x9F00\":{\"Device\":\"0x9F00\",\"Name\":\"hall pir\",\"Occupancy\":1,"
		 "\"Temperature\":22.25}}}");
	expect_count(e, 3);
	expect_ev(e, 0, "0x1234", "door", "\"open\"");
	expect_ev(e, 1, "hall pir", "motion", "true");
	expect_ev(e, 2, "hall pir", "temperature", "22.25");
	json_decref(e);
	e = conv(a, "tele/zbbridge/RESULT",
		 "{\"ZbReceived\":{\"0x1234\":{\"Device\":\"0x1234\",\"Contact\":0,\"Water\":1,"
		 "\"CO\":0,\"PersonalAlarm\":1}}}");
	expect_count(e, 4);
	expect_ev(e, 0, "0x1234", "door", "\"closed\"");
	expect_ev(e, 1, "0x1234", "water_leak", "true");
	expect_ev(e, 2, "0x1234", "co", "false");
	expect_ev(e, 3, "0x1234", "sos", "true");
	json_decref(e);
	/* The alarm button again: every press counts; the rest is unchanged. */
	e = conv(a, "tele/zbbridge/RESULT",
		 "{\"ZbReceived\":{\"0x1234\":{\"Device\":\"0x1234\",\"Contact\":0,\"Water\":1,"
		 "\"CO\":0,\"PersonalAlarm\":1}}}");
	expect_count(e, 1);
	expect_ev(e, 0, "0x1234", "sos", "true");
	json_decref(e);
	/* An attribute Z2T does not name, and a wrong form: reported, the rest converts. */
	e = convx(a, "tele/zbbridge/SENSOR",
		  "{\"ZbReceived\":{\"0x1\":{\"Device\":\"0x1\",\"Fire\":\"yes\",\"0500?00\":\"010000\","
		  "\"BatteryPercentage\":40}}}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "0x1", "battery", "40");
	expect_unmapped(un, "0x1", "Fire", "bad_value", "yes");
	expect_unmapped(un, "0x1", "0500?00", "unmapped", "010000");
	json_decref(e);
	json_decref(un);
	/* LWT, and the bridge's own telemetry. */
	e = conv(a, "tele/zbbridge/LWT", "Offline");
	expect_count(e, 1);
	expect_ev(e, 0, "zbbridge", "availability", "\"offline\"");
	json_decref(e);
	e = convx(a, "tele/zbbridge/STATE", "{\"Time\":\"2026-11-28T08:00:00\",\"Uptime\":\"0T01\"}", NULL,
		  ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	expect_reject(a, "tele/zbbridge/SENSOR", "{\"ZbReceived\":[1]}", CH_REJ_BAD_FIELD);
	expect_reject(a, "tele/zbbridge/SENSOR", "{\"ZbReceived\":{\"0x1\":3}}", CH_REJ_BAD_FIELD);
	expect_reject(a, "tele/zbbridge/LWT", "Sleeping", CH_REJ_BAD_FIELD);
	ch_adapters_free(a);
}

/* Sonoff RF Bridge 433 (RfReceived Sync/Low/High/Data/RfKey) and an rc-switch receiver (Data/Bits/Protocol/Pulse). */
static void tasmota_sonoff_rf_bridge_rfreceived(void **state)
{
	static const struct reg_entry reg[] = {{"hall door", "door"}, {"pendant", "sos"}, {NULL, NULL}};
	struct ch_adapters *a = make("[{\"name\":\"rf\",\"kind\":\"tasmota\",\"rf_codes\":{"
				     "\"E8329E\":\"hall door\",\"0xe8329a\":\"pendant\","
				     "\"7028D2\":{\"device\":\"kitchen pir\",\"type\":\"motion\",\"value\":true},"
				     "\"A1B2C3\":\"nobody\"}}]");
	const char *open_msg = "{\"Time\":\"2026-11-28T08:00:00\",\"RfReceived\":{\"Sync\":14050,\"Low\":450,"
			       "\"High\":1350,\"Data\":\"E8329E\",\"RfKey\":\"None\"}}";
	json_t *e, *un;

	(void)state;
	/* A cheap 433 MHz door contact: one code, sent when it opens; the registry says "door". */
	e = convx(a, "tele/rfbridge/RESULT", open_msg, reg, ARRIVAL, NULL, NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "hall door", "door", "\"open\"");
	expect_data(e, 0, "code", "E8329E");
	expect_data(e, 0, "bridge", "rfbridge");
	json_decref(e);
	/* The sender repeats the code: within rf_debounce (3 s) it is the same opening. */
	e = convx(a, "tele/rfbridge/RESULT", open_msg, reg, ARRIVAL + 400, NULL, NULL);
	expect_count(e, 0);
	json_decref(e);
	/* Opened again later: no "closed" came between, and it is news all the same. */
	e = convx(a, "tele/rfbridge/RESULT", open_msg, reg, ARRIVAL + 60000, NULL, NULL);
	expect_count(e, 1);
	json_decref(e);
	/* A pendant registered as sos: every press. */
	e = convx(a, "tele/rfbridge/RESULT", "{\"RfReceived\":{\"Data\":\"E8329A\",\"RfKey\":\"None\"}}", reg,
		  ARRIVAL, NULL, NULL);
	expect_ev(e, 0, "pendant", "sos", "true");
	json_decref(e);
	/* rc-switch: "0x"-prefixed; the map gives type and value itself. */
	e = convx(a, "tele/rfbridge/RESULT",
		  "{\"Time\":\"2026-11-28T08:00:01\",\"RfReceived\":{\"Data\":\"0x7028D2\",\"Bits\":24,\"Protocol\":1,"
		  "\"Pulse\":238}}",
		  reg, ARRIVAL, NULL, NULL);
	expect_ev(e, 0, "kitchen pir", "motion", "true");
	json_decref(e);
	/* A code nobody named: reported with the code, once per debounce. */
	e = convx(a, "tele/rfbridge/RESULT", "{\"RfReceived\":{\"Data\":\"123ABC\"}}", reg, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_unmapped(un, "rfbridge", "RfReceived", "unknown_code", "123ABC");
	json_decref(e);
	json_decref(un);
	e = convx(a, "tele/rfbridge/RESULT", "{\"RfReceived\":{\"Data\":\"123ABC\"}}", reg, ARRIVAL + 100, &un, NULL);
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	/* A named device the registry does not know: the type is unknown, so reported. */
	e = convx(a, "tele/rfbridge/RESULT", "{\"RfReceived\":{\"Data\":\"A1B2C3\"}}", reg, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_unmapped(un, "nobody", "RfReceived", "unmapped", "A1B2C3");
	json_decref(e);
	json_decref(un);
	e = convx(a, "tele/rfbridge/RESULT", "{\"RfReceived\":{\"Data\":\"not hex\"}}", reg, ARRIVAL, &un, NULL);
	expect_unmapped(un, "rfbridge", "RfReceived", "bad_value", "not hex");
	json_decref(e);
	json_decref(un);
	ch_adapters_free(a);
}

/* A Sonoff Basic with a reed switch (SwitchMode 15), a pull cord (SetOption73), a plug (POWER). */
static void tasmota_switch_button_power(void **state)
{
	static const struct reg_entry reg[] = {{"hall-reed", "door"}, {"bath-cord", "sos"}, {"pir-gpio", "motion"},
					       {NULL, NULL}};
	struct ch_adapters *a = make(tas_conf);
	json_t *e, *un;

	(void)state;
	/* SwitchMode 15: tele/<topic>/SENSOR {"Switch1":"OFF"}; a reed on a door: OFF = circuit open = open. */
	e = convr(a, "tele/hall-reed/SENSOR", "{\"Time\":\"2021-01-01T00:00:00\",\"Switch1\":\"OFF\"}", reg);
	expect_count(e, 1);
	expect_ev(e, 0, "hall-reed", "door", "\"open\"");
	json_decref(e);
	e = convr(a, "tele/hall-reed/SENSOR", "{\"Time\":\"2021-01-01T00:00:05\",\"Switch1\":\"ON\"}", reg);
	expect_ev(e, 0, "hall-reed", "door", "\"closed\"");
	json_decref(e);
	/* SetOption114: {"Switch1":{"Action":"ON"}}; a PIR wired to the GPIO. */
	e = convr(a, "stat/pir-gpio/RESULT", "{\"Switch1\":{\"Action\":\"ON\"}}", reg);
	expect_ev(e, 0, "pir-gpio", "motion", "true");
	json_decref(e);
	/* SetOption73: {"Button1":{"Action":"SINGLE"}}; a bathroom pull cord registered as sos. */
	for (int i = 0; i < 2; i++) {
		e = convr(a, "stat/bath-cord/RESULT", "{\"Button1\":{\"Action\":\"SINGLE\"}}", reg);
		expect_count(e, 1);
		expect_ev(e, 0, "bath-cord", "sos", "true");
		expect_data(e, 0, "action", "SINGLE");
		json_decref(e);
	}
	e = convr(a, "stat/bath-cord/RESULT", "{\"Button1\":{\"Action\":\"CLEAR\"}}", reg);
	expect_count(e, 0);
	json_decref(e);
	/* A button on a device the registry does not give a meaning: reported. */
	e = convx(a, "stat/lamp/RESULT", "{\"Button2\":{\"Action\":\"DOUBLE\"}}", reg, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_unmapped(un, "lamp/Button2", "Button2", "unmapped", "{\"Action\":\"DOUBLE\"}");
	json_decref(e);
	json_decref(un);
	/* POWER: stat RESULT, plain stat/<topic>/POWER<n>, and the periodic tele STATE. */
	e = conv(a, "stat/kettle/RESULT", "{\"POWER\":\"ON\"}");
	expect_ev(e, 0, "kettle", "appliance", "true");
	json_decref(e);
	e = conv(a, "tele/kettle/STATE",
		 "{\"Time\":\"2026-11-28T08:00:00\",\"Uptime\":\"0T01:00:00\",\"POWER\":\"ON\",\"Wifi\":{\"RSSI\":60}}");
	expect_count(e, 0); /* unchanged */
	json_decref(e);
	e = conv(a, "stat/kettle/POWER", "OFF");
	expect_ev(e, 0, "kettle", "appliance", "false");
	json_decref(e);
	e = conv(a, "stat/strip/POWER2", "ON");
	expect_ev(e, 0, "strip/POWER2", "appliance", "true");
	json_decref(e);
	/* Command results and the Tasmota's own status: not readings, not reported. */
	e = convx(a, "stat/kettle/RESULT", "{\"SetOption73\":\"ON\"}", NULL, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	e = conv(a, "stat/kettle/STATUS11", "{\"StatusSTS\":{}}");
	expect_count(e, 0);
	json_decref(e);
	ch_adapters_free(a);
}

/* Wired sensors: a Sonoff TH with an AM2301, a plug's ENERGY. */
static void tasmota_sensor_telemetry(void **state)
{
	struct ch_adapters *a =
		make("[{\"name\":\"t\",\"kind\":\"tasmota\",\"fields\":[{\"field\":\"ENERGY.Power\",\"type\":\"power\"}]}]");
	json_t *e, *un;

	(void)state;
	e = convx(a, "tele/kitchen-th/SENSOR",
		  "{\"Time\":\"2026-11-28T08:00:00\",\"AM2301\":{\"Temperature\":22.3,\"Humidity\":45.1,"
		  "\"DewPoint\":9.8},\"TempUnit\":\"C\"}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "kitchen-th", "temperature", "22.3");
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	/* Two sensors: the first temperature maps, the second is reported by name. */
	e = convx(a, "tele/kitchen-th/SENSOR",
		  "{\"AM2301\":{\"Temperature\":22.4},\"DS18B20\":{\"Id\":\"0316\",\"Temperature\":60.5},\"ANALOG\":{\"A0\":12}}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 1);
	expect_unmapped(un, "kitchen-th", "DS18B20.Temperature", "unmapped", "60.5");
	expect_unmapped(un, "kitchen-th", "ANALOG.A0", "unmapped", "12");
	json_decref(e);
	json_decref(un);
	/* An energy plug: Power by the configured field; the totals are ignored. */
	e = convx(a, "tele/tv-plug/SENSOR",
		  "{\"Time\":\"2026-11-28T08:00:00\",\"ENERGY\":{\"TotalStartTime\":\"2026-01-01T00:00:00\","
		  "\"Total\":12.3,\"Yesterday\":0.2,\"Today\":0.1,\"Power\":85,\"ApparentPower\":90,"
		  "\"ReactivePower\":20,\"Factor\":0.94,\"Voltage\":229,\"Current\":0.39}}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "tv-plug", "power", "85");
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	ch_adapters_free(a);
}

/* ---- Homie 5 ----------------------------------------------------------- */

static void homie_properties(void **state)
{
	struct ch_adapters *a = make("[{\"name\":\"homie\",\"kind\":\"homie\",\"ignore\":[\"$log\",\"climate/co2\"],"
				     "\"properties\":{\"button/pressed\":\"sos\",\"bed/occupied\":\"bed\"}}]");
	json_t *e, *un;

	(void)state;
	assert_string_equal(ch_adapters_sub(a, 0, NULL), "homie/5/#");
	e = conv(a, "homie/5/hallway-sensor/sensor/motion", "true");
	expect_count(e, 1);
	expect_ev(e, 0, "hallway-sensor", "motion", "true");
	json_decref(e);
	e = conv(a, "homie/5/hallway-sensor/sensor/motion", "true");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "homie/5/door-1/contact/contact", "false");
	expect_ev(e, 0, "door-1", "door", "\"open\"");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/alarm/water-leak", "true");
	expect_ev(e, 0, "kitchen", "water_leak", "true");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/power/battery", "76");
	expect_ev(e, 0, "kitchen", "battery", "76");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/climate/temperature", "21.5");
	expect_ev(e, 0, "kitchen", "temperature", "21.5");
	json_decref(e);
	/* Configured mappings win, and sos repeats. */
	for (int i = 0; i < 2; i++) {
		e = conv(a, "homie/5/pendant/button/pressed", "true");
		expect_count(e, 1);
		expect_ev(e, 0, "pendant", "sos", "true");
		json_decref(e);
	}
	e = conv(a, "homie/5/bed-7/bed/occupied", "false");
	expect_ev(e, 0, "bed-7", "bed", "false");
	json_decref(e);
	/* $state. */
	e = conv(a, "homie/5/kitchen/$state", "lost");
	expect_ev(e, 0, "kitchen", "availability", "\"offline\"");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/$state", "ready");
	expect_ev(e, 0, "kitchen", "availability", "\"online\"");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/$state", "sleeping");
	expect_count(e, 0); /* still online */
	json_decref(e);
	/* An unmapped property is reported; attributes, commands, cleared values are quiet. */
	e = convx(a, "homie/5/kitchen/climate/humidity", "40", NULL, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_unmapped(un, "kitchen", "climate/humidity", "unmapped", "40");
	json_decref(e);
	json_decref(un);
	static const char *const quiet[][2] = {
		{"homie/5/kitchen/$description", "{\"homie\":\"5.0\",\"name\":\"Kitchen\"}"},
		{"homie/5/kitchen/$log", "boot"},
		{"homie/5/kitchen/climate/co2", "400"},
		{"homie/5/kitchen/climate/$name", "Climate"},
		{"homie/5/kitchen/sensor/motion/set", "true"},
		{"homie/5/kitchen/sensor/motion/$target", "true"},
		{"homie/5/kitchen/sensor/motion", ""},
		{"homie/5/$broadcast/alert", "fire drill"},
		{"homie/5/kitchen/$state", "alert"},
	};
	for (size_t i = 0; i < CH_ARRAY_LEN(quiet); i++) {
		e = convx(a, quiet[i][0], quiet[i][1], NULL, ARRIVAL, &un, NULL);
		expect_count(e, 0);
		expect_count(un, 0);
		json_decref(e);
		json_decref(un);
	}
	expect_reject(a, "homie/5/kitchen/sensor/motion", "maybe", CH_REJ_BAD_FIELD);
	expect_reject(a, "homie/5/kitchen/power/battery", "lots", CH_REJ_BAD_FIELD);
	expect_reject(a, "homie/5/kitchen/$state", "exploded", CH_REJ_BAD_FIELD);
	expect_reject_len(a, "homie/5/kitchen/sensor/motion", "tr\xffue", 5, CH_REJ_BAD_UTF8);
	ch_adapters_free(a);
}

/* ---- Generic ----------------------------------------------------------- */

static void generic_gateway(void **state)
{
	struct ch_adapters *a = make(
		"[{\"name\":\"gw\",\"kind\":\"generic\",\"topic\":\"vendor/+/up\","
		"\"device\":{\"topic_level\":1},"
		"\"timestamp\":{\"pointer\":\"/t\",\"format\":\"epoch_s\"},"
		"\"fields\":["
		"{\"pointer\":\"/leak\",\"type\":\"water_leak\",\"transform\":{\"map\":{\"ON\":true,"
		"\"OFF\":false}}},"
		"{\"pointer\":\"/pir\",\"type\":\"motion\",\"transform\":{\"bool\":true}},"
		"{\"pointer\":\"/door_open\",\"type\":\"door\",\"transform\":{\"map\":{\"1\":\"open\","
		"\"0\":\"closed\"}}},"
		"{\"pointer\":\"/m~1s/0\",\"type\":\"water_meter\",\"transform\":{\"scale\":0.001}},"
		"{\"pointer\":\"/bat\",\"type\":\"battery\",\"transform\":{\"scale\":100,\"offset\":0}},"
		"{\"pointer\":\"/still\",\"type\":\"motion\",\"transform\":{\"bool\":true,\"invert\":true}}"
		"]},"
		"{\"name\":\"gw2\",\"kind\":\"generic\",\"topic\":\"site/#\","
		"\"device\":{\"pointer\":\"/dev/id\"},"
		"\"timestamp\":{\"pointer\":\"/time\",\"format\":\"rfc3339\"},"
		"\"fields\":[{\"pointer\":\"/v\",\"type\":\"heart_rate\"}]}]");
	json_t *e, *un;

	(void)state;
	assert_string_equal(ch_adapters_sub(a, 0, NULL), "vendor/+/up");
	e = conv(a, "vendor/WM0099/up", "{\"leak\":\"ON\",\"rssi\":-70}");
	expect_count(e, 1);
	expect_ev(e, 0, "WM0099", "water_leak", "true");
	assert_null(json_object_get(json_array_get(e, 0), "ts"));
	json_decref(e);
	e = conv(a, "vendor/WM0099/up",
		 "{\"t\":1795824000,\"pir\":\"on\",\"door_open\":1,\"m/s\":[1500],\"bat\":0.87,"
		 "\"still\":0}");
	expect_count(e, 5);
	expect_ev(e, 0, "WM0099", "motion", "true");
	expect_ev(e, 1, "WM0099", "door", "\"open\"");
	expect_ev(e, 2, "WM0099", "water_meter", "1.5");
	expect_ev(e, 3, "WM0099", "battery", "87.0");
	expect_ev(e, 4, "WM0099", "motion", "true");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 0), "ts")),
			 1795824000000LL);
	json_decref(e);
	/* only_changes is off by default for generic: a repeat is delivered. */
	e = conv(a, "vendor/WM0099/up", "{\"leak\":\"ON\"}");
	expect_count(e, 1);
	json_decref(e);
	/* Unmapped values pass through; numbers as bools. */
	e = conv(a, "vendor/7/up", "{\"leak\":\"TEST\",\"pir\":0}");
	expect_ev(e, 0, "7", "water_leak", "\"TEST\"");
	expect_ev(e, 1, "7", "motion", "false");
	json_decref(e);
	/* A value the transform cannot take: reported; the other fields still count. */
	e = convx(a, "vendor/7/up", "{\"pir\":\"maybe\",\"leak\":\"ON\"}", NULL, ARRIVAL, &un, NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "7", "water_leak", "true");
	expect_unmapped(un, "7", "/pir", "bad_value", "maybe");
	json_decref(e);
	json_decref(un);
	e = convx(a, "vendor/7/up", "{\"bat\":\"x\"}", NULL, ARRIVAL, &un, NULL);
	expect_unmapped(un, "7", "/bat", "bad_value", "x");
	json_decref(e);
	json_decref(un);
	/* The device and the time are the message's frame: wrong ones refuse it whole. */
	expect_reject(a, "vendor/7/up", "{\"t\":\"yesterday\",\"pir\":1}", CH_REJ_BAD_FIELD);
	expect_reject(a, "vendor/7/up", "{\"t\":-5,\"pir\":1}", CH_REJ_BAD_FIELD);

	/* Device by pointer, RFC 3339 time kept as given. */
	e = conv(a, "site/a/b", "{\"dev\":{\"id\":\"hr-1\"},\"time\":\"2026-11-28T08:15:00+08:00\","
				"\"v\":72}");
	expect_count(e, 1);
	expect_ev(e, 0, "hr-1", "heart_rate", "72");
	assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "ts")),
			    "2026-11-28T08:15:00+08:00");
	json_decref(e);
	e = conv(a, "site/x", "{\"dev\":{\"id\":42},\"other\":1}");
	expect_count(e, 0); /* the field is absent: no event, no error */
	json_decref(e);
	expect_reject(a, "site/x", "{\"v\":72}", CH_REJ_BAD_FIELD);
	expect_reject(a, "site/x", "{\"dev\":{\"id\":[1]},\"v\":72}", CH_REJ_BAD_FIELD);
	expect_reject(a, "site/x", "{\"dev\":{\"id\":\"a\"},\"time\":\"08:15\",\"v\":1}",
		      CH_REJ_BAD_FIELD);
	ch_adapters_free(a);
}

/* ---- Configuration --------------------------------------------------------- */

static void config_errors(void **state)
{
	(void)state;
	expect_conf_error("[{\"name\":\"z2m\",\"kind\":\"zigbee\"}]",
			  "mqtt.adapters[0] (z2m): unknown kind \"zigbee\", expected zigbee2mqtt, "
			  "tasmota, homie or generic");
	expect_conf_error("[{\"name\":\"a\",\"kind\":\"tasmota\"},{\"name\":\"z2m\",\"kind\":"
			  "\"zigbee2mqtt\",\"base\":\"x\"}]",
			  "mqtt.adapters[1] (z2m): unknown key \"base\"");
	expect_conf_error("[{\"name\":\"z\"}]", "missing \"kind\"");
	expect_conf_error("{}", "expected an array");
	expect_conf_error("[3]", "mqtt.adapters[0]");
	expect_conf_error("[{\"kind\":\"tasmota\"},{\"kind\":\"tasmota\"}]", "duplicate adapter name");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"base_topic\":\"a/#\"}]", "base_topic");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"only_changes\":\"yes\"}]", "only_changes");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"output\":\"xml\"}]",
			  "output: expected \"json\", \"attribute\" or \"attribute_and_json\"");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"occupancy_hold\":\"soon\"}]", "occupancy_hold");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"fields\":[{\"pointer\":\"/a\",\"type\":\"x\"}]}]",
			  "unknown key in fields[]: \"pointer\"");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"fields\":[{\"field\":\"a\",\"type\":\"x\"},"
			  "{\"field\":\"a\",\"type\":\"y\"}]}]",
			  "\"a\" is mapped twice");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"ignore\":[3]}]", "ignore: expected an array");
	expect_conf_error("[{\"kind\":\"tasmota\",\"stat_prefix\":\"tele\"}]", "must differ");
	expect_conf_error("[{\"kind\":\"tasmota\",\"rf_codes\":{\"XYZ\":\"door\"}}]", "not a hexadecimal code");
	expect_conf_error("[{\"kind\":\"tasmota\",\"rf_codes\":{\"E8329E\":\"a\",\"0xe8329e\":\"b\"}}]",
			  "appears twice");
	expect_conf_error("[{\"kind\":\"tasmota\",\"rf_codes\":{\"E8329E\":{\"type\":\"door\"}}}]",
			  "rf_codes.E8329E.device");
	expect_conf_error("[{\"kind\":\"tasmota\",\"rf_codes\":{\"E8329E\":{\"device\":\"d\",\"colour\":1}}}]",
			  "unknown key in rf_codes: \"colour\"");
	expect_conf_error("[{\"kind\":\"tasmota\",\"rf_debounce\":-1}]", "rf_debounce");
	expect_conf_error("[{\"kind\":\"homie\",\"properties\":{\"motion\":\"motion\"}}]",
			  "<node>/<property>");
	expect_conf_error("[{\"kind\":\"homie\",\"properties\":{\"a/b\":7}}]", "event type");
	expect_conf_error("[{\"name\":\"gw\",\"kind\":\"generic\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "mqtt.adapters[0] (gw): missing \"topic\"");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/#/b\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "not a valid MQTT topic filter");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\","
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "missing \"device\"");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"pointer\":\"id\"},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "device.pointer: expected a JSON pointer");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a~2\",\"type\":\"motion\"}]}]",
			  "fields[0]: expected a JSON pointer");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\",\"transform\":"
			  "{\"negate\":true}}]}]",
			  "unknown key in fields[].transform: \"negate\"");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[]}]",
			  "fields");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"timestamp\":{\"pointer\":\"/t\",\"format\":\"iso\"},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "timestamp.format");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tasmota_zbbridge_zbreceived),
		cmocka_unit_test(tasmota_sonoff_rf_bridge_rfreceived),
		cmocka_unit_test(tasmota_switch_button_power),
		cmocka_unit_test(tasmota_sensor_telemetry),
		cmocka_unit_test(homie_properties),
		cmocka_unit_test(generic_gateway),
		cmocka_unit_test(config_errors),
	};
	return cmocka_run_group_tests_name("adapters_bridges", tests, NULL, NULL);
}
