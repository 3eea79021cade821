/*
 * jdoc.c - JSON documents with positions.
 *
 * jansson gives line and column only for syntax errors.  Semantic errors
 * (unknown key, wrong type) need the position of a value, so after jansson has
 * accepted the text a small scanner walks it again and records, for every
 * value, its JSON pointer and where the value starts (a wrong type or an
 * unknown key is then pointed at on the line a person reads).  Columns count
 * bytes.
 */
#include "jdoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_FILE (16u << 20)

struct pos {
	char *ptr;
	int line, col;
};

struct ch_jdoc {
	char *name;
	json_t *root;
	struct pos *pos;
	size_t npos, cap;
};

struct scan {
	struct ch_jdoc *doc;
	const char *s;
	size_t len, i;
	int line, col;
	char path[4096];
	size_t plen;
	bool oom;
};

static void record(struct scan *sc, int line, int col)
{
	struct ch_jdoc *d = sc->doc;

	if (d->npos == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct pos *p = realloc(d->pos, cap * sizeof(*p));
		if (!p) {
			sc->oom = true;
			return;
		}
		d->pos = p;
		d->cap = cap;
	}
	d->pos[d->npos].ptr = malloc(sc->plen + 1);
	if (!d->pos[d->npos].ptr) {
		sc->oom = true;
		return;
	}
	memcpy(d->pos[d->npos].ptr, sc->path, sc->plen);
	d->pos[d->npos].ptr[sc->plen] = '\0';
	d->pos[d->npos].line = line;
	d->pos[d->npos].col = col;
	d->npos++;
}

static void adv(struct scan *sc)
{
	if (sc->s[sc->i] == '\n') {
		sc->line++;
		sc->col = 1;
	} else {
		sc->col++;
	}
	sc->i++;
}

static void skip_ws(struct scan *sc)
{
	while (sc->i < sc->len && strchr(" \t\r\n", sc->s[sc->i]) && sc->s[sc->i])
		adv(sc);
}

/* Appends one pointer token, escaped per RFC 6901; false when the path is full. */
static bool push_token(struct scan *sc, const char *tok, size_t n)
{
	if (sc->plen + 1 >= sizeof(sc->path))
		return false;
	sc->path[sc->plen++] = '/';
	for (size_t k = 0; k < n; k++) {
		const char *rep = tok[k] == '~' ? "~0" : tok[k] == '/' ? "~1" : NULL;
		size_t m = rep ? 2 : 1;
		if (sc->plen + m >= sizeof(sc->path))
			return false;
		if (rep) {
			memcpy(sc->path + sc->plen, rep, 2);
		} else {
			sc->path[sc->plen] = tok[k];
		}
		sc->plen += m;
	}
	return true;
}

static unsigned hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (unsigned)(c - 'A' + 10);
	return 0;
}

/* Reads a string at sc->i (on the quote), decoding it into out; returns its length. */
static size_t read_string(struct scan *sc, char *out, size_t outlen)
{
	size_t n = 0;

	adv(sc); /* opening quote */
	while (sc->i < sc->len && sc->s[sc->i] != '"') {
		char c = sc->s[sc->i];
		if (c == '\\' && sc->i + 1 < sc->len) {
			adv(sc);
			c = sc->s[sc->i];
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				if (sc->i + 4 < sc->len) {
					unsigned cp = 0;
					for (int k = 1; k <= 4; k++)
						cp = cp * 16 + hexval(sc->s[sc->i + (size_t)k]);
					for (int k = 0; k < 4; k++)
						adv(sc);
					/* Keys with escapes beyond ASCII are rare in configs: keep ASCII exact. */
					c = cp < 0x80 ? (char)cp : '?';
				}
				break;
			default:
				break;
			}
		}
		if (out && n + 1 < outlen)
			out[n] = c;
		n++;
		adv(sc);
	}
	if (sc->i < sc->len)
		adv(sc); /* closing quote */
	if (out)
		out[n < outlen ? n : outlen - 1] = '\0';
	return n < outlen ? n : outlen - 1;
}

static void scan_value(struct scan *sc, int depth);

static void scan_object(struct scan *sc, int depth)
{
	char key[1024];

	adv(sc); /* { */
	for (;;) {
		skip_ws(sc);
		if (sc->i >= sc->len || sc->s[sc->i] == '}')
			break;
		if (sc->s[sc->i] != '"')
			return;
		size_t start = sc->i;
		size_t klen = read_string(sc, key, sizeof(key));
		size_t saved = sc->plen;
		bool pushed = push_token(sc, key, klen);
		skip_ws(sc);
		if (sc->i < sc->len && sc->s[sc->i] == ':')
			adv(sc);
		skip_ws(sc);
		if (pushed)
			record(sc, sc->line, sc->col);
		scan_value(sc, pushed ? depth + 1 : MAX_DEPTH + 1);
		sc->plen = saved;
		skip_ws(sc);
		if (sc->i < sc->len && sc->s[sc->i] == ',')
			adv(sc);
		if (sc->oom || sc->i == start)
			return;
	}
	if (sc->i < sc->len)
		adv(sc);
}

static void scan_array(struct scan *sc, int depth)
{
	size_t idx = 0;

	adv(sc); /* [ */
	for (;;) {
		char tok[32];
		skip_ws(sc);
		if (sc->i >= sc->len || sc->s[sc->i] == ']')
			break;
		size_t saved = sc->plen, start = sc->i;
		int n = snprintf(tok, sizeof(tok), "%zu", idx++);
		bool pushed = push_token(sc, tok, (size_t)n);
		if (pushed)
			record(sc, sc->line, sc->col);
		scan_value(sc, pushed ? depth + 1 : MAX_DEPTH + 1);
		sc->plen = saved;
		skip_ws(sc);
		if (sc->i < sc->len && sc->s[sc->i] == ',')
			adv(sc);
		/* Text jansson accepted always moves us on; anything else ends the scan. */
		if (sc->oom || sc->i == start)
			return;
	}
	if (sc->i < sc->len)
		adv(sc);
}

static void scan_value(struct scan *sc, int depth)
{
	if (sc->i >= sc->len)
		return;
	if (depth > MAX_DEPTH) {
		/* Too deep to record: the error falls back to an ancestor's position.
		 * Skip the value by bracket counting outside strings. */
		int level = 0;
		do {
			char c = sc->s[sc->i];
			if (c == '"') {
				read_string(sc, NULL, 0);
				continue;
			}
			if (c == '{' || c == '[')
				level++;
			else if (c == '}' || c == ']')
				level--;
			else if (level == 0 && (c == ',' || c == ':'))
				return;
			adv(sc);
		} while (sc->i < sc->len && level > 0);
		return;
	}
	switch (sc->s[sc->i]) {
	case '{':
		scan_object(sc, depth);
		break;
	case '[':
		scan_array(sc, depth);
		break;
	case '"':
		read_string(sc, NULL, 0);
		break;
	default:
		while (sc->i < sc->len && !strchr(",}] \t\r\n", sc->s[sc->i]) && sc->s[sc->i])
			adv(sc);
		break;
	}
}

int ch_jdoc_parse(const char *name, const char *text, size_t len, struct ch_jdoc **out, char *err,
		  size_t errlen)
{
	struct ch_jdoc *d;
	json_error_t je;
	struct scan sc;

	d = calloc(1, sizeof(*d));
	if (!d || !(d->name = ch_strdup(name ? name : "<config>"))) {
		free(d);
		return CH_ENOMEM;
	}
	d->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!d->root) {
		ch_fmt(err, errlen, "%s:%d:%d: %s", d->name, je.line > 0 ? je.line : 1, je.column > 0 ? je.column : 1,
		       je.text);
		ch_jdoc_free(d);
		return CH_ECONFIG;
	}
	memset(&sc, 0, sizeof(sc));
	sc.doc = d;
	sc.s = text;
	/* jansson stops at a NUL; so does the scanner. */
	sc.len = strnlen(text, len);
	sc.line = 1;
	sc.col = 1;
	skip_ws(&sc);
	record(&sc, sc.line, sc.col); /* the root: "" */
	scan_value(&sc, 0);
	if (sc.oom) {
		ch_jdoc_free(d);
		return CH_ENOMEM;
	}
	*out = d;
	return 0;
}

int ch_jdoc_load(const char *path, struct ch_jdoc **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	int rc;

	if (!f) {
		ch_fmt(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return CH_ECONFIG;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || (unsigned long)n > MAX_FILE || fseek(f, 0, SEEK_SET)) {
		ch_fmt(err, errlen, "%s: cannot read (or larger than %u bytes)", path, MAX_FILE);
		fclose(f);
		return CH_ECONFIG;
	}
	buf = malloc((size_t)n + 1);
	if (!buf) {
		fclose(f);
		return CH_ENOMEM;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		ch_fmt(err, errlen, "%s: read error", path);
		free(buf);
		fclose(f);
		return CH_ECONFIG;
	}
	fclose(f);
	buf[n] = '\0';
	rc = ch_jdoc_parse(path, buf, (size_t)n, out, err, errlen);
	free(buf);
	return rc;
}

void ch_jdoc_free(struct ch_jdoc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->npos; i++)
		free(doc->pos[i].ptr);
	free(doc->pos);
	json_decref(doc->root);
	free(doc->name);
	free(doc);
}

json_t *ch_jdoc_root(const struct ch_jdoc *doc)
{
	return doc->root;
}

const char *ch_jdoc_name(const struct ch_jdoc *doc)
{
	return doc->name;
}

void ch_jdoc_pos(const struct ch_jdoc *doc, const char *pointer, int *line, int *col)
{
	char buf[4096];
	size_t n;

	*line = 1;
	*col = 1;
	if (ch_strlcpy(buf, pointer ? pointer : "", sizeof(buf)))
		buf[0] = '\0';
	for (;;) {
		for (size_t i = 0; i < doc->npos; i++) {
			if (strcmp(doc->pos[i].ptr, buf) == 0) {
				*line = doc->pos[i].line;
				*col = doc->pos[i].col;
				return;
			}
		}
		n = strlen(buf);
		if (n == 0)
			return;
		char *slash = strrchr(buf, '/');
		if (!slash)
			return;
		*slash = '\0';
	}
}

int ch_jdoc_err(const struct ch_jdoc *doc, const char *pointer, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[1024];
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ch_jdoc_pos(doc, pointer, &line, &col);
	ch_fmt(err, errlen, "%s:%d:%d: %s", doc->name, line, col, msg);
	return CH_ECONFIG;
}
