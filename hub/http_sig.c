/*
 * http_sig.c - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), and the
 * signature check of provider callbacks (http.h): done here rather than
 * pulling in libcrypto for 32 bytes of hash.  Pure: no I/O, no state.
 */
#include "http.h"
#include "http_int.h"

#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* SHA-256 and HMAC                                                    */
/* ------------------------------------------------------------------ */

struct sha256 {
	uint32_t h[8];
	uint64_t total; /* bytes hashed so far */
	uint8_t buf[64];
	size_t nbuf;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       (uint32_t)p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(s->h, iv, sizeof(iv));
	s->total = 0;
	s->nbuf = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->total += len;
	if (s->nbuf) {
		size_t take = 64 - s->nbuf < len ? 64 - s->nbuf : len;
		memcpy(s->buf + s->nbuf, p, take);
		s->nbuf += take, p += take, len -= take;
		if (s->nbuf < 64)
			return;
		sha256_block(s, s->buf);
		s->nbuf = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(s, p);
	if (len) {
		memcpy(s->buf, p, len);
		s->nbuf = len;
	}
}

static void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->total * 8;
	uint8_t pad[72] = {0x80};
	size_t npad = (s->nbuf < 56 ? 56 : 120) - s->nbuf;

	for (int i = 0; i < 8; i++)
		pad[npad + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, pad, npad + 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void ch_http_sha256(const void *data, size_t len, uint8_t out[32])
{
	struct sha256 s;

	sha256_init(&s);
	sha256_update(&s, data, len);
	sha256_final(&s, out);
}

/* HMAC over the concatenation of up to three parts, so "<ts>.<body>" needs no copy. */
static void hmac_parts(const void *key, size_t keylen, const void *const *parts, const size_t *lens, int nparts,
		       uint8_t out[32])
{
	uint8_t k[64] = {0}, pad[64], inner[32];
	struct sha256 s;

	if (keylen > 64)
		ch_http_sha256(key, keylen, k);
	else if (keylen)
		memcpy(k, key, keylen);

	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	for (int i = 0; i < nparts; i++)
		if (lens[i])
			sha256_update(&s, parts[i], lens[i]);
	sha256_final(&s, inner);

	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	sha256_update(&s, inner, 32);
	sha256_final(&s, out);
}

void ch_http_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32])
{
	const void *parts[1] = {data};
	size_t lens[1] = {len};

	hmac_parts(key, keylen, parts, lens, 1, out);
}

static void callback_mac(const char *key, const char *timestamp, const char *body, size_t len, uint8_t out[32])
{
	const void *parts[3] = {timestamp, ".", body};
	size_t lens[3] = {strlen(timestamp), 1, body ? len : 0};

	hmac_parts(key, strlen(key), parts, lens, 3, out);
}

bool ch_http_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void ch_http_sign_hmac(const char *key, const char *timestamp, const char *body, size_t len, char out_hex[65])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t mac[32];

	callback_mac(key ? key : "", timestamp ? timestamp : "", body, len, mac);
	for (int i = 0; i < 32; i++) {
		out_hex[2 * i] = digits[mac[i] >> 4];
		out_hex[2 * i + 1] = digits[mac[i] & 15];
	}
	out_hex[64] = '\0';
}

int ch_http_verify_hmac(const char *key, const char *timestamp, const char *body, size_t len, const char *sig_hex,
			int64_t now_s, int64_t window_s)
{
	uint8_t want[32], got[32];
	int64_t ts = 0;
	size_t n;

	if (!key || !*key || !timestamp || !sig_hex || window_s < 0 || (!body && len))
		return CH_EINVAL;
	n = strlen(timestamp);
	if (n == 0 || n > 18) /* 18 digits cannot overflow int64 */
		return CH_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (timestamp[i] < '0' || timestamp[i] > '9')
			return CH_EINVAL;
		ts = ts * 10 + (timestamp[i] - '0');
	}
	if (strlen(sig_hex) != 64)
		return CH_EINVAL;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(sig_hex[2 * i]), lo = hexval(sig_hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CH_EINVAL;
		got[i] = (uint8_t)(hi << 4 | lo);
	}

	callback_mac(key, timestamp, body, len, want);
	if (!ch_http_ct_equal(want, got, 32))
		return CH_EPROTO;
	/* |now - ts| without overflow: ts >= 0, now_s may be anything. */
	uint64_t skew = ts > now_s ? (uint64_t)ts - (uint64_t)now_s : (uint64_t)now_s - (uint64_t)ts;
	if (skew > (uint64_t)window_s)
		return CH_ETIMEOUT;
	return 0;
}

/*
 * A replayed callback is the same signed text again: the timestamp it was
 * signed with and the same body (a new timestamp needs a new signature, which
 * only the provider can make).  So "channel, timestamp, body" names one
 * callback whatever spelling of the signature (case, "sha256=") came with it.
 */
void ch_http_callback_digest(const char *channel, const char *const *headers, const char *body, size_t len,
			     char out_hex[65])
{
	static const char digits[] = "0123456789abcdef", name[] = "X-Carehub-Timestamp:";
	const char *ts = "";
	struct sha256 s;
	uint8_t d[32];

	for (size_t i = 0; headers && headers[i]; i++) {
		if (strncasecmp(headers[i], name, sizeof(name) - 1) == 0) {
			ts = headers[i] + sizeof(name) - 1;
			while (*ts == ' ' || *ts == '\t')
				ts++;
			break;
		}
	}
	sha256_init(&s);
	sha256_update(&s, channel ? channel : "", channel ? strlen(channel) + 1 : 1); /* with its NUL: a separator */
	sha256_update(&s, ts, strlen(ts) + 1);
	if (body && len)
		sha256_update(&s, body, len);
	sha256_final(&s, d);
	for (int i = 0; i < 32; i++) {
		out_hex[2 * i] = digits[d[i] >> 4];
		out_hex[2 * i + 1] = digits[d[i] & 15];
	}
	out_hex[64] = '\0';
}
