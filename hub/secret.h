/*
 * secret.h - where passwords and tokens come from: a file named in the config
 * (`*_file`), an environment variable named in the config (`*_env`), or a
 * systemd credential named after that variable.
 *
 * A secret file must be a regular file that nobody but its owner can read or
 * write (mode 0600, 0400 or stricter) and owned by this user or root: a key
 * that the whole machine can read is refused, not used.  Credentials passed
 * by systemd (LoadCredential=NAME:path) are read from $CREDENTIALS_DIRECTORY/NAME,
 * so a config that says "password_env": "CAREHUB_MQTT_PASSWORD" runs unchanged
 * from a shell (the variable) and under the unit (the credential).
 */
#ifndef CH_SECRET_H
#define CH_SECRET_H

#include "ch.h"

#define CH_SECRET_MAX 4096

/*
 * The secret from file (when not NULL), else the variable env, else the
 * credential env.  *out is malloc'ed (free with ch_secret_free), with one
 * trailing newline removed; NULL when neither env nor file is given.
 * CH_ENOTFOUND when env is given but set nowhere; CH_EIO when the file cannot
 * be read; CH_EINVAL when it is not private, empty or over CH_SECRET_MAX.
 * what ("mqtt.password") starts the message in err.
 */
int ch_secret_read(const char *what, const char *env, const char *file, char **out, char *err, size_t errlen);

/* Wipes and frees a secret; NULL is a no-op. */
void ch_secret_free(char *s);

/* A private file's whole content (TLS keys, certificates): the same checks
 * as a secret file when private is true; *len excludes the NUL added. */
int ch_secret_read_file(const char *what, const char *path, bool private_only, size_t max, char **out, size_t *len,
			char *err, size_t errlen);

#endif
