/* store: Maildir++ directories, message names, maildirsize. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/store.h"
#include "tests/unit/t.h"

static void
put(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	T_ASSERT(f != NULL);
	fputs(text, f);
	fclose(f);
}

T_TEST(store_boxes_and_names)
{
	struct store st;
	char dir[512], name[STORE_NAME_MAX], link[600];
	int box;

	snprintf(dir, sizeof(dir), "%s/store", t_tmpdir());
	T_EQ_INT(store_init(&st, dir, "mx/1:a"), 0);
	T_EQ_STR(st.host, "mx\\0571\\072a");
	box = store_open_box(&st, "example.com/alice");
	T_ASSERT(box >= 0);
	T_EQ_INT(faccessat(box, "tmp", F_OK, 0), 0);
	T_EQ_INT(faccessat(box, "new", F_OK, 0), 0);
	T_EQ_INT(faccessat(box, "cur", F_OK, 0), 0);
	T_EQ_INT(store_msg_name(&st, name, sizeof(name), 1700000000,
				"0123456789ABCDEF", 4321), 0);
	T_EQ_STR(name, "1700000000.V0123456789ABCDEF.mx\\0571\\072a,S=4321");
	T_EQ_INT(store_has_msg(box, name), 0);
	snprintf(link, sizeof(link), "%s/example.com/alice/cur", dir);
	char curname[STORE_NAME_MAX + 8];
	snprintf(curname, sizeof(curname), "%s:2,S", name);
	put(link, curname, "x");
	T_EQ_INT(store_has_msg(box, name), 1);
	/* Unnamed message files come from STORE/.alloc and link anywhere. */
	store_open_alloc(&st);
	for (int i = 0; i < STORE_ALLOC_DIRS + 2; i++) {
		int fd = store_tmpfile(&st, box);
		char proc[64], nn[64];
		T_ASSERT(fd >= 0);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		snprintf(nn, sizeof(nn), "new/n%d", i);
		T_EQ_INT(linkat(AT_FDCWD, proc, box, nn, AT_SYMLINK_FOLLOW), 0);
		close(fd);
	}
	snprintf(link, sizeof(link), "%s/.alloc/%02x", dir, STORE_ALLOC_DIRS - 1);
	T_EQ_INT(access(link, F_OK), 0);
	close(box);
	/* A planted symbolic link is not followed. */
	snprintf(link, sizeof(link), "%s/example.com/evil", dir);
	T_EQ_INT(symlink("/tmp", link), 0);
	T_EQ_INT(store_open_box(&st, "example.com/evil"), -1);
	store_fini(&st);
}

T_TEST(store_quota_usage)
{
	struct store st;
	struct store_usage u;
	char dir[512], sub[600], def[STORE_QUOTA_DEF_MAX];
	int box;

	snprintf(dir, sizeof(dir), "%s/store", t_tmpdir());
	T_EQ_INT(store_init(&st, dir, "h"), 0);
	/* A mailbox that does not exist yet is empty. */
	T_EQ_INT(store_quota_usage(&st, "x.test/none", NULL, &u), 0);
	T_ASSERT(u.bytes == 0 && u.msgs == 0);
	box = store_open_box(&st, "x.test/bob");
	snprintf(sub, sizeof(sub), "%s/x.test/bob/new", dir);
	put(sub, "1.a.h,S=100", "");
	put(sub, "2.b.h,S=50", "");
	snprintf(sub, sizeof(sub), "%s/x.test/bob", dir);
	mkdir(strcat(sub, "/.Sent"), 0700);
	strcat(sub, "/cur");
	mkdir(sub, 0700);
	put(sub, "3.c.h,S=25:2,S", "");
	store_quota_def(def, sizeof(def), 1000, -1);
	T_EQ_STR(def, "1000S");
	/* Missing maildirsize: counted over new/, cur/ and the folders. */
	T_EQ_INT(store_quota_usage(&st, "x.test/bob", def, &u), 0);
	T_ASSERT(u.bytes == 175 && u.msgs == 3);
	T_EQ_INT(store_quota_add(box, 500), 0);
	T_EQ_INT(store_quota_usage(&st, "x.test/bob", def, &u), 0);
	T_ASSERT(u.bytes == 675 && u.msgs == 4);
	/* A new definition triggers a recount (the 500 was never a file). */
	store_quota_def(def, sizeof(def), 1000, 10);
	T_EQ_STR(def, "1000S,10C");
	T_EQ_INT(store_quota_usage(&st, "x.test/bob", def, &u), 0);
	T_ASSERT(u.bytes == 175 && u.msgs == 3);
	/* Past 5120 bytes the file is recounted too. */
	for (int i = 0; i < 2000; i++)
		store_quota_add(box, 1);
	T_EQ_INT(store_quota_usage(&st, "x.test/bob", def, &u), 0);
	T_ASSERT(u.msgs < 1000); /* recounted at least once */
	close(box);
	store_fini(&st);
}
