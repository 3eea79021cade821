/*
 * template.c - notification texts per channel and language, and their rendering.
 *
 * Why a module of its own: the same alert reaches an elder as a spoken check-in
 * call, a daughter as a 70-character SMS and a caseworker as a task, each in the
 * reader's language.  Dispatch only names (language, channel, plugin, kind);
 * this file picks the most specific text and fills it in.
 *
 * Storage is one flat list of (language, kind, name) -> text: built-ins first,
 * then the file's entries replace or add one at a time, so a file can change a
 * single SMS text and keep every other built-in.  About eighty entries, read
 * once per send: a linear scan is plenty.  Every template is checked at load,
 * so rendering never meets an unknown placeholder.
 */
#include "template.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Text kinds (a channel's texts) come before K_RULE; name lists after it. */
enum tpl_kind { K_ALERT = 0, K_ALL_CLEAR, K_CHECKIN, K_RULE, K_SEVERITY, K_OUTCOME, K_LOCATION, K_ADVICE, K_COUNT };

static const char *const tpl_kind_names[K_COUNT] = {"alert", "all_clear", "checkin", "rules", "severity",
						    "outcome", "locations", "advice"};

/* Placeholders, in the order ch_template_render fills them. */
enum { V_SUBJECT = 0, V_ADDRESS, V_RULE, V_RULE_ID, V_SEVERITY, V_SUMMARY, V_REASON, V_TIME,
       V_LOCATION, V_OUTCOME, V_CONTACT, V_CENTRE_PHONE, V_NOTE, V_ADVICE, V_COUNT };

static const char *const tpl_vars[V_COUNT] = {"subject", "address", "rule", "rule_id", "severity",
					      "summary", "reason", "time", "location", "outcome",
					      "contact", "centre_phone", "note", "advice"};

#define LANG_MAX 5 /* "zh-CN" */

/* ------------------------------------------------------------------------ */
/* Built-in texts                                                              */

static const char *const tpl_langs[] = {"zh", "en"};

struct tpl_def {
	enum tpl_kind kind;
	const char *name;
	const char *text[2]; /* zh, en */
};

/*
 * What a relative needs from one message, in one language throughout: who,
 * what, where (the room in the message's language, then the address), when,
 * what to do now ({advice}, per rule), whom to call (the centre's number) and
 * how to say "I'm on it" (reply 1, or 2 for help: the SMS gateway's inbound
 * callback).  About two Chinese SMS (134 characters) for typical names; the
 * sms plugin splits.  The all clear says how it ended and quotes the
 * operator's note.  [[...]] is left out when a placeholder in it is empty (no
 * centre number configured, no note, no room known).
 *
 * The spoken scripts leave out {time} and brackets: a voice bot reads
 * "11-28 08:15" as arithmetic.  The rule pack's summaries are Chinese, so no
 * default text quotes {summary}: it would put a Chinese sentence into an
 * English message.
 */
static const struct tpl_def tpl_defs[] = {
	{K_ALERT, "default",
	 {"【{severity}】{rule}：{subject}[[（{location}）]]，{address}，{time}。{advice}[[监护中心：{centre_phone}。]]",
	  "[{severity}] {rule}: {subject}[[ ({location})]], {address}, {time}. {advice}[[ Centre: {centre_phone}.]]"}},
	{K_ALL_CLEAR, "default",
	 {"【已解除】{rule}：{subject}（{address}），处理结果：{outcome}。[[说明：{note}]]",
	  "[All clear] {rule}: {subject} ({address}). Outcome: {outcome}.[[ Note: {note}]]"}},
	{K_ALERT, "sms",
	 {"【{severity}】{subject}家[[{location}]]{rule}，{time}，地址{address}。{advice}"
	  "[[监护中心{centre_phone}。]]回复1表示您来处理，回复2请求支援。",
	  "[{severity}] {rule} at {subject}'s home[[ ({location})]], {time}, {address}. {advice}"
	  "[[ Centre: {centre_phone}.]] Reply 1 if you are on it, 2 if you need help."}},
	{K_ALL_CLEAR, "sms",
	 {"【已解除】{subject}家的{rule}已处理，结果：{outcome}。[[说明：{note}]]",
	  "[All clear] {rule} at {subject}'s home has been dealt with. Outcome: {outcome}.[[ Note: {note}]]"}},
	/* To the person themselves: 1 means "I am fine". */
	{K_ALERT, "sms@self",
	 {"【{severity}】{subject}您好，系统收到{rule}提醒，{time}。如果您一切安好请回复1，需要帮助请回复2"
	  "[[或致电{centre_phone}]]。",
	  "[{severity}] Hello {subject}, we received an alert: {rule}, {time}. Reply 1 if you are fine, 2 if you "
	  "need help[[ or call {centre_phone}]]."}},
	{K_ALERT, "ai_call",
	 {"您好，{subject}，这里是社区关爱服务平台。系统刚刚收到一条提醒：{rule}。我们想确认一下您是否安好。"
	  "如果您一切安好，请按1；如果需要帮助，请按2。",
	  "Hello {subject}, this is the community care service calling. We have just received an alert: "
	  "{rule}. We want to make sure you are all right. If you are fine, please press 1. "
	  "If you need help, please press 2."}},
	{K_ALL_CLEAR, "ai_call",
	 {"您好，{subject}，这里是社区关爱服务平台。刚才的{rule}提醒已经解除，感谢您的配合。祝您生活愉快，再见。",
	  "Hello {subject}, this is the community care service calling. The earlier {rule} alert has "
	  "been cleared. Thank you, and take care. Goodbye."}},
	/* A call to anyone but the person: about them, and "press 1" means "I am on it". */
	{K_ALERT, "ai_call@others",
	 {"您好，{contact}，这里是社区关爱服务平台。{subject}家中[[{location}]]出现提醒：{rule}，地址是{address}。"
	  "{advice}如果您会马上联系或去看望，请按1；如果您无法处理，请按2，我们将通知下一位联系人。",
	  "Hello {contact}, this is the community care service calling about {subject}. We have an alert: "
	  "{rule}[[ in the {location}]], at {address}. {advice} If you will call or visit them now, please press 1. "
	  "If you cannot, please press 2 and we will call the next contact."}},
	{K_ALL_CLEAR, "ai_call@others",
	 {"您好，{contact}，这里是社区关爱服务平台。{subject}的{rule}提醒已经解除，结果：{outcome}。"
	  "[[值班员说明：{note}。]]谢谢您，再见。",
	  "Hello {contact}, this is the community care service calling. The {rule} alert about {subject} "
	  "has been cleared. Outcome: {outcome}.[[ The operator's note: {note}.]] Thank you. Goodbye."}},
	{K_ALERT, "caseworker",
	 {"【核实任务·{severity}】{subject}（{address}）：{rule}[[（{location}）]]，{time}。"
	  "请尽快电话或上门核实，并在系统中登记结果。",
	  "[Check task, {severity}] {subject} ({address}): {rule}[[ ({location})]], {time}. "
	  "Please call or visit to check, and record the outcome."}},
	{K_ALL_CLEAR, "caseworker",
	 {"【告警已解除】{subject}（{address}）：{rule}，结果：{outcome}。[[说明：{note}。]]本条核实任务可以关闭。",
	  "[All clear] {subject} ({address}): {rule}. Outcome: {outcome}.[[ Note: {note}.]] "
	  "This check task can be closed."}},

	/* Scheduled check-in calls (checkin.h): no alert behind them, just "how are you today". */
	{K_CHECKIN, "default",
	 {"【社区关爱】{subject}您好，这是今天的问候。如果您一切安好，请回复1；如果需要帮助，请回复2。",
	  "[Community care] Hello {subject}, this is your daily check-in. Reply 1 if you are well, 2 if you need "
	  "help."}},
	{K_CHECKIN, "ai_call",
	 {"您好，{subject}，这里是社区关爱服务平台，今天打电话来问候您。如果您一切安好，请按1；"
	  "如果需要帮助，请按2，我们会马上联系您的家人和社区。",
	  "Hello {subject}, this is the community care service with your daily check-in call. If you are "
	  "well, please press 1. If you need help, please press 2 and we will contact your family and "
	  "the community straight away."}},
	{K_CHECKIN, "sms",
	 {"【社区关爱】{subject}您好，今天一切都好吗？安好请回复1，需要帮助请回复2。",
	  "[Community care] Hello {subject}, is everything all right today? Reply 1 if you are well, 2 if you "
	  "need help."}},

	/* Short names of the default pack's rules (config/rules.json). */
	{K_RULE, "smoke", {"烟雾报警", "smoke alarm"}},
	{K_RULE, "gas", {"燃气泄漏", "gas leak"}},
	{K_RULE, "co", {"一氧化碳报警", "carbon monoxide alarm"}},
	{K_RULE, "sos", {"紧急呼叫", "SOS button"}},
	{K_RULE, "fall", {"疑似跌倒", "possible fall"}},
	{K_RULE, "water_leak", {"漏水", "water leak"}},
	{K_RULE, "inactivity_day", {"白天长时间无活动", "no activity during the day"}},
	{K_RULE, "inactivity_24h", {"24小时无活动", "no activity for 24 hours"}},
	{K_RULE, "water_low_12h", {"12小时用水过少", "very little water used in 12 hours"}},
	{K_RULE, "water_high_24h", {"24小时用水异常偏多", "unusually high water use in 24 hours"}},
	{K_RULE, "night_door_3", {"夜间多次开门", "front door opened repeatedly at night"}},
	{K_RULE, "night_wandering", {"夜间外出未归", "went out at night and not back"}},
	{K_RULE, "fall_no_motion", {"跌倒后无活动", "no movement after a fall"}},
	{K_RULE, "device_offline", {"设备离线", "device offline"}},
	{K_RULE, "battery_low", {"设备电量低", "device battery low"}},
	{K_RULE, "tamper", {"设备被拆动", "device tampered with"}},
	{K_RULE, "check_in_help", {"问候电话中求助", "asked for help on a check-in call"}},
	{K_RULE, "check_in_missed", {"多次未接问候电话", "check-in calls not answered"}},

	/* What to do now, per rule ("default" for any other). */
	{K_ADVICE, "default", {"请尽快打电话确认老人是否安好，无人接听请上门查看。",
			       "Please call them now, and visit if they do not answer."}},
	{K_ADVICE, "smoke", {"请立即打电话并尽快赶到；如有火情请拨打119。",
			     "Call them now and go there; if there is a fire, call 119."}},
	{K_ADVICE, "gas", {"请立即打电话让老人开窗、勿用明火，并尽快赶到；必要时拨打119。",
			   "Call them now: open the windows, no flames; go there, and call 119 if needed."}},
	{K_ADVICE, "co", {"请立即打电话让老人开窗离开房间，并尽快赶到；必要时拨打120。",
			  "Call them now: open the windows and leave the room; go there, and call 120 if needed."}},
	{K_ADVICE, "sos", {"请立即打电话；无人接听请马上上门或拨打120。",
			   "Call them now; if nobody answers, go there at once or call 120."}},
	{K_ADVICE, "fall", {"请立即打电话；无人接听请马上上门或拨打120。",
			    "Call them now; if nobody answers, go there at once or call 120."}},
	{K_ADVICE, "fall_no_motion", {"请立即打电话；无人接听请马上上门或拨打120。",
				      "Call them now; if nobody answers, go there at once or call 120."}},
	{K_ADVICE, "water_leak", {"请打电话提醒关闭水阀，必要时上门查看。",
				  "Call them to turn off the water, and visit if needed."}},
	{K_ADVICE, "night_wandering", {"老人可能夜间外出，请立即打电话确认是否在家。",
				       "They may have gone out at night: call now to check they are home."}},
	{K_ADVICE, "night_door_3", {"请打电话确认老人是否在家、是否安好。",
				    "Call to check that they are home and well."}},
	{K_ADVICE, "device_offline", {"设备需要检查，无需紧急上门。", "A device needs checking; no need to rush."}},
	{K_ADVICE, "battery_low", {"设备需要更换电池，无需紧急上门。", "A device needs a new battery; no need to rush."}},
	{K_ADVICE, "tamper", {"请确认设备是否被移动或损坏。", "Check whether the device was moved or damaged."}},

	/* Rooms as registries write them in English, for Chinese messages (a registry's
	 * own {"zh": ..., "en": ...} names win). */
	{K_LOCATION, "kitchen", {"厨房", "kitchen"}},
	{K_LOCATION, "bedroom", {"卧室", "bedroom"}},
	{K_LOCATION, "living room", {"客厅", "living room"}},
	{K_LOCATION, "bathroom", {"卫生间", "bathroom"}},
	{K_LOCATION, "toilet", {"卫生间", "toilet"}},
	{K_LOCATION, "hall", {"门厅", "hall"}},
	{K_LOCATION, "hallway", {"走廊", "hallway"}},
	{K_LOCATION, "front door", {"大门", "front door"}},
	{K_LOCATION, "bedside", {"床头", "bedside"}},
	{K_LOCATION, "balcony", {"阳台", "balcony"}},
	{K_LOCATION, "dining room", {"餐厅", "dining room"}},
	{K_LOCATION, "study", {"书房", "study"}},
	{K_LOCATION, "pendant", {"随身挂件", "pendant"}},
	{K_LOCATION, "wrist", {"手腕", "wrist"}},

	/* These two lists are also the only keys a file may localise. */
	{K_SEVERITY, "critical", {"紧急", "Critical"}},
	{K_SEVERITY, "high", {"高", "High"}},
	{K_SEVERITY, "medium", {"中", "Medium"}},
	{K_SEVERITY, "low", {"低", "Low"}},
	{K_SEVERITY, "info", {"提示", "Info"}},
	{K_OUTCOME, "genuine", {"确认险情", "confirmed emergency"}},
	{K_OUTCOME, "false_alarm", {"误报", "false alarm"}},
	{K_OUTCOME, "accidental", {"误触", "accidental trigger"}},
	{K_OUTCOME, "no_response", {"无人响应", "no response"}},
	{K_OUTCOME, "activity_resumed", {"活动已恢复", "activity resumed"}},
};

/* ------------------------------------------------------------------------ */
/* Storage                                                                     */

struct tpl_entry {
	char lang[LANG_MAX + 1];
	enum tpl_kind kind;
	char *name; /* channel, plugin or "default"; rule id; severity; outcome */
	char *text;
};

struct ch_templates {
	struct tpl_entry *e;
	size_t n, cap;
};

static struct tpl_entry *tpl_find(const struct ch_templates *t, const char *lang, enum tpl_kind kind,
				  const char *name)
{
	/* Rooms are written as people type them: "Kitchen" is the kitchen. */
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].kind == kind && strcmp(t->e[i].lang, lang) == 0 &&
		    (kind == K_LOCATION ? strcasecmp(t->e[i].name, name) : strcmp(t->e[i].name, name)) == 0)
			return &t->e[i];
	return NULL;
}

/* Adds (lang, kind, name) -> text, or replaces that entry's text. */
static int tpl_set(struct ch_templates *t, const char *lang, enum tpl_kind kind, const char *name,
		   const char *text)
{
	struct tpl_entry *e = tpl_find(t, lang, kind, name);
	char *copy = ch_strdup(text);

	if (copy && e) {
		free(e->text);
		e->text = copy;
		return 0;
	}
	if (copy && t->n == t->cap) {
		struct tpl_entry *ne = realloc(t->e, (t->cap + 64) * sizeof(*ne));

		if (ne) {
			t->e = ne;
			t->cap += 64;
		}
	}
	if (!copy || t->n == t->cap || !(t->e[t->n].name = ch_strdup(name))) {
		free(copy);
		return CH_ENOMEM;
	}
	e = &t->e[t->n++];
	ch_strlcpy(e->lang, lang, sizeof(e->lang));
	e->kind = kind;
	e->text = copy;
	return 0;
}

void ch_templates_free(struct ch_templates *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].name);
		free(t->e[i].text);
	}
	free(t->e);
	free(t);
}

/* ------------------------------------------------------------------------ */
/* Placeholders                                                                */

/* At the '{' of s: a tpl_vars index, -1 for "{{", -2 unknown, -3 no closing '}'. */
static int tpl_placeholder(const char *s, const char **end)
{
	const char *close;

	if (s[1] == '{') {
		*end = s + 2;
		return -1;
	}
	close = strchr(s + 1, '}');
	if (!close) {
		*end = s + 1;
		return -3;
	}
	*end = close + 1;
	for (int i = 0; i < V_COUNT; i++)
		if (strlen(tpl_vars[i]) == (size_t)(close - s - 1) &&
		    memcmp(s + 1, tpl_vars[i], (size_t)(close - s - 1)) == 0)
			return i;
	return -2;
}

static int tpl_check(const char *path, const char *text, char *err, size_t errlen)
{
	const char *p = text, *end;
	char list[256] = "";

	if (!*text) {
		ch_fmt(err, errlen, "%s: empty text; expected a message", path);
		return CH_ECONFIG;
	}
	/* Optional parts: [[ ... ]], never nested, always closed. */
	for (const char *q = text, *open = NULL; *q; q++) {
		if (q[0] == '[' && q[1] == '[') {
			if (open) {
				ch_fmt(err, errlen, "%s: \"[[\" at byte %zu inside another [[...]]; they do not nest", path,
				       (size_t)(q - text));
				return CH_ECONFIG;
			}
			open = q++;
		} else if (q[0] == ']' && q[1] == ']') {
			if (!open) {
				ch_fmt(err, errlen, "%s: \"]]\" at byte %zu closes nothing", path, (size_t)(q - text));
				return CH_ECONFIG;
			}
			open = NULL;
			q++;
		}
		if (!q[1] && open) {
			ch_fmt(err, errlen, "%s: \"[[\" at byte %zu is never closed by \"]]\"", path, (size_t)(open - text));
			return CH_ECONFIG;
		}
	}
	while ((p = strchr(p, '{')) != NULL) {
		int v = tpl_placeholder(p, &end);

		if (v == -3) {
			ch_fmt(err, errlen, "%s: '{' at byte %zu is never closed; expected {name}, or {{ for a literal {",
			       path, (size_t)(p - text));
			return CH_ECONFIG;
		}
		if (v == -2) {
			for (int i = 0; i < V_COUNT; i++) {
				size_t n = strlen(list);

				ch_fmt(list + n, sizeof(list) - n, "%s{%s}", i ? " " : "", tpl_vars[i]);
			}
			ch_fmt(err, errlen, "%s: unknown placeholder %.*s; expected one of %s, or {{ for a literal {",
			       path, (int)(end - p > 48 ? 48 : end - p), p, list);
			return CH_ECONFIG;
		}
		p = end;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                     */

bool ch_template_lang_ok(const char *s)
{
	size_t n = strlen(s);

	if (n != 2 && n != 5)
		return false;
	if (!(s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'))
		return false;
	return n == 2 || (s[2] == '-' && s[3] >= 'A' && s[3] <= 'Z' && s[4] >= 'A' && s[4] <= 'Z');
}

static bool tpl_builtin_key(enum tpl_kind kind, const char *name)
{
	for (size_t i = 0; i < CH_ARRAY_LEN(tpl_defs); i++)
		if (tpl_defs[i].kind == kind && strcmp(tpl_defs[i].name, name) == 0)
			return true;
	return false;
}

/* A "rules", "severity" or "outcome" object: code -> name. */
static int tpl_load_names(struct ch_templates *t, const char *lang, enum tpl_kind kind, json_t *obj,
			  char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(obj)) {
		ch_fmt(err, errlen, "templates.%s.%s: expected an object of code to name, e.g. {\"%s\": \"...\"}",
		       lang, tpl_kind_names[kind],
		       kind == K_RULE || kind == K_ADVICE ? "smoke" : kind == K_LOCATION ? "kitchen"
							 : kind == K_SEVERITY ? "high" : "genuine");
		return CH_ECONFIG;
	}
	json_object_foreach(obj, key, val) {
		if ((kind == K_SEVERITY || kind == K_OUTCOME) && !tpl_builtin_key(kind, key)) {
			ch_fmt(err, errlen, "templates.%s.%s.%s: unknown %s; expected %s", lang, tpl_kind_names[kind], key,
			       tpl_kind_names[kind],
			       kind == K_SEVERITY ? "critical, high, medium, low or info"
						  : "genuine, false_alarm, accidental, no_response or activity_resumed");
			return CH_ECONFIG;
		}
		if (!json_is_string(val) || !*json_string_value(val)) {
			ch_fmt(err, errlen, "templates.%s.%s.%s: expected a non-empty string", lang, tpl_kind_names[kind],
			       key);
			return CH_ECONFIG;
		}
		if (tpl_set(t, lang, kind, key, json_string_value(val)))
			return CH_ENOMEM;
	}
	return 0;
}

/* A channel, plugin or "default" object: {"alert": TEXT, "all_clear": TEXT}. */
static int tpl_load_texts(struct ch_templates *t, const char *lang, const char *name, json_t *obj,
			  char *err, size_t errlen)
{
	const char *key;
	json_t *val;
	char path[256];
	int rc;

	if (!*name) {
		ch_fmt(err, errlen, "templates.%s: empty channel name; expected a channel, plugin or \"default\"", lang);
		return CH_ECONFIG;
	}
	if (!json_is_object(obj)) {
		ch_fmt(err, errlen, "templates.%s.%s: expected an object with \"alert\", \"all_clear\" and/or \"checkin\"",
		       lang, name);
		return CH_ECONFIG;
	}
	json_object_foreach(obj, key, val) {
		int kind = -1;

		for (int k = K_ALERT; k < K_RULE; k++)
			if (strcmp(key, tpl_kind_names[k]) == 0)
				kind = k;
		ch_fmt(path, sizeof(path), "templates.%s.%s.%s", lang, name, key);
		if (kind < 0) {
			ch_fmt(err, errlen, "%s: unknown key; expected \"alert\", \"all_clear\" or \"checkin\"", path);
			return CH_ECONFIG;
		}
		if (!json_is_string(val)) {
			ch_fmt(err, errlen, "%s: expected a string", path);
			return CH_ECONFIG;
		}
		rc = tpl_check(path, json_string_value(val), err, errlen);
		if (rc == 0)
			rc = tpl_set(t, lang, (enum tpl_kind)kind, name, json_string_value(val));
		if (rc)
			return rc;
	}
	return 0;
}

static int tpl_load_file(struct ch_templates *t, json_t *root, char *err, size_t errlen)
{
	const char *lang, *key;
	json_t *lobj, *val;
	int rc;

	if (!json_is_object(root)) {
		ch_fmt(err, errlen, "templates: expected an object of languages, e.g. {\"zh\": {\"sms\": {...}}}");
		return CH_ECONFIG;
	}
	json_object_foreach(root, lang, lobj) {
		if (!ch_template_lang_ok(lang)) {
			ch_fmt(err, errlen, "templates.%s: bad language code; expected xx or xx-XX, e.g. zh or zh-CN", lang);
			return CH_ECONFIG;
		}
		if (!json_is_object(lobj)) {
			ch_fmt(err, errlen, "templates.%s: expected an object of channels and \"rules\"", lang);
			return CH_ECONFIG;
		}
		json_object_foreach(lobj, key, val) {
			enum tpl_kind kind = K_ALERT; /* any other key names a channel's texts */

			for (int k = K_RULE; k < K_COUNT; k++)
				if (strcmp(key, tpl_kind_names[k]) == 0)
					kind = (enum tpl_kind)k;
			rc = kind == K_ALERT ? tpl_load_texts(t, lang, key, val, err, errlen)
					     : tpl_load_names(t, lang, kind, val, err, errlen);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int ch_templates_load(json_t *root, struct ch_templates **out, char *err, size_t errlen)
{
	struct ch_templates *t = calloc(1, sizeof(*t));
	int rc = 0;

	if (!t)
		return CH_ENOMEM;
	for (size_t i = 0; i < CH_ARRAY_LEN(tpl_defs) && rc == 0; i++)
		for (size_t l = 0; l < CH_ARRAY_LEN(tpl_langs) && rc == 0; l++)
			rc = tpl_set(t, tpl_langs[l], tpl_defs[i].kind, tpl_defs[i].name, tpl_defs[i].text[l]);
	if (rc == 0 && root)
		rc = tpl_load_file(t, root, err, errlen);
	if (rc == CH_ENOMEM)
		ch_fmt(err, errlen, "templates: out of memory");
	if (rc) {
		ch_templates_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

json_t *ch_templates_defaults_json(void)
{
	json_t *root = json_object();
	int bad = !root;

	for (size_t l = 0; l < CH_ARRAY_LEN(tpl_langs) && !bad; l++) {
		json_t *lobj = json_object();

		bad |= json_object_set_new(root, tpl_langs[l], lobj);
		for (size_t i = 0; i < CH_ARRAY_LEN(tpl_defs) && !bad; i++) {
			const struct tpl_def *d = &tpl_defs[i];
			const char *group = d->kind < K_RULE ? d->name : tpl_kind_names[d->kind];
			const char *key = d->kind < K_RULE ? tpl_kind_names[d->kind] : d->name;
			json_t *g = json_object_get(lobj, group);

			/* set_new frees the value when it fails */
			if (!g && (g = json_object()) != NULL && json_object_set_new(lobj, group, g) != 0)
				g = NULL;
			bad = !g || json_object_set_new(g, key, json_string(d->text[l])) != 0;
		}
	}
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                   */

struct tpl_out {
	char *buf;
	size_t len, n; /* n < len always */
	bool cut;
};

static void tpl_put(struct tpl_out *o, const char *s, size_t k)
{
	size_t room = o->len - 1 - o->n;

	if (o->cut)
		return;
	if (k > room) {
		k = room;
		o->cut = true;
	}
	memcpy(o->buf + o->n, s, k);
	o->n += k;
}

/* NUL-terminates, first dropping a multi-byte character the cut left half-written. */
static void tpl_finish(struct tpl_out *o)
{
	const unsigned char *b = (const unsigned char *)o->buf;
	size_t i = o->n;

	if (o->cut) {
		while (i > 0 && o->n - i < 3 && (b[i - 1] & 0xC0) == 0x80)
			i--;
		if (i > 0 && b[i - 1] >= 0xC0) {
			size_t need = b[i - 1] >= 0xF0 ? 4 : b[i - 1] >= 0xE0 ? 3 : 2;

			if (i - 1 + need > o->n)
				o->n = i - 1;
		}
	}
	o->buf[o->n] = '\0';
}

/* The languages to try: lang, its base, then "zh", each once. */
static size_t tpl_chain(const char *lang, char chain[3][LANG_MAX + 1])
{
	const char *cand[3] = {lang, NULL, "zh"};
	char base[3] = "";
	size_t n = 0;

	if (lang && strlen(lang) > 2 && (lang[2] == '-' || lang[2] == '_')) {
		memcpy(base, lang, 2);
		cand[1] = base;
	}
	for (size_t i = 0; i < 3; i++) {
		bool dup = false;

		if (!cand[i] || !*cand[i] || strlen(cand[i]) > LANG_MAX)
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(chain[j], cand[i]) == 0;
		if (!dup)
			ch_strlcpy(chain[n++], cand[i], LANG_MAX + 1);
	}
	return n;
}

/* A code's name in the text's language (chain[at]) or a language sharing its base, or the code. */
static const char *tpl_name(const struct ch_templates *t, char chain[3][LANG_MAX + 1], size_t n, size_t at,
			    enum tpl_kind kind, const char *code)
{
	for (size_t j = 0; code && j < n; j++) {
		const struct tpl_entry *e;

		if (j > at && memcmp(chain[j], chain[at], 2) != 0)
			continue;
		if ((e = tpl_find(t, chain[j], kind, code)) != NULL)
			return e->text;
	}
	return code;
}

/* A code's own name only, NULL when the language (or one sharing its base) has none. */
static const char *tpl_name_only(const struct ch_templates *t, char chain[3][LANG_MAX + 1], size_t n, size_t at,
				 enum tpl_kind kind, const char *code)
{
	const char *name = tpl_name(t, chain, n, at, kind, code);

	return name == code ? NULL : name;
}

/* What to do now: the rule's advice, else the language's default advice, else nothing. */
static const char *tpl_advice(const struct ch_templates *t, char chain[3][LANG_MAX + 1], size_t n, size_t at,
			      const char *rule)
{
	const char *a = rule ? tpl_name_only(t, chain, n, at, K_ADVICE, rule) : NULL;

	return a ? a : tpl_name_only(t, chain, n, at, K_ADVICE, "default");
}

/* true when s is in a script the language is written in (CJK: not plain ASCII; others: ASCII). */
static bool tpl_script_fits(const char *lang, const char *s)
{
	bool ascii = true, cjk = strncmp(lang, "zh", 2) == 0 || strncmp(lang, "ja", 2) == 0 || strncmp(lang, "ko", 2) == 0;

	for (; *s; s++)
		ascii = ascii && (unsigned char)*s < 0x80;
	return cjk ? !ascii : ascii;
}

/*
 * The room in the text's language: the registry's own name for that language,
 * else the templates' "locations" table, else the name as registered when it
 * is written in the text's script.  Otherwise nothing (its [[...]] goes): an
 * English room name in a Chinese message is the mix we must not send.
 */
static const char *tpl_location(const struct ch_templates *t, char chain[3][LANG_MAX + 1], size_t n, size_t at,
				const struct ch_template_vars *v)
{
	const char *name;
	char base[3];

	if (!v->location || !*v->location)
		return NULL;
	memcpy(base, chain[at], 2);
	base[2] = '\0';
	if (json_is_object(v->location_names)) {
		const char *own = json_string_value(json_object_get(v->location_names, chain[at]));

		if (!own)
			own = json_string_value(json_object_get(v->location_names, base));
		if (own && *own)
			return own;
	}
	if ((name = tpl_name_only(t, chain, n, at, K_LOCATION, v->location)))
		return name;
	return tpl_script_fits(chain[at], v->location) ? v->location : NULL;
}

/*
 * Fills text's placeholders into o.  A [[...]] part is kept only when every
 * placeholder in it has a value (checked at load: closed, never nested).
 */
static void tpl_expand(struct tpl_out *o, const char *text, const char *const *vals)
{
	size_t group_at = 0;
	bool in_group = false, group_empty = false;
	const char *p, *end;

	for (p = text; *p && !o->cut; p = end) {
		const char *stop = p + strcspn(p, "{[]");
		int i;

		tpl_put(o, p, (size_t)(stop - p));
		end = stop + 1;
		if (!*stop)
			break;
		if (stop[0] == '[' && stop[1] == '[') {
			in_group = true;
			group_empty = false;
			group_at = o->n;
			end = stop + 2;
			continue;
		}
		if (stop[0] == ']' && stop[1] == ']' && in_group) {
			if (group_empty && !o->cut)
				o->n = group_at;
			in_group = false;
			end = stop + 2;
			continue;
		}
		if (stop[0] != '{') {
			tpl_put(o, stop, 1);
			continue;
		}
		i = tpl_placeholder(stop, &end);
		if (i >= 0 && vals[i] && *vals[i])
			tpl_put(o, vals[i], strlen(vals[i]));
		else if (i >= 0)
			group_empty = true;
		else if (i == -1)
			tpl_put(o, "{", 1);
		else /* not reached: checked at load */
			tpl_put(o, stop, (size_t)(end - stop));
	}
}

const char *ch_template_location(const struct ch_templates *t, const char *lang, const char *raw, const json_t *names)
{
	struct ch_template_vars v = {.location = raw, .location_names = names};
	char chain[3][LANG_MAX + 1];
	size_t n = tpl_chain(lang, chain);
	const char *name = t && n ? tpl_location(t, chain, n, 0, &v) : raw;

	return name ? name : "";
}

int ch_template_render(const struct ch_templates *t, const char *lang, const char *channel,
		       const char *plugin, const char *kind, const struct ch_template_vars *v, char *out,
		       size_t len)
{
	static const struct ch_template_vars none;
	char by_role[4][96];
	const char *names[7];
	size_t nn = 0;
	const char *vals[V_COUNT];
	char chain[3][LANG_MAX + 1];
	const struct tpl_entry *e = NULL;
	struct tpl_out o = {.buf = out, .len = len};
	enum tpl_kind k;
	size_t n, at;


	if (!out || len == 0)
		return CH_EINVAL;
	out[0] = '\0';
	if (!t || !kind)
		return CH_EINVAL;
	for (k = K_ALERT; k < K_RULE && strcmp(kind, tpl_kind_names[k]) != 0; k++)
		;
	if (k == K_RULE)
		return CH_EINVAL;
	if (!v)
		v = &none;
	/* channel@role, plugin@role, then @others for anyone but the person, then the plain names. */
	if (v->role && *v->role) {
		const char *who[2] = {v->role, strcmp(v->role, "self") != 0 ? "others" : NULL};
		for (size_t w = 0; w < 2; w++) {
			const char *base[2] = {channel, plugin};
			for (size_t b = 0; who[w] && b < 2; b++) {
				char *slot = by_role[w * 2 + b];
				if (base[b] && *base[b] && !ch_fmt(slot, sizeof(by_role[0]), "%s@%s", base[b], who[w]))
					names[nn++] = slot;
			}
		}
	}
	names[nn++] = channel;
	names[nn++] = plugin;
	names[nn++] = "default";
	n = tpl_chain(lang, chain);
	for (at = 0; at < n; at++) {
		for (size_t i = 0; i < nn && !e; i++)
			if (names[i] && *names[i])
				e = tpl_find(t, chain[at], k, names[i]);
		if (e)
			break;
	}
	if (!e)
		return CH_ENOTFOUND; /* not reached: the zh defaults cannot be removed */

	vals[V_SUBJECT] = v->subject;
	vals[V_ADDRESS] = v->address;
	vals[V_RULE] = tpl_name(t, chain, n, at, K_RULE, v->rule);
	vals[V_RULE_ID] = v->rule;
	vals[V_SEVERITY] = tpl_name(t, chain, n, at, K_SEVERITY, v->severity);
	vals[V_SUMMARY] = v->summary;
	vals[V_REASON] = v->reason;
	vals[V_TIME] = v->time;
	vals[V_LOCATION] = tpl_location(t, chain, n, at, v);
	vals[V_OUTCOME] = tpl_name(t, chain, n, at, K_OUTCOME, v->outcome);
	vals[V_CONTACT] = v->contact;
	vals[V_CENTRE_PHONE] = v->centre_phone;
	vals[V_NOTE] = v->note;
	vals[V_ADVICE] = tpl_advice(t, chain, n, at, v->rule);
	tpl_expand(&o, e->text, vals);
	tpl_finish(&o);
	return 0;
}
