/*
 * template.h - the words of a notification: the text one contact gets on one
 * channel in one language, from a small placeholder template.
 *
 * Pure: the config loader hands in the parsed "templates" value (or NULL for the
 * built-in zh and en texts), dispatch asks for a rendered string.  A loaded set
 * is never changed, so any number of threads may render from it at once; a
 * reload builds a new one.  Loading is strict so a typo in a placeholder is
 * found by `carehubd --check`, not by an elder hearing "{sbject}" on the phone.
 */
#ifndef CH_TEMPLATE_H
#define CH_TEMPLATE_H

#include "ch.h"

#include <jansson.h>

struct ch_templates;

/*
 * root (borrowed; NULL: built-ins only):
 *   {"<lang>": {"<channel, plugin or \"default\">": {"alert": TEXT, "all_clear": TEXT,
 *                                                      "checkin": TEXT},
 *               "rules": {"<rule id>": "short name"},
 *               "severity": {"critical"|"high"|"medium"|"low"|"info": "name"},
 *               "outcome": {"genuine"|"false_alarm"|"accidental"|"no_response"|
 *                           "activity_resumed": "name"},
 *               "locations": {"kitchen": "厨房", ...},   (rooms as registries spell them)
 *               "advice": {"<rule id>"|"default": "what to do now"}}, ...}
 * merged over the built-in defaults entry by entry (a file may override one text
 * only).  <lang> is [a-z]{2}(-[A-Z]{2})?.  A channel named rules, severity or
 * outcome cannot have its own texts.
 * Errors: CH_ECONFIG with err naming the JSON path ("templates.zh.sms.alert: ...");
 * CH_ENOMEM.  *out (owned by the caller, ch_templates_free) is set only on success.
 */
int ch_templates_load(json_t *root, struct ch_templates **out, char *err, size_t errlen);
void ch_templates_free(struct ch_templates *t);

/* true when s is a language code texts can be filed under: [a-z]{2}(-[A-Z]{2})?. */
bool ch_template_lang_ok(const char *s);

/* The built-in texts in the file format above (a new reference; NULL on ENOMEM):
 * what config/templates.json holds, and a starting point for a new language. */
json_t *ch_templates_defaults_json(void);

struct ch_template_vars {	  /* all borrowed; NULL means empty */
	const char *subject;	  /* subject's name */
	const char *address;
	const char *rule;	  /* rule id, e.g. "inactivity_day" */
	const char *severity;	  /* info low medium high critical */
	const char *summary;	  /* the alert's summary, from the rule */
	const char *reason;	  /* short reason */
	const char *time;	  /* local time of the alert, already formatted, e.g. "11-28 08:15" */
	const char *location;	  /* device location, e.g. "kitchen" */
	const char *outcome;	  /* all clear: genuine, false_alarm, ... */
	const char *contact;	  /* the contact's name */
	const char *centre_phone; /* optional number to call back */
	const char *role;	  /* the contact's role: picks "<channel>@<role>" texts */
	const char *note;	  /* all clear: the operator's note, exactly as written */
	/* The room's own names by language ({"zh": "厨房", "en": "kitchen"}) from the
	 * registry; NULL: only the "locations" table. */
	const json_t *location_names;
};

/*
 * Renders the kind ("alert", "all_clear", or "checkin": a scheduled check-in
 * call's script, checkin.h) text for one notification into out.
 * Lookup: language lang, then its 2-letter base ("zh-CN" -> "zh"), then "zh";
 * inside each, "<channel>@<role>", "<plugin>@<role>", then for any role but
 * self "<channel>@others", "<plugin>@others", then channel, plugin and
 * "default" (NULL names are skipped).  So a call to a daughter can speak to
 * her about her mother while a call to the mother speaks to her.
 * Placeholders: {subject} {address} {rule} (the rule's short name, else its id)
 * {rule_id} {severity} {summary} {reason} {time} {location} (the room in the
 * text's language, or empty: never a room name in another script) {outcome}
 * {contact} {centre_phone} {note} {advice} (the rule's "advice" in the text's
 * language, else its "default").  Text inside [[ and ]] is left out when any
 * placeholder in it is empty, e.g. "[[ Note: {note}]]".  Rule, severity and outcome names are looked up along the same
 * language chain, but never past the language the text came from (a French text
 * shows "smoke", not a Chinese name); unnamed codes stay as they are.
 * "{{" is a literal "{"; a lone "}" is text; values are never expanded again.
 * All pointers borrowed; v may be NULL (every placeholder empty).
 * out is always NUL-terminated when len > 0, and cut at a UTF-8 character
 * boundary when too small.  Returns 0, or CH_EINVAL (NULL t/kind/out, len 0,
 * unknown kind; out is then "").
 */
/*
 * A room's name in language lang, as {location} is filled: the registry's own
 * names (may be NULL), else the "locations" table, else raw when it is written
 * in lang's script, else "" (never a name in another script).  Borrowed from t,
 * names or raw.
 */
const char *ch_template_location(const struct ch_templates *t, const char *lang, const char *raw, const json_t *names);

int ch_template_render(const struct ch_templates *t, const char *lang, const char *channel,
		       const char *plugin, const char *kind, const struct ch_template_vars *v, char *out,
		       size_t len);

#endif
