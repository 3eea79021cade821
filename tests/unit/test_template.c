/*
 * test_template.c - notification texts (template.c): the built-in zh and en
 * texts word for word, the lookup order (language, base language, zh; channel,
 * plugin, default), every placeholder, overriding one text from a file, every
 * load error with its JSON path, and cutting Chinese text at a character
 * boundary.
 *
 * The words matter: this is what an elder hears on the phone and what a
 * daughter reads at 3 a.m., so the defaults are pinned as literals here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ch.h"
#include "template.h"

static const struct ch_template_vars zh_vars = {
	.subject = "张桂英",
	.address = "友谊路1号302室",
	.rule = "smoke",
	.severity = "critical",
	.summary = "厨房烟感报警",
	.reason = "smoke",
	.time = "11-28 08:15",
	.location = "厨房",
	.outcome = "false_alarm",
	.contact = "李明",
	.centre_phone = "021-12345678",
};

static const struct ch_template_vars en_vars = {
	.subject = "Zhang Guiying",
	.address = "Flat 302, 1 Youyi Road",
	.rule = "smoke",
	.severity = "critical",
	.summary = "smoke in the kitchen",
	.time = "11-28 08:15",
	.outcome = "false_alarm",
};

/* The family's SMS for zh_vars. */
#define SMS_ZH                                                                                              \
	"【紧急】张桂英家厨房烟雾报警，11-28 08:15，地址友谊路1号302室。请立即打电话并尽快赶到；如有火情请拨打119。" \
	"监护中心021-12345678。回复1表示您来处理，回复2请求支援。"

/* Templates from a JSON literal; fails the test on any load error. */
static struct ch_templates *load(const char *text)
{
	struct ch_templates *t = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	char err[512] = "";

	if (text && !(root = json_loads(text, 0, &jerr)))
		fail_msg("bad test JSON: %s", jerr.text);
	if (ch_templates_load(root, &t, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	json_decref(root);
	assert_non_null(t);
	return t;
}

/* Loading text must fail with CH_ECONFIG and an err starting with want. */
static void load_fails(const char *text, const char *want)
{
	struct ch_templates *t = (struct ch_templates *)(uintptr_t)1; /* untouched on error */
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_DECODE_ANY, &jerr);
	char err[512] = "";

	if (!root)
		fail_msg("bad test JSON: %s", jerr.text);
	assert_int_equal(ch_templates_load(root, &t, err, sizeof(err)), CH_ECONFIG);
	json_decref(root);
	assert_ptr_equal(t, (struct ch_templates *)(uintptr_t)1);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("for %s\n  want: %s...\n  got:  %s", text, want, err);
}

static void assert_render(const struct ch_templates *t, const char *lang, const char *channel,
			  const char *plugin, const char *kind, const struct ch_template_vars *v,
			  const char *want)
{
	char out[1024];

	assert_int_equal(ch_template_render(t, lang, channel, plugin, kind, v, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

/* Code points, not bytes: what an SMS gateway counts. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static void test_builtin_zh(void **state)
{
	(void)state;
	struct ch_templates *t = load(NULL);
	const struct ch_template_vars *v = &zh_vars;

	assert_render(t, "zh", "console", "mqtt", "alert", v,
		      "【紧急】烟雾报警：张桂英（厨房），友谊路1号302室，11-28 08:15。"
		      "请立即打电话并尽快赶到；如有火情请拨打119。监护中心：021-12345678。");
	assert_render(t, "zh", "console", "mqtt", "all_clear", v,
		      "【已解除】烟雾报警：张桂英（友谊路1号302室），处理结果：误报。");
	assert_render(t, "zh", "sms", "sms", "alert", v,
		      "【紧急】张桂英家厨房烟雾报警，11-28 08:15，地址友谊路1号302室。请立即打电话并尽快赶到；"
		      "如有火情请拨打119。监护中心021-12345678。回复1表示您来处理，回复2请求支援。");
	assert_render(t, "zh", "sms", "sms", "all_clear", v, "【已解除】张桂英家的烟雾报警已处理，结果：误报。");
	assert_render(t, "zh", "ai_call", "ai_call", "alert", v,
		      "您好，张桂英，这里是社区关爱服务平台。系统刚刚收到一条提醒：烟雾报警。我们想确认一下您是否安好。"
		      "如果您一切安好，请按1；如果需要帮助，请按2。");
	assert_render(t, "zh", "ai_call", "ai_call", "all_clear", v,
		      "您好，张桂英，这里是社区关爱服务平台。刚才的烟雾报警提醒已经解除，感谢您的配合。祝您生活愉快，再见。");
	assert_render(t, "zh", "caseworker", "caseworker", "alert", v,
		      "【核实任务·紧急】张桂英（友谊路1号302室）：烟雾报警（厨房），11-28 08:15。"
		      "请尽快电话或上门核实，并在系统中登记结果。");
	assert_render(t, "zh", "caseworker", "caseworker", "all_clear", v,
		      "【告警已解除】张桂英（友谊路1号302室）：烟雾报警，结果：误报。本条核实任务可以关闭。");
	/* The all clear quotes the operator's note as written. */
	struct ch_template_vars noted = zh_vars;
	noted.note = "烤面包烤糊了，老人安好";
	assert_render(t, "zh", "sms", "sms", "all_clear", &noted,
		      "【已解除】张桂英家的烟雾报警已处理，结果：误报。说明：烤面包烤糊了，老人安好");
	assert_render(t, "zh", "console", "mqtt", "all_clear", &noted,
		      "【已解除】烟雾报警：张桂英（友谊路1号302室），处理结果：误报。说明：烤面包烤糊了，老人安好");
	noted.role = "family";
	noted.contact = "李明";
	assert_render(t, "zh", "call", "ai_call", "all_clear", &noted,
		      "您好，李明，这里是社区关爱服务平台。张桂英的烟雾报警提醒已经解除，结果：误报。"
		      "值班员说明：烤面包烤糊了，老人安好。谢谢您，再见。");
	/* To the person: 1 is "I am fine". */
	noted.role = "self";
	assert_render(t, "zh", "sms", "sms", "alert", &noted,
		      "【紧急】张桂英您好，系统收到烟雾报警提醒，11-28 08:15。如果您一切安好请回复1，需要帮助请回复2"
		      "或致电021-12345678。");
	ch_templates_free(t);
}

static void test_builtin_en(void **state)
{
	(void)state;
	struct ch_templates *t = load(NULL);
	const struct ch_template_vars *v = &en_vars;

	assert_render(t, "en", "console", "mqtt", "alert", v,
		      "[Critical] smoke alarm: Zhang Guiying, Flat 302, 1 Youyi Road, 11-28 08:15. "
		      "Call them now and go there; if there is a fire, call 119.");
	assert_render(t, "en", "console", "mqtt", "all_clear", v,
		      "[All clear] smoke alarm: Zhang Guiying (Flat 302, 1 Youyi Road). Outcome: false alarm.");
	assert_render(t, "en", "sms", "sms", "alert", v,
		      "[Critical] smoke alarm at Zhang Guiying's home, 11-28 08:15, Flat 302, 1 Youyi Road. "
		      "Call them now and go there; if there is a fire, call 119. Reply 1 if you are on it, 2 if you need help.");
	assert_render(t, "en", "sms", "sms", "all_clear", v,
		      "[All clear] smoke alarm at Zhang Guiying's home has been dealt with. Outcome: false alarm.");
	assert_render(t, "en", "ai_call", "ai_call", "alert", v,
		      "Hello Zhang Guiying, this is the community care service calling. We have just received an alert: "
		      "smoke alarm. We want to make sure you are all right. If you are fine, please press 1. "
		      "If you need help, please press 2.");
	assert_render(t, "en", "ai_call", "ai_call", "all_clear", v,
		      "Hello Zhang Guiying, this is the community care service calling. The earlier smoke alarm alert "
		      "has been cleared. Thank you, and take care. Goodbye.");
	assert_render(t, "en", "caseworker", "caseworker", "alert", v,
		      "[Check task, Critical] Zhang Guiying (Flat 302, 1 Youyi Road): smoke alarm, 11-28 08:15. "
		      "Please call or visit to check, and record the outcome.");
	assert_render(t, "en", "caseworker", "caseworker", "all_clear", v,
		      "[All clear] Zhang Guiying (Flat 302, 1 Youyi Road): smoke alarm. Outcome: false alarm. "
		      "This check task can be closed.");
	/* One language throughout: the Chinese room name stays out of an English text, the English one is kept. */
	struct ch_template_vars room = *v;
	room.location = "厨房";
	assert_render(t, "en", "sms", "sms", "alert", &room,
		      "[Critical] smoke alarm at Zhang Guiying's home, 11-28 08:15, Flat 302, 1 Youyi Road. "
		      "Call them now and go there; if there is a fire, call 119. Reply 1 if you are on it, 2 if you need help.");
	room.location = "Kitchen";
	room.note = "burnt toast";
	room.centre_phone = "+86 21 12345678";
	assert_render(t, "en", "sms", "sms", "alert", &room,
		      "[Critical] smoke alarm at Zhang Guiying's home (kitchen), 11-28 08:15, Flat 302, 1 Youyi Road. "
		      "Call them now and go there; if there is a fire, call 119. Centre: +86 21 12345678. "
		      "Reply 1 if you are on it, 2 if you need help.");
	assert_render(t, "en", "sms", "sms", "all_clear", &room,
		      "[All clear] smoke alarm at Zhang Guiying's home has been dealt with. Outcome: false alarm. "
		      "Note: burnt toast");
	ch_templates_free(t);
}

/*
 * A family SMS says who, what, where, when, what to do, whom to call and how
 * to answer: with a full Shanghai address it still fits two Chinese SMS (134
 * characters; the sms plugin splits).
 */
static void test_zh_sms_fits_two_messages(void **state)
{
	(void)state;
	struct ch_templates *t = load(NULL);
	struct ch_template_vars v = zh_vars;
	char out[1024];

	v.address = "上海市宝山区友谊路街道示例路1弄2号101室";
	v.location = "kitchen";
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", "alert", &v, out, sizeof(out)), 0);
	assert_string_equal(out, "【紧急】张桂英家厨房烟雾报警，11-28 08:15，地址上海市宝山区友谊路街道示例路1弄2号101室。"
				 "请立即打电话并尽快赶到；如有火情请拨打119。监护中心021-12345678。"
				 "回复1表示您来处理，回复2请求支援。");
	assert_true(utf8_chars(out) <= 134);
	v.rule = "inactivity_day";
	v.severity = "high";
	v.location = NULL; /* no device: the room is left out, not "家" + nothing + "、" */
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", "alert", &v, out, sizeof(out)), 0);
	assert_string_equal(out, "【高】张桂英家白天长时间无活动，11-28 08:15，地址上海市宝山区友谊路街道示例路1弄2号101室。"
				 "请尽快打电话确认老人是否安好，无人接听请上门查看。监护中心021-12345678。"
				 "回复1表示您来处理，回复2请求支援。");
	assert_true(utf8_chars(out) <= 134);
	ch_templates_free(t);
}

static void test_language_fallback(void **state)
{
	(void)state;
	struct ch_templates *t = load(NULL);
	const char *zh = "【已解除】张桂英家的烟雾报警已处理，结果：误报。";
	const char *en = "[All clear] smoke alarm at Zhang Guiying's home has been dealt with. Outcome: false alarm.";
	struct ch_template_vars v = zh_vars;

	v.subject = en_vars.subject;
	assert_render(t, "zh-CN", "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, "zh-TW", "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, "zh_CN", "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, "fr", "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, "fr-FR", "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, NULL, "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, "", "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, "a-very-long-code", "sms", "sms", "all_clear", &zh_vars, zh);
	assert_render(t, "en-GB", "sms", "sms", "all_clear", &v, en);
	assert_render(t, "en", "sms", "sms", "all_clear", &v, en);
	ch_templates_free(t);
}

static void test_channel_fallback(void **state)
{
	(void)state;
	struct ch_templates *t = load("{\"zh\": {\"family_sms\": {\"alert\": \"channel {subject}\"},"
				      "          \"webhook\": {\"alert\": \"plugin {subject}\"}}}");
	const struct ch_template_vars v = {.subject = "S"};

	/* Channel name first, then plugin name, then default. */
	assert_render(t, "zh", "family_sms", "webhook", "alert", &v, "channel S");
	assert_render(t, "zh", "ops", "webhook", "alert", &v, "plugin S");
	assert_render(t, "zh", "ops", "log", "alert", &v, "【】：S，，。请尽快打电话确认老人是否安好，无人接听请上门查看。");
	assert_render(t, "zh", "webhook", "log", "alert", &v, "plugin S");
	/* A channel called after a built-in plugin; a plugin whose channel has another name. */
	assert_render(t, "zh", "sms", "log", "all_clear", &v, "【已解除】S家的已处理，结果：。");
	assert_render(t, "zh", "relatives", "sms", "all_clear", &v, "【已解除】S家的已处理，结果：。");
	assert_render(t, "zh", NULL, NULL, "all_clear", &v, "【已解除】：S（），处理结果：。");
	assert_render(t, "zh", "", "", "all_clear", &v, "【已解除】：S（），处理结果：。");
	/* The channel's own text has no all clear: the plugin's, then default. */
	assert_render(t, "zh", "family_sms", "sms", "all_clear", &v, "【已解除】S家的已处理，结果：。");
	ch_templates_free(t);
}

/* Language before channel: a language's default beats another language's channel text. */
static void test_language_before_channel(void **state)
{
	(void)state;
	struct ch_templates *t = load("{\"fr\": {\"default\": {\"alert\": \"FR {rule} {severity} {outcome}\"},"
				      "         \"rules\": {\"fall\": \"chute\"}},"
				      " \"en-GB\": {\"sms\": {\"alert\": \"GB {rule} {severity}\"},"
				      "            \"rules\": {\"gas\": \"gas escape\"}}}");
	struct ch_template_vars v = {.rule = "smoke", .severity = "high", .outcome = "genuine"};

	assert_render(t, "fr", "sms", "sms", "alert", &v, "FR smoke high genuine");
	v.rule = "fall";
	assert_render(t, "fr-CA", "ai_call", "ai_call", "alert", &v, "FR chute high genuine");
	/* fr has no all clear: zh's, with zh names, though fr's own rule names come first. */
	assert_render(t, "fr", "sms", "sms", "all_clear", &v, "【已解除】家的chute已处理，结果：确认险情。");
	v.rule = "smoke";
	assert_render(t, "fr", "sms", "sms", "all_clear", &v, "【已解除】家的烟雾报警已处理，结果：确认险情。");
	/* en-GB: its own SMS text, en's names where it has none of its own. */
	assert_render(t, "en-GB", "sms", "sms", "alert", &v, "GB smoke alarm High");
	v.rule = "gas";
	assert_render(t, "en-GB", "sms", "sms", "alert", &v, "GB gas escape High");
	assert_render(t, "en", "sms", "sms", "alert", &v,
		      "[High] gas leak at 's home, , . Call them now: open the windows, no flames; go there, and call 119 "
		      "if needed. Reply 1 if you are on it, 2 if you need help.");
	assert_render(t, "en-GB", "console", "mqtt", "all_clear", &v,
		      "[All clear] gas escape:  (). Outcome: confirmed emergency.");
	ch_templates_free(t);
}

static void test_every_placeholder(void **state)
{
	(void)state;
	struct ch_templates *t = load("{\"zh\": {\"x\": {\"alert\": \"{subject}|{address}|{rule}|{rule_id}|{severity}|"
				      "{summary}|{reason}|{time}|{location}|{outcome}|{contact}|{centre_phone}|{note}|{advice}\"}},"
				      " \"en\": {\"x\": {\"alert\": \"{subject}|{address}|{rule}|{rule_id}|{severity}|"
				      "{summary}|{reason}|{time}|{location}|{outcome}|{contact}|{centre_phone}|{note}|{advice}\"}}}");
	static const struct {
		const char *severity, *outcome, *zh_sev, *zh_out, *en_sev, *en_out;
	} names[] = {
		{"critical", "genuine", "紧急", "确认险情", "Critical", "confirmed emergency"},
		{"high", "false_alarm", "高", "误报", "High", "false alarm"},
		{"medium", "accidental", "中", "误触", "Medium", "accidental trigger"},
		{"low", "no_response", "低", "无人响应", "Low", "no response"},
		{"info", "activity_resumed", "提示", "活动已恢复", "Info", "activity resumed"},
		{"urgent", "resolved", "urgent", "resolved", "urgent", "resolved"}, /* unknown: as given */
	};
	struct ch_template_vars v = zh_vars;
	char want[1024];

	v.note = "N";
	for (size_t i = 0; i < CH_ARRAY_LEN(names); i++) {
		v.severity = names[i].severity;
		v.outcome = names[i].outcome;
		ch_fmt(want, sizeof(want), "张桂英|友谊路1号302室|烟雾报警|smoke|%s|厨房烟感报警|smoke|11-28 08:15|厨房|%s|李明|"
					   "021-12345678|N|请立即打电话并尽快赶到；如有火情请拨打119。",
		       names[i].zh_sev, names[i].zh_out);
		assert_render(t, "zh", "x", NULL, "alert", &v, want);
		/* English: the Chinese room name is left out (one language throughout). */
		ch_fmt(want, sizeof(want), "张桂英|友谊路1号302室|smoke alarm|smoke|%s|厨房烟感报警|smoke|11-28 08:15||%s|李明|"
					   "021-12345678|N|Call them now and go there; if there is a fire, call 119.",
		       names[i].en_sev, names[i].en_out);
		assert_render(t, "en", "x", NULL, "alert", &v, want);
	}
	/* NULL vars: every placeholder is empty. */
	assert_render(t, "zh", "x", NULL, "alert", NULL, "|||||||||||||请尽快打电话确认老人是否安好，无人接听请上门查看。");
	assert_render(t, NULL, NULL, NULL, "alert", NULL, "【】：，，。请尽快打电话确认老人是否安好，无人接听请上门查看。");
	ch_templates_free(t);
}

static void test_escapes(void **state)
{
	(void)state;
	struct ch_templates *t = load("{\"zh\": {\"x\": {\"alert\": \"{{subject} {{{subject}} a}b {{\"}}}");
	const struct ch_template_vars v = {.subject = "{time}"};

	/* "{{" is "{"; "}" alone is text; a value is never expanded again. */
	assert_render(t, "zh", "x", NULL, "alert", &v, "{subject} {{time}} a}b {");
	load_fails("{\"zh\": {\"x\": {\"alert\": \"{}\"}}}", "templates.zh.x.alert: unknown placeholder {}");
	ch_templates_free(t);
	t = load("{\"zh\": {\"x\": {\"all_clear\": \"{{{{ }{{\"}}}");
	assert_render(t, "zh", "x", NULL, "all_clear", &v, "{{ }{");
	ch_templates_free(t);
}

static void test_rule_names(void **state)
{
	(void)state;
	struct ch_templates *t = load("{\"zh\": {\"x\": {\"alert\": \"{rule}/{rule_id}\"}},"
				      " \"en\": {\"x\": {\"alert\": \"{rule}/{rule_id}\"}}}");
	struct ch_template_vars v = {.rule = "inactivity_day"};

	assert_render(t, "zh", "x", NULL, "alert", &v, "白天长时间无活动/inactivity_day");
	assert_render(t, "en", "x", NULL, "alert", &v, "no activity during the day/inactivity_day");
	v.rule = "my_rule";
	assert_render(t, "zh", "x", NULL, "alert", &v, "my_rule/my_rule");
	v.rule = NULL;
	assert_render(t, "en", "x", NULL, "alert", &v, "/");
	ch_templates_free(t);
}

/* Every rule in the shipped pack has a short name in both built-in languages. */
static void test_rule_pack_named(void **state)
{
	(void)state;
	const char *src = getenv("CH_SRC_DIR");
	struct ch_templates *t = load("{\"zh\": {\"x\": {\"alert\": \"{rule}\"}}, \"en\": {\"x\": {\"alert\": \"{rule}\"}}}");
	char path[1024], out[256];
	json_error_t jerr;
	json_t *pack, *rule;
	size_t i;

	ch_fmt(path, sizeof(path), "%s/config/rules.json", src ? src : ".");
	pack = json_load_file(path, 0, &jerr);
	if (!pack)
		fail_msg("%s: %s", path, jerr.text);
	assert_true(json_array_size(json_object_get(pack, "rules")) >= 16);
	json_array_foreach(json_object_get(pack, "rules"), i, rule) {
		struct ch_template_vars v = {.rule = json_string_value(json_object_get(rule, "id"))};

		assert_non_null(v.rule);
		for (int l = 0; l < 2; l++) {
			assert_int_equal(ch_template_render(t, l ? "en" : "zh", "x", NULL, "alert", &v, out, sizeof(out)), 0);
			if (strcmp(out, v.rule) == 0)
				fail_msg("rule %s has no %s short name", v.rule, l ? "en" : "zh");
		}
	}
	json_decref(pack);
	ch_templates_free(t);
}

/* A file that changes one text keeps every other built-in. */
static void test_override_one(void **state)
{
	(void)state;
	struct ch_templates *t = load("{\"zh\": {\"sms\": {\"alert\": \"短信：{subject}{rule}\"},"
				      "         \"rules\": {\"smoke\": \"冒烟\"},"
				      "         \"severity\": {\"critical\": \"特急\"},"
				      "         \"outcome\": {\"false_alarm\": \"虚惊一场\"}}}");
	const struct ch_template_vars *v = &zh_vars;

	assert_render(t, "zh", "sms", "sms", "alert", v, "短信：张桂英冒烟");
	assert_render(t, "zh", "sms", "sms", "all_clear", v, "【已解除】张桂英家的冒烟已处理，结果：虚惊一场。");
	assert_render(t, "zh", "console", "mqtt", "alert", v,
		      "【特急】冒烟：张桂英（厨房），友谊路1号302室，11-28 08:15。"
		      "请立即打电话并尽快赶到；如有火情请拨打119。监护中心：021-12345678。");
	assert_render(t, "en", "sms", "sms", "alert", &en_vars,
		      "[Critical] smoke alarm at Zhang Guiying's home, 11-28 08:15, Flat 302, 1 Youyi Road. "
		      "Call them now and go there; if there is a fire, call 119. Reply 1 if you are on it, 2 if you need help.");
	ch_templates_free(t);

	/* Rooms and advice are names like rules: a file adds its own. */
	t = load("{\"zh\": {\"locations\": {\"garage\": \"车库\"}, \"advice\": {\"smoke\": \"快去！\"}}}");
	struct ch_template_vars g = zh_vars;
	g.location = "Garage";
	assert_render(t, "zh", "sms", "sms", "alert", &g,
		      "【紧急】张桂英家车库烟雾报警，11-28 08:15，地址友谊路1号302室。快去！"
		      "监护中心021-12345678。回复1表示您来处理，回复2请求支援。");
	ch_templates_free(t);

	/* An empty file and an empty language change nothing. */
	t = load("{\"en\": {}}");
	assert_render(t, "zh", "sms", "sms", "all_clear", v, "【已解除】张桂英家的烟雾报警已处理，结果：误报。");
	ch_templates_free(t);
}

static void test_load_errors(void **state)
{
	(void)state;
	load_fails("[]", "templates: expected an object of languages");
	load_fails("\"zh\"", "templates: expected an object of languages");
	load_fails("{\"ZH\": {}}", "templates.ZH: bad language code; expected xx or xx-XX");
	load_fails("{\"zh-cn\": {}}", "templates.zh-cn: bad language code");
	load_fails("{\"zh_CN\": {}}", "templates.zh_CN: bad language code");
	load_fails("{\"chi\": {}}", "templates.chi: bad language code");
	load_fails("{\"z\": {}}", "templates.z: bad language code");
	load_fails("{\"zh-CHN\": {}}", "templates.zh-CHN: bad language code");
	load_fails("{\"zh\": []}", "templates.zh: expected an object of channels");
	load_fails("{\"zh\": {\"sms\": \"hi\"}}", "templates.zh.sms: expected an object with \"alert\"");
	load_fails("{\"zh\": {\"\": {\"alert\": \"x\"}}}", "templates.zh: empty channel name");
	load_fails("{\"zh\": {\"sms\": {\"alrt\": \"x\"}}}",
		   "templates.zh.sms.alrt: unknown key; expected \"alert\", \"all_clear\" or \"checkin\"");
	load_fails("{\"zh\": {\"sms\": {\"alert\": 1}}}", "templates.zh.sms.alert: expected a string");
	load_fails("{\"zh\": {\"sms\": {\"all_clear\": null}}}", "templates.zh.sms.all_clear: expected a string");
	load_fails("{\"zh\": {\"sms\": {\"alert\": \"\"}}}", "templates.zh.sms.alert: empty text");
	load_fails("{\"zh\": {\"sms\": {\"alert\": \"hi {foo}\"}}}",
		   "templates.zh.sms.alert: unknown placeholder {foo}; expected one of {subject} {address} {rule} "
		   "{rule_id} {severity} {summary} {reason} {time} {location} {outcome} {contact} {centre_phone} "
		   "{note} {advice}, or {{ for a literal {");
	load_fails("{\"zh\": {\"sms\": {\"alert\": \"a [[b [[c]] d]]\"}}}",
		   "templates.zh.sms.alert: \"[[\" at byte 6 inside another [[...]]; they do not nest");
	load_fails("{\"zh\": {\"sms\": {\"alert\": \"a ]] b\"}}}", "templates.zh.sms.alert: \"]]\" at byte 2 closes nothing");
	load_fails("{\"zh\": {\"sms\": {\"alert\": \"a [[ {note}\"}}}",
		   "templates.zh.sms.alert: \"[[\" at byte 2 is never closed by \"]]\"");
	load_fails("{\"zh\": {\"locations\": {\"kitchen\": \"\"}}}", "templates.zh.locations.kitchen: expected a non-empty string");
	load_fails("{\"en\": {\"default\": {\"all_clear\": \"{Subject}\"}}}",
		   "templates.en.default.all_clear: unknown placeholder {Subject}");
	load_fails("{\"zh\": {\"sms\": {\"alert\": \"ok {subject} then {subject\"}}}",
		   "templates.zh.sms.alert: '{' at byte 18 is never closed; expected {name}, or {{ for a literal {");
	load_fails("{\"zh\": {\"rules\": []}}", "templates.zh.rules: expected an object of code to name");
	load_fails("{\"zh\": {\"rules\": {\"smoke\": 3}}}", "templates.zh.rules.smoke: expected a non-empty string");
	load_fails("{\"zh\": {\"rules\": {\"smoke\": \"\"}}}", "templates.zh.rules.smoke: expected a non-empty string");
	load_fails("{\"zh\": {\"severity\": {\"urgent\": \"急\"}}}",
		   "templates.zh.severity.urgent: unknown severity; expected critical, high, medium, low or info");
	load_fails("{\"zh\": {\"severity\": \"高\"}}", "templates.zh.severity: expected an object");
	load_fails("{\"zh\": {\"outcome\": {\"resolved\": \"已解决\"}}}",
		   "templates.zh.outcome.resolved: unknown outcome; expected genuine, false_alarm");
	/* The first error wins even after good entries; nothing is half-loaded. */
	load_fails("{\"zh\": {\"sms\": {\"alert\": \"{subject}\"}}, \"en\": {\"sms\": {\"alert\": \"{x}\"}}}",
		   "templates.en.sms.alert: unknown placeholder {x}");
}

/* Too small a buffer: a prefix of the full text, cut between characters, never inside one. */
static void test_truncation(void **state)
{
	(void)state;
	struct ch_templates *t = load("{\"zh\": {\"x\": {\"alert\": \"a{subject}é😀。\"}}}");
	char full[512], out[512];

	assert_int_equal(ch_template_render(t, "zh", "ai_call", NULL, "alert", &zh_vars, full, sizeof(full)), 0);
	for (size_t len = 1; len <= strlen(full) + 1; len++) {
		memset(out, 'X', sizeof(out));
		assert_int_equal(ch_template_render(t, "zh", "ai_call", NULL, "alert", &zh_vars, out, len), 0);
		assert_true(strlen(out) < len);
		assert_true(ch_utf8_valid(out, strlen(out)));
		assert_memory_equal(out, full, strlen(out));
		/* The most that fits: less than one (at most 3-byte) character short. */
		assert_true(strlen(out) + 3 >= len - 1 || strlen(out) == strlen(full));
	}
	assert_int_equal(ch_template_render(t, "zh", "x", NULL, "alert", &zh_vars, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(ch_template_render(t, "zh", "x", NULL, "alert", &zh_vars, out, 4), 0);
	assert_string_equal(out, "a"); /* "张" needs 3 bytes + NUL */
	assert_int_equal(ch_template_render(t, "zh", "x", NULL, "alert", &zh_vars, out, 5), 0);
	assert_string_equal(out, "a张");

	/* Mixed text: 4-byte emoji, 2-byte é. */
	assert_int_equal(ch_template_render(t, "zh", "x", NULL, "alert", &zh_vars, full, sizeof(full)), 0);
	assert_string_equal(full, "a张桂英é😀。");
	for (size_t len = 1; len <= strlen(full) + 1; len++) {
		assert_int_equal(ch_template_render(t, "zh", "x", NULL, "alert", &zh_vars, out, len), 0);
		assert_true(ch_utf8_valid(out, strlen(out)));
		assert_memory_equal(out, full, strlen(out));
		assert_true(strlen(out) + 4 >= len);
	}
	assert_int_equal(ch_template_render(t, "zh", "x", NULL, "alert", &zh_vars, out, 14), 0);
	assert_string_equal(out, "a张桂英é"); /* 1 + 9 + 2 bytes; the emoji would need 4 more */
	ch_templates_free(t);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct ch_templates *t = load(NULL);
	char out[64];

	ch_strlcpy(out, "junk", sizeof(out));
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", NULL, &zh_vars, out, sizeof(out)), CH_EINVAL);
	assert_string_equal(out, "");
	ch_strlcpy(out, "junk", sizeof(out));
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", "resolve", &zh_vars, out, sizeof(out)), CH_EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", "rules", &zh_vars, out, sizeof(out)), CH_EINVAL);
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", "alerts", &zh_vars, out, sizeof(out)), CH_EINVAL);
	assert_int_equal(ch_template_render(NULL, "zh", "sms", "sms", "alert", &zh_vars, out, sizeof(out)), CH_EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", "alert", &zh_vars, NULL, 64), CH_EINVAL);
	assert_int_equal(ch_template_render(t, "zh", "sms", "sms", "alert", &zh_vars, out, 0), CH_EINVAL);
	ch_templates_free(t);
	ch_templates_free(NULL);
}

/* A call speaks to the person it reaches: the elder about herself, her son about her. */
static void test_role_texts(void **state)
{
	struct ch_templates *t = NULL;
	struct ch_template_vars v = zh_vars;
	char err[256], out[1024];
	json_t *root = json_pack("{s:{s:{s:s}}}", "zh", "sms@family", "alert", "给家属：{subject}");

	(void)state;
	assert_int_equal(ch_templates_load(NULL, &t, err, sizeof(err)), 0);
	v.role = "self";
	assert_int_equal(ch_template_render(t, "zh", "call", "ai_call", "alert", &v, out, sizeof(out)), 0);
	assert_true(strncmp(out, "您好，张桂英，", strlen("您好，张桂英，")) == 0);
	v.role = "family";
	assert_int_equal(ch_template_render(t, "zh", "call", "ai_call", "alert", &v, out, sizeof(out)), 0);
	assert_true(strncmp(out, "您好，李明，", strlen("您好，李明，")) == 0);
	assert_non_null(strstr(out, "张桂英家中厨房出现提醒：烟雾报警"));
	assert_int_equal(ch_template_render(t, "en", "call", "ai_call", "all_clear", &v, out, sizeof(out)), 0);
	assert_true(strncmp(out, "Hello 李明,", strlen("Hello 李明,")) == 0);
	/* No role text for SMS: the plain one. */
	assert_render(t, "zh", "sms", "sms", "alert", &v, SMS_ZH);
	ch_templates_free(t);
	/* A file may give one role its own text; the role's text wins over the channel's. */
	assert_int_equal(ch_templates_load(root, &t, err, sizeof(err)), 0);
	assert_render(t, "zh", "sms", "sms", "alert", &v, "给家属：张桂英");
	v.role = "neighbour";
	assert_render(t, "zh", "sms", "sms", "alert", &v, SMS_ZH);
	ch_templates_free(t);
	json_decref(root);
}

/* config/templates.json is the built-ins, word for word. */
static void test_example_file(void **state)
{
	(void)state;
	const char *src = getenv("CH_SRC_DIR");
	struct ch_templates *t = NULL;
	json_t *file, *defaults = ch_templates_defaults_json();
	json_error_t jerr;
	char path[1024], err[512];

	ch_fmt(path, sizeof(path), "%s/config/templates.json", src ? src : ".");
	file = json_load_file(path, 0, &jerr);
	if (!file)
		fail_msg("%s: %s", path, jerr.text);
	assert_non_null(defaults);
	if (!json_equal(file, defaults)) {
		char *d = json_dumps(defaults, JSON_INDENT(2));

		fail_msg("%s differs from the built-ins; they are:\n%s", path, d);
	}
	if (ch_templates_load(file, &t, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* The defaults in the file format load as themselves. */
	assert_render(t, "zh", "sms", "sms", "alert", &zh_vars, SMS_ZH);
	ch_templates_free(t);
	json_decref(file);
	json_decref(defaults);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_zh),
		cmocka_unit_test(test_builtin_en),
		cmocka_unit_test(test_zh_sms_fits_two_messages),
		cmocka_unit_test(test_language_fallback),
		cmocka_unit_test(test_channel_fallback),
		cmocka_unit_test(test_language_before_channel),
		cmocka_unit_test(test_every_placeholder),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_rule_names),
		cmocka_unit_test(test_rule_pack_named),
		cmocka_unit_test(test_override_one),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_role_texts),
		cmocka_unit_test(test_example_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
