/*
 * libFuzzer target: vdsync's directory cache file and the mapping of its
 * entries. The input is a cache file (hostile: torn, edited, garbage). A
 * file that loads is mapped from scratch, and every record generated for
 * any table must pass the table's own check: whatever the directory holds,
 * vdsync never writes a record vdmaild would refuse.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cdb/tbl_rec.h"
#include "tools/dir_cache.h"
#include "tools/dir_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_table(struct dcache *c, enum tbl_kind k)
{
	char *text = NULL, err[TBL_ERR_MAX];
	unsigned long n;

	if (dmap_table_text(c, k, &text, &n) < 0)
		return;
	for (char *line = text, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			abort(); /* every record ends its line */
		size_t klen = strcspn(line, " ");
		const char *v = line + klen + 1;
		if (klen >= (size_t)(nl - line) ||
		    tbl_rec_check(k, line, klen, v, (size_t)(nl - v), err,
				  sizeof(err)) != 0) {
			fprintf(stderr, "bad record in %s: %.*s: %s\n",
				tbl_rec_kind_name(k), (int)(nl - line), line,
				err);
			abort();
		}
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[256];
	struct dcache c;
	struct dmap_stats st;

	if (fd < 0 && (fd = memfd_create("cache", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (dcache_init(&c) < 0)
		return 0;
	if (dcache_load(&c, path, err, sizeof(err)) == 1 &&
	    dmap_update(&c, true, NULL, NULL, &st) == 0)
		for (int k = 0; k < TBL_NKINDS; k++)
			check_table(&c, (enum tbl_kind)k);
	dcache_fini(&c);
	return 0;
}
