/*
 * sync_write: puts the tables generated from the directory cache in
 * service. Every table whose text changed is written as text
 * (STATE_DIR/TABLE.txt, the form `vdctl cdb build` and `cdb -c -m` take)
 * and built into TABLE_DIR/TABLE.cdb.new; when every changed table is
 * built, the shrink guard compares each with the table in service: one
 * that would lose more than shrink_limit of its keys (and more than
 * shrink_min) is refused, and then no table is replaced (a misconfigured
 * base or an empty answer must not bounce a whole domain's mail), unless
 * force. Otherwise each is renamed into place, users and lists before the
 * addresses and domains that point at them. Blocks on local disk only.
 */
#ifndef VD_SYNC_WRITE_H
#define VD_SYNC_WRITE_H

#include <stdbool.h>

#include "tools/dir_cache.h"
#include "tools/sync_cfg.h"

/*
 * Returns 0 (with *written_r tables replaced), 1 when the shrink guard
 * refused (nothing replaced; logged), -1 on an error (logged).
 */
int sync_write_tables(struct dcache *c, const struct sync_cfg *cfg,
		      bool force, unsigned *written_r);

#endif
