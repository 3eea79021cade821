/*
 * test_secret.c - where secrets come from (secret.c): a private file, the
 * variable, a systemd credential named after the variable; and what is
 * refused: a file others can read, an empty one, a variable set nowhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

static char dir[] = "/tmp/carehub-secret-XXXXXX";

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void path_of(const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void from_a_private_file(void **state)
{
	char p[256], err[512], *s;

	(void)state;
	put("pw", "s3cret\n", 0600);
	path_of("pw", p, sizeof(p));
	/* The file wins over the variable; one trailing newline is not part of it. */
	setenv("CH_TEST_SECRET_X", "from-env", 1);
	assert_int_equal(ch_secret_read("mqtt.password", "CH_TEST_SECRET_X", p, &s, err, sizeof(err)), 0);
	assert_string_equal(s, "s3cret");
	ch_secret_free(s);
	put("ro", "k", 0400);
	path_of("ro", p, sizeof(p));
	assert_int_equal(ch_secret_read("x", NULL, p, &s, err, sizeof(err)), 0);
	assert_string_equal(s, "k");
	ch_secret_free(s);
}

static void refusals(void **state)
{
	char p[256], err[512], *s = NULL;

	(void)state;
	put("open", "s3cret\n", 0644);
	path_of("open", p, sizeof(p));
	assert_int_equal(ch_secret_read("redis.password", NULL, p, &s, err, sizeof(err)), CH_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "redis.password: "));
	assert_non_null(strstr(err, "is mode 0644, expected 0600 or stricter"));
	put("group", "s3cret\n", 0640);
	path_of("group", p, sizeof(p));
	assert_int_equal(ch_secret_read("x", NULL, p, &s, err, sizeof(err)), CH_EINVAL);
	put("empty", "\n", 0600);
	path_of("empty", p, sizeof(p));
	assert_int_equal(ch_secret_read("x", NULL, p, &s, err, sizeof(err)), CH_EINVAL);
	assert_non_null(strstr(err, "empty"));
	path_of("missing", p, sizeof(p));
	assert_int_equal(ch_secret_read("x", NULL, p, &s, err, sizeof(err)), CH_EIO);
	assert_int_equal(ch_secret_read("x", NULL, dir, &s, err, sizeof(err)), CH_EINVAL);
	unsetenv("CH_TEST_SECRET_UNSET");
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(ch_secret_read("http.token", "CH_TEST_SECRET_UNSET", NULL, &s, err, sizeof(err)), CH_ENOTFOUND);
	assert_non_null(strstr(err, "CH_TEST_SECRET_UNSET (named in the config) is not set"));
	/* Nothing named: no secret, no error. */
	assert_int_equal(ch_secret_read("x", NULL, NULL, &s, err, sizeof(err)), 0);
	assert_null(s);
}

static void env_then_credential(void **state)
{
	char err[512], *s;

	(void)state;
	setenv("CH_TEST_SECRET_E", "from-env", 1);
	assert_int_equal(ch_secret_read("x", "CH_TEST_SECRET_E", NULL, &s, err, sizeof(err)), 0);
	assert_string_equal(s, "from-env");
	ch_secret_free(s);
	/* Under systemd: LoadCredential=CH_TEST_SECRET_C:... puts it in $CREDENTIALS_DIRECTORY. */
	unsetenv("CH_TEST_SECRET_C");
	put("CH_TEST_SECRET_C", "from-cred\n", 0400);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_int_equal(ch_secret_read("x", "CH_TEST_SECRET_C", NULL, &s, err, sizeof(err)), 0);
	assert_string_equal(s, "from-cred");
	ch_secret_free(s);
	assert_int_equal(ch_secret_read("x", "CH_TEST_SECRET_NONE", NULL, &s, err, sizeof(err)), CH_ENOTFOUND);
	assert_non_null(strstr(err, "nor is a credential of that name"));
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void whole_files(void **state)
{
	char p[256], err[512], *s;
	size_t n;

	(void)state;
	/* A certificate may be world-readable; its key may not. */
	put("cert.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
	path_of("cert.pem", p, sizeof(p));
	assert_int_equal(ch_secret_read_file("http.tls.cert_file", p, false, 1 << 20, &s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, strlen("-----BEGIN CERTIFICATE-----\n"));
	ch_secret_free(s);
	assert_int_equal(ch_secret_read_file("http.tls.key_file", p, true, 1 << 20, &s, &n, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(ch_secret_read_file("x", p, false, 4, &s, &n, err, sizeof(err)), CH_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(from_a_private_file),
		cmocka_unit_test(refusals),
		cmocka_unit_test(env_then_credential),
		cmocka_unit_test(whole_files),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
