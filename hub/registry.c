/*
 * registry.c - parsing and validating subjects, devices and contacts, and the
 * device -> subject index the correlator uses for every event.
 *
 * The index is an open-addressing hash table (FNV-1a, linear probing) built
 * once per registry version; a registry is immutable after it is built, so
 * threads share it without locks (the runtime's reference count keeps it
 * alive).
 */
#include "registry.h"
#include "checkin.h"
#include "template.h"
#include "tz.h"
#include "jdoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	const char *device_id; /* borrowed from the device */
	size_t subject, device;
};

struct ch_registry {
	struct ch_subject *subjects;
	size_t n;
	struct slot *index;   /* device id -> subject, device */
	size_t index_cap;     /* power of two */
	size_t *by_id;        /* subject id -> index + 1 (0: empty) */
	size_t by_id_cap;     /* power of two */
};

static const char *const roles[] = {"self", "family", "caregiver", "neighbour", "caseworker", "centre", "maintenance"};

/* Where errors point: a file position, or "subject <id>" for records from Redis. */
struct ctx {
	const struct ch_jdoc *doc;
	char *err;
	size_t errlen;
	json_t *groups; /* group id -> group object (borrowed from the file); NULL for records from Redis */
};

static int fail(const struct ctx *c, const char *ptr, const char *fmt, ...) CH_PRINTF(3, 4);
static int fail(const struct ctx *c, const char *ptr, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->doc)
		return ch_jdoc_err(c->doc, ptr, c->err, c->errlen, "%s", msg);
	ch_fmt(c->err, c->errlen, "registry record %s: %s", ptr, msg);
	return CH_ECONFIG;
}

static bool id_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '.' || ch == ':' || ch == '@' || ch == '-'))
			return false;
	}
	return n >= 1 && n <= 95;
}

static bool phone_ok(const char *s)
{
	size_t d = 0;

	if (*s == '+')
		s++;
	for (; *s; s++, d++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return d >= 5 && d <= 20;
}

static bool role_ok(const char *r)
{
	for (size_t i = 0; i < CH_ARRAY_LEN(roles); i++) {
		if (strcmp(r, roles[i]) == 0)
			return true;
	}
	return false;
}

/* Checks that obj has only the allowed keys. */
static int only_keys(const struct ctx *c, const char *ptr, json_t *obj, const char *const *allowed, size_t n,
		     const char *what)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		bool ok = false;
		for (size_t i = 0; i < n; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok) {
			char p[512], list[256] = "";
			size_t off = 0;
			for (size_t i = 0; i < n; i++)
				off += (size_t)snprintf(list + off, off < sizeof(list) ? sizeof(list) - off : 0, "%s%s",
							i ? ", " : "", allowed[i]);
			ch_fmt(p, sizeof(p), "%s/%s", ptr, k);
			return fail(c, p, "unknown key \"%s\" in %s, expected one of %s", k, what, list);
		}
	}
	return 0;
}

static int get_str(const struct ctx *c, const char *ptr, json_t *obj, const char *key, bool required,
		   const char **out)
{
	json_t *v = json_object_get(obj, key);
	char p[512];

	*out = NULL;
	ch_fmt(p, sizeof(p), "%s/%s", ptr, key);
	if (!v) {
		if (required)
			return fail(c, ptr, "missing \"%s\", expected a string", key);
		return 0;
	}
	if (!json_is_string(v))
		return fail(c, p, "\"%s\" must be a string", key);
	*out = json_string_value(v);
	return 0;
}

static bool ascii_only(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/*
 * "location": "kitchen", or {"zh": "厨房", "en": "kitchen"} (language code ->
 * name), and "location_en" beside a plain string.  d->location is what rules
 * match: the plain string, else the "en" name, else the first.
 */
static int parse_location(const struct ctx *c, const char *ptr, json_t *o, struct ch_device *d, const char **loc)
{
	json_t *v = json_object_get(o, "location"), *en = json_object_get(o, "location_en"), *name;
	const char *lang;
	char p[512];

	*loc = json_string_value(v);
	ch_fmt(p, sizeof(p), "%s/location", ptr);
	if (v && !json_is_string(v) && !json_is_object(v))
		return fail(c, p, "\"location\" must be a string or an object of language to name, e.g. "
				  "{\"zh\": \"厨房\", \"en\": \"kitchen\"}");
	if (json_is_object(v)) {
		json_object_foreach(v, lang, name) {
			if (!ch_template_lang_ok(lang) || !json_is_string(name) || !*json_string_value(name) ||
			    json_string_length(name) > 64)
				return fail(c, p, "\"location\" names are {\"<language, e.g. zh or en>\": \"1-64 bytes\"}");
			if (!*loc)
				*loc = json_string_value(name);
		}
		if (json_is_string(json_object_get(v, "en")))
			*loc = json_string_value(json_object_get(v, "en"));
		if (!*loc)
			return fail(c, p, "\"location\" names no room; expected e.g. {\"zh\": \"厨房\", \"en\": \"kitchen\"}");
		d->location_names = json_deep_copy(v);
	}
	if (en) {
		ch_fmt(p, sizeof(p), "%s/location_en", ptr);
		if (!json_is_string(en) || !*json_string_value(en) || json_string_length(en) > 64 || json_is_object(v))
			return fail(c, p, "\"location_en\" is the English name (1-64 bytes) beside a plain \"location\"");
		d->location_names = json_pack("{s:O}", "en", en);
		/* The plain name beside it is the local one (the hub's users write Chinese). */
		if (*loc && d->location_names && !ascii_only(*loc))
			json_object_set_new(d->location_names, "zh", json_string(*loc));
		*loc = json_string_value(en); /* rules match the English name, as for an object */
	}
	return (v && json_is_object(v)) || en ? (d->location_names ? 0 : CH_ENOMEM) : 0;
}

static int parse_device(const struct ctx *c, const char *ptr, json_t *o, struct ch_device *d)
{
	static const char *const keys[] = {"id", "type", "location", "location_en", "heartbeat", "notes", "aliases"};
	const char *id, *type, *loc;
	json_t *hb, *al;
	int rc;

	if (!json_is_object(o))
		return fail(c, ptr, "a device must be an object");
	if ((rc = only_keys(c, ptr, o, keys, CH_ARRAY_LEN(keys), "a device")) ||
	    (rc = get_str(c, ptr, o, "id", true, &id)) || (rc = get_str(c, ptr, o, "type", true, &type)) ||
	    (rc = parse_location(c, ptr, o, d, &loc)))
		return rc;
	if (!id_ok(id)) {
		char p[512];
		ch_fmt(p, sizeof(p), "%s/id", ptr);
		return fail(c, p, "device id \"%.64s\" is not valid, expected 1-95 of A-Z a-z 0-9 _ . : @ -", id);
	}
	d->id = ch_strdup(id);
	d->type = ch_strdup(type);
	d->location = ch_strdup(loc ? loc : "");
	al = json_object_get(o, "aliases");
	if (al) {
		char p[512];
		ch_fmt(p, sizeof(p), "%s/aliases", ptr);
		if (!json_is_array(al) || json_array_size(al) > 16)
			return fail(c, p, "aliases must be an array of at most 16 names");
		d->aliases = calloc(json_array_size(al) + 1, sizeof(*d->aliases));
		if (!d->aliases)
			return CH_ENOMEM;
		for (size_t i = 0; i < json_array_size(al); i++) {
			json_t *a = json_array_get(al, i);
			const char *v = json_string_value(a);
			char q[600];
			ch_fmt(q, sizeof(q), "%s/%zu", p, i);
			if (!v || !*v || strlen(v) > 128 || strpbrk(v, "\r\n\t+#"))
				return fail(c, q, "an alias is a name of 1-128 characters without + # or control characters");
			d->aliases[i] = ch_strdup(v);
			d->naliases = i + 1;
			if (!d->aliases[i])
				return CH_ENOMEM;
		}
	}
	hb = json_object_get(o, "heartbeat");
	if (hb) {
		char p[512];
		ch_fmt(p, sizeof(p), "%s/heartbeat", ptr);
		if (json_is_integer(hb) && json_integer_value(hb) > 0 && json_integer_value(hb) <= 100LL * 365 * 86400)
			d->heartbeat_ms = json_integer_value(hb) * 1000;
		else if (!json_is_string(hb) || ch_parse_duration(json_string_value(hb), &d->heartbeat_ms))
			return fail(c, p, "heartbeat is not a duration, expected e.g. \"1h\" or seconds");
	}
	return d->id && d->type && d->location ? 0 : CH_ENOMEM;
}

static int parse_contact(const struct ctx *c, const char *ptr, json_t *o, struct ch_contact *ct)
{
	static const char *const keys[] = {"name",     "phone",    "role",	"order",
					   "quiet_hours", "timezone", "language", "notes"};
	const char *name, *phone, *role, *qh, *tz, *lang;
	const struct ch_tz *zone;
	char tzerr[256];
	json_t *order;
	char p[512];
	int rc, a, b;

	if (!json_is_object(o))
		return fail(c, ptr, "a contact must be an object");
	if ((rc = only_keys(c, ptr, o, keys, CH_ARRAY_LEN(keys), "a contact")) ||
	    (rc = get_str(c, ptr, o, "name", true, &name)) || (rc = get_str(c, ptr, o, "phone", true, &phone)) ||
	    (rc = get_str(c, ptr, o, "role", true, &role)) || (rc = get_str(c, ptr, o, "quiet_hours", false, &qh)) ||
	    (rc = get_str(c, ptr, o, "timezone", false, &tz)) || (rc = get_str(c, ptr, o, "language", false, &lang)))
		return rc;
	if (lang && !ch_template_lang_ok(lang)) {
		ch_fmt(p, sizeof(p), "%s/language", ptr);
		return fail(c, p, "language \"%.16s\" is not a code, expected e.g. \"zh\", \"en\" or \"zh-CN\"", lang);
	}
	if (tz && ch_tz_get(tz, &zone, tzerr, sizeof(tzerr))) {
		ch_fmt(p, sizeof(p), "%s/timezone", ptr);
		return fail(c, p, "timezone \"%.64s\" is not a zone this machine knows, expected an IANA name such as "
				  "\"Asia/Shanghai\"",
			    tz);
	}
	if (!phone_ok(phone)) {
		ch_fmt(p, sizeof(p), "%s/phone", ptr);
		return fail(c, p, "phone is not a number, expected '+' and 5-20 digits");
	}
	if (!role_ok(role)) {
		ch_fmt(p, sizeof(p), "%s/role", ptr);
		return fail(c, p, "role \"%.32s\" is unknown, expected self, family, caregiver, neighbour, caseworker, "
				  "centre or maintenance",
			    role);
	}
	if (qh && ch_parse_daywindow(qh, &a, &b)) {
		ch_fmt(p, sizeof(p), "%s/quiet_hours", ptr);
		return fail(c, p, "quiet_hours \"%.32s\" is not a window, expected \"HH:MM-HH:MM\"", qh);
	}
	order = json_object_get(o, "order");
	ct->order = 100;
	if (order) {
		ch_fmt(p, sizeof(p), "%s/order", ptr);
		if (!json_is_integer(order) || json_integer_value(order) < 0 || json_integer_value(order) > 1000000)
			return fail(c, p, "order must be an integer 0..1000000");
		ct->order = (int)json_integer_value(order);
	}
	ct->name = ch_strdup(name);
	ct->phone = ch_strdup(phone);
	ct->role = ch_strdup(role);
	ct->quiet_hours = ch_strdup(qh);
	ct->timezone = ch_strdup(tz);
	ct->language = ch_strdup(lang);
	return ct->name && ct->phone && ct->role && (!qh || ct->quiet_hours) && (!tz || ct->timezone) &&
			       (!lang || ct->language)
		       ? 0
		       : CH_ENOMEM;
}

static int cmp_contact(const void *a, const void *b)
{
	const struct ch_contact *x = a, *y = b;

	return (x->order > y->order) - (x->order < y->order);
}

static void free_subject(struct ch_subject *s)
{
	for (size_t i = 0; i < s->ndevices; i++) {
		for (size_t k = 0; k < s->devices[i].naliases; k++)
			free(s->devices[i].aliases[k]);
		free(s->devices[i].aliases);
		free(s->devices[i].id);
		free(s->devices[i].type);
		free(s->devices[i].location);
		json_decref(s->devices[i].location_names);
	}
	for (size_t i = 0; i < s->ncontacts; i++) {
		free(s->contacts[i].name);
		free(s->contacts[i].phone);
		free(s->contacts[i].role);
		free(s->contacts[i].quiet_hours);
		free(s->contacts[i].timezone);
		free(s->contacts[i].language);
	}
	free(s->devices);
	free(s->contacts);
	free(s->id);
	free(s->name);
	free(s->address);
	free(s->phone);
	free(s->timezone);
	free(s->notes);
	free(s->check_in);
	json_decref(s->json);
}

/*
 * Scheduled check-in calls: the subject's own "check_in", else its group's,
 * which the stored record then carries (records read back from Redis have no
 * groups to look in); "check_in": false opts a subject out of its group's.
 */
static int parse_check_in(const struct ctx *c, const char *ptr, json_t *o, struct ch_subject *s)
{
	json_t *ci = json_object_get(o, "check_in"), *grp = json_object_get(o, "group"), *g = NULL;
	char p[600], sub[128], why[256];

	if (grp) {
		ch_fmt(p, sizeof(p), "%s/group", ptr);
		if (!json_is_string(grp) || !id_ok(json_string_value(grp)))
			return fail(c, p, "\"group\" names a group of the registry's \"groups\" (1-95 of A-Z a-z 0-9 _ . : @ -)");
		/* Records read back from Redis carry the block they got; a file must define the group. */
		if (c->doc && !(g = c->groups ? json_object_get(c->groups, json_string_value(grp)) : NULL))
			return fail(c, p, "group \"%s\" is not in \"groups\", expected the id of one", json_string_value(grp));
	}
	if (json_is_false(ci))
		return 0;
	if (!ci && g && (ci = json_object_get(g, "check_in")) != NULL) {
		/* Checked once with the group (from_doc); the stored record carries it. */
		if (json_object_set_new(s->json, "check_in", json_deep_copy(ci)))
			return CH_ENOMEM;
	} else if (ci) {
		ch_fmt(p, sizeof(p), "%s/check_in", ptr);
	}
	if (!ci)
		return 0;
	s->check_in = calloc(1, sizeof(*s->check_in));
	if (!s->check_in)
		return CH_ENOMEM;
	if (ch_checkin_conf_parse(ci, s->check_in, sub, sizeof(sub), why, sizeof(why))) {
		ch_strlcpy(p + strlen(p), sub, sizeof(p) - strlen(p));
		return fail(c, p, "%s", why);
	}
	return 0;
}

static int parse_subject(const struct ctx *c, const char *ptr, json_t *o, struct ch_subject *s)
{
	static const char *const keys[] = {"id",    "name",	"address",  "phone",   "timezone",
					   "notes", "devices", "contacts", "check_in", "group"};
	const char *id, *name, *addr, *phone, *tz, *notes;
	json_t *devs, *cts;
	char p[512];
	int rc;

	if (!json_is_object(o))
		return fail(c, ptr, "a subject must be an object");
	if ((rc = only_keys(c, ptr, o, keys, CH_ARRAY_LEN(keys), "a subject")) ||
	    (rc = get_str(c, ptr, o, "id", true, &id)) || (rc = get_str(c, ptr, o, "name", true, &name)) ||
	    (rc = get_str(c, ptr, o, "address", false, &addr)) || (rc = get_str(c, ptr, o, "phone", false, &phone)) ||
	    (rc = get_str(c, ptr, o, "timezone", false, &tz)) || (rc = get_str(c, ptr, o, "notes", false, &notes)))
		return rc;
	if (!id_ok(id)) {
		ch_fmt(p, sizeof(p), "%s/id", ptr);
		return fail(c, p, "subject id \"%.64s\" is not valid, expected 1-95 of A-Z a-z 0-9 _ . : @ -", id);
	}
	if (phone && !phone_ok(phone)) {
		ch_fmt(p, sizeof(p), "%s/phone", ptr);
		return fail(c, p, "phone is not a number, expected '+' and 5-20 digits");
	}
	s->id = ch_strdup(id);
	s->name = ch_strdup(name);
	s->address = ch_strdup(addr ? addr : "");
	s->phone = ch_strdup(phone ? phone : "");
	s->timezone = ch_strdup(tz ? tz : "UTC");
	s->notes = ch_strdup(notes ? notes : "");
	if (!s->id || !s->name || !s->address || !s->phone || !s->timezone || !s->notes)
		return CH_ENOMEM;
	devs = json_object_get(o, "devices");
	cts = json_object_get(o, "contacts");
	if (devs && !json_is_array(devs)) {
		ch_fmt(p, sizeof(p), "%s/devices", ptr);
		return fail(c, p, "devices must be an array");
	}
	if (cts && !json_is_array(cts)) {
		ch_fmt(p, sizeof(p), "%s/contacts", ptr);
		return fail(c, p, "contacts must be an array");
	}
	s->devices = calloc(json_array_size(devs) + 1, sizeof(*s->devices));
	s->contacts = calloc(json_array_size(cts) + 1, sizeof(*s->contacts));
	if (!s->devices || !s->contacts)
		return CH_ENOMEM;
	for (size_t i = 0; i < json_array_size(devs); i++) {
		ch_fmt(p, sizeof(p), "%s/devices/%zu", ptr, i);
		/* Counted first so a half-parsed device is freed with the subject. */
		s->ndevices++;
		if ((rc = parse_device(c, p, json_array_get(devs, i), &s->devices[i])))
			return rc;
	}
	for (size_t i = 0; i < json_array_size(cts); i++) {
		ch_fmt(p, sizeof(p), "%s/contacts/%zu", ptr, i);
		s->ncontacts++;
		if ((rc = parse_contact(c, p, json_array_get(cts, i), &s->contacts[i])))
			return rc;
	}
	/* Stable by order: merge sort semantics are not needed, insertion keeps ties in file order. */
	for (size_t i = 1; i < s->ncontacts; i++) {
		struct ch_contact t = s->contacts[i];
		size_t j = i;
		while (j > 0 && cmp_contact(&s->contacts[j - 1], &t) > 0) {
			s->contacts[j] = s->contacts[j - 1];
			j--;
		}
		s->contacts[j] = t;
	}
	/* The normalized record (defaults filled) is what Redis keeps. */
	s->json = json_deep_copy(o);
	if (!s->json)
		return CH_ENOMEM;
	json_object_set_new(s->json, "timezone", json_string(s->timezone));
	return parse_check_in(c, ptr, o, s);
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int build_subject_index(struct ch_registry *r, const struct ctx *c, bool from_doc)
{
	size_t cap = 16;

	while (cap < r->n * 2)
		cap *= 2;
	r->by_id = calloc(cap, sizeof(*r->by_id));
	if (!r->by_id)
		return CH_ENOMEM;
	r->by_id_cap = cap;
	for (size_t i = 0; i < r->n; i++) {
		size_t h = fnv1a(r->subjects[i].id) & (cap - 1);
		while (r->by_id[h]) {
			if (strcmp(r->subjects[r->by_id[h] - 1].id, r->subjects[i].id) == 0) {
				char p[80];
				if (from_doc)
					ch_fmt(p, sizeof(p), "/subjects/%zu/id", i);
				else
					ch_fmt(p, sizeof(p), "%.60s", r->subjects[i].id);
				return fail(c, p, "subject id \"%s\" appears twice", r->subjects[i].id);
			}
			h = (h + 1) & (cap - 1);
		}
		r->by_id[h] = i + 1;
	}
	return 0;
}

static int build_index(struct ch_registry *r, const struct ctx *c, bool from_doc)
{
	size_t ndev = 0, cap = 16;
	int rc;

	if ((rc = build_subject_index(r, c, from_doc)))
		return rc;

	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->subjects[i].ndevices; k++)
			ndev += 1 + r->subjects[i].devices[k].naliases;
	}
	while (cap < ndev * 2)
		cap *= 2;
	r->index = calloc(cap, sizeof(*r->index));
	if (!r->index)
		return CH_ENOMEM;
	r->index_cap = cap;
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->subjects[i].ndevices; k++) {
			const struct ch_device *d = &r->subjects[i].devices[k];
			/* The id and every alias name the same device. */
			for (size_t a = 0; a <= d->naliases; a++) {
				const char *id = a == 0 ? d->id : d->aliases[a - 1];
				size_t h = fnv1a(id) & (cap - 1);
				while (r->index[h].device_id) {
					if (strcmp(r->index[h].device_id, id) == 0) {
						char p[128];
						if (!from_doc)
							ch_fmt(p, sizeof(p), "%s", r->subjects[i].id);
						else if (a == 0)
							ch_fmt(p, sizeof(p), "/subjects/%zu/devices/%zu/id", i, k);
						else
							ch_fmt(p, sizeof(p), "/subjects/%zu/devices/%zu/aliases/%zu", i, k, a - 1);
						return fail(c, p, "device %s\"%s\" is already registered to subject %s",
							    a ? "alias " : "", id, r->subjects[r->index[h].subject].id);
					}
					h = (h + 1) & (cap - 1);
				}
				r->index[h] = (struct slot){id, i, k};
			}
		}
	}
	return 0;
}

static int from_array(const struct ctx *c, json_t *const *items, size_t n, bool from_doc, struct ch_registry **out)
{
	struct ch_registry *r = calloc(1, sizeof(*r));
	int rc = 0;

	if (!r)
		return CH_ENOMEM;
	r->subjects = calloc(n + 1, sizeof(*r->subjects));
	if (!r->subjects) {
		free(r);
		return CH_ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		char p[64];
		const char *sid = json_string_value(json_object_get(items[i], "id"));
		if (from_doc)
			ch_fmt(p, sizeof(p), "/subjects/%zu", i);
		else
			ch_fmt(p, sizeof(p), "%.60s", sid ? sid : "?");
		rc = parse_subject(c, p, items[i], &r->subjects[i]);
		r->n++;
	}
	if (!rc)
		rc = build_index(r, c, from_doc);
	if (rc) {
		ch_registry_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* "groups": [{"id", "name", "notes", "check_in"}]: checked here once, indexed by id in c->groups. */
static int parse_groups(struct ctx *c, json_t *groups)
{
	static const char *const keys[] = {"id", "name", "notes", "check_in"};
	struct ch_checkin_conf conf;
	char p[128], sub[128], why[256];
	json_t *g;
	size_t i;
	int rc;

	if (!groups)
		return 0;
	if (!json_is_array(groups))
		return fail(c, "/groups", "\"groups\" must be an array of {\"id\", \"name\", \"check_in\"}");
	c->groups = json_object();
	if (!c->groups)
		return CH_ENOMEM;
	json_array_foreach(groups, i, g) {
		const char *id, *name;
		ch_fmt(p, sizeof(p), "/groups/%zu", i);
		if (!json_is_object(g))
			return fail(c, p, "a group must be an object {\"id\", \"name\", \"check_in\"}");
		if ((rc = only_keys(c, p, g, keys, CH_ARRAY_LEN(keys), "a group")) ||
		    (rc = get_str(c, p, g, "id", true, &id)) || (rc = get_str(c, p, g, "name", false, &name)) ||
		    (rc = get_str(c, p, g, "notes", false, &name)))
			return rc;
		if (!id_ok(id) || json_object_get(c->groups, id)) {
			ch_fmt(p, sizeof(p), "/groups/%zu/id", i);
			return fail(c, p, "group id \"%.64s\" is not valid or appears twice, expected 1-95 of A-Z a-z 0-9 _ . : @ -",
				    id);
		}
		if (json_object_get(g, "check_in") &&
		    ch_checkin_conf_parse(json_object_get(g, "check_in"), &conf, sub, sizeof(sub), why, sizeof(why))) {
			ch_fmt(p, sizeof(p), "/groups/%zu/check_in%s", i, sub);
			return fail(c, p, "%s", why);
		}
		if (json_object_set(c->groups, id, g))
			return CH_ENOMEM;
	}
	return 0;
}

static int from_doc(const struct ch_jdoc *doc, struct ch_registry **out, char *err, size_t errlen)
{
	struct ctx c = {doc, err, errlen, NULL};
	json_t *root = ch_jdoc_root(doc), *subs;
	json_t **items = NULL;
	int rc;

	if (!json_is_object(root))
		return fail(&c, "", "the registry must be an object {\"subjects\": [...]}");
	static const char *const keys[] = {"subjects", "groups"};
	if ((rc = only_keys(&c, "", root, keys, CH_ARRAY_LEN(keys), "the registry")) ||
	    (rc = parse_groups(&c, json_object_get(root, "groups"))))
		goto out;
	subs = json_object_get(root, "subjects");
	if (!json_is_array(subs)) {
		rc = fail(&c, "/subjects", "\"subjects\" must be an array");
		goto out;
	}
	items = calloc(json_array_size(subs) + 1, sizeof(*items));
	if (!items) {
		rc = CH_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(subs); i++)
		items[i] = json_array_get(subs, i);
	rc = from_array(&c, items, json_array_size(subs), true, out);
out:
	free(items);
	json_decref(c.groups);
	return rc;
}

int ch_registry_load(const char *path, struct ch_registry **out, char *err, size_t errlen)
{
	struct ch_jdoc *doc;
	int rc = ch_jdoc_load(path, &doc, err, errlen);

	if (rc)
		return rc;
	rc = from_doc(doc, out, err, errlen);
	ch_jdoc_free(doc);
	return rc;
}

int ch_registry_parse(const char *name, const char *text, size_t len, struct ch_registry **out, char *err,
		      size_t errlen)
{
	struct ch_jdoc *doc;
	int rc = ch_jdoc_parse(name, text, len, &doc, err, errlen);

	if (rc)
		return rc;
	rc = from_doc(doc, out, err, errlen);
	ch_jdoc_free(doc);
	return rc;
}

int ch_registry_from_subjects(json_t *const *subjects, size_t n, struct ch_registry **out, char *err,
			      size_t errlen)
{
	struct ctx c = {NULL, err, errlen, NULL};

	return from_array(&c, subjects, n, false, out);
}

void ch_registry_free(struct ch_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n; i++)
		free_subject(&reg->subjects[i]);
	free(reg->subjects);
	free(reg->index);
	free(reg->by_id);
	free(reg);
}

size_t ch_registry_count(const struct ch_registry *reg)
{
	return reg ? reg->n : 0;
}

const struct ch_subject *ch_registry_at(const struct ch_registry *reg, size_t i)
{
	return i < reg->n ? &reg->subjects[i] : NULL;
}

const struct ch_subject *ch_registry_subject(const struct ch_registry *reg, const char *subject_id)
{
	size_t h;

	if (!reg || !reg->by_id_cap || !subject_id)
		return NULL;
	h = fnv1a(subject_id) & (reg->by_id_cap - 1);
	while (reg->by_id[h]) {
		const struct ch_subject *s = &reg->subjects[reg->by_id[h] - 1];
		if (strcmp(s->id, subject_id) == 0)
			return s;
		h = (h + 1) & (reg->by_id_cap - 1);
	}
	return NULL;
}

const struct ch_subject *ch_registry_find_device(const struct ch_registry *reg, const char *device_id,
						 const struct ch_device **dev)
{
	size_t h;

	if (!reg || !reg->index_cap || !device_id)
		return NULL;
	h = fnv1a(device_id) & (reg->index_cap - 1);
	while (reg->index[h].device_id) {
		if (strcmp(reg->index[h].device_id, device_id) == 0) {
			const struct ch_subject *s = &reg->subjects[reg->index[h].subject];
			if (dev)
				*dev = &s->devices[reg->index[h].device];
			return s;
		}
		h = (h + 1) & (reg->index_cap - 1);
	}
	return NULL;
}
