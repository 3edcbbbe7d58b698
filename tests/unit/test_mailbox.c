/* mailbox: listing, UIDs, reads and the UPDATE state of a Maildir++ box. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/mailbox.h"
#include "spool/store.h"
#include "tests/unit/t.h"

struct fx {
	struct store st;
	char store[512];
	char box[600]; /* STORE/abc.com/alice */
};

static void
fx_init(struct fx *f)
{
	int fd;

	memset(f, 0, sizeof(*f));
	snprintf(f->store, sizeof(f->store), "%s/store", t_tmpdir());
	T_EQ_INT(store_init(&f->st, f->store, "h"), 0);
	fd = store_open_box(&f->st, "abc.com/alice");
	T_ASSERT(fd >= 0);
	close(fd);
	snprintf(f->box, sizeof(f->box), "%s/abc.com/alice", f->store);
}

/* Writes box/rel (rel may be any path below the mailbox). */
static void
put(const struct fx *f, const char *rel, const char *text)
{
	char path[1024];
	size_t len = strlen(text);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->box, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_ASSERT(fd >= 0);
	T_EQ_INT(write(fd, text, len), (long long)len);
	close(fd);
}

static int
has(const struct fx *f, const char *rel)
{
	char path[1024];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", f->box, rel);
	return lstat(path, &sb) == 0;
}

static void
in_box(const struct fx *f, char *out, size_t outlen, const char *rel)
{
	snprintf(out, outlen, "%s/%s", f->box, rel);
}

static void
slurp(const char *path, char *out, size_t outlen)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	T_ASSERT(fd >= 0);
	n = read(fd, out, outlen - 1);
	close(fd);
	T_ASSERT(n >= 0);
	out[n] = '\0';
}

T_TEST(mbox_list_order_and_sizes)
{
	struct fx f;
	struct mbox b;

	fx_init(&f);
	put(&f, "new/1700000300.c.h", "ccccc");
	put(&f, "cur/1700000100.a.h:2,S", "aaa");
	put(&f, "new/1700000200.b.h", "b\r\nbb\r\n");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_ASSERT(b.dfd >= 0);
	T_EQ_STR(b.mailbox, "abc.com/alice");
	T_EQ_SIZE(b.n, 3);
	/* cur/ is listed after new/: the order comes from the sort. */
	T_EQ_STR(b.m[0].name, "cur/1700000100.a.h:2,S");
	T_EQ_STR(b.m[0].uid, "1700000100.a.h");
	T_ASSERT(!b.m[0].in_new);
	T_EQ_STR(b.m[1].name, "new/1700000200.b.h");
	T_EQ_STR(b.m[1].uid, "1700000200.b.h");
	T_ASSERT(b.m[1].in_new);
	T_EQ_STR(b.m[2].uid, "1700000300.c.h");
	T_EQ_INT(b.m[0].size, 3);
	T_EQ_INT(b.m[1].size, 7);
	T_EQ_INT(b.m[2].size, 5);
	T_EQ_INT(b.total, 15);
	T_ASSERT(!b.m[0].deleted && !b.m[0].seen);
	mbox_close(&b);
	T_EQ_INT(b.dfd, -1);
	T_ASSERT(b.m == NULL && b.n == 0);
	mbox_close(&b); /* repeatable */
	store_fini(&f.st);
}

T_TEST(mbox_uid_stable_across_move)
{
	struct fx f;
	struct mbox b;
	char buf[16];

	fx_init(&f);
	put(&f, "new/1700000001.x.h,S=7", "hello\r\n");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 1);
	T_EQ_STR(b.m[0].uid, "1700000001.x.h,S=7");
	T_EQ_INT(mbox_read(&b, 0, 0, buf, 2), 2); /* caches the new/ fd */
	b.m[0].seen = true;
	T_EQ_INT(mbox_commit(&b), 0);
	T_ASSERT(!has(&f, "new/1700000001.x.h,S=7"));
	T_ASSERT(has(&f, "cur/1700000001.x.h,S=7:2,S"));
	/* The array follows the rename, so reads after UPDATE still work. */
	T_EQ_STR(b.m[0].name, "cur/1700000001.x.h,S=7:2,S");
	T_ASSERT(!b.m[0].in_new);
	T_EQ_INT(mbox_read(&b, 0, 0, buf, sizeof(buf)), 7);
	T_EQ_MEM(buf, 7, "hello\r\n", 7);
	mbox_close(&b);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 1);
	T_EQ_STR(b.m[0].uid, "1700000001.x.h,S=7");
	T_EQ_STR(b.m[0].name, "cur/1700000001.x.h,S=7:2,S");
	T_ASSERT(!b.m[0].in_new);
	/* Seen again: already flagged, nothing moves. */
	b.m[0].seen = true;
	T_EQ_INT(mbox_commit(&b), 0);
	T_ASSERT(has(&f, "cur/1700000001.x.h,S=7:2,S"));
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_seen_flags_merged)
{
	static const char *const want[] = {
		"cur/1.a:2,RS", "cur/2.b:2,FS",  "cur/3.c:2,ST",
		"cur/4.d:2,S",  "cur/5.e:1,xyz", "cur/6.f:2,FS",
		"cur/7.g:2,F",  "cur/8.h:2,DFPRST",
	};
	struct fx f;
	struct mbox b;

	fx_init(&f);
	put(&f, "cur/1.a:2,RS", "1");
	put(&f, "cur/2.b:2,F", "2");
	put(&f, "cur/3.c:2,T", "3");
	put(&f, "cur/4.d", "4");       /* no info yet */
	put(&f, "cur/5.e:1,xyz", "5"); /* info we do not understand */
	put(&f, "new/6.f:2,F", "6");   /* flags in new/: kept */
	put(&f, "cur/7.g:2,F", "7");   /* not seen */
	put(&f, "cur/8.h:2,DFPRT", "8");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 8);
	for (size_t i = 0; i < b.n; i++)
		b.m[i].seen = i != 6;
	T_EQ_INT(mbox_commit(&b), 0);
	for (size_t i = 0; i < b.n; i++) {
		T_EQ_STR(b.m[i].name, want[i]);
		T_ASSERT(has(&f, want[i]));
	}
	T_ASSERT(!has(&f, "cur/2.b:2,F"));
	T_ASSERT(!has(&f, "cur/3.c:2,T"));
	T_ASSERT(!has(&f, "cur/4.d"));
	T_ASSERT(!has(&f, "new/6.f:2,F"));
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_delete_and_quota)
{
	struct fx f;
	struct mbox b;
	struct store_usage u;
	char path[1024], text[256];

	fx_init(&f);
	put(&f, "new/1.a", "0123456789");                   /* 10 */
	put(&f, "cur/2.b:2,S", "01234567890123456789");     /* 20 */
	put(&f, "new/3.c", "01234");                        /* 5 */
	put(&f, "maildirsize", "1000S\n35 3\n");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 3);
	b.m[0].deleted = true;
	b.m[0].seen = true; /* deletion wins */
	b.m[1].deleted = true;
	T_EQ_INT(mbox_commit(&b), 0);
	T_ASSERT(!has(&f, "new/1.a") && !has(&f, "cur/1.a:2,S"));
	T_ASSERT(!has(&f, "cur/2.b:2,S"));
	T_ASSERT(has(&f, "new/3.c"));
	in_box(&f, path, sizeof(path), "maildirsize");
	slurp(path, text, sizeof(text));
	T_EQ_STR(text, "1000S\n35 3\n-30 -2\n");
	mbox_close(&b);
	/* The store reads the line back as usage. */
	T_EQ_INT(store_quota_usage(&f.st, "abc.com/alice", "1000S", &u), 0);
	T_EQ_INT(u.bytes, 5);
	T_EQ_INT(u.msgs, 1);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 1);
	T_EQ_STR(b.m[0].uid, "3.c");
	mbox_close(&b);
	/* Without a maildirsize none is made (the store recounts then). */
	T_EQ_INT(unlink(path), 0);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	b.m[0].deleted = true;
	T_EQ_INT(mbox_commit(&b), 0);
	T_ASSERT(!has(&f, "new/3.c"));
	T_ASSERT(!has(&f, "maildirsize"));
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_missing_is_empty)
{
	struct fx f;
	struct mbox b;
	char buf[4], path[1024];

	fx_init(&f);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/nobody"), 0);
	T_EQ_INT(b.dfd, -1);
	T_EQ_SIZE(b.n, 0);
	T_EQ_INT(b.total, 0);
	errno = 0;
	T_EQ_INT(mbox_read(&b, 0, 0, buf, sizeof(buf)), -1);
	T_EQ_INT(errno, EINVAL);
	T_EQ_INT(mbox_commit(&b), 0);
	mbox_close(&b);
	/* The read side never creates the mailbox. */
	snprintf(path, sizeof(path), "%s/abc.com/nobody", f.store);
	T_ASSERT(access(path, F_OK) < 0);
	T_EQ_INT(mbox_open(&b, &f.st, "nodomain.example/bob"), 0);
	T_EQ_SIZE(b.n, 0);
	mbox_close(&b);
	/* A mailbox whose new/ and cur/ are not made yet is empty too. */
	snprintf(path, sizeof(path), "%s/abc.com/carol", f.store);
	T_EQ_INT(mkdir(path, 0700), 0);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/carol"), 0);
	T_ASSERT(b.dfd >= 0);
	T_EQ_SIZE(b.n, 0);
	T_EQ_INT(mbox_commit(&b), 0);
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_symlinks_refused)
{
	struct fx f;
	struct mbox b;
	char path[1024], target[1024];
	int fd;

	fx_init(&f);
	put(&f, "new/1700000001.ok", "ok");
	put(&f, "cur/1700000005.real:2,S", "real");
	/* A link in new/ to a file outside the store, and one inside. */
	snprintf(target, sizeof(target), "%s/secret", t_tmpdir());
	fd = open(target, O_WRONLY | O_CREAT, 0600);
	T_ASSERT(fd >= 0);
	close(fd);
	in_box(&f, path, sizeof(path), "new/1700000002.link");
	T_EQ_INT(symlink(target, path), 0);
	in_box(&f, path, sizeof(path), "new/1700000003.link");
	T_EQ_INT(symlink("../cur/1700000005.real:2,S", path), 0);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 2);
	T_EQ_STR(b.m[0].uid, "1700000001.ok");
	T_EQ_STR(b.m[1].uid, "1700000005.real");
	mbox_close(&b);
	/* A linked mailbox, even to another mailbox inside the store. */
	snprintf(path, sizeof(path), "%s/abc.com/evil", f.store);
	T_EQ_INT(symlink("alice", path), 0);
	errno = 0;
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/evil"), -1);
	T_EQ_INT(errno, ELOOP);
	T_EQ_INT(b.dfd, -1);
	mbox_close(&b);
	/* A linked domain directory. */
	snprintf(path, sizeof(path), "%s/evil.com", f.store);
	T_EQ_INT(symlink("abc.com", path), 0);
	T_EQ_INT(mbox_open(&b, &f.st, "evil.com/alice"), -1);
	T_EQ_INT(errno, ELOOP);
	mbox_close(&b);
	/* A mailbox whose new/ is a link to another mailbox's new/. */
	fd = store_open_box(&f.st, "abc.com/bob");
	T_ASSERT(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/abc.com/bob/new", f.store);
	T_EQ_INT(rmdir(path), 0);
	T_EQ_INT(symlink("../alice/new", path), 0);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/bob"), -1);
	T_EQ_INT(errno, ELOOP);
	mbox_close(&b);
	store_fini(&f.st);
}

/* new/ swapped for a link after the listing: reads and UPDATE refuse it. */
T_TEST(mbox_new_swapped_for_link)
{
	struct fx f;
	struct mbox b;
	char path[1024], real[1024], buf[8];

	fx_init(&f);
	put(&f, "new/1.a", "aaaa");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 1);
	in_box(&f, path, sizeof(path), "new");
	in_box(&f, real, sizeof(real), "new.real");
	T_EQ_INT(rename(path, real), 0);
	T_EQ_INT(symlink("new.real", path), 0);
	errno = 0;
	T_EQ_INT(mbox_read(&b, 0, 0, buf, sizeof(buf)), -1);
	T_EQ_INT(errno, ELOOP);
	b.m[0].deleted = true;
	T_EQ_INT(mbox_commit(&b), -1);
	T_ASSERT(has(&f, "new.real/1.a"));
	mbox_close(&b);
	store_fini(&f.st);
}

/* A FIFO put in place of a message must neither hang nor be read. */
T_TEST(mbox_fifo_swapped_in)
{
	struct fx f;
	struct mbox b;
	char path[1024], buf[8];

	fx_init(&f);
	put(&f, "new/1.a", "aaaa");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 1);
	in_box(&f, path, sizeof(path), "new/1.a");
	T_EQ_INT(unlink(path), 0);
	T_EQ_INT(mkfifo(path, 0600), 0);
	errno = 0;
	T_EQ_INT(mbox_read(&b, 0, 0, buf, sizeof(buf)), -1);
	T_EQ_INT(errno, EINVAL);
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_bad_mailbox_names_refused)
{
	static const char *const bad[] = {
		"abc.com/../abc.com/alice", /* RESOLVE_BENEATH allows it */
		"../store/abc.com/alice", "..", "abc.com/..", "/abc.com/alice",
		"", "abc.com/./alice", "abc.com//alice", "abc.com/alice/", ".",
	};
	struct fx f;
	struct mbox b;

	fx_init(&f);
	put(&f, "new/1.a", "a");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		T_EQ_INT(mbox_open(&b, &f.st, bad[i]), -1);
		T_EQ_INT(errno, EINVAL);
		mbox_close(&b);
	}
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 1);
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_junk_skipped)
{
	char n70[80], n71[80], n200[210], rel[300], path[1024];
	struct fx f;
	struct mbox b;

	fx_init(&f);
	memset(n70, 'a', 70);
	n70[70] = '\0';
	memset(n71, 'b', 71);
	n71[71] = '\0';
	memcpy(n200, "1700000006.", 11);
	memset(n200 + 11, 'x', 189);
	n200[200] = '\0';
	put(&f, "new/1700000001.ok", "ok");
	in_box(&f, path, sizeof(path), "new/1700000002.dir");
	T_EQ_INT(mkdir(path, 0700), 0);
	in_box(&f, path, sizeof(path), "new/1700000003.fifo");
	T_EQ_INT(mkfifo(path, 0600), 0);
	put(&f, "new/.1700000004.hidden", "h");
	put(&f, "new/17000\x01" "05.ctl", "c");
	put(&f, "new/1700000007 space", "s");
	put(&f, "new/1700000008.del\x7f", "d");
	put(&f, "new/1700000009.\xc3\xa9", "e"); /* 8-bit */
	snprintf(rel, sizeof(rel), "new/%s", n200);
	put(&f, rel, "l");
	snprintf(rel, sizeof(rel), "cur/%s:2,S", n71);
	put(&f, rel, "71");
	snprintf(rel, sizeof(rel), "cur/%s:2,S", n70);
	put(&f, rel, "70");
	put(&f, "cur/:2,S", "no base");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 2);
	T_EQ_STR(b.m[0].uid, "1700000001.ok");
	T_EQ_STR(b.m[1].uid, n70); /* 70 characters is the limit, not over */
	T_EQ_INT(b.total, 4);
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_read_offsets)
{
	struct fx f;
	struct mbox b;
	char buf[32];

	fx_init(&f);
	put(&f, "new/1.a", "0123456789");
	put(&f, "new/2.b", "abcdef");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 2);
	T_EQ_INT(mbox_read(&b, 0, 0, buf, 4), 4);
	T_EQ_MEM(buf, 4, "0123", 4);
	T_EQ_INT(mbox_read(&b, 0, 4, buf, sizeof(buf)), 6);
	T_EQ_MEM(buf, 6, "456789", 6);
	T_EQ_INT(mbox_read(&b, 0, 10, buf, sizeof(buf)), 0);
	T_EQ_INT(mbox_read(&b, 0, 1000, buf, sizeof(buf)), 0);
	T_EQ_INT(mbox_read(&b, 0, 3, buf, 0), 0);
	/* Switching messages reopens the right file each time. */
	T_EQ_INT(mbox_read(&b, 1, 2, buf, 3), 3);
	T_EQ_MEM(buf, 3, "cde", 3);
	T_EQ_INT(mbox_read(&b, 0, 9, buf, sizeof(buf)), 1);
	T_EQ_MEM(buf, 1, "9", 1);
	errno = 0;
	T_EQ_INT(mbox_read(&b, 2, 0, buf, sizeof(buf)), -1);
	T_EQ_INT(errno, EINVAL);
	errno = 0;
	T_EQ_INT(mbox_read(&b, 0, UINT64_MAX, buf, sizeof(buf)), -1);
	T_EQ_INT(errno, EINVAL);
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_removed_behind_our_back)
{
	struct fx f;
	struct mbox b;
	char buf[8], path[1024], text[128];

	fx_init(&f);
	put(&f, "new/1.a", "aaaa");
	put(&f, "new/2.b", "bb");
	put(&f, "cur/3.c:2,S", "ccc");
	put(&f, "maildirsize", "\n9 3\n");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 3);
	in_box(&f, path, sizeof(path), "new/1.a");
	T_EQ_INT(unlink(path), 0);
	errno = 0;
	T_EQ_INT(mbox_read(&b, 0, 0, buf, sizeof(buf)), -1);
	T_EQ_INT(errno, ENOENT);
	b.m[0].deleted = true; /* already gone: not an error, not counted */
	b.m[1].seen = true;
	b.m[2].deleted = true;
	T_EQ_INT(mbox_commit(&b), 0);
	T_ASSERT(has(&f, "cur/2.b:2,S") && !has(&f, "new/2.b"));
	T_ASSERT(!has(&f, "cur/3.c:2,S"));
	in_box(&f, path, sizeof(path), "maildirsize");
	slurp(path, text, sizeof(text));
	T_EQ_STR(text, "\n9 3\n-3 -1\n");
	mbox_close(&b);
	store_fini(&f.st);
}

/* Another reader (IMAP, Dovecot) moved or reflagged messages meanwhile. */
T_TEST(mbox_moved_behind_our_back)
{
	struct fx f;
	struct mbox b;
	char from[1024], to[1024], buf[8], text[128];

	fx_init(&f);
	put(&f, "new/1.a", "aaaa");
	put(&f, "new/2.b", "bb");
	put(&f, "cur/3.c:2,", "ccc");
	put(&f, "maildirsize", "\n9 3\n");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 3);
	in_box(&f, from, sizeof(from), "new/1.a");
	in_box(&f, to, sizeof(to), "cur/1.a:2,S");
	T_EQ_INT(rename(from, to), 0);
	in_box(&f, from, sizeof(from), "new/2.b");
	in_box(&f, to, sizeof(to), "cur/2.b:2,S");
	T_EQ_INT(rename(from, to), 0);
	in_box(&f, from, sizeof(from), "cur/3.c:2,");
	in_box(&f, to, sizeof(to), "cur/3.c:2,R");
	T_EQ_INT(rename(from, to), 0);
	T_EQ_INT(mbox_read(&b, 0, 0, buf, sizeof(buf)), 4);
	T_EQ_MEM(buf, 4, "aaaa", 4);
	T_EQ_STR(b.m[0].name, "cur/1.a:2,S");
	b.m[0].deleted = true;
	b.m[1].deleted = true; /* found again by the rescan in UPDATE */
	b.m[2].seen = true;
	T_EQ_INT(mbox_commit(&b), 0);
	T_ASSERT(!has(&f, "cur/1.a:2,S"));
	T_ASSERT(!has(&f, "cur/2.b:2,S"));
	T_ASSERT(has(&f, "cur/3.c:2,RS"));
	T_EQ_STR(b.m[2].name, "cur/3.c:2,RS");
	in_box(&f, to, sizeof(to), "maildirsize");
	slurp(to, text, sizeof(text));
	T_EQ_STR(text, "\n9 3\n-6 -2\n");
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_duplicate_uid_listed_once)
{
	struct fx f;
	struct mbox b;

	fx_init(&f);
	put(&f, "new/1.a", "aaaa");
	put(&f, "cur/1.a:2,S", "aaaa");
	put(&f, "new/2.b", "bb");
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 2);
	T_EQ_STR(b.m[0].name, "cur/1.a:2,S");
	T_EQ_STR(b.m[1].uid, "2.b");
	T_EQ_INT(b.total, 6);
	mbox_close(&b);
	store_fini(&f.st);
}

/* One failed step makes the result -1 but the others are still done. */
T_TEST(mbox_commit_failed_step)
{
	struct fx f;
	struct mbox b;
	char path[1024], text[64];

	fx_init(&f);
	put(&f, "new/1.a", "aaaa");
	put(&f, "new/2.b", "bb");
	put(&f, "maildirsize", "\n6 2\n");
	/* A directory where the seen name goes: rename fails (EISDIR), for
	 * root too. The listing skips it (not a file). */
	in_box(&f, path, sizeof(path), "cur/1.a:2,S");
	T_EQ_INT(mkdir(path, 0700), 0);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, 2);
	b.m[0].seen = true;
	b.m[1].deleted = true;
	T_EQ_INT(mbox_commit(&b), -1);
	T_ASSERT(has(&f, "new/1.a"));
	T_EQ_STR(b.m[0].name, "new/1.a");
	T_ASSERT(!has(&f, "new/2.b"));
	in_box(&f, path, sizeof(path), "maildirsize");
	slurp(path, text, sizeof(text));
	T_EQ_STR(text, "\n6 2\n-2 -1\n");
	mbox_close(&b);
	store_fini(&f.st);
}

T_TEST(mbox_too_many_messages)
{
	struct fx f;
	struct mbox b;
	char path[1024];
	int cur, fd;

	fx_init(&f);
	in_box(&f, path, sizeof(path), "cur");
	cur = open(path, O_RDONLY | O_DIRECTORY);
	T_ASSERT(cur >= 0);
	for (int i = 0; i <= MBOX_MAX_MSGS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%d.m:2,S", 1000000 + i);
		fd = openat(cur, name, O_WRONLY | O_CREAT, 0600);
		T_ASSERT(fd >= 0);
		close(fd);
	}
	errno = 0;
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), -1);
	T_EQ_INT(errno, E2BIG);
	T_ASSERT(b.m == NULL && b.dfd == -1);
	mbox_close(&b);
	T_EQ_INT(unlinkat(cur, "1000000.m:2,S", 0), 0);
	T_EQ_INT(mbox_open(&b, &f.st, "abc.com/alice"), 0);
	T_EQ_SIZE(b.n, MBOX_MAX_MSGS);
	T_EQ_STR(b.m[0].uid, "1000001.m");
	mbox_close(&b);
	close(cur);
	store_fini(&f.st);
}
