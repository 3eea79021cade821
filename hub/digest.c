/*
 * digest.c - the weekly digest to each caseworker: the people they look
 * after, those with flags first, one line each (report.c), through the
 * caseworker channel (a task of kind "digest") or the log; and the config's
 * "care" block that says when and where.
 *
 * Once per slot whatever the number of hubs: the slot is claimed in Redis
 * (Pdigest:<slot>) before anything is sent, and each caseworker's task has its
 * own key digest:<slot>:<contact id>:<channel>.
 */
#include "care_int.h"
#include "alerts.h"
#include "clock.h"
#include "log.h"
#include "registry.h"
#include "report.h"
#include "runtime.h"
#include "store_care.h"
#include "tz.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DIGEST_MAX_SUBJECTS 200 /* per caseworker; more are counted, not listed */

/* ------------------------------------------------------------------ */
/* The "care" block                                                    */
/* ------------------------------------------------------------------ */

static int bad(char *ptr, size_t ptrlen, const char *where, char *err, size_t errlen, const char *msg)
{
	ch_strlcpy(ptr, where, ptrlen);
	ch_strlcpy(err, msg, errlen);
	return CH_ECONFIG;
}

static int weekday_of(json_t *v)
{
	static const char *const names[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
	const char *s = json_string_value(v);

	if (json_is_integer(v))
		return json_integer_value(v) >= 1 && json_integer_value(v) <= 7 ? (int)json_integer_value(v) : -1;
	for (int i = 0; s && i < 7; i++) {
		if (strcasecmp(s, names[i]) == 0 || (strlen(s) == 3 && strncasecmp(s, names[i], 3) == 0))
			return i + 1;
	}
	return -1;
}

static int parse_digest(json_t *d, struct ch_care_conf *out, char *ptr, size_t ptrlen, char *err, size_t errlen)
{
	static const char *const keys[] = {"weekday", "at", "every", "channel", "weeks"};
	const char *k, *s;
	json_t *v;
	int a, b;

	json_object_foreach(d, k, v) {
		bool known = false;
		for (size_t i = 0; i < CH_ARRAY_LEN(keys); i++)
			known = known || strcmp(k, keys[i]) == 0;
		if (!known)
			return bad(ptr, ptrlen, "/digest", err, errlen,
				   "unknown key in care.digest, expected weekday, at, every, channel or weeks");
	}
	if (json_object_get(d, "every") && (json_object_get(d, "weekday") || json_object_get(d, "at")))
		return bad(ptr, ptrlen, "/digest/every", err, errlen, "care.digest has \"every\" or \"weekday\" and \"at\", not both");
	if ((v = json_object_get(d, "weekday")) && (out->weekday = weekday_of(v)) < 0)
		return bad(ptr, ptrlen, "/digest/weekday", err, errlen, "care.digest.weekday is a day, e.g. \"monday\", or 1..7");
	if ((v = json_object_get(d, "at"))) {
		char w[16];
		s = json_string_value(v);
		if (!s || strlen(s) != 5 || ch_fmt(w, sizeof(w), "%s-23:59", s) || ch_parse_daywindow(w, &a, &b))
			return bad(ptr, ptrlen, "/digest/at", err, errlen, "care.digest.at is a local time \"HH:MM\", e.g. \"08:00\"");
		out->at_min = a;
	}
	if ((v = json_object_get(d, "every"))) {
		int64_t ms = json_is_integer(v) ? json_integer_value(v) * 1000 : -1;
		if ((json_is_string(v) && ch_parse_duration(json_string_value(v), &ms)) || ms < 1000 || ms > 7 * 86400000LL)
			return bad(ptr, ptrlen, "/digest/every", err, errlen, "care.digest.every is a duration from 1s to 7d");
		out->every_ms = ms;
	}
	if ((v = json_object_get(d, "channel"))) {
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= sizeof(out->channel))
			return bad(ptr, ptrlen, "/digest/channel", err, errlen, "care.digest.channel names a channel of the config");
		ch_strlcpy(out->channel, json_string_value(v), sizeof(out->channel));
	}
	if ((v = json_object_get(d, "weeks"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > CH_TREND_MAX_WEEKS)
			return bad(ptr, ptrlen, "/digest/weeks", err, errlen, "care.digest.weeks is an integer 1..8");
		out->weeks = (int)json_integer_value(v);
	}
	return 0;
}

int ch_care_conf_parse(json_t *o, struct ch_care_conf *out, char *ptr, size_t ptrlen, char *err, size_t errlen)
{
	const char *k;
	json_t *v, *d;

	*out = (struct ch_care_conf){.digest = true, .weekday = 1, .at_min = 8 * 60, .weeks = CH_REPORT_DEFAULT_WEEKS};
	ch_strlcpy(ptr, "", ptrlen);
	if (!o)
		return 0;
	if (!json_is_object(o))
		return bad(ptr, ptrlen, "", err, errlen, "care must be an object, e.g. {\"digest\": {\"weekday\": \"monday\"}}");
	json_object_foreach(o, k, v) {
		if (strcmp(k, "digest") != 0)
			return bad(ptr, ptrlen, "", err, errlen, "unknown key in care, expected digest");
	}
	d = json_object_get(o, "digest");
	if (!d)
		return 0;
	if (json_is_false(d)) {
		out->digest = false;
		return 0;
	}
	if (!json_is_object(d))
		return bad(ptr, ptrlen, "/digest", err, errlen, "care.digest is an object or false");
	return parse_digest(d, out, ptr, ptrlen, err, errlen);
}

/* ------------------------------------------------------------------ */
/* When                                                                */
/* ------------------------------------------------------------------ */

/* The slot due at now ("w2026-11-30" for the week whose digest day is that date), its claim's life. */
static void due_slot(const struct ch_care_conf *cc, const struct ch_tz *tz, int64_t now, char *slot, size_t len,
		     int64_t *ttl_s)
{
	if (cc->every_ms > 0) {
		ch_fmt(slot, len, "e%lld-%lld", (long long)cc->every_ms, (long long)(now / cc->every_ms));
		*ttl_s = cc->every_ms / 500 > 60 ? cc->every_ms / 500 : 60;
		return;
	}
	int32_t day = ch_trends_local_day(tz, now);
	int wd = (int)(((day + 3) % 7 + 7) % 7); /* 0 Monday: 1970-01-01 was a Thursday */
	int back = (wd - (cc->weekday - 1) + 7) % 7;
	char date[16];

	if (back == 0 && ch_tz_minute_of_day(tz, now) < cc->at_min)
		back = 7;
	ch_trends_day_name(day - back, date, sizeof(date));
	ch_fmt(slot, len, "w%s", date);
	*ttl_s = 8 * 86400;
}

static const struct ch_channel_conf *digest_channel(const struct ch_config *cfg, const struct ch_care_conf *cc)
{
	if (cc->channel[0])
		return ch_config_channel(cfg, cc->channel);
	for (const char *plugin = "caseworker";; plugin = "log") {
		for (size_t i = 0; i < cfg->nchannels; i++) {
			if (strcmp(cfg->channels[i].plugin, plugin) == 0)
				return &cfg->channels[i];
		}
		if (strcmp(plugin, "log") == 0)
			return NULL;
	}
}

/* ------------------------------------------------------------------ */
/* What                                                                */
/* ------------------------------------------------------------------ */

/* One caseworker and the people they look after. */
struct desk {
	char cid[9];
	const struct ch_contact *ct;
	const struct ch_subject **subj;
	size_t n, cap;
};

struct line {
	char text[640];
	int weight; /* concerns, then watches: flagged people first */
};

static int by_weight(const void *a, const void *b)
{
	return ((const struct line *)b)->weight - ((const struct line *)a)->weight;
}

static struct desk *desks_of(const struct ch_registry *reg, size_t *nd)
{
	struct desk *d = NULL;
	size_t n = 0;

	for (size_t i = 0; i < ch_registry_count(reg); i++) {
		const struct ch_subject *s = ch_registry_at(reg, i);
		for (size_t k = 0; k < s->ncontacts; k++) {
			const struct ch_contact *ct = &s->contacts[k];
			char cid[9];
			size_t j;
			if (strcmp(ct->role, "caseworker") != 0)
				continue;
			ch_alert_contact_id(ct->role, ct->phone, cid);
			for (j = 0; j < n && strcmp(d[j].cid, cid) != 0; j++)
				;
			if (j == n) {
				struct desk *nd2 = realloc(d, (n + 1) * sizeof(*d));
				if (!nd2)
					break;
				d = nd2;
				d[n] = (struct desk){.ct = ct};
				memcpy(d[n].cid, cid, sizeof(cid));
				n++;
			}
			if (d[j].n == d[j].cap) {
				size_t cap = d[j].cap ? d[j].cap * 2 : 8;
				const struct ch_subject **p = realloc(d[j].subj, cap * sizeof(*p));
				if (!p)
					continue;
				d[j].subj = p;
				d[j].cap = cap;
			}
			if (d[j].n == 0 || d[j].subj[d[j].n - 1] != s)
				d[j].subj[d[j].n++] = s;
		}
	}
	*nd = n;
	return d;
}

/* The digest's text for one desk: a header, then one line a person, flagged first. */
static char *compose(struct ch_care *c, const struct ch_runtime *rt, const struct desk *d, const struct ch_care_conf *cc,
		     const char *lang, int64_t now, size_t *flagged)
{
	bool zh = strncmp(lang, "en", 2) != 0;
	size_t n = d->n < DIGEST_MAX_SUBJECTS ? d->n : DIGEST_MAX_SUBJECTS, pos = 0, size;
	struct line *lines = calloc(n ? n : 1, sizeof(*lines));
	struct ch_trend_hist *h = malloc(sizeof(*h));
	struct ch_trend_report *r = malloc(sizeof(*r));
	char from[16] = "", to[16] = "", err[256], *text = NULL;

	*flagged = 0;
	if (!lines || !h || !r)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct ch_tz *tz = NULL;
		if (ch_tz_get(ch_runtime_zone(rt, d->subj[i]), &tz, NULL, 0))
			tz = NULL;
		if (ch_report_load(c->store, d->subj[i], tz, now, cc->weeks, h, r, err, sizeof(err))) {
			ch_fmt(lines[i].text, sizeof(lines[i].text), "%s (%s): %s", d->subj[i]->name, d->subj[i]->id,
			       zh ? "暂时无法读取数据" : "no data could be read");
			continue;
		}
		ch_report_digest_line(d->subj[i], r, lang, lines[i].text, sizeof(lines[i].text));
		for (size_t k = 0; k < r->nflags; k++)
			lines[i].weight += r->flag[k].week == 0 ? 1 + 10 * (int)r->flag[k].sev : 0;
		*flagged += lines[i].weight > 0;
		if (!from[0]) {
			/* The week the lines are about: the 7 days to yesterday. */
			ch_trends_day_name(r->today - 7, from, sizeof(from));
			ch_trends_day_name(r->today - 1, to, sizeof(to));
		}
	}
	qsort(lines, n, sizeof(*lines), by_weight);
	size = 256 + n * sizeof(lines[0].text);
	if (!(text = malloc(size)))
		goto out;
	if (zh)
		ch_fmt_append(text, size, &pos, "【每周关爱简报】%s至%s，%s：您负责的%zu位老人中，%zu位本周有变化。",
			      from[0] ? from + 5 : "", to[0] ? to + 5 : "", d->ct->name, d->n, *flagged);
	else
		ch_fmt_append(text, size, &pos, "Weekly care digest, %s to %s, for %s: %zu people, %zu with changes.",
			      from[0] ? from + 5 : "", to[0] ? to + 5 : "", d->ct->name, d->n, *flagged);
	for (size_t i = 0; i < n; i++)
		ch_fmt_append(text, size, &pos, "\n%zu. %s", i + 1, lines[i].text);
	if (d->n > n)
		ch_fmt_append(text, size, &pos, zh ? "\n……另有%zu位" : "\n... and %zu more", d->n - n);
out:
	free(lines);
	free(h);
	free(r);
	return text;
}

/* One desk's digest: a task on the channel (its own key), or lines in the hub's log. */
static void send_desk(struct ch_care *c, const struct ch_runtime *rt, const struct desk *d,
		      const struct ch_channel_conf *ch, const struct ch_care_conf *cc, const char *slot, int64_t now,
		      bool *jobs)
{
	const char *lang = d->ct->language ? d->ct->language : rt->cfg->language;
	char key[200], guard[240], err[256];
	size_t flagged;
	char *text = compose(c, rt, d, cc, lang, now, &flagged), *job = NULL;
	bool queued = false;
	json_t *j;

	if (!text) {
		ch_log(CH_LOG_ERROR, "digest %s: out of memory for %s", slot, d->cid);
		return;
	}
	if (!ch) {
		ch_log(CH_LOG_INFO, "digest %s for caseworker %s:\n%s", slot, d->cid, text);
		free(text);
		return;
	}
	ch_fmt(key, sizeof(key), "digest:%s:%s:%s", slot, d->cid, ch->name);
	ch_fmt(guard, sizeof(guard), "digest:%s:%s", slot, d->cid);
	j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:s, s:s, s:I, s:i}}", "sid", "", "alert",
		      key, "key", key, "channel", ch->name, "step", 0, "cid", d->cid, "contact", "name", d->ct->name,
		      "phone", d->ct->phone, "role", "caseworker", "order", d->ct->order, "digest", "slot", slot, "text", text,
		      "at_ms", (json_int_t)now, "flagged", (int)flagged);
	job = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!job || ch_store_care_job(c->store, guard, 8 * 86400, job, &queued, err, sizeof(err)))
		ch_log(CH_LOG_WARN, "digest %s for %s: %s", slot, d->cid, job ? err : "out of memory");
	else if (queued) {
		ch_log(CH_LOG_INFO, "digest %s for caseworker %s queued on %s (%zu of %zu people flagged)", slot, d->cid,
		       ch->name, flagged, d->n);
		*jobs = true;
	}
	free(job);
	free(text);
}

void care__digest_tick(struct ch_care *c, const struct ch_runtime *rt, int64_t now_ms, bool *jobs)
{
	struct ch_care_conf cc;
	const struct ch_tz *tz = NULL;
	const struct ch_channel_conf *ch;
	struct desk *d;
	char slot[32], ptr[64], err[256];
	int64_t ttl;
	size_t nd = 0;
	bool first = false;

	if (ch_care_conf_parse(rt->cfg->care, &cc, ptr, sizeof(ptr), err, sizeof(err)) || !cc.digest)
		return;
	if (ch_tz_get(rt->cfg->timezone, &tz, NULL, 0))
		tz = NULL;
	due_slot(&cc, tz, now_ms, slot, sizeof(slot), &ttl);
	if (strcmp(slot, c->digest_done) == 0)
		return;
	{
		char k[64];
		ch_fmt(k, sizeof(k), "digest:%s", slot);
		if (ch_store_care_once(c->store, k, ttl, &first, err, sizeof(err))) {
			ch_log_rl("digest-claim", 60000, CH_LOG_WARN, "digest: %s", err);
			return;
		}
	}
	ch_strlcpy(c->digest_done, slot, sizeof(c->digest_done));
	if (!first)
		return; /* another hub, or this one before a restart, sent it */
	ch = digest_channel(rt->cfg, &cc);
	d = desks_of(rt->reg, &nd);
	for (size_t i = 0; i < nd; i++)
		send_desk(c, rt, &d[i], ch, &cc, slot, now_ms, jobs);
	for (size_t i = 0; i < nd; i++)
		free(d[i].subj);
	free(d);
	if (nd)
		ch_log(CH_LOG_INFO, "digest %s: %zu caseworkers%s%s", slot, nd, ch ? " on " : " (in the log)",
		       ch ? ch->name : "");
}
