/*
 * dispatch.c - the dispatcher thread: outbox -> plugin -> libcurl multi.
 *
 * Tasks live in a plain array: a hub has at most a few hundred sends in flight
 * or waiting for a retry, and every pass over them is cheaper than the poll.
 */
#include "dispatch.h"
#include "alerts.h"
#include "backoff.h"
#include "checkin.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "store_care.h"
#include "tz.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define READ_BATCH 64
#define POLL_IDLE_MS 500       /* look at the outbox this often even unwoken */
#define CLAIM_EVERY_MS 30000   /* and at dead consumers' jobs this often */
#define CLAIM_IDLE_MS 300000   /* a job untouched this long belongs to a dead hub */
#define MAX_RESPONSE (64 * 1024)

struct task {
	char *entry_id;
	json_t *job;
	const char *key, *sid, *alert_id, *channel; /* borrowed from job */
	int step;
	int attempt;
	int64_t next_ms; /* monotonic; when to try next */
	bool busy;       /* an HTTP transfer is in flight */
	bool rate_ok;    /* took its place in the channel's rate limits */
	bool rate_said;  /* logged that it waits for one */
	bool limited;    /* no room, and the policy says fall back rather than wait */
	bool begun;      /* "sending" is recorded in Redis */
	bool checkin;    /* a scheduled check-in call (checkin.h): no alert behind it */
	const char *digest; /* a weekly digest (digest.c): its text, borrowed from job; no alert behind it */
	struct ch_runtime *rt;
	struct ch_channel *ch;
	const struct ch_channel_conf *conf;
	/* The notification as the plugin saw it, kept for http_done. */
	struct ch_notification n;
	json_t *alert;
	char *doc;
	char text[1024];
	/* HTTP */
	CURL *easy;
	struct curl_slist *hdrs;
	struct ch_http_request req;
	char *resp;
	size_t resp_len;
	int64_t retry_after_ms;
	int64_t started_ms; /* monotonic: when the request went out */
	char curl_err[CURL_ERROR_SIZE];
};

struct ch_dispatch {
	struct ch_store *store;
	char *consumer, *actor;
	CURLM *multi;
	pthread_t thread;
	atomic_bool running;
	atomic_bool woken;
	int64_t stop_deadline;
	struct task **tasks;
	size_t ntasks, cap;
	atomic_size_t depth; /* ntasks, for /metrics from another thread */
	uint64_t rnd;
};

/* ---------------------------------------------------------------- helpers */

static void free_request(struct ch_http_request *r)
{
	void (*f)(void *) = r->free_fn ? r->free_fn : free;

	if (r->headers) {
		for (char **h = r->headers; *h; h++)
			f(*h);
		f(r->headers);
	}
	if (r->url)
		f(r->url);
	if (r->body)
		f(r->body);
	memset(r, 0, sizeof(*r));
}

static void task_reset_http(struct task *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	t->easy = NULL;
	curl_slist_free_all(t->hdrs);
	t->hdrs = NULL;
	free_request(&t->req);
	free(t->resp);
	t->resp = NULL;
	t->resp_len = 0;
	t->retry_after_ms = 0;
	t->busy = false;
}

static void task_free(struct task *t)
{
	task_reset_http(t);
	free(t->entry_id);
	json_decref(t->job);
	json_decref(t->alert);
	free(t->doc);
	ch_runtime_release(t->rt);
	free(t);
}

static void remove_task(struct ch_dispatch *d, size_t i)
{
	task_free(d->tasks[i]);
	d->tasks[i] = d->tasks[--d->ntasks];
	atomic_store(&d->depth, d->ntasks);
}

static int inflight(const struct ch_dispatch *d, const struct ch_channel *ch)
{
	int n = 0;

	for (size_t i = 0; i < d->ntasks; i++)
		n += d->tasks[i]->busy && d->tasks[i]->ch == ch;
	return n;
}

/* ---------------------------------------------------------------- outcomes */

/*
 * A fallback to another contact keeps that contact's quiet hours, as step
 * jobs do (alerts below high only): when they hold it, the end of them, else 0.
 */
static int64_t fallback_hold(const struct task *t, json_t *next)
{
	const struct ch_subject *subj = t->rt ? ch_registry_subject(t->rt->reg, t->sid) : NULL;
	const struct ch_tz *tz = NULL;
	enum ch_severity sev;
	json_t *one;
	char err[256];
	int64_t until;

	if (!subj || !t->alert || json_is_true(json_object_get(next, "all_clear")) ||
	    ch_severity_parse(json_string_value(json_object_get(t->alert, "severity")), &sev) || sev >= CH_SEV_HIGH)
		return 0;
	if (ch_tz_get(ch_runtime_zone(t->rt, subj), &tz, err, sizeof(err)))
		return 0; /* a zone this machine lacks must not silence anyone */
	one = json_array();
	json_array_append(one, next);
	ch_alert_hold_quiet(one, subj, tz, sev, ch_clock_now_ms());
	until = json_integer_value(json_object_get(next, "hold_until"));
	json_decref(one);
	return until > 0 ? until : 0;
}

/*
 * Whether this is the first notification of its alert a provider took: the
 * latency histogram counts each alert once, however many people step 0 tells
 * and whichever instance sends first (claimed in Redis for a week).
 */
static bool first_notify(struct ch_dispatch *d, const struct task *t)
{
	char name[200], err[256];

	if (ch_fmt(name, sizeof(name), "first_notify:%s", t->n.alert_id ? t->n.alert_id : ""))
		return false;
	return ch_store_claim(d->store, name, 7LL * 86400 * 1000, err, sizeof(err)) == 0;
}

static void finish(struct ch_dispatch *d, struct task *t, const char *state, const struct ch_send_result *res)
{
	char ts[40], err[256], told[128];
	json_t *c = json_object_get(t->job, "contact");
	json_t *tl, *next = NULL;
	char *tlj, *nextj = NULL;
	bool limited = strcmp(state, "limited") == 0, skipped = strcmp(state, "skipped") == 0;
	bool failed = limited || strcmp(state, "failed") == 0;
	int64_t hold = 0;
	int rc;

	ch_clock_format(ch_clock_now_ms(), ts, sizeof(ts));
	/* A check-in call or a digest has no alert timeline: the schedule in Redis and the log say what became of it. */
	tl = t->checkin || t->digest ? NULL : json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, s:i, s:{s:O?, s:O?}, s:s, s:s, s:s}", "ts", ts, "ts_ms",
		       (json_int_t)ch_clock_now_ms(), "what",
		       skipped ? "not_sent" : limited ? "rate_limited" : failed ? "notify_failed" : "notified", "by", d->actor,
		       "channel", t->channel, "step", t->step, "attempt", t->attempt, "contact", "name",
		       json_object_get(c, "name"), "role", json_object_get(c, "role"), "provider_ref",
		       res ? res->provider_ref : "", "reason", res ? res->reason : "", "key", t->key);
	tlj = tl ? json_dumps(tl, JSON_COMPACT) : NULL;
	json_decref(tl);
	/* A permanent failure falls back as the policy says (alerts.c), in the same transaction. */
	if (failed && (next = ch_alert_next_job(t->job))) {
		hold = fallback_hold(t, next);
		nextj = json_dumps(next, JSON_COMPACT);
		ch_fmt(told, sizeof(told), "%s|%s", json_string_value(json_object_get(next, "cid")),
		       json_string_value(json_object_get(next, "channel")));
	}
	/* Redis away: keep trying; the job stays pending in the stream meanwhile. */
	while ((rc = ch_store_dispatch_finish(d->store, t->entry_id, t->key, state, t->sid, t->alert_id, tlj, nextj,
					      nextj ? told : NULL, hold, err, sizeof(err))) == CH_EAGAIN &&
	       atomic_load(&d->running)) {
		ch_log_rl("dispatch-redis", 10000, CH_LOG_WARN, "dispatch: %s; retrying", err);
		struct timespec s = {0, 200 * 1000000L};
		nanosleep(&s, NULL);
	}
	if (rc)
		ch_log(CH_LOG_ERROR, "dispatch: cannot record %s for %s: %s", state, t->key, err);
	/* A reply to this number ("1": on it) answers this notification; best effort. */
	if (!failed && !skipped && t->step >= 0 && !json_is_true(json_object_get(t->job, "all_clear")) && !t->digest &&
	    json_string_value(json_object_get(c, "phone")) &&
	    ch_store_reply_note(d->store, t->channel, json_string_value(json_object_get(c, "phone")), t->key, err,
				sizeof(err)) == CH_EAGAIN)
		ch_log_rl("dispatch-reply", 10000, CH_LOG_WARN, "dispatch: %s", err);
	free(tlj);
	ch_metrics_inc(CH_MF_SENDS, t->channel, skipped ? "skipped" : limited ? "limited" : failed ? "failed" : "ok");
	/* Time to first notification, once per alert: a re-notification of step 0 comes later on purpose. */
	if (!failed && !skipped && t->step == 0 && t->n.opened_at_ms > 0 && !json_object_get(t->job, "renotify") &&
	    !t->checkin && !t->digest && first_notify(d, t))
		ch_metrics_observe(CH_H_NOTIFY, ch_clock_now_ms() - t->n.opened_at_ms);
	if (skipped) {
		ch_log(CH_LOG_INFO, "[%s] %s not sent: %s", t->channel, t->key, res ? res->reason : "");
	} else if (!failed) {
		ch_log(CH_LOG_INFO, "[%s] sent %s (attempt %d)", t->channel, t->key, t->attempt);
	} else if (limited) {
		ch_log(CH_LOG_INFO, "[%s] %s: %s", t->channel, t->key, res ? res->reason : "rate limited");
	} else {
		ch_log(CH_LOG_WARN, "[%s] failed %s after %d attempt(s): %s", t->channel, t->key, t->attempt,
		       res ? res->reason : "");
	}
	if (next && rc == 0) {
		ch_log(CH_LOG_INFO, "[%s] falls back to %s%s", t->channel, json_string_value(json_object_get(next, "key")),
		       hold ? " (held: quiet hours)" : "");
		atomic_store(&d->woken, true);
	}
	free(nextj);
	json_decref(next);
}

static void handle_result(struct ch_dispatch *d, struct task *t, size_t idx, struct ch_send_result *res)
{
	int64_t now = ch_clock_mono_ms();

	switch (res->status) {
	case CH_SEND_OK:
		finish(d, t, "sent", res);
		remove_task(d, idx);
		return;
	case CH_SEND_RETRY:
		ch_metrics_inc(CH_MF_SENDS, t->channel, "retry");
		if (t->attempt >= t->conf->max_attempts) {
			char why[256];
			ch_fmt(why, sizeof(why), "gave up after %d attempts: %s", t->attempt, res->reason);
			ch_strlcpy(res->reason, why, sizeof(res->reason));
			finish(d, t, "failed", res);
			remove_task(d, idx);
			return;
		}
		int64_t delay = ch_backoff_full_jitter(t->conf->backoff_base_ms, t->conf->backoff_cap_ms, t->attempt,
						       ch_rand64(&d->rnd));
		if (res->retry_after_ms > delay)
			delay = res->retry_after_ms < t->conf->backoff_cap_ms ? res->retry_after_ms : t->conf->backoff_cap_ms;
		t->next_ms = now + delay;
		ch_log(CH_LOG_INFO, "[%s] retry %s in %lld ms (attempt %d: %s)", t->channel, t->key, (long long)delay,
		       t->attempt, res->reason);
		task_reset_http(t);
		return;
	case CH_SEND_FAIL:
	default:
		finish(d, t, "failed", res);
		remove_task(d, idx);
		return;
	}
}

/* ---------------------------------------------------------------- HTTP */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct task *t = arg;
	size_t n = size * nmemb;
	size_t keep = t->resp_len + n > MAX_RESPONSE ? MAX_RESPONSE - t->resp_len : n;
	char *b = realloc(t->resp, t->resp_len + keep + 1);

	if (!b)
		return 0;
	t->resp = b;
	memcpy(b + t->resp_len, p, keep);
	t->resp_len += keep;
	b[t->resp_len] = '\0';
	return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct task *t = arg;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char buf[32];
		size_t m = n - 12 < sizeof(buf) - 1 ? n - 12 : sizeof(buf) - 1;
		long secs;
		memcpy(buf, p + 12, m);
		buf[m] = '\0';
		char *s = buf;
		while (*s == ' ')
			s++;
		s[strcspn(s, "\r\n ")] = '\0';
		/* Only delta-seconds; an HTTP date falls back to our own backoff. */
		if (ch_parse_long(s, 0, 86400, &secs) == 0)
			t->retry_after_ms = secs * 1000;
	}
	return n;
}

static int start_http(struct ch_dispatch *d, struct task *t)
{
	t->easy = curl_easy_init();
	if (!t->easy)
		return CH_ENOMEM;
	for (char **h = t->req.headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(t->hdrs, *h);
		if (!n)
			return CH_ENOMEM;
		t->hdrs = n;
	}
	/* Let the plugin decide about Expect: 100-continue; never wait a second for it. */
	t->hdrs = curl_slist_append(t->hdrs, "Expect:");
	curl_easy_setopt(t->easy, CURLOPT_URL, t->req.url);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->hdrs);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->req.body ? t->req.body : "");
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->req.body_len);
	if (t->req.method && strcmp(t->req.method, "POST") != 0)
		curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, t->req.method);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, t->req.timeout_ms > 0 ? t->req.timeout_ms : (long)t->conf->timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->curl_err);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	t->curl_err[0] = '\0';
	if (curl_multi_add_handle(d->multi, t->easy) != CURLM_OK)
		return CH_EIO;
	t->busy = true;
	t->started_ms = ch_clock_mono_ms();
	return 0;
}

static size_t find_task(const struct ch_dispatch *d, const struct task *t)
{
	for (size_t i = 0; i < d->ntasks; i++) {
		if (d->tasks[i] == t)
			return i;
	}
	return (size_t)-1;
}

static void http_done(struct ch_dispatch *d, CURLMsg *msg)
{
	struct task *t = NULL;
	struct ch_http_response resp = {0};
	struct ch_send_result res = {0};
	long status = 0;
	size_t idx;

	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
	curl_multi_remove_handle(d->multi, msg->easy_handle);
	if (!t || (idx = find_task(d, t)) == (size_t)-1)
		return;
	ch_metrics_observe(CH_H_SEND, ch_clock_mono_ms() - t->started_ms);
	curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
	resp.status = msg->data.result == CURLE_OK ? status : 0;
	resp.body = t->resp ? t->resp : "";
	resp.body_len = t->resp_len;
	resp.transport_error = msg->data.result != CURLE_OK;
	resp.transport_msg = t->curl_err[0] ? t->curl_err : curl_easy_strerror(msg->data.result);
	resp.retry_after_ms = t->retry_after_ms;
	ch_channel_http_done(t->ch, &t->n, &resp, &res);
	if (res.status == CH_SEND_RETRY && resp.transport_error && t->conf->at_most_once) {
		long sent = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_REQUEST_SIZE, &sent);
		if (sent > 0) {
			/* It may have been taken: never twice to a provider that cannot tell. */
			char why[sizeof(res.reason)];
			ch_fmt(why, sizeof(why), "no answer after the request went out (%s); not repeated: at_most_once",
			       resp.transport_msg ? resp.transport_msg : "transport error");
			ch_strlcpy(res.reason, why, sizeof(res.reason));
			res.status = CH_SEND_FAIL;
		}
	}
	if (res.status == CH_SEND_HTTP) {
		/* A plugin may not chain requests; treat as a bug in the plugin. */
		free_request(&res.http);
		res.status = CH_SEND_FAIL;
		ch_strlcpy(res.reason, "plugin asked for a second request", sizeof(res.reason));
	}
	handle_result(d, t, idx, &res);
}

/* ---------------------------------------------------------------- attempts */

/*
 * A check-in call: the notification stands on the job itself (a small
 * document in place of an alert, the "checkin" script), and "resolved" when
 * its slot has moved on (answered on a first call, skipped), so it is not
 * made.
 */
static int prepare_checkin(struct ch_dispatch *d, struct task *t, char *why, size_t whylen)
{
	const struct ch_subject *subj = ch_registry_subject(t->rt->reg, t->sid);
	json_t *ci = json_object_get(t->job, "checkin");
	const char *slot = json_string_value(json_object_get(ci, "slot"));
	int try_no = (int)json_integer_value(json_object_get(ci, "try"));
	const struct ch_contact *ct = subj ? ch_alert_find_contact(subj, json_string_value(json_object_get(t->job, "cid"))) : NULL;
	struct ch_checkin_state st;
	char at[40], open[CH_ID_MAX], err[256];
	int64_t due = json_integer_value(json_object_get(ci, "due_ms"));
	bool current;
	int rc;

	if (!subj || !slot) {
		ch_fmt(why, whylen, "check-in of %s: no such subject any more", t->sid);
		return CH_ENOTFOUND;
	}
	if ((rc = ch_store_checkin_get(d->store, t->sid, &st, open, sizeof(open), err, sizeof(err)))) {
		ch_strlcpy(why, err, whylen);
		return rc == CH_EAGAIN ? rc : CH_EPROTO;
	}
	current = strcmp(st.slot, slot) == 0 && st.phase == CH_CI_CALLING && st.tries == try_no;
	ch_clock_format(due, at, sizeof(at));
	json_decref(t->alert);
	t->alert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "id", t->key, "rule", "check_in", "severity",
			     "info", "state", current ? "open" : "resolved", "subject", t->sid, "opened_at", at,
			     "opened_at_ms", (json_int_t)due, "summary", "scheduled check-in call");
	ch_checkin_render(t->rt->cfg->templates, ct && ct->language ? ct->language : t->rt->cfg->language, subj, t->channel,
			  t->conf->plugin, t->text, sizeof(t->text));
	return t->alert ? 0 : CH_ENOMEM;
}

/* A caseworker's weekly digest: the task is the text the job carries, under a small document of its own. */
static int prepare_digest(struct task *t)
{
	json_t *dg = json_object_get(t->job, "digest");
	int64_t at = json_integer_value(json_object_get(dg, "at_ms"));
	char iso[40];

	ch_clock_format(at, iso, sizeof(iso));
	json_decref(t->alert);
	t->alert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "id", t->key, "rule", "digest", "severity", "info",
			     "state", "open", "subject", "", "opened_at", iso, "opened_at_ms", (json_int_t)at, "summary",
			     "weekly care digest");
	ch_strlcpy(t->text, t->digest, sizeof(t->text)); /* cut; the notification carries the whole */
	return t->alert ? 0 : CH_ENOMEM;
}

static int prepare_notification(struct ch_dispatch *d, struct task *t, char *why, size_t whylen)
{
	const struct ch_subject *subj = ch_registry_subject(t->rt->reg, t->sid);
	json_t *contact = json_object_get(t->job, "contact");
	json_t *note;
	char err[256];
	char *adoc = NULL;
	int rc;

	if (t->checkin) {
		if ((rc = prepare_checkin(d, t, why, whylen)))
			return rc;
	} else if (t->digest) {
		if ((rc = prepare_digest(t)))
			return rc;
	} else if (!t->alert) {
		rc = ch_store_alert_get(d->store, t->alert_id, &adoc, err, sizeof(err));
		if (rc == CH_EAGAIN) {
			ch_strlcpy(why, err, whylen);
			return CH_EAGAIN;
		}
		if (rc) {
			ch_fmt(why, whylen, "alert %s not found", t->alert_id);
			return CH_ENOTFOUND;
		}
		t->alert = json_loads(adoc, 0, NULL);
		free(adoc);
		if (!t->alert) {
			ch_fmt(why, whylen, "alert %s is not JSON", t->alert_id);
			return CH_EPROTO;
		}
	}
	const struct ch_contact *ct = ch_alert_find_contact(subj, json_string_value(json_object_get(t->job, "cid")));
	const struct ch_tz *tz = NULL, *ctz = NULL;
	if (ch_tz_get(ch_runtime_zone(t->rt, subj), &tz, err, sizeof(err)))
		tz = NULL; /* UTC rather than nothing: the zone was checked at load */
	/* A son abroad reads the time on his own clock (zones are checked at load). */
	if (ct && ct->timezone && ch_tz_get(ct->timezone, &ctz, err, sizeof(err)))
		ctz = NULL;
	struct ch_render_opts ro = {
		.tpl = t->rt->cfg->templates,
		.lang = ct && ct->language ? ct->language : t->rt->cfg->language,
		.channel = t->channel,
		.plugin = t->conf->plugin,
		.all_clear = json_is_true(json_object_get(t->job, "all_clear")),
		.centre_phone = t->rt->cfg->centre_phone,
		.tz = tz,
		.contact_tz = ctz,
	};
	if (!t->checkin && !t->digest)
		ch_alert_render(&ro, t->alert, subj, contact, t->text, sizeof(t->text));
	note = ch_alert_notification(t->key, t->alert, subj, contact, t->step, t->attempt, t->digest ? t->digest : t->text);
	free(t->doc);
	t->doc = note ? json_dumps(note, JSON_COMPACT) : NULL;
	json_decref(note);
	if (!t->doc)
		return CH_ENOMEM;
	t->n = (struct ch_notification){
		.idempotency_key = t->key,
		.channel = t->channel,
		.document = t->doc,
		.alert_id = t->alert_id,
		.rule = json_string_value(json_object_get(t->alert, "rule")),
		.severity = json_string_value(json_object_get(t->alert, "severity")),
		.state = json_string_value(json_object_get(t->alert, "state")),
		.summary = json_string_value(json_object_get(t->alert, "summary")),
		.opened_at_ms = json_integer_value(json_object_get(t->alert, "opened_at_ms")),
		.subject_id = t->sid,
		.subject_name = subj ? subj->name : "",
		.subject_address = subj ? subj->address : "",
		.contact_name = json_string_value(json_object_get(contact, "name")),
		.contact_phone = json_string_value(json_object_get(contact, "phone")),
		.contact_role = json_string_value(json_object_get(contact, "role")),
		.text = t->digest ? t->digest : t->text,
		.step = t->step,
		.attempt = t->attempt,
		.deadline_ms = ch_clock_now_ms() + t->conf->timeout_ms,
	};
	return 0;
}

/*
 * Per-number rate limits (voice platforms allow e.g. 1 call a minute, 5 an
 * hour, 20 a day to one number): a send that has no room waits, it is not
 * dropped and costs no attempt.  false when the task must wait (next_ms set).
 */
static bool rate_take(struct ch_dispatch *d, struct task *t)
{
	const char *phone = json_string_value(json_object_get(json_object_get(t->job, "contact"), "phone"));
	int max[CH_ARRAY_LEN(t->conf->rate)];
	int64_t win[CH_ARRAY_LEN(t->conf->rate)], wait = 0;
	char who[9], err[256];
	int rc;

	ch_alert_contact_id("", phone ? phone : "", who);
	for (size_t i = 0; i < t->conf->nrate; i++) {
		max[i] = t->conf->rate[i].max;
		win[i] = t->conf->rate[i].window_ms;
	}
	rc = ch_store_rate_take(d->store, t->channel, who, max, win, t->conf->nrate, ch_clock_now_ms(), &wait, err,
				sizeof(err));
	if (rc) {
		ch_log_rl("rate-take", 10000, CH_LOG_WARN, "[%s] rate limits: %s", t->channel, err);
		t->next_ms = ch_clock_mono_ms() + 500;
		return false;
	}
	if (wait > 0 && json_is_string(json_object_get(t->job, "when_limited")) &&
	    strcmp(json_string_value(json_object_get(t->job, "when_limited")), "fallback") == 0 &&
	    (json_array_size(json_object_get(t->job, "fallback")) > 0 ||
	     json_array_size(json_object_get(t->job, "next")) > 0)) {
		/* The policy would rather reach someone else now than this number later. */
		t->limited = true;
		return false;
	}
	if (wait > 0) {
		if (!t->rate_said)
			ch_log(CH_LOG_INFO, "[%s] %s waits %lld ms for the number's rate limit", t->channel, t->key,
			       (long long)wait);
		t->rate_said = true;
		t->next_ms = ch_clock_mono_ms() + wait;
		return false;
	}
	t->rate_ok = true;
	return true;
}

/* Runs one attempt of the task at index idx (which may be removed). */
static void attempt(struct ch_dispatch *d, size_t idx)
{
	struct task *t = d->tasks[idx];
	struct ch_send_result res = {0};
	char why[256];
	int rc;

	if (inflight(d, t->ch) >= t->conf->max_inflight) {
		t->next_ms = ch_clock_mono_ms() + 20;
		return;
	}
	if (t->conf->nrate && !t->rate_ok && !rate_take(d, t)) {
		if (t->limited) {
			struct ch_send_result lim = {.status = CH_SEND_FAIL};
			ch_fmt(lim.reason, sizeof(lim.reason), "the number's rate limit is reached; falling back");
			finish(d, t, "limited", &lim);
			remove_task(d, idx);
		}
		return;
	}
	if (!t->begun) {
		char err[256];
		/* Recorded around the send: a restart finds "sending" and sends again under the same key. */
		if (ch_store_dispatch_begin(d->store, t->key, err, sizeof(err)) == CH_EAGAIN) {
			t->next_ms = ch_clock_mono_ms() + 500;
			return;
		}
		t->begun = true;
	}
	t->attempt++;
	rc = prepare_notification(d, t, why, sizeof(why));
	if (rc == CH_EAGAIN) {
		t->attempt--;
		t->next_ms = ch_clock_mono_ms() + 500;
		return;
	}
	if (rc) {
		res.status = CH_SEND_FAIL;
		ch_strlcpy(res.reason, why, sizeof(res.reason));
		handle_result(d, t, idx, &res);
		return;
	}
	if (t->attempt == 1 && t->n.state && strcmp(t->n.state, "resolved") == 0 &&
	    !json_is_true(json_object_get(t->job, "all_clear"))) {
		/* Over before this went out (its all clear is queued already): one message, not two. */
		ch_strlcpy(res.reason, t->checkin ? "the check-in moved on before this call went out"
						  : "the alert was resolved before this was sent",
			   sizeof(res.reason));
		finish(d, t, "skipped", &res);
		remove_task(d, idx);
		return;
	}
	ch_channel_send(t->ch, &t->n, &res);
	if (res.status != CH_SEND_HTTP) {
		handle_result(d, t, idx, &res);
		return;
	}
	t->req = res.http;
	memset(&res.http, 0, sizeof(res.http));
	if (!t->ch->plugin->http_done || !t->req.url || start_http(d, t)) {
		task_reset_http(t);
		res.status = CH_SEND_FAIL;
		ch_strlcpy(res.reason, "cannot start the HTTP request", sizeof(res.reason));
		handle_result(d, t, idx, &res);
	}
}

static void add_job(struct ch_dispatch *d, struct ch_job *job)
{
	struct task *t;
	char state[32], err[256];
	int rc;

	for (size_t i = 0; i < d->ntasks; i++) {
		if (strcmp(d->tasks[i]->entry_id, job->entry_id) == 0)
			return; /* already working on it (a re-read of the pending list) */
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return;
	t->entry_id = job->entry_id;
	t->job = job->job;
	job->entry_id = NULL;
	job->job = NULL;
	t->key = json_string_value(json_object_get(t->job, "key"));
	t->sid = json_string_value(json_object_get(t->job, "sid"));
	t->alert_id = json_string_value(json_object_get(t->job, "alert"));
	t->channel = json_string_value(json_object_get(t->job, "channel"));
	t->step = (int)json_integer_value(json_object_get(t->job, "step"));
	t->checkin = json_is_object(json_object_get(t->job, "checkin"));
	t->digest = json_string_value(json_object_get(json_object_get(t->job, "digest"), "text"));
	if (!t->key || !t->sid || !t->alert_id || !t->channel) {
		ch_log(CH_LOG_ERROR, "dispatch: malformed job %s dropped", t->entry_id);
		ch_store_dispatch_finish(d->store, t->entry_id, "malformed", "failed", NULL, NULL, NULL, NULL, NULL, 0,
					 err, sizeof(err));
		task_free(t);
		return;
	}
	rc = ch_store_dispatch_state(d->store, t->key, state, sizeof(state), err, sizeof(err));
	if (rc == 0 && (strcmp(state, "sent") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "limited") == 0 ||
			strcmp(state, "skipped") == 0)) {
		/* Done before a restart: acknowledge, never send twice. */
		ch_store_dispatch_finish(d->store, t->entry_id, t->key, state, NULL, NULL, NULL, NULL, NULL, 0, err,
					 sizeof(err));
		task_free(t);
		return;
	}
	t->rt = ch_runtime_acquire();
	t->ch = t->rt ? ch_runtime_channel(t->rt, t->channel) : NULL;
	t->conf = t->rt ? ch_config_channel(t->rt->cfg, t->channel) : NULL;
	if (!t->ch || !t->conf) {
		struct ch_send_result res = {.status = CH_SEND_FAIL};
		ch_fmt(res.reason, sizeof(res.reason), "channel %s is not configured", t->channel);
		finish(d, t, "failed", &res);
		task_free(t);
		return;
	}
	/* "sending" is written once the send has its place in the rate limits (attempt()):
	 * a send a killed hub had begun already counted there, and must not count twice. */
	t->rate_ok = t->begun = rc == 0 && strcmp(state, "sending") == 0;
	if (t->begun && t->conf->at_most_once) {
		/* A hub died in the middle of it: the provider may have it, and cannot tell a repeat. */
		struct ch_send_result res = {.status = CH_SEND_FAIL};
		ch_strlcpy(res.reason, "interrupted in the middle of a send; not repeated: at_most_once", sizeof(res.reason));
		finish(d, t, "failed", &res);
		task_free(t);
		return;
	}
	if (d->ntasks == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct task **nt = realloc(d->tasks, cap * sizeof(*nt));
		if (!nt) {
			task_free(t);
			return;
		}
		d->tasks = nt;
		d->cap = cap;
	}
	t->next_ms = ch_clock_mono_ms();
	d->tasks[d->ntasks++] = t;
	atomic_store(&d->depth, d->ntasks);
}

static void read_jobs(struct ch_dispatch *d, int mode)
{
	struct ch_job *jobs = NULL;
	size_t n = 0;
	char err[256];
	int rc;

	if (mode == 2)
		rc = ch_store_outbox_claim(d->store, d->consumer, CLAIM_IDLE_MS, READ_BATCH, &jobs, &n, err,
					   sizeof(err));
	else
		rc = ch_store_outbox_read(d->store, d->consumer, mode == 1, mode == 1 ? 1000 : READ_BATCH, &jobs,
					  &n, err, sizeof(err));
	if (rc) {
		ch_log_rl("dispatch-read", 10000, CH_LOG_WARN, "dispatch: reading the outbox: %s", err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		add_job(d, &jobs[i]);
	ch_store_jobs_free(jobs, n);
	if (n == READ_BATCH && mode == 0)
		atomic_store(&d->woken, true);
}

static void *dispatch_thread(void *arg)
{
	struct ch_dispatch *d = arg;
	int64_t last_read = 0, last_claim = 0;
	bool pending_done = false;

	for (;;) {
		int64_t now = ch_clock_mono_ms();
		bool running = atomic_load(&d->running);
		int wait = 200;

		if (!running) {
			bool busy = false;
			for (size_t i = 0; i < d->ntasks; i++)
				busy |= d->tasks[i]->busy;
			if (!busy || now > d->stop_deadline)
				break;
		}
		if (running) {
			if (!pending_done) {
				read_jobs(d, 1);
				pending_done = ch_store_connected(d->store);
			}
			if (atomic_exchange(&d->woken, false) || now - last_read >= POLL_IDLE_MS) {
				read_jobs(d, 0);
				last_read = now;
			}
			if (now - last_claim >= CLAIM_EVERY_MS) {
				read_jobs(d, 2);
				last_claim = now;
			}
			for (size_t i = 0; i < d->ntasks;) {
				struct task *t = d->tasks[i];
				size_t before = d->ntasks;
				if (!t->busy && t->next_ms <= ch_clock_mono_ms())
					attempt(d, i);
				/* attempt() may have removed task i (swapped in the last one). */
				if (d->ntasks == before && d->tasks[i] == t)
					i++;
			}
		}
		for (size_t i = 0; i < d->ntasks; i++) {
			struct task *t = d->tasks[i];
			if (!t->busy) {
				int64_t left = t->next_ms - ch_clock_mono_ms();
				if (left < wait)
					wait = left < 0 ? 0 : (int)left;
			}
		}
		int running_handles = 0;
		curl_multi_poll(d->multi, NULL, 0, wait, NULL);
		curl_multi_perform(d->multi, &running_handles);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(d->multi, &left))) {
			if (msg->msg == CURLMSG_DONE)
				http_done(d, msg);
		}
	}
	return NULL;
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ch_dispatch_start(const struct ch_dispatch_opts *o, struct ch_dispatch **out, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct ch_dispatch *d;
	int rc;

	pthread_once(&once, curl_init_once);
	d = calloc(1, sizeof(*d));
	if (!d)
		return CH_ENOMEM;
	d->consumer = ch_strdup(o->consumer);
	d->actor = ch_strdup(o->actor);
	d->multi = curl_multi_init();
	d->rnd = (uint64_t)ch_clock_mono_ms() * 131u + 17u;
	if (!d->consumer || !d->actor || !d->multi) {
		rc = CH_ENOMEM;
		goto fail;
	}
	rc = ch_store_open(o->store, &d->store, err, errlen);
	if (rc && rc != CH_EAGAIN)
		goto fail;
	if (rc == 0 && (rc = ch_store_outbox_init(d->store, err, errlen)) && rc != CH_EAGAIN)
		goto fail;
	atomic_store(&d->running, true);
	if (pthread_create(&d->thread, NULL, dispatch_thread, d)) {
		rc = CH_ENOMEM;
		goto fail;
	}
	*out = d;
	return 0;
fail:
	if (d->multi)
		curl_multi_cleanup(d->multi);
	ch_store_close(d->store);
	free(d->consumer);
	free(d->actor);
	free(d);
	return rc;
}

size_t ch_dispatch_depth(struct ch_dispatch *d)
{
	return d ? atomic_load(&d->depth) : 0;
}

void ch_dispatch_wake(struct ch_dispatch *d)
{
	atomic_store(&d->woken, true);
	curl_multi_wakeup(d->multi);
}

void ch_dispatch_stop(struct ch_dispatch *d, int64_t deadline_ms)
{
	if (!d)
		return;
	d->stop_deadline = ch_clock_mono_ms() + deadline_ms;
	atomic_store(&d->running, false);
	curl_multi_wakeup(d->multi);
	pthread_join(d->thread, NULL);
	/* What is left stays pending in the stream and is picked up at the next start. */
	for (size_t i = 0; i < d->ntasks; i++) {
		if (d->tasks[i]->easy)
			curl_multi_remove_handle(d->multi, d->tasks[i]->easy);
		task_free(d->tasks[i]);
	}
	free(d->tasks);
	curl_multi_cleanup(d->multi);
	ch_store_close(d->store);
	free(d->consumer);
	free(d->actor);
	free(d);
}
