/*
 * dir_sync: the directory -> tables synchronization (seed 002; RFC 4533).
 *   full         refreshOnly without a cookie: the cache is rebuilt from
 *                nothing and every table is generated
 *   incremental  refreshOnly with the stored cookie: adds, modifies and
 *                deletes (explicit delete sets, or derived from the present
 *                phase) are applied and only the changed domains are
 *                regenerated; a cookie the server refuses
 *                (e-syncRefreshRequired) falls back to a full refresh, logged
 *   follow       refreshAndPersist: after the refresh, each change is in the
 *                tables within follow_delay (plus the build); when slapd goes
 *                away it reconnects with a growing delay (up to backoff_max)
 *                from the stored cookie, and the tables in service stay
 * The cache and cookie are saved only after the tables they describe are
 * in service, so a crash repeats work but never skips a change.
 * Blocks on LDAP and local disk: it runs in vdsync, never in vdmaild.
 */
#ifndef VD_DIR_SYNC_H
#define VD_DIR_SYNC_H

#include <stdbool.h>

#include "tools/sync_cfg.h"

enum dsync_mode { DSYNC_FULL, DSYNC_INCREMENTAL, DSYNC_FOLLOW };

/* Exit status: 0 done, 1 refused by the shrink guard, 3 LDAP or I/O error. */
int dsync_run(const struct sync_cfg *cfg, enum dsync_mode mode, bool force);

#endif
