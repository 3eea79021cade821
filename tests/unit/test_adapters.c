/*
 * test_adapters.c - Zigbee2MQTT devices as they really speak, and what every
 * adapter shares: only-changes memory, the unmapped report, topic matching.
 * Tasmota, Homie, generic gateways and configuration are in
 * test_adapters_bridges.c.
 *
 * Each payload is written from the device's converter and exposes in
 * zigbee-herdsman-converters (field names, value words), and each test names
 * the device model, because adapters are where a fleet's quirks meet the
 * rules: contact polarity, a repeated full state, a button that only says
 * "single", a fall the radar only calls a warning.
 */
#include "adapters_test.h"

static const char z2m_conf[] = "[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\"}]";

/* ---- SOS buttons ------------------------------------------------------------ */

/* Feibit SEB01ZB (ias_sos_alarm_2): sos, tamper, battery_low from the IAS zone status. */
static void z2m_feibit_seb01zb_sos_true(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e, *un;

	(void)state;
	e = convx(a, "zigbee2mqtt/bedroom sos",
		  "{\"battery\":100,\"battery_low\":false,\"linkquality\":76,\"sos\":true,\"tamper\":false}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 4);
	expect_ev(e, 0, "bedroom sos", "sos", "true");
	expect_ev(e, 1, "bedroom sos", "tamper", "false");
	expect_ev(e, 2, "bedroom sos", "battery", "100");
	expect_ev(e, 3, "bedroom sos", "battery_low", "false");
	expect_count(un, 0); /* linkquality is deliberately ignored, not unmapped */
	json_decref(e);
	json_decref(un);
	/* The zone clears, then a second press: an alarm again. */
	e = conv(a, "zigbee2mqtt/bedroom sos", "{\"battery\":100,\"sos\":false,\"tamper\":false}");
	expect_count(e, 1);
	expect_ev(e, 0, "bedroom sos", "sos", "false");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/bedroom sos", "{\"battery\":100,\"sos\":true,\"tamper\":false}");
	expect_count(e, 1);
	expect_ev(e, 0, "bedroom sos", "sos", "true");
	json_decref(e);
	ch_adapters_free(a);
}

/* HEIMAN HS1EB/HS1EB-E (command_status_change_notification_action): off, single, double, hold. */
static void z2m_heiman_hs1eb_action_single_on_a_registered_sos_button(void **state)
{
	static const struct reg_entry reg[] = {{"hall button", "sos"}, {"remote", "motion"}, {NULL, NULL}};
	struct ch_adapters *a = make(z2m_conf);
	static const char *const presses[] = {"single", "double", "hold", "single"};
	json_t *e, *un;

	(void)state;
	/* Every press is an alarm, the same word twice too. */
	for (size_t i = 0; i < CH_ARRAY_LEN(presses); i++) {
		char payload[128];
		snprintf(payload, sizeof(payload), "{\"action\":\"%s\",\"battery\":100,\"linkquality\":102}",
			 presses[i]);
		e = convr(a, "zigbee2mqtt/hall button", payload, reg);
		expect_count(e, i == 0 ? 2 : 1); /* the battery once */
		expect_ev(e, i == 0 ? 1 : 0, "hall button", "sos", "true");
		expect_data(e, i == 0 ? 1 : 0, "action", presses[i]);
		json_decref(e);
	}
	/* "off" is the zone clearing, not a press. */
	e = convr(a, "zigbee2mqtt/hall button", "{\"action\":\"off\"}", reg);
	expect_count(e, 0);
	json_decref(e);
	/* The same button registered as something else, or not at all: reported, not an alarm. */
	e = convx(a, "zigbee2mqtt/remote", "{\"action\":\"single\"}", reg, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_unmapped(un, "remote", "action", "unmapped", "single");
	assert_true(json_is_true(json_object_get(json_array_get(un, 0), "alone")));
	json_decref(e);
	json_decref(un);
	e = convx(a, "zigbee2mqtt/0x00124b0022aabbcc", "{\"action\":\"double\"}", reg, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_unmapped(un, "0x00124b0022aabbcc", "action", "unmapped", "double");
	json_decref(e);
	json_decref(un);
	ch_adapters_free(a);
}

/* MultIR MIR-SO100 SOS button: single, double, hold; registered by its IEEE address. */
static void z2m_multir_mir_so100_hold_by_ieee_alias(void **state)
{
	static const struct reg_entry reg[] = {{"0x8c65a3fffe112233", "sos"}, {NULL, NULL}};
	struct ch_adapters *a = make(z2m_conf);
	json_t *e;

	(void)state;
	e = convr(a, "zigbee2mqtt/0x8c65a3fffe112233", "{\"action\":\"hold\",\"battery\":80}", reg);
	expect_count(e, 2);
	expect_ev(e, 1, "0x8c65a3fffe112233", "sos", "true");
	expect_data(e, 1, "action", "hold");
	json_decref(e);
	/* The action sensor's reset ("") says nothing. */
	e = convr(a, "zigbee2mqtt/0x8c65a3fffe112233", "{\"action\":\"\"}", reg);
	expect_count(e, 0);
	json_decref(e);
	ch_adapters_free(a);
}

/* Tuya TS0215A_sos (command_emergency): "emergency" is an alarm whatever the registry says. */
static void z2m_tuya_ts0215a_emergency(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e;

	(void)state;
	for (int i = 0; i < 2; i++) {
		e = conv(a, "zigbee2mqtt/0x00158d0001a2b3c4",
			 "{\"action\":\"emergency\",\"battery\":100,\"linkquality\":60,\"voltage\":3000}");
		expect_count(e, i == 0 ? 2 : 1);
		expect_ev(e, i == 0 ? 1 : 0, "0x00158d0001a2b3c4", "sos", "true");
		json_decref(e);
	}
	ch_adapters_free(a);
}

/* ---- Falls and presence -------------------------------------------------------- */

/* HEIMAN HS2FD-EF1-3.0 fall detection sensor: occupancy, sensor_status, fall_status. */
static void z2m_heiman_hs2fd_fall_status(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e, *un;

	(void)state;
	e = convx(a, "zigbee2mqtt/bathroom radar",
		  "{\"fall_status\":\"normal\",\"linkquality\":120,\"occupancy\":true,\"sensor_status\":\"activity\"}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 2);
	expect_ev(e, 0, "bathroom radar", "motion", "true");
	expect_ev(e, 1, "bathroom radar", "fall", "false");
	expect_unmapped(un, "bathroom radar", "sensor_status", "unmapped", "activity");
	assert_false(json_is_true(json_object_get(json_array_get(un, 0), "alone")));
	json_decref(e);
	json_decref(un);
	/* The radar's warning first, then the alarm. */
	e = conv(a, "zigbee2mqtt/bathroom radar",
		 "{\"fall_status\":\"fall_warning\",\"occupancy\":true,\"sensor_status\":\"activity\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "bathroom radar", "fall_suspected", "true");
	expect_data(e, 0, "status", "fall_warning");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/bathroom radar",
		 "{\"fall_status\":\"fall_alarm\",\"occupancy\":true,\"sensor_status\":\"activity\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "bathroom radar", "fall", "true");
	expect_data(e, 0, "status", "fall_alarm");
	json_decref(e);
	/* A fall repeated is a fall again; "unknown" says nothing. */
	e = conv(a, "zigbee2mqtt/bathroom radar", "{\"fall_status\":\"fall_alarm\"}");
	expect_count(e, 1);
	json_decref(e);
	e = conv(a, "zigbee2mqtt/bathroom radar", "{\"fall_status\":\"unknown\"}");
	expect_count(e, 0);
	json_decref(e);
	e = convx(a, "zigbee2mqtt/bathroom radar", "{\"fall_status\":7}", NULL, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_unmapped(un, "bathroom radar", "fall_status", "bad_value", "7");
	json_decref(e);
	json_decref(un);
	ch_adapters_free(a);
}

/* Tuya MIR-HE200-TY human presence sensor with fall function: presence, occupancy, fall_down_status. */
static void z2m_tuya_mir_he200_fall_down_status(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e, *un;

	(void)state;
	/* Someone still in the room: occupancy (movement) speaks, not presence. */
	e = convx(a, "zigbee2mqtt/bedroom radar",
		  "{\"presence\":true,\"occupancy\":false,\"illuminance\":120,\"motion_speed\":0,"
		  "\"motion_direction\":\"standing_still\",\"radar_sensitivity\":7,\"fall_down_status\":\"none\","
		  "\"static_dwell_alarm\":\"\"}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 2);
	expect_ev(e, 0, "bedroom radar", "motion", "false");
	expect_ev(e, 1, "bedroom radar", "fall", "false");
	expect_unmapped(un, "bedroom radar", "motion_speed", "unmapped", "0");
	expect_unmapped(un, "bedroom radar", "motion_direction", "unmapped", "standing_still");
	/* Without the bridge's word that radar_sensitivity is a setting, it is reported too. */
	expect_unmapped(un, "bedroom radar", "radar_sensitivity", "unmapped", "7");
	json_decref(e);
	json_decref(un);
	/* Zigbee2MQTT publishes the whole cached state: occupancy comes along. */
	e = conv(a, "zigbee2mqtt/bedroom radar",
		 "{\"presence\":true,\"occupancy\":false,\"fall_down_status\":\"maybe_fall\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "bedroom radar", "fall_suspected", "true");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/bedroom radar", "{\"presence\":true,\"occupancy\":false,\"fall_down_status\":\"fall\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "bedroom radar", "fall", "true");
	json_decref(e);
	ch_adapters_free(a);
}

/* OWON FDS315 fall detection sensor: status unoccupied ... falling, breathing_rate. */
static void z2m_owon_fds315_status(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e, *un;

	(void)state;
	e = convx(a, "zigbee2mqtt/owon", "{\"status\":\"on_the_bed\",\"breathing_rate\":16,\"location_x\":40}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 2);
	expect_ev(e, 0, "owon", "motion", "true");
	expect_ev(e, 1, "owon", "bed", "true");
	expect_unmapped(un, "owon", "breathing_rate", "unmapped", "16");
	json_decref(e);
	json_decref(un);
	e = conv(a, "zigbee2mqtt/owon", "{\"status\":\"falling\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "owon", "fall", "true");
	expect_data(e, 0, "status", "falling");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/owon", "{\"status\":\"unoccupied\"}");
	expect_count(e, 2);
	expect_ev(e, 0, "owon", "motion", "false");
	expect_ev(e, 1, "owon", "bed", "false");
	json_decref(e);
	ch_adapters_free(a);
}

/* HEIMAN HS8OS-EF1-3.0 presence radar: occupancy held true while someone moves; occupancy_hold. */
static void z2m_heiman_hs8os_occupancy_hold(void **state)
{
	struct ch_adapters *a = make("[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\",\"occupancy_hold\":\"5m\"}]");
	const char *msg = "{\"occupancy\":true,\"ambient_light\":80,\"linkquality\":90}";
	json_t *e;

	(void)state;
	e = convx(a, "zigbee2mqtt/living radar", msg, NULL, ARRIVAL, NULL, NULL);
	expect_count(e, 1);
	json_decref(e);
	/* Still held a minute later: the same state, not news yet. */
	e = convx(a, "zigbee2mqtt/living radar", msg, NULL, ARRIVAL + 60000, NULL, NULL);
	expect_count(e, 0);
	json_decref(e);
	/* Still held after the hold time: movement within it, a fresh sign of life. */
	e = convx(a, "zigbee2mqtt/living radar", msg, NULL, ARRIVAL + 301000, NULL, NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "living radar", "motion", "true");
	json_decref(e);
	/* A false never repeats. */
	e = convx(a, "zigbee2mqtt/living radar", "{\"occupancy\":false}", NULL, ARRIVAL + 400000, NULL, NULL);
	expect_count(e, 1);
	json_decref(e);
	e = convx(a, "zigbee2mqtt/living radar", "{\"occupancy\":false}", NULL, ARRIVAL + 800000, NULL, NULL);
	expect_count(e, 0);
	json_decref(e);
	ch_adapters_free(a);
}

/* ---- Everyday sensors ------------------------------------------------------------ */

static void z2m_aqara_and_heiman_sensors(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e, *un;

	(void)state;
	assert_string_equal(ch_adapters_name(a, 0), "z2m");
	/* Aqara RTCGQ11LM PIR: occupancy, battery, illuminance, voltage. */
	e = conv(a, "zigbee2mqtt/living room/pir",
		 "{\"battery\":15,\"illuminance\":32,\"linkquality\":80,\"occupancy\":true,\"voltage\":2985}");
	expect_count(e, 2);
	expect_ev(e, 0, "living room/pir", "motion", "true");
	expect_ev(e, 1, "living room/pir", "battery", "15");
	json_decref(e);
	/* Aqara MCCGQ11LM door: contact true = closed. */
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":\"90\",\"tamper\":false}");
	expect_count(e, 3);
	expect_ev(e, 0, "front door", "door", "\"open\"");
	expect_ev(e, 1, "front door", "tamper", "false");
	expect_ev(e, 2, "front door", "battery", "90");
	json_decref(e);
	/* Aqara SJCGQ11LM leak. */
	e = conv(a, "zigbee2mqtt/bathroom leak",
		 "{\"battery\":98,\"device_temperature\":26,\"power_outage_count\":3,\"voltage\":3015,\"water_leak\":true}");
	expect_count(e, 2);
	expect_ev(e, 0, "bathroom leak", "water_leak", "true");
	json_decref(e);
	/* Aqara DJT11LM vibration (on a bed frame): vibration maps, its action word is reported. */
	e = convx(a, "zigbee2mqtt/bed vibration",
		  "{\"vibration\":true,\"action\":\"vibration\",\"strength\":12,\"battery\":91}", NULL, ARRIVAL, &un,
		  NULL);
	expect_count(e, 2);
	expect_ev(e, 0, "bed vibration", "vibration", "true");
	expect_unmapped(un, "bed vibration", "action", "unmapped", "vibration");
	expect_unmapped(un, "bed vibration", "strength", "unmapped", "12");
	json_decref(e);
	json_decref(un);
	/* HEIMAN HS1SA smoke, HS1CG gas, a CO alarm; battery_low; temperature. */
	e = conv(a, "zigbee2mqtt/厨房 烟感",
		 "{\"smoke\":true,\"gas\":false,\"carbon_monoxide\":true,\"water_leak\":false,"
		 "\"battery_low\":true,\"temperature\":21.5}");
	expect_count(e, 6);
	expect_ev(e, 0, "厨房 烟感", "water_leak", "false");
	expect_ev(e, 1, "厨房 烟感", "smoke", "true");
	expect_ev(e, 2, "厨房 烟感", "gas", "false");
	expect_ev(e, 3, "厨房 烟感", "co", "true");
	expect_ev(e, 4, "厨房 烟感", "battery_low", "true");
	expect_ev(e, 5, "厨房 烟感", "temperature", "21.5");
	json_decref(e);
	/* A presence radar speaking only "presence"; null means "not known yet". */
	e = conv(a, "zigbee2mqtt/bedroom radar", "{\"presence\":true,\"battery\":null}");
	expect_count(e, 1);
	expect_ev(e, 0, "bedroom radar", "motion", "true");
	json_decref(e);
	/* A plug: its state and power map to nothing and say so. */
	e = convx(a, "zigbee2mqtt/plug", "{\"linkquality\":120,\"state\":\"ON\",\"power\":3.2}", NULL, ARRIVAL,
		  &un, NULL);
	expect_count(e, 0);
	expect_count(un, 2);
	expect_unmapped(un, "plug", "state", "unmapped", "ON");
	expect_unmapped(un, "plug", "power", "unmapped", "3.2");
	json_decref(e);
	json_decref(un);
	ch_adapters_free(a);
}

static void z2m_only_changes(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e;

	(void)state;
	/* The contact is repeated with every battery report: one door event. */
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":90}");
	expect_count(e, 2);
	json_decref(e);
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":89}");
	expect_count(e, 1);
	expect_ev(e, 0, "front door", "battery", "89");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":89}");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":true,\"battery\":89}");
	expect_count(e, 1);
	expect_ev(e, 0, "front door", "door", "\"closed\"");
	json_decref(e);
	/* Same state on another device is news. */
	e = conv(a, "zigbee2mqtt/back door", "{\"contact\":true}");
	expect_count(e, 1);
	json_decref(e);
	ch_adapters_free(a);

	/* only_changes off: every report. */
	a = make("[{\"name\":\"z\",\"kind\":\"zigbee2mqtt\",\"only_changes\":false}]");
	for (int i = 0; i < 2; i++) {
		e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false}");
		expect_count(e, 1);
		json_decref(e);
	}
	ch_adapters_free(a);
}

/* ---- Output modes, fields, ignore --------------------------------------------------- */

/* Zigbee2MQTT with advanced.output: attribute: <name>/<attribute> and a bare value. */
static void z2m_attribute_output(void **state)
{
	static const struct reg_entry reg[] = {{"hall/button", "sos"}, {NULL, NULL}};
	struct ch_adapters *a = make("[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\",\"output\":\"attribute\"}]");
	json_t *e, *un;

	(void)state;
	/* Aqara RTCGQ11LM in attribute mode; the name has a slash. */
	e = conv(a, "zigbee2mqtt/living room/pir/occupancy", "true");
	expect_count(e, 1);
	expect_ev(e, 0, "living room/pir", "motion", "true");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/living room/pir/battery", "87");
	expect_ev(e, 0, "living room/pir", "battery", "87");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/front door/contact", "false");
	expect_ev(e, 0, "front door", "door", "\"open\"");
	json_decref(e);
	/* HEIMAN HS1EB's action as an attribute. */
	e = convr(a, "zigbee2mqtt/hall/button/action", "single", reg);
	expect_count(e, 1);
	expect_ev(e, 0, "hall/button", "sos", "true");
	json_decref(e);
	/* HEIMAN HS2FD's fall status. */
	e = conv(a, "zigbee2mqtt/bathroom radar/fall_status", "fall_alarm");
	expect_ev(e, 0, "bathroom radar", "fall", "true");
	json_decref(e);
	/* Diagnostics and nested keys (update-state) are ignored; other attributes reported; empty is nothing. */
	e = convx(a, "zigbee2mqtt/front door/linkquality", "90", NULL, ARRIVAL, &un, NULL);
	expect_count(e, 0);
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	e = convx(a, "zigbee2mqtt/front door/update-state", "idle", NULL, ARRIVAL, &un, NULL);
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	e = convx(a, "zigbee2mqtt/front door/trigger_count", "5", NULL, ARRIVAL, &un, NULL);
	expect_unmapped(un, "front door", "trigger_count", "unmapped", "5");
	json_decref(e);
	json_decref(un);
	e = conv(a, "zigbee2mqtt/front door/contact", "");
	expect_count(e, 0);
	json_decref(e);
	/* A JSON message still converts (a mixed fleet, availability). */
	e = conv(a, "zigbee2mqtt/kitchen smoke", "{\"smoke\":true}");
	expect_ev(e, 0, "kitchen smoke", "smoke", "true");
	json_decref(e);
	expect_reject(a, "zigbee2mqtt/lonely", "true", CH_REJ_NOT_OBJECT);
	ch_adapters_free(a);

	/* output json (the default): an attribute message is refused with the hint. */
	a = make(z2m_conf);
	expect_reject(a, "zigbee2mqtt/front door/contact", "false", CH_REJ_NOT_OBJECT);
	{
		json_t *out = json_array();
		struct ch_adapter_out ao = {out, NULL, NULL};
		enum ch_reject why;
		char err[256];
		assert_int_equal(ch_adapters_convert(a, 0, "zigbee2mqtt/front door/contact", "false", 5, ARRIVAL, NULL,
						     &ao, &why, err, sizeof(err)),
				 CH_EINVAL);
		assert_non_null(strstr(err, "\"output\": \"attribute\""));
		json_decref(out);
	}
	ch_adapters_free(a);

	/* attribute_and_json: the JSON message carries it all; attribute topics are twins. */
	a = make("[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\",\"output\":\"attribute_and_json\"}]");
	e = conv(a, "zigbee2mqtt/sos/action", "emergency");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "zigbee2mqtt/sos", "{\"action\":\"emergency\"}");
	expect_count(e, 1);
	json_decref(e);
	ch_adapters_free(a);
}

static void z2m_fields_and_ignore(void **state)
{
	struct ch_adapters *a = make(
		"[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\",\"ignore\":[\"strength\",\"sensor_status\"],"
		"\"fields\":[{\"field\":\"alarm\",\"type\":\"smoke\",\"transform\":{\"map\":{\"ON\":true,\"OFF\":false}}},"
		"{\"field\":\"breathing_rate\",\"type\":\"breathing_rate\"},"
		"{\"field\":\"contact\",\"type\":\"window\",\"transform\":{\"invert\":true}}]}]");
	json_t *e, *un;

	(void)state;
	/* A smoke alarm speaking "alarm": "ON"; configured fields go first and replace built-ins. */
	e = convx(a, "zigbee2mqtt/smoke", "{\"alarm\":\"ON\",\"contact\":true,\"strength\":3,\"sensor_status\":\"x\"}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(e, 2);
	expect_ev(e, 0, "smoke", "smoke", "true");
	expect_ev(e, 1, "smoke", "window", "false");
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	/* OWON FDS315's breathing rate, mapped by configuration. */
	e = conv(a, "zigbee2mqtt/owon", "{\"breathing_rate\":17}");
	expect_ev(e, 0, "owon", "breathing_rate", "17");
	json_decref(e);
	/* A value the transform cannot take: reported, the rest converts. */
	e = convx(a, "zigbee2mqtt/smoke", "{\"contact\":\"yes\",\"battery\":50}", NULL, ARRIVAL, &un, NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "smoke", "battery", "50");
	expect_unmapped(un, "smoke", "contact", "bad_value", "yes");
	json_decref(e);
	json_decref(un);
	ch_adapters_free(a);
}

/* ---- The bridge ------------------------------------------------------------------- */

/* A bridge/devices document as Zigbee2MQTT publishes it (trimmed to what matters). */
static const char bridge_devices[] =
	"[{\"ieee_address\":\"0x00124b0000000001\",\"type\":\"Coordinator\",\"friendly_name\":\"Coordinator\","
	"\"definition\":null},"
	"{\"ieee_address\":\"0x00124b0022aabbcc\",\"type\":\"EndDevice\",\"friendly_name\":\"hall button\","
	"\"model_id\":\"SOS-EM\",\"definition\":{\"model\":\"HS1EB/HS1EB-E\",\"vendor\":\"Heiman\","
	"\"description\":\"Smart emergency button\",\"exposes\":["
	"{\"type\":\"numeric\",\"name\":\"battery\",\"property\":\"battery\",\"access\":5,\"category\":\"diagnostic\"},"
	"{\"type\":\"enum\",\"name\":\"action\",\"property\":\"action\",\"access\":1,"
	"\"values\":[\"off\",\"single\",\"double\",\"hold\"]}]}},"
	"{\"ieee_address\":\"0x00124b0033ddeeff\",\"type\":\"Router\",\"friendly_name\":\"卫生间 跌倒\","
	"\"definition\":{\"model\":\"HS2FD-EF1-3.0\",\"vendor\":\"Heiman\",\"description\":\"Fall Detection Sensor\","
	"\"exposes\":[{\"type\":\"binary\",\"property\":\"occupancy\",\"access\":1},"
	"{\"type\":\"enum\",\"property\":\"sensor_status\",\"access\":1},"
	"{\"type\":\"enum\",\"property\":\"fall_status\",\"access\":1},"
	"{\"type\":\"enum\",\"property\":\"sensitivity\",\"access\":7},"
	"{\"type\":\"enum\",\"property\":\"installation_method\",\"access\":7}]}},"
	"{\"ieee_address\":\"0x00158d000aa11223\",\"type\":\"EndDevice\",\"friendly_name\":\"bathroom leak\","
	"\"definition\":{\"model\":\"SJCGQ11LM\",\"vendor\":\"Aqara\",\"description\":\"Water leak sensor\","
	"\"exposes\":[{\"type\":\"binary\",\"property\":\"water_leak\",\"access\":1}]}},"
	"{\"ieee_address\":\"0x00158d000aa11224\",\"type\":\"Router\",\"friendly_name\":\"0x00158d000aa11224\","
	"\"definition\":{\"model\":\"TS011F_plug_1\",\"vendor\":\"Tuya\",\"description\":\"Smart plug\","
	"\"exposes\":[{\"type\":\"switch\",\"features\":[{\"type\":\"binary\",\"property\":\"state\",\"access\":7}]},"
	"{\"type\":\"numeric\",\"property\":\"power\",\"access\":5}]}},"
	"{\"ieee_address\":\"0x00158d000aa11225\",\"type\":\"EndDevice\",\"friendly_name\":\"not interviewed\","
	"\"definition\":null},"
	"17, {\"friendly_name\":[]}]";

static json_t *suggested(json_t *list, const char *name)
{
	size_t i;
	json_t *d;

	json_array_foreach(list, i, d)
		if (strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
			return json_object_get(d, "suggest");
	fail_msg("no device %s in the bridge list", name);
	return NULL;
}

static void z2m_bridge_devices_learned(void **state)
{
	struct ch_adapters *a = make("[{\"name\":\"home\",\"kind\":\"zigbee2mqtt\",\"base_topic\":\"z2m/site1\"}]");
	struct ch_adapters *b;
	json_t *e, *un, *br, *s;

	(void)state;
	assert_true(ch_adapters_large(a, "z2m/site1/bridge/devices"));
	assert_false(ch_adapters_large(a, "z2m/site1/bridge/info"));
	assert_false(ch_adapters_large(a, "zigbee2mqtt/bridge/devices"));
	e = convx(a, "z2m/site1/bridge/devices", bridge_devices, NULL, ARRIVAL, &un, &br);
	expect_count(e, 0);
	expect_count(un, 0);
	assert_int_equal(json_array_size(br), 5); /* no coordinator, nothing unusable */
	s = suggested(br, "hall button");
	assert_string_equal(json_string_value(json_object_get(s, "type")), "sos");
	assert_string_equal(json_string_value(json_object_get(s, "id")), "hall-button");
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "aliases"), 0)), "hall button");
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "aliases"), 1)), "0x00124b0022aabbcc");
	s = suggested(br, "卫生间 跌倒");
	assert_string_equal(json_string_value(json_object_get(s, "type")), "fall");
	assert_string_equal(json_string_value(json_object_get(s, "id")), "0x00124b0033ddeeff");
	assert_string_equal(json_string_value(json_object_get(suggested(br, "bathroom leak"), "type")), "water_leak");
	assert_string_equal(json_string_value(json_object_get(suggested(br, "0x00158d000aa11224"), "type")), "unknown");
	assert_int_equal(json_array_size(json_object_get(suggested(br, "0x00158d000aa11224"), "aliases")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(br, 0), "model")), "HS1EB/HS1EB-E");
	json_decref(e);
	json_decref(un);
	json_decref(br);
	/* Settings the bridge said are settable are not reported as unmapped; readings still are. */
	e = convx(a, "z2m/site1/卫生间 跌倒",
		  "{\"fall_status\":\"normal\",\"occupancy\":false,\"sensitivity\":\"HighSensitivity\","
		  "\"installation_method\":\"Ceiling\",\"sensor_status\":\"none\"}",
		  NULL, ARRIVAL, &un, NULL);
	expect_count(un, 1);
	expect_unmapped(un, "卫生间 跌倒", "sensor_status", "unmapped", "none");
	json_decref(e);
	json_decref(un);
	/* Registered by its IEEE address, the device is found under its friendly name, renamed or not. */
	{
		static const struct reg_entry by_ieee[] = {{"0x00124b0022aabbcc", "sos"}, {NULL, NULL}};
		e = convr(a, "z2m/site1/hall button", "{\"action\":\"hold\"}", by_ieee);
		expect_count(e, 1);
		expect_ev(e, 0, "0x00124b0022aabbcc", "sos", "true");
		json_decref(e);
	}
	/* A reload keeps what was learned. */
	b = make("[{\"name\":\"home\",\"kind\":\"zigbee2mqtt\",\"base_topic\":\"z2m/site1\",\"output\":\"attribute\"}]");
	ch_adapters_inherit(b, a);
	e = convx(b, "z2m/site1/卫生间 跌倒/sensitivity", "LowSensitivity", NULL, ARRIVAL, &un, NULL);
	expect_count(un, 0);
	json_decref(e);
	json_decref(un);
	ch_adapters_free(b);
	/* Not an array: refused whole, nothing learned. */
	expect_reject(a, "z2m/site1/bridge/devices", "{\"devices\":[]}", CH_REJ_NOT_OBJECT);
	ch_adapters_free(a);
}

static void z2m_availability_and_bridge_chatter(void **state)
{
	struct ch_adapters *a = make("[{\"name\":\"home\",\"kind\":\"zigbee2mqtt\","
				     "\"base_topic\":\"z2m/site1\"}]");
	json_t *e;
	bool shared = true;

	(void)state;
	assert_int_equal(ch_adapters_nsubs(a), 2);
	assert_string_equal(ch_adapters_sub(a, 0, &shared), "z2m/site1/#");
	assert_true(shared);
	assert_string_equal(ch_adapters_sub(a, 1, &shared), "z2m/site1/bridge/devices");
	assert_false(shared);
	assert_null(ch_adapters_sub(a, 2, NULL));
	e = conv(a, "z2m/site1/front door/availability", "{\"state\":\"offline\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "front door", "availability", "\"offline\"");
	json_decref(e);
	/* Legacy plain payload, same state: remembered. */
	e = conv(a, "z2m/site1/front door/availability", "offline");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "z2m/site1/hall/pir/availability", "online");
	expect_count(e, 1);
	expect_ev(e, 0, "hall/pir", "availability", "\"online\"");
	json_decref(e);
	/* The bridge itself. */
	e = conv(a, "z2m/site1/bridge/state", "{\"state\":\"offline\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "bridge:home", "availability", "\"offline\"");
	json_decref(e);
	e = conv(a, "z2m/site1/bridge/state", "online");
	expect_count(e, 1);
	expect_ev(e, 0, "bridge:home", "availability", "\"online\"");
	json_decref(e);
	/* Bridge chatter and commands: nothing. */
	static const char *const quiet[][2] = {
		{"z2m/site1/bridge/logging", "{\"level\":\"info\",\"message\":\"hi\"}"},
		{"z2m/site1/bridge/info", "{\"version\":\"2.1.0\"}"},
		{"z2m/site1/lamp/set", "{\"state\":\"ON\"}"},
		{"z2m/site1/lamp/get", "{\"state\":\"\"}"},
		{"z2m/site1/lamp/set/state", "ON"},
	};
	for (size_t i = 0; i < CH_ARRAY_LEN(quiet); i++) {
		json_t *un;
		e = convx(a, quiet[i][0], quiet[i][1], NULL, ARRIVAL, &un, NULL);
		expect_count(e, 0);
		expect_count(un, 0);
		json_decref(e);
		json_decref(un);
	}
	expect_reject(a, "z2m/site1/front door/availability", "{\"state\":\"gone\"}", CH_REJ_BAD_FIELD);
	expect_reject(a, "z2m/site1/front door/availability", "maybe", CH_REJ_BAD_FIELD);
	ch_adapters_free(a);
}

static void z2m_bad_messages(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	char deep[200];
	size_t n = 0;
	json_t *e, *un;

	(void)state;
	expect_reject(a, "zigbee2mqtt/front door", "{not json", CH_REJ_NOT_JSON);
	expect_reject(a, "zigbee2mqtt/front door", "[1,2]", CH_REJ_NOT_OBJECT);
	expect_reject(a, "zigbee2mqtt/front door", "\"on\"", CH_REJ_NOT_OBJECT);
	expect_reject(a, "zigbee2mqtt/front door", "{\"contact\":false,\"contact\":true}",
		      CH_REJ_NOT_JSON);
	expect_reject_len(a, "zigbee2mqtt/front door", "{\"a\":\"\xc3\x28\"}", 10, CH_REJ_BAD_UTF8);
	expect_reject_len(a, "zigbee2mqtt/front door", "{\"a\":\"\0\"}", 8, CH_REJ_NOT_JSON);
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	deep[n++] = '1';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	expect_reject(a, "zigbee2mqtt/front door", deep, CH_REJ_TOO_DEEP);
	expect_reject(a, "zigbee2mqtt/front door", "", CH_REJ_NOT_JSON);
	/* Brackets inside strings do not count. */
	json_decref(conv(a, "zigbee2mqtt/x", "{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}"));
	/*
	 * Wrong types are reported field by field and the rest converts: a
	 * smoke alarm's "smoke": true must not be lost to an odd battery.
	 */
	e = convx(a, "zigbee2mqtt/kitchen smoke",
		  "{\"smoke\":true,\"battery\":\"full\",\"occupancy\":1,\"temperature\":[21]}", NULL, ARRIVAL, &un,
		  NULL);
	expect_count(e, 1);
	expect_ev(e, 0, "kitchen smoke", "smoke", "true");
	expect_unmapped(un, "kitchen smoke", "battery", "bad_value", "full");
	expect_unmapped(un, "kitchen smoke", "occupancy", "bad_value", "1");
	expect_unmapped(un, "kitchen smoke", "temperature", "bad_value", "[21]");
	json_decref(e);
	json_decref(un);
	/* The refused battery was not remembered: the next one is news. */
	e = conv(a, "zigbee2mqtt/kitchen smoke", "{\"battery\":50}");
	expect_count(e, 1);
	json_decref(e);
	/* A long sample is cut, never inside a UTF-8 sequence. */
	e = convx(a, "zigbee2mqtt/x",
		  "{\"note\":\"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十\"}", NULL, ARRIVAL, &un,
		  NULL);
	assert_true(strlen(json_string_value(json_object_get(json_array_get(un, 0), "value"))) <= 64);
	json_decref(e);
	json_decref(un);
	ch_adapters_free(a);
}

/* ---- Topics ---------------------------------------------------------------------- */

static void topic_matching(void **state)
{
	struct ch_adapters *a = make(
		"[{\"name\":\"gw\",\"kind\":\"generic\",\"topic\":\"vendor/+/up\","
		"\"device\":{\"topic_level\":1},\"fields\":[{\"pointer\":\"/v\",\"type\":\"motion\"}]},"
		"{\"name\":\"z\",\"kind\":\"zigbee2mqtt\"},"
		"{\"name\":\"t\",\"kind\":\"tasmota\",\"prefix\":\"tele\"},"
		"{\"name\":\"h\",\"kind\":\"homie\"},"
		"{\"name\":\"all\",\"kind\":\"generic\",\"topic\":\"#\","
		"\"device\":{\"topic_level\":0},\"fields\":[{\"pointer\":\"/v\",\"type\":\"motion\"}]}]");

	(void)state;
	assert_int_equal(ch_adapters_count(a), 5);
	assert_int_equal(ch_adapters_nsubs(a), 7);
	assert_string_equal(ch_adapters_sub(a, 3, NULL), "tele/#");
	assert_string_equal(ch_adapters_sub(a, 4, NULL), "stat/#");
	assert_int_equal(ch_adapters_match(a, "vendor/x/up"), 0);
	assert_int_equal(ch_adapters_match(a, "vendor//up"), 0);
	assert_int_equal(ch_adapters_match(a, "vendor/x/y/up"), 4);
	assert_int_equal(ch_adapters_match(a, "vendor/x/up/more"), 4);
	assert_int_equal(ch_adapters_match(a, "zigbee2mqtt/living room/pir"), 1);
	assert_int_equal(ch_adapters_match(a, "zigbee2mqtt"), 1); /* "a/#" matches "a" */
	assert_int_equal(ch_adapters_match(a, "zigbee2mqttx/a"), 4);
	assert_int_equal(ch_adapters_match(a, "tele/zbbridge/SENSOR"), 2);
	assert_int_equal(ch_adapters_match(a, "stat/plug/POWER"), 2);
	assert_int_equal(ch_adapters_match(a, "homie/5/d/n/p"), 3);
	assert_int_equal(ch_adapters_match(a, "homie/4/d/n/p"), 4);
	assert_int_equal(ch_adapters_match(a, "$SYS/broker/uptime"), -1);
	assert_null(ch_adapters_sub(a, 7, NULL));
	assert_null(ch_adapters_name(a, 9));
	assert_false(ch_adapters_large(a, "vendor/x/up"));
	ch_adapters_free(a);

	/* No adapters at all. */
	struct ch_adapters *none = NULL;
	char err[64];
	assert_int_equal(ch_adapters_new(NULL, &none, err, sizeof(err)), 0);
	assert_int_equal(ch_adapters_count(none), 0);
	assert_int_equal(ch_adapters_nsubs(none), 0);
	assert_int_equal(ch_adapters_match(none, "zigbee2mqtt/x"), -1);
	ch_adapters_free(none);
	ch_adapters_free(NULL);
}

static void convert_outside_filter(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *out = json_array();
	struct ch_adapter_out ao = {out, NULL, NULL};
	enum ch_reject why;
	char err[128];

	(void)state;
	assert_int_equal(ch_adapters_convert(a, 0, "tele/x/SENSOR", "{}", 2, ARRIVAL, NULL, &ao, &why, err,
					     sizeof(err)),
			 CH_EINVAL);
	assert_int_equal(why, CH_REJ_TOPIC_MISMATCH);
	assert_int_equal(ch_adapters_convert(a, 3, "zigbee2mqtt/x", "{}", 2, ARRIVAL, NULL, &ao, &why, err,
					     sizeof(err)),
			 CH_EINVAL);
	assert_int_equal(ch_adapters_convert(a, 0, "zigbee2mqtt/x", "{}", 2, ARRIVAL, NULL, NULL, &why, err,
					     sizeof(err)),
			 CH_EINVAL);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	ch_adapters_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(z2m_feibit_seb01zb_sos_true),
		cmocka_unit_test(z2m_heiman_hs1eb_action_single_on_a_registered_sos_button),
		cmocka_unit_test(z2m_multir_mir_so100_hold_by_ieee_alias),
		cmocka_unit_test(z2m_tuya_ts0215a_emergency),
		cmocka_unit_test(z2m_heiman_hs2fd_fall_status),
		cmocka_unit_test(z2m_tuya_mir_he200_fall_down_status),
		cmocka_unit_test(z2m_owon_fds315_status),
		cmocka_unit_test(z2m_heiman_hs8os_occupancy_hold),
		cmocka_unit_test(z2m_aqara_and_heiman_sensors),
		cmocka_unit_test(z2m_only_changes),
		cmocka_unit_test(z2m_attribute_output),
		cmocka_unit_test(z2m_fields_and_ignore),
		cmocka_unit_test(z2m_bridge_devices_learned),
		cmocka_unit_test(z2m_availability_and_bridge_chatter),
		cmocka_unit_test(z2m_bad_messages),
		cmocka_unit_test(topic_matching),
		cmocka_unit_test(convert_outside_filter),
	};
	return cmocka_run_group_tests_name("adapters", tests, NULL, NULL);
}
