#include "tools/vdctl_queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "spool/spool_env.h"

#define READ_MAX (1024 * 1024) /* an envelope larger than this is shown cut */

/* Reads the start of queue/qid and parses its envelope: 1, 0 gone, -1. */
static int
load(int dfd, const char *qid, struct spool_env *e, char **data_r,
     size_t *len_r)
{
	char err[256];
	int fd = openat(dfd, qid, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *buf;
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	buf = malloc(READ_MAX);
	n = buf ? pread(fd, buf, READ_MAX, 0) : -1;
	close(fd);
	if (n < 0 || spool_env_parse(buf, (size_t)n, e, err, sizeof(err)) != 1) {
		fprintf(stderr, "vdctl: queue/%s: %s\n", qid,
			n < 0 ? strerror(errno) : "unreadable envelope");
		free(buf);
		return -1;
	}
	*data_r = buf;
	*len_r = (size_t)n;
	return 1;
}

static void
print_rcpts(const struct spool_env *e)
{
	for (unsigned i = 0; i < e->nrcpt; i++) {
		const struct spool_rcpt *r = &e->rcpt[i];
		printf("  %-9s <%s>%s%s\n",
		       r->done ? "delivered" : r->remote ? "waiting" : "pending",
		       r->addr, r->remote ? " (outbound delivery)" : " -> ",
		       r->remote ? "" : r->mailbox);
	}
}

static int
list(int dfd)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	unsigned n = 0;

	if (d == NULL)
		return 3;
	while ((de = readdir(d)) != NULL) {
		struct spool_env e;
		char *data, when[32];
		size_t len;
		if (de->d_name[0] == '.' ||
		    load(dfd, de->d_name, &e, &data, &len) != 1)
			continue;
		struct tm tm;
		gmtime_r(&e.arrival, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s %s %llu <%s>\n", e.qid, when,
		       (unsigned long long)e.size, e.sender);
		print_rcpts(&e);
		spool_env_free(&e);
		free(data);
		n++;
	}
	closedir(d);
	printf("%u message(s) in the queue\n", n);
	return 0;
}

static int
show(int dfd, const char *qid)
{
	struct spool_env e;
	char *data;
	size_t len;
	int rc;

	/* A queue id is hex digits: nothing else may name a file here. */
	for (const char *p = qid; *p; p++)
		if (util_hexval(*p) < 0)
			return fprintf(stderr, "vdctl: bad queue id\n"), 1;
	rc = load(dfd, qid, &e, &data, &len);
	if (rc <= 0) {
		if (rc == 0)
			fprintf(stderr, "vdctl: no message %s in the queue\n", qid);
		return rc == 0 ? 1 : 3;
	}
	printf("id        %s\nsender    <%s>\nclient    %s\nhelo      %s\n"
	       "protocol  %s\nsize      %llu\n", e.qid, e.sender, e.client,
	       e.helo, e.proto, (unsigned long long)e.size);
	print_rcpts(&e);
	/* The header, for what the message is; never the body. */
	size_t end = e.text_off;
	while (end < len && !(data[end] == '\n' &&
			      (end + 1 < len && (data[end + 1] == '\r' ||
						 data[end + 1] == '\n'))))
		end++;
	fwrite(data + e.text_off, 1, end > e.text_off ? end - e.text_off : 0,
	       stdout);
	putchar('\n');
	spool_env_free(&e);
	free(data);
	return 0;
}

int
vdctl_queue(const char *spool_dir, int argc, char **argv)
{
	char path[1100];
	int dfd, rc;

	if (util_fmt(path, sizeof(path), "%s/queue", spool_dir) < 0 ||
	    (dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "vdctl: %s: %s\n", path, strerror(errno));
		return 3;
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		rc = list(dfd);
	else if (argc == 3 && strcmp(argv[1], "show") == 0)
		rc = show(dfd, argv[2]);
	else {
		fprintf(stderr, "usage: vdctl [-c config] queue list | queue "
			"show ID\n");
		rc = 2;
	}
	close(dfd);
	return rc;
}
