/*
 * http_int.h - what http.c and http_sig.c share and nobody else needs.
 */
#ifndef CH_HTTP_INT_H
#define CH_HTTP_INT_H

#include "ch.h"

/* Equal or not, in time that depends only on n (digests, signatures). */
bool ch_http_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif
