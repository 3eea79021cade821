/*
 * jdoc.h - a JSON document that remembers where each value was in its file, so
 * every configuration error can say "file:line:col: what is wrong, expected what".
 *
 * jansson parses; a small scanner of our own records the position of every value
 * by its JSON pointer ("/mqtt/port", "/subjects/3/devices/0/id").
 */
#ifndef CH_JDOC_H
#define CH_JDOC_H

#include "ch.h"

#include <jansson.h>

struct ch_jdoc;

/*
 * Loads and parses a file.  On a syntax error returns CH_ECONFIG with
 * "file:line:col: message" in err.  *out is owned by the caller (ch_jdoc_free).
 */
int ch_jdoc_load(const char *path, struct ch_jdoc **out, char *err, size_t errlen);

/* Same from memory; `name` (borrowed, copied) stands for the file in messages. */
int ch_jdoc_parse(const char *name, const char *text, size_t len, struct ch_jdoc **out, char *err,
		  size_t errlen);

void ch_jdoc_free(struct ch_jdoc *doc);

/* The root value, borrowed from doc. */
json_t *ch_jdoc_root(const struct ch_jdoc *doc);
const char *ch_jdoc_name(const struct ch_jdoc *doc);

/*
 * Position where the value at a JSON pointer starts.
 * Falls back to the nearest ancestor that has one; 1-based line and column.
 */
void ch_jdoc_pos(const struct ch_jdoc *doc, const char *pointer, int *line, int *col);

/*
 * Formats "name:line:col: <fmt...>" for the value at pointer into err and returns
 * CH_ECONFIG, so validators can `return ch_jdoc_err(...)`.
 */
int ch_jdoc_err(const struct ch_jdoc *doc, const char *pointer, char *err, size_t errlen,
		const char *fmt, ...) CH_PRINTF(5, 6);

#endif
