#include "cdb/tbl_build.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdb/tbl.h"
#include "core/util.h"

struct build {
	enum tbl_kind kind;
	const char *src;
	FILE *errs;
	struct cdb_make cm;
	int bad;
};

static void
report(struct build *b, unsigned long line, const char *msg)
{
	fprintf(b->errs, "%s:%lu: %s\n", b->src, line, msg);
	b->bad++;
}

/* One text line (without its LF); adds the record when writing. */
static int
build_line(struct build *b, unsigned long lineno, const char *s, size_t len)
{
	char err[TBL_ERR_MAX + 64];
	size_t i = 0, k0, kl;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == len || s[i] == '#')
		return 0;
	if (s[len - 1] == '\r') {
		report(b, lineno, "line ends with CR (DOS line ending)");
		return 0;
	}
	k0 = i;
	while (i < len && s[i] != ' ' && s[i] != '\t')
		i++;
	kl = i - k0;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (tbl_rec_check(b->kind, s + k0, kl, s + i, len - i, err,
			  sizeof(err)) < 0) {
		report(b, lineno, err);
		return 0;
	}
	int ex = cdb_make_exists(&b->cm, s + k0, (unsigned)kl);
	if (ex < 0)
		return -1;
	if (ex > 0) {
		snprintf(err, sizeof(err), "key '%.*s': given twice",
			 (int)(kl > 200 ? 200 : kl), s + k0);
		report(b, lineno, err);
		return 0;
	}
	return cdb_make_add(&b->cm, s + k0, (unsigned)kl, s + i,
			    (unsigned)(len - i));
}

static int
build_stream(struct build *b, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int rc = 0;

	while ((n = getline(&line, &cap, in)) > 0) {
		lineno++;
		size_t len = (size_t)n;
		if (line[len - 1] == '\n')
			len--;
		if (len > TBL_BUILD_LINE_MAX) {
			report(b, lineno, "line too long");
			continue;
		}
		if (memchr(line, '\0', len) != NULL) {
			report(b, lineno, "NUL byte in line");
			continue;
		}
		if (build_line(b, lineno, line, len) < 0) {
			rc = -1;
			break;
		}
	}
	if (ferror(in))
		rc = -1;
	free(line);
	return rc;
}

int
tbl_build_sync_dir(const char *path)
{
	char tmp[1024];
	int fd, rc;

	if (util_strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
		return -1;
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
open_output(struct build *b, const char *dest, char *tmp, size_t tmpsize)
{
	mode_t mode = b->kind == TBL_PASSWORDS ? 0600 : 0644;
	int fd;

	if (dest == NULL) {
		/* Checking only: build into memory to catch duplicate keys. */
		tmp[0] = '\0';
		return memfd_create("vdmail-check", MFD_CLOEXEC);
	}
	if (util_fmt(tmp, tmpsize, "%s.tmp.%ld", dest, (long)getpid()) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Read and write: tinycdb reads records back to find duplicates. */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd >= 0)
		fchmod(fd, mode);
	return fd;
}

static int
commit_output(int fd, const char *tmp, const char *dest, FILE *errs)
{
	if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, dest) < 0) {
		fprintf(errs, "%s: %s\n", dest, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (tbl_build_sync_dir(dest) < 0) {
		fprintf(errs, "%s: fsync of directory: %s\n", dest,
			strerror(errno));
		return -1;
	}
	return 0;
}

int
tbl_build_text(enum tbl_kind kind, const char *src, const char *dest,
	       FILE *errs)
{
	struct build b = { .kind = kind, .src = src, .errs = errs };
	FILE *in = strcmp(src, "-") == 0 ? stdin : fopen(src, "r");
	char tmp[1024];
	int fd, rc;

	if (in == NULL) {
		fprintf(errs, "%s: %s\n", src, strerror(errno));
		return -1;
	}
	fd = open_output(&b, dest, tmp, sizeof(tmp));
	if (fd < 0) {
		fprintf(errs, "%s: %s\n", dest ? dest : src, strerror(errno));
		if (in != stdin)
			fclose(in);
		return -1;
	}
	rc = cdb_make_start(&b.cm, fd);
	if (rc == 0) {
		rc = build_stream(&b, in);
		/* Always finished: it also frees tinycdb's tables. */
		if (cdb_make_finish(&b.cm) < 0)
			rc = -1;
	}
	if (rc < 0)
		fprintf(errs, "%s: %s\n", dest ? dest : src, strerror(errno));
	if (in != stdin)
		fclose(in);
	if (rc == 0 && b.bad == 0 && dest != NULL)
		return commit_output(fd, tmp, dest, errs);
	close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	return rc < 0 ? -1 : b.bad;
}

/* Opens path as a cdb and runs fn over its records: tbl_each's result. */
static int
each_in_file(const char *path, tbl_each_fn *fn, void *arg)
{
	struct cdb c;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || cdb_init(&c, fd) < 0) {
		if (fd >= 0)
			close(fd);
		return -2;
	}
	rc = tbl_each(&c, fn, arg);
	cdb_free(&c);
	close(fd);
	return rc;
}

struct checking {
	enum tbl_kind kind;
	const char *path;
	FILE *errs;
	int bad;
};

static int
check_one(void *arg, const char *k, unsigned kl, const char *v, unsigned vl)
{
	struct checking *w = arg;
	char err[TBL_ERR_MAX], key[128];

	if (tbl_rec_check(w->kind, k, kl, v, vl, err, sizeof(err)) < 0) {
		util_log_escape(key, sizeof(key), k, kl);
		fprintf(w->errs, "%s: key '%s': %s\n", w->path, key, err);
		w->bad++;
	}
	return 0;
}

int
tbl_build_check_cdb(enum tbl_kind kind, const char *path, FILE *errs)
{
	struct checking w = { kind, path, errs, 0 };
	int rc = each_in_file(path, check_one, &w);

	if (rc == -2)
		fprintf(errs, "%s: %s\n", path, strerror(errno));
	else if (rc < 0)
		fprintf(errs, "%s: corrupt cdb file\n", path);
	return rc < 0 ? -1 : w.bad;
}

static int
dump_one(void *arg, const char *k, unsigned kl, const char *v, unsigned vl)
{
	FILE *out = arg;

	fwrite(k, 1, kl, out);
	fputc(' ', out);
	fwrite(v, 1, vl, out);
	fputc('\n', out);
	return 0;
}

int
tbl_build_dump(const char *path, FILE *out)
{
	int rc = each_in_file(path, dump_one, out);

	return rc < 0 || ferror(out) ? -1 : 0;
}
