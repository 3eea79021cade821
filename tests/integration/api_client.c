/*
 * api_client.c - see api_client.h.
 */
#include "api_client.h"
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_curl(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct t_resp *r = arg;
	size_t len = size * n, have = strlen(r->body), room = sizeof(r->body) - 1 - have;

	memcpy(r->body + have, p, len < room ? len : room);
	r->body[have + (len < room ? len : room)] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct t_resp *r = arg;
	size_t len = size * n;

	if (len > 11 && strncasecmp(p, "Set-Cookie:", 11) == 0)
		snprintf(r->set_cookie, sizeof(r->set_cookie), "%.*s", (int)strcspn(p + 12, "\r\n"), p + 12);
	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		snprintf(r->retry_after, sizeof(r->retry_after), "%.*s", (int)strcspn(p + 13, "\r\n"), p + 13);
	if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
		snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)strcspn(p + 14, "\r\n"), p + 14);
	return len;
}

long t_api(int port, const char *method, const char *path, const char *const *headers, const char *body,
	   struct t_resp *r)
{
	struct curl_slist *h = NULL;
	struct timespec t0, t1;
	char url[512];
	CURL *c;

	pthread_once(&once, init_curl);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	c = curl_easy_init();
	for (; headers && *headers; headers++)
		h = curl_slist_append(h, *headers);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r->status;
}

long t_api_token(int port, const char *token, const char *method, const char *path, const char *body,
		 struct t_resp *r)
{
	char auth[256];
	const char *h[] = {auth, "Content-Type: application/json", NULL};

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	return t_api(port, method, path, h, body, r);
}

long t_login(int port, const char *name, const char *password, struct t_session *s, struct t_resp *r)
{
	const char *h[] = {"Content-Type: application/json", NULL};
	json_t *b = json_pack("{s:s, s:s}", "name", name, "password", password), *j;
	char *text = json_dumps(b, JSON_COMPACT);

	memset(s, 0, sizeof(*s));
	t_api(port, "POST", "/v1/session", h, text, r);
	free(text);
	json_decref(b);
	if (r->status == 200) {
		snprintf(s->cookie, sizeof(s->cookie), "%.*s", (int)strcspn(r->set_cookie, ";"), r->set_cookie);
		j = json_loads(r->body, 0, NULL);
		snprintf(s->csrf, sizeof(s->csrf), "%s",
			 json_string_value(json_object_get(j, "csrf")) ? json_string_value(json_object_get(j, "csrf")) : "");
		json_decref(j);
	}
	return r->status;
}

long t_as(int port, const struct t_session *s, bool csrf, const char *method, const char *path, const char *body,
	  struct t_resp *r)
{
	char cookie[256], token[160];
	const char *h[] = {cookie, "Content-Type: application/json", csrf ? token : NULL, NULL};

	snprintf(cookie, sizeof(cookie), "Cookie: %s", s->cookie);
	snprintf(token, sizeof(token), "X-CSRF-Token: %s", s->csrf);
	return t_api(port, method, path, h, body, r);
}

int t_ctl(int port, const char *token, const char *stdin_text, const char *args, char *out, size_t outlen)
{
	char cmd[4096], in[600];
	size_t n;
	FILE *p;
	int st;

	snprintf(in, sizeof(in), "%s/ctl-stdin.txt", t_scratch("ctl"));
	p = fopen(in, "w");
	if (p) {
		fputs(stdin_text ? stdin_text : "", p);
		fclose(p);
	}
	snprintf(cmd, sizeof(cmd),
		 "CAREHUB_API_TOKEN='%s' CAREHUB_URL='http://127.0.0.1:%d' '%s/carehubctl' %s <'%s' 2>&1", token ? token : "",
		 port, t_build_dir(), args, in);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------------- SSE */

struct t_sse {
	pthread_t th;
	pthread_mutex_t mu;
	char *buf;
	size_t len;
	atomic_bool stop;
	char url[256];
	struct curl_slist *h;
};

static size_t sse_body(char *p, size_t size, size_t n, void *arg)
{
	struct t_sse *s = arg;
	size_t len = size * n;
	char *b;

	pthread_mutex_lock(&s->mu);
	b = realloc(s->buf, s->len + len + 1);
	if (b) {
		memcpy(b + s->len, p, len);
		s->len += len;
		b[s->len] = '\0';
		s->buf = b;
	}
	pthread_mutex_unlock(&s->mu);
	return len;
}

static int sse_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct t_sse *s = arg;

	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&s->stop) ? 1 : 0;
}

static void *sse_run(void *arg)
{
	struct t_sse *s = arg;
	CURL *c = curl_easy_init();

	curl_easy_setopt(c, CURLOPT_URL, s->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	return NULL;
}

struct t_sse *t_sse_open(int port, const char *const *headers)
{
	struct t_sse *s = calloc(1, sizeof(*s));

	pthread_once(&once, init_curl);
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d/v1/stream", port);
	for (; headers && *headers; headers++)
		s->h = curl_slist_append(s->h, *headers);
	pthread_create(&s->th, NULL, sse_run, s);
	return s;
}

struct sse_wait {
	struct t_sse *s;
	const char *needle;
};

static bool sse_has(void *arg)
{
	struct sse_wait *w = arg;
	bool yes;

	pthread_mutex_lock(&w->s->mu);
	yes = w->s->buf && strstr(w->s->buf, w->needle);
	pthread_mutex_unlock(&w->s->mu);
	return yes;
}

bool t_sse_wait(struct t_sse *s, const char *needle, int deadline_ms)
{
	struct sse_wait w = {s, needle};

	return t_wait(sse_has, &w, deadline_ms);
}

char *t_sse_text(struct t_sse *s)
{
	char *t;

	pthread_mutex_lock(&s->mu);
	t = strdup(s->buf ? s->buf : "");
	pthread_mutex_unlock(&s->mu);
	return t;
}

void t_sse_last_id(struct t_sse *s, char *out, size_t len)
{
	char *t = t_sse_text(s), *p = t, *last = NULL;

	while ((p = strstr(p, "id: ")) != NULL) {
		if (p == t || p[-1] == '\n')
			last = p + 4;
		p += 4;
	}
	snprintf(out, len, "%.*s", last ? (int)strcspn(last, "\n") : 0, last ? last : "");
	free(t);
}

void t_sse_close(struct t_sse *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	curl_slist_free_all(s->h);
	pthread_mutex_destroy(&s->mu);
	free(s->buf);
	free(s);
}

/* ---------------------------------------------------------------- slow clients */

struct t_slow {
	pthread_t th;
	atomic_bool stop;
	int *fds;
	int n;
	atomic_int open;
};

static void *slow_run(void *arg)
{
	struct t_slow *s = arg;

	/* One more byte of an endless header on every connection, each second. */
	while (!atomic_load(&s->stop)) {
		int open = 0;
		for (int i = 0; i < s->n; i++) {
			if (s->fds[i] < 0)
				continue;
			if (send(s->fds[i], "X", 1, MSG_NOSIGNAL) != 1) {
				close(s->fds[i]);
				s->fds[i] = -1;
				continue;
			}
			open++;
		}
		atomic_store(&s->open, open);
		for (int k = 0; k < 10 && !atomic_load(&s->stop); k++)
			t_sleep_ms(100);
	}
	return NULL;
}

struct t_slow *t_slow_start(const char *src, int port, int n)
{
	struct t_slow *s = calloc(1, sizeof(*s));
	static const char head[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

	s->fds = calloc((size_t)n, sizeof(int));
	s->n = n;
	for (int i = 0; i < n; i++) {
		struct sockaddr_in me = {.sin_family = AF_INET}, to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		inet_pton(AF_INET, src, &me.sin_addr);
		inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
		s->fds[i] = -1;
		if (fd < 0)
			continue;
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) || connect(fd, (struct sockaddr *)&to, sizeof(to)) ||
		    send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(head) - 1)) {
			close(fd);
			continue;
		}
		s->fds[i] = fd;
	}
	pthread_create(&s->th, NULL, slow_run, s);
	return s;
}

int t_slow_open_count(struct t_slow *s)
{
	return atomic_load(&s->open);
}

void t_slow_stop(struct t_slow *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	for (int i = 0; i < s->n; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	free(s->fds);
	free(s);
}
