/* mboxfile: the `file` delivery option's mboxrd append. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spool/mboxfile.h"
#include "tests/unit/t.h"

/* A "queue file": junk, then the message at offset 7. */
static int
message_fd(const char *text, size_t len)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/msg.XXXXXX", t_tmpdir());
	fd = mkstemp(path);
	T_ASSERT(fd >= 0);
	T_EQ_INT(write(fd, "ENVELOP", 7), 7);
	T_EQ_INT(write(fd, text, len), (long long)len);
	unlink(path);
	return fd;
}

static char *
slurp(int dir, const char *rel, size_t *len_r)
{
	int fd = openat(dir, rel, O_RDONLY);
	struct stat st;
	char *p;

	T_ASSERT(fd >= 0);
	T_EQ_INT(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	T_ASSERT(p != NULL);
	T_EQ_INT(read(fd, p, (size_t)st.st_size), st.st_size);
	p[st.st_size] = '\0';
	close(fd);
	*len_r = (size_t)st.st_size;
	return p;
}

static int
files_dir(void)
{
	int d = open(t_tmpdir(), O_RDONLY | O_DIRECTORY);

	T_ASSERT(d >= 0);
	return d;
}

T_TEST(mboxfile_append_quotes_and_converts)
{
	static const char msg[] = "Subject: hi\r\n\r\nFrom me\r\n>From you\r\n"
				  "not From\r\n.\r\nlast";
	int dir = files_dir(), fd = message_fd(msg, sizeof(msg) - 1);
	char why[200];
	size_t len;
	char *got;

	T_EQ_INT(mboxfile_append(dir, "mail/alice.mbox", "bob@example.com",
				 0, fd, 7, sizeof(msg) - 1, why, sizeof(why)),
		 MBOXFILE_OK);
	T_EQ_INT(mboxfile_append(dir, "mail/alice.mbox", "", 86400, fd, 7,
				 sizeof(msg) - 1, why, sizeof(why)),
		 MBOXFILE_OK);
	got = slurp(dir, "mail/alice.mbox", &len);
	T_EQ_STR(got, "From bob@example.com Thu Jan  1 00:00:00 1970\n"
		      "Subject: hi\n\n>From me\n>>From you\nnot From\n.\nlast"
		      "\n\n"
		      "From MAILER-DAEMON Fri Jan  2 00:00:00 1970\n"
		      "Subject: hi\n\n>From me\n>>From you\nnot From\n.\nlast"
		      "\n\n");
	free(got);
	close(fd);
	close(dir);
}

T_TEST(mboxfile_long_lines_across_chunks)
{
	size_t n = 200000;
	char *msg = malloc(n + 64), why[200], *got;
	int dir = files_dir(), fd;
	size_t len, at = 0;

	T_ASSERT(msg != NULL);
	/* lines of 99 bytes, one of them a From line right at a 64 KiB cut */
	while (at + 100 < n) {
		memset(msg + at, 'x', 98);
		if (at >= 65500 && at < 65600)
			memcpy(msg + at, "From edge", 9);
		msg[at + 98] = '\r';
		msg[at + 99] = '\n';
		at += 100;
	}
	fd = message_fd(msg, at);
	T_EQ_INT(mboxfile_append(dir, "big", "a@b", 0, fd, 7, at, why,
				 sizeof(why)), MBOXFILE_OK);
	got = slurp(dir, "big", &len);
	T_ASSERT(strstr(got, "\n>From edge") != NULL);
	T_ASSERT(strstr(got, "\r") == NULL);
	/* From line + (at / 100) lines of 99 + one quote + final newline */
	T_EQ_INT(len, strlen("From a@b Thu Jan  1 00:00:00 1970\n") +
			      at / 100 * 99 + 1 + 1);
	free(got);
	free(msg);
	close(fd);
	close(dir);
}

T_TEST(mboxfile_refuses_links_and_bad_paths)
{
	int dir = files_dir(), fd = message_fd("x\r\n", 3);
	char why[200], target[600];

	snprintf(target, sizeof(target), "%s/elsewhere", t_tmpdir());
	T_EQ_INT(mkdir(target, 0700), 0);
	T_EQ_INT(symlinkat(target, dir, "linkdir"), 0);
	T_EQ_INT(symlinkat("/etc/passwd", dir, "linkfile"), 0);
	T_EQ_INT(mboxfile_append(dir, "linkdir/box", "", 0, fd, 7, 3, why,
				 sizeof(why)), MBOXFILE_PERM);
	T_EQ_INT(mboxfile_append(dir, "linkfile", "", 0, fd, 7, 3, why,
				 sizeof(why)), MBOXFILE_PERM);
	T_EQ_INT(mboxfile_append(dir, "../x", "", 0, fd, 7, 3, why,
				 sizeof(why)), MBOXFILE_PERM);
	T_EQ_INT(mboxfile_append(dir, "/abs", "", 0, fd, 7, 3, why,
				 sizeof(why)), MBOXFILE_PERM);
	T_EQ_INT(mboxfile_append(-1, "x", "", 0, fd, 7, 3, why, sizeof(why)),
		 MBOXFILE_PERM);
	T_EQ_INT(faccessat(dir, "elsewhere/box", F_OK, 0), -1);
	close(fd);
	close(dir);
}

T_TEST(mboxfile_locked_is_temporary)
{
	int dir = files_dir(), fd = message_fd("x\r\n", 3), p[2];
	char why[200], c;
	pid_t pid;

	T_EQ_INT(mboxfile_append(dir, "locked", "", 0, fd, 7, 3, why,
				 sizeof(why)), MBOXFILE_OK);
	T_EQ_INT(pipe(p), 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		/* another program holds the lock (record locks are per
		 * process, so it takes a child) */
		struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int f = openat(dir, "locked", O_WRONLY);
		if (f < 0 || fcntl(f, F_SETLK, &lk) < 0)
			_exit(1);
		if (write(p[1], "k", 1) != 1)
			_exit(1);
		sleep(5);
		_exit(0);
	}
	T_EQ_INT(read(p[0], &c, 1), 1);
	T_EQ_INT(mboxfile_append(dir, "locked", "", 0, fd, 7, 3, why,
				 sizeof(why)), MBOXFILE_TEMP);
	T_ASSERT(strstr(why, "locked") != NULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	T_EQ_INT(mboxfile_append(dir, "locked", "", 0, fd, 7, 3, why,
				 sizeof(why)), MBOXFILE_OK);
	close(p[0]);
	close(p[1]);
	close(fd);
	close(dir);
}
