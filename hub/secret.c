/*
 * secret.c - secrets from files, environment variables and systemd
 * credentials (secret.h).
 *
 * The file is opened first and checked through its descriptor (fstat), so
 * what is checked is what is read, even if the path is swapped meanwhile.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ch_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

int ch_secret_read_file(const char *what, const char *path, bool private_only, size_t max, char **out, size_t *len,
			char *err, size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t n = 0;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ch_fmt(err, errlen, "%s: cannot open %s: %s", what, path, strerror(errno));
		return CH_EIO;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		ch_fmt(err, errlen, "%s: %s is not a regular file", what, path);
		rc = CH_EINVAL;
		goto out;
	}
	if (private_only && (sb.st_mode & 077)) {
		ch_fmt(err, errlen, "%s: %s is mode %04o, expected 0600 or stricter (chmod 600 %s)", what, path,
		       (unsigned)(sb.st_mode & 07777), path);
		rc = CH_EINVAL;
		goto out;
	}
	if (private_only && sb.st_uid != geteuid() && sb.st_uid != 0) {
		ch_fmt(err, errlen, "%s: %s belongs to uid %u, expected this user (%u) or root", what, path,
		       (unsigned)sb.st_uid, (unsigned)geteuid());
		rc = CH_EINVAL;
		goto out;
	}
	if ((size_t)sb.st_size > max) {
		ch_fmt(err, errlen, "%s: %s is %lld bytes, expected at most %zu", what, path, (long long)sb.st_size, max);
		rc = CH_EINVAL;
		goto out;
	}
	if (!(buf = malloc(max + 1))) {
		rc = CH_ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, max - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ch_fmt(err, errlen, "%s: reading %s: %s", what, path, strerror(errno));
			rc = CH_EIO;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == max)
			break;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, max + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

/* One secret line: the whole file less one trailing newline (echo adds it). */
static int from_file(const char *what, const char *path, char **out, char *err, size_t errlen)
{
	size_t n;
	int rc = ch_secret_read_file(what, path, true, CH_SECRET_MAX, out, &n, err, errlen);

	if (rc)
		return rc;
	if (n && (*out)[n - 1] == '\n')
		(*out)[--n] = '\0';
	if (n && (*out)[n - 1] == '\r')
		(*out)[--n] = '\0';
	if (n == 0 || strlen(*out) != n) {
		ch_fmt(err, errlen, "%s: %s is empty or holds a NUL byte, expected the secret on one line", what, path);
		ch_secret_free(*out);
		*out = NULL;
		return CH_EINVAL;
	}
	return 0;
}

int ch_secret_read(const char *what, const char *env, const char *file, char **out, char *err, size_t errlen)
{
	const char *v, *cred;
	char path[4096];

	*out = NULL;
	if (file)
		return from_file(what, file, out, err, errlen);
	if (!env)
		return 0;
	v = getenv(env);
	if (v && *v) {
		*out = ch_strdup(v);
		return *out ? 0 : CH_ENOMEM;
	}
	cred = getenv("CREDENTIALS_DIRECTORY");
	if (cred && *cred && ch_fmt(path, sizeof(path), "%s/%s", cred, env) == 0 && access(path, F_OK) == 0)
		return from_file(what, path, out, err, errlen);
	ch_fmt(err, errlen, "%s: environment variable %s (named in the config) is not set%s", what, env,
	       cred && *cred ? ", nor is a credential of that name" : "");
	return CH_ENOTFOUND;
}
