/*
 * fuzz_sms_inbound.c - libFuzzer target for the SMS gateway's inbound
 * callback (a reply a person sends: "1", "2" or anything), signed right so
 * the parser behind the signature is always reached.  The input becomes the
 * "from" and "text" of {"type":"inbound",...}: the first byte says how long
 * "from" is.  What the plugin accepts goes on as in fuzz_callback.h (a number
 * in the key, then the hub's own control message).
 */
#include "../../plugins/sms/sms.c"
#include "fuzz_callback.h"

/* Appends s[0..n) as the inside of a JSON string (bytes >= 0x80 as they are: the plugin must cope). */
static size_t put_escaped(char *out, const uint8_t *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			out[o++] = '\\';
			out[o++] = (char)s[i];
		} else if (s[i] < 0x20) {
			o += (size_t)snprintf(out + o, 7, "\\u%04x", s[i]);
		} else {
			out[o++] = (char)s[i];
		}
	}
	return o;
}

static size_t put_lit(char *out, const char *lit)
{
	size_t n = strlen(lit);

	memcpy(out, lit, n);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nfrom, o = 0;
	char *buf;
	int rc;

	if (size < 1)
		return 0;
	nfrom = data[0] % 24;
	if (nfrom > size - 1)
		nfrom = size - 1;
	buf = malloc(64 + 6 * size);
	if (!buf)
		return 0;
	buf[o++] = 0; /* signed with the right secret */
	o += put_lit(buf + o, "{\"type\":\"inbound\",\"from\":\"");
	o += put_escaped(buf + o, data + 1, nfrom);
	o += put_lit(buf + o, "\",\"text\":\"");
	o += put_escaped(buf + o, data + 1 + nfrom, size - 1 - nfrom);
	o += put_lit(buf + o, "\",\"message_id\":\"m\"}");
	rc = fz_run(&plugin, (const uint8_t *)buf, o);
	free(buf);
	return rc;
}
