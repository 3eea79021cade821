/*
 * ctl.c - carehubctl: the hub's tools on the command line.
 *
 *   carehubctl backtest ...
 *
 * runs the correlation engine over recorded events with a virtual clock
 * (backtest.c has it and its usage).
 *
 *   carehubctl alerts [--state S] [--severity S] [--subject ID] [--json]
 *   carehubctl alert ID [--json]
 *   carehubctl ack ID --by NAME [--note TEXT]
 *   carehubctl resolve ID --by NAME --outcome CODE [--note TEXT]
 *   carehubctl silence --subject ID [--rule R | --device D] --for DURATION --reason TEXT --by NAME
 *   carehubctl subjects [--json]
 *
 * are the HTTP API (api.h) on the command line: --url (default $CAREHUB_URL,
 * else http://127.0.0.1:8370), the bearer token from $CAREHUB_API_TOKEN (or
 * the variable --token-env names).  Exit 0, 1 when the hub said no or could
 * not be reached (its answer on stderr), 2 for a usage error.
 */
#include "backtest.h"
#include "ch.h"
#include "clock.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	ch_backtest_usage(f);
	fprintf(f, "usage: carehubctl alerts [--state S] [--severity S] [--subject ID] [--json]\n"
		   "       carehubctl alert ID [--json]\n"
		   "       carehubctl ack ID --by NAME [--note TEXT]\n"
		   "       carehubctl resolve ID --by NAME --outcome CODE [--note TEXT]\n"
		   "       carehubctl silence --subject ID [--rule R | --device D] --for DURATION --reason TEXT --by NAME\n"
		   "       carehubctl subjects [--json]\n"
		   "  The hub's HTTP API: --url URL ($CAREHUB_URL, else http://127.0.0.1:8370), the token\n"
		   "  from $CAREHUB_API_TOKEN or the variable --token-env NAME names.\n");
}

/* ---------------------------------------------------------------- the API */

struct reply {
	char *data;
	size_t len;
};

static size_t grab(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t m = size * n;
	char *d = realloc(r->data, r->len + m + 1);

	if (!d)
		return 0;
	memcpy(d + r->len, p, m);
	r->len += m;
	d[r->len] = '\0';
	r->data = d;
	return m;
}

struct api_opts {
	const char *url, *token_env, *state, *severity, *subject, *by, *note, *outcome, *rule, *device, *dur, *reason;
	bool json;
};

/* One request; the parsed answer in *out (NULL if not JSON).  The HTTP status, or 0 with err. */
static long api_call(const struct api_opts *o, const char *path, const char *body, json_t **out, char *err,
		     size_t errlen)
{
	const char *token = getenv(o->token_env);
	struct curl_slist *h = NULL;
	struct reply r = {0};
	char url[1024], auth[512];
	long status = 0;
	CURL *c;
	CURLcode rc;

	*out = NULL;
	if (!token || !*token) {
		ch_fmt(err, errlen, "%s is not set: the API needs its bearer token", o->token_env);
		return 0;
	}
	if (ch_fmt(url, sizeof(url), "%s%s", o->url, path) || ch_fmt(auth, sizeof(auth), "Authorization: Bearer %s", token)) {
		ch_fmt(err, errlen, "URL or token too long");
		return 0;
	}
	c = curl_easy_init();
	if (!c) {
		ch_fmt(err, errlen, "out of memory");
		return 0;
	}
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grab);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		ch_fmt(err, errlen, "%s: %s", o->url, curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r.data)
		*out = json_loadb(r.data, r.len, 0, NULL);
	if (status >= 300)
		ch_fmt(err, errlen, "HTTP %ld: %s", status,
		       json_string_value(json_object_get(*out, "error")) ? json_string_value(json_object_get(*out, "error"))
									: (r.data ? r.data : ""));
	free(r.data);
	return status;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static int sev_rank(const char *s)
{
	enum ch_severity v;
	return ch_severity_parse(s, &v) ? -1 : (int)v;
}

static int by_severity_then_age(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int d = sev_rank(jstr(y, "severity")) - sev_rank(jstr(x, "severity"));
	json_int_t tx = json_integer_value(json_object_get(x, "opened_at_ms"));
	json_int_t ty = json_integer_value(json_object_get(y, "opened_at_ms"));

	return d ? d : (tx > ty) - (tx < ty);
}

static void print_alerts(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	int64_t now = ch_clock_now_ms();

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(list, i);
	qsort(v, n, sizeof(*v), by_severity_then_age);
	for (size_t i = 0; i < n; i++) {
		char age[32];
		int64_t ms = now - json_integer_value(json_object_get(v[i], "opened_at_ms"));
		ch_fmt_duration(ms > 1000 ? ms / 1000 * 1000 : ms, age, sizeof(age)); /* whole seconds */
		printf("%-12s %-8s %-12s %8s  %s  %s  %s\n", jstr(v[i], "id"), jstr(v[i], "severity"), jstr(v[i], "state"), age,
		       jstr(v[i], "subject_name"), jstr(v[i], "address"), jstr(v[i], "summary"));
	}
	free(v);
}

static void print_alert(json_t *a)
{
	json_t *doc = json_object_get(a, "alert"), *t;
	size_t i;

	printf("%s  %s  %s  %s\n  opened %s, count %lld%s%s\n", jstr(doc, "id"), jstr(doc, "severity"), jstr(doc, "state"),
	       jstr(doc, "summary"), jstr(doc, "opened_at"), (long long)json_integer_value(json_object_get(doc, "count")),
	       *jstr(doc, "outcome") ? ", outcome " : "", jstr(doc, "outcome"));
	json_array_foreach(json_object_get(a, "timeline"), i, t) {
		json_t *e = json_is_string(t) ? json_loads(json_string_value(t), 0, NULL) : json_incref(t);
		const char *role = jstr(json_object_get(e, "contact"), "role");
		printf("  %s  %-14s %s%s%s%s%s%s%s\n", jstr(e, "ts"), jstr(e, "what"), jstr(e, "by"),
		       *jstr(e, "channel") ? " on " : "", jstr(e, "channel"), *role ? " to " : "", role,
		       *jstr(e, "text") || *jstr(e, "reason") ? ": " : "", *jstr(e, "text") ? jstr(e, "text") : jstr(e, "reason"));
		json_decref(e);
	}
}

static int api_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},	    {"token-env", required_argument, NULL, 't'},
		{"state", required_argument, NULL, 's'},    {"severity", required_argument, NULL, 'v'},
		{"subject", required_argument, NULL, 'S'},  {"by", required_argument, NULL, 'b'},
		{"note", required_argument, NULL, 'n'},	    {"outcome", required_argument, NULL, 'o'},
		{"rule", required_argument, NULL, 'r'},	    {"device", required_argument, NULL, 'd'},
		{"for", required_argument, NULL, 'f'},	    {"reason", required_argument, NULL, 'R'},
		{"json", no_argument, NULL, 'j'},	    {NULL, 0, NULL, 0}};
	const char *cmd = argv[0], *id = NULL, *env_url = getenv("CAREHUB_URL");
	struct api_opts o = {.url = env_url && *env_url ? env_url : "http://127.0.0.1:8370", .token_env = "CAREHUB_API_TOKEN"};
	char path[1024], err[1024];
	json_t *out = NULL, *body = NULL;
	char *text = NULL;
	long status;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 't': o.token_env = optarg; break;
		case 's': o.state = optarg; break;
		case 'v': o.severity = optarg; break;
		case 'S': o.subject = optarg; break;
		case 'b': o.by = optarg; break;
		case 'n': o.note = optarg; break;
		case 'o': o.outcome = optarg; break;
		case 'r': o.rule = optarg; break;
		case 'd': o.device = optarg; break;
		case 'f': o.dur = optarg; break;
		case 'R': o.reason = optarg; break;
		case 'j': o.json = true; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc || ((strcmp(cmd, "alert") == 0 || strcmp(cmd, "ack") == 0 || strcmp(cmd, "resolve") == 0) && !id) ||
	    ((strcmp(cmd, "alerts") == 0 || strcmp(cmd, "subjects") == 0 || strcmp(cmd, "silence") == 0) && id)) {
		usage(stderr);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(cmd, "alerts") == 0) {
		char *q_state = o.state ? curl_easy_escape(NULL, o.state, 0) : NULL;
		char *q_sev = o.severity ? curl_easy_escape(NULL, o.severity, 0) : NULL;
		char *q_subj = o.subject ? curl_easy_escape(NULL, o.subject, 0) : NULL;
		ch_fmt(path, sizeof(path), "/v1/alerts?limit=1000%s%s%s%s%s%s", q_state ? "&state=" : "", q_state ? q_state : "",
		       q_sev ? "&severity=" : "", q_sev ? q_sev : "", q_subj ? "&subject=" : "", q_subj ? q_subj : "");
		curl_free(q_state);
		curl_free(q_sev);
		curl_free(q_subj);
	} else if (strcmp(cmd, "alert") == 0) {
		ch_fmt(path, sizeof(path), "/v1/alerts/%s", id);
	} else if (strcmp(cmd, "ack") == 0 || strcmp(cmd, "resolve") == 0) {
		ch_fmt(path, sizeof(path), "/v1/alerts/%s/%s", id, cmd);
		body = json_pack("{s:s?, s:s?, s:s?}", "by", o.by, "note", o.note, "outcome", o.outcome);
	} else if (strcmp(cmd, "silence") == 0) {
		ch_fmt(path, sizeof(path), "/v1/silences");
		body = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "subject", o.subject, "rule", o.rule, "device",
				 o.device, "for", o.dur, "reason", o.reason, "by", o.by);
	} else {
		ch_fmt(path, sizeof(path), "/v1/subjects");
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	status = api_call(&o, path, text, &out, err, sizeof(err));
	free(text);
	if (status < 200 || status >= 300) {
		fprintf(stderr, "carehubctl %s: %s\n", cmd, err);
		json_decref(out);
		curl_global_cleanup();
		return 1;
	}
	if (o.json || status == 202) {
		char *dump = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", dump ? dump : "{}");
		free(dump);
	} else if (strcmp(cmd, "alerts") == 0) {
		print_alerts(json_object_get(out, "alerts"));
	} else if (strcmp(cmd, "alert") == 0) {
		print_alert(out);
	} else {
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(out, "subjects"), i, s)
			printf("%-10s %s  %s  %s\n", jstr(s, "id"), jstr(s, "name"), jstr(s, "address"), jstr(s, "phone"));
	}
	json_decref(out);
	curl_global_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "backtest") == 0)
		return ch_backtest_cli(argc - 1, argv + 1);
	static const char *const api_cmds[] = {"alerts", "alert", "ack", "resolve", "silence", "subjects"};
	for (size_t i = 0; i < CH_ARRAY_LEN(api_cmds); i++) {
		if (strcmp(argv[1], api_cmds[i]) == 0)
			return api_cmd(argc - 1, argv + 1);
	}
	fprintf(stderr, "carehubctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
