/*
 * The module boundaries of DESIGN.md, checked rather than hoped for:
 * protocols never touch a descriptor, only the TLS adapter (core/tls.c,
 * core/tls_client.c, core/tls_int.h) and two users of its hashes see
 * BearSSL, nothing outside tools/ sees LDAP, and vdmaild is not linked
 * with it.
 */
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/t.h"

/* Adds path's lines that match re to *hits; the first goes into first. */
static void
grep_file(const char *path, const regex_t *re, int *hits, char *first,
	  size_t firstlen)
{
	char line[4096];
	FILE *f = fopen(path, "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (regexec(re, line, 0, NULL, 0) == 0) {
			if ((*hits)++ == 0)
				snprintf(first, firstlen, "%s: %s", path,
					 line);
		}
	}
	if (f != NULL)
		fclose(f);
}

/* Counts the matching lines of one file. */
static int
grep_one(const char *path, const char *pattern)
{
	regex_t re;
	char first[600];
	int hits = 0;

	T_ASSERT(access(path, R_OK) == 0);
	T_EQ_INT(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	grep_file(path, &re, &hits, first, sizeof(first));
	regfree(&re);
	return hits;
}

/* Calls every matching line of every .c/.h in dir; returns the count. */
static int
grep_dir(const char *dir, const char *pattern, const char *except,
	 char *first, size_t firstlen)
{
	regex_t re;
	DIR *d = opendir(dir);
	struct dirent *de;
	int hits = 0;

	T_ASSERT(d != NULL);
	T_EQ_INT(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char path[512];
		if (n < 3 || (strcmp(de->d_name + n - 2, ".c") &&
			      strcmp(de->d_name + n - 2, ".h")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* except: paths separated by spaces */
		if (except != NULL) {
			const char *m = strstr(except, path);
			size_t pl = strlen(path);
			if (m != NULL && (m == except || m[-1] == ' ') &&
			    (m[pl] == '\0' || m[pl] == ' '))
				continue;
		}
		grep_file(path, &re, &hits, first, firstlen);
	}
	closedir(d);
	regfree(&re);
	return hits;
}

static void
at_repo_root(void)
{
	if (access("core/conn.c", F_OK) != 0 ||
	    access("protocols/smtp_server.c", F_OK) != 0)
		t_fail(__FILE__, __LINE__, "run the unit tests from the "
		       "repository root");
}

T_TEST(layering_protocols_never_touch_descriptors)
{
	char first[600] = "";

	at_repo_root();
	/* A call: the name, then "(", not preceded by a letter or "_". */
	T_EQ_INT(grep_dir("protocols", "(^|[^A-Za-z0-9_.>])(read|write|send|"
			  "recv|open|openat|close|socket|accept|pread|pwrite|"
			  "fopen)[[:space:]]*\\(", NULL, first, sizeof(first)),
		 0);
	(void)first;
}

T_TEST(layering_only_tls_sees_bearssl)
{
	static const char *const dirs[] = { "core", "cdb", "spool",
					     "protocols", "tools" };
	static const char *const core_users[] = {
		"core/tls.c", "core/tls_client.c", "core/tls_int.h",
		"core/pwhash.c",
	};
	char first[600] = "";

	at_repo_root();
	/* The TLS adapter is tls.c (server side, pump), tls_client.c and the
	 * private tls_int.h they share. Besides TLS, BearSSL's hashes serve
	 * two checks that are not TLS: the password workers' {SSHA*}
	 * (core/pwhash.c) and vdsync's TSIG (RFC 8945, tools/dns_tsig.c).
	 * Nothing else may include it. */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (grep_dir(dirs[i], "#include <bearssl",
			     strcmp(dirs[i], "tools") == 0
				     ? "tools/dns_tsig.c"
				     : "core/tls.c core/tls_client.c "
				       "core/tls_int.h core/pwhash.c",
			     first, sizeof(first)) != 0)
			t_fail(__FILE__, __LINE__, "%s", first);
	/* And exactly those four, each once, so a rename shows up here. */
	for (size_t i = 0; i < sizeof(core_users) / sizeof(core_users[0]); i++)
		if (grep_one(core_users[i], "#include <bearssl") != 1)
			t_fail(__FILE__, __LINE__, "%s: not one BearSSL "
			       "include", core_users[i]);
	T_EQ_INT(grep_dir("core", "#include <bearssl", NULL, first,
			  sizeof(first)), 4);
}

T_TEST(layering_ldap_stays_in_tools)
{
	static const char *const dirs[] = { "core", "cdb", "spool",
					     "protocols" };
	char first[600] = "";

	at_repo_root();
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (grep_dir(dirs[i], "#include <(ldap|lber)\\.h>", NULL, first,
			     sizeof(first)) != 0)
			t_fail(__FILE__, __LINE__, "%s", first);
}

T_TEST(layering_vdmaild_does_not_link_ldap)
{
	char self[1024], cmd[1200], out[8192];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t got;

	T_ASSERT(n > 0);
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	T_ASSERT(slash != NULL);
	strcpy(slash + 1, "vdmaild");
	if (access(self, X_OK) != 0)
		t_fail(__FILE__, __LINE__, "%s not built", self);
	snprintf(cmd, sizeof(cmd), "ldd '%s' 2>&1", self);
	FILE *p = popen(cmd, "r");
	T_ASSERT(p != NULL);
	got = fread(out, 1, sizeof(out) - 1, p);
	out[got] = '\0';
	T_EQ_INT(pclose(p), 0);
	T_ASSERT(strstr(out, "libev") != NULL); /* ldd did its job */
	if (strstr(out, "libldap") != NULL || strstr(out, "liblber") != NULL)
		t_fail(__FILE__, __LINE__, "vdmaild links LDAP:\n%s", out);
}
