/*
 * tbl_check: consistency across tables, beyond single records: every
 * address points at an existing user, every alias domain at a canonical
 * domain, every user and address belongs to a known canonical domain, and
 * every domain's postmaster routes somewhere. Used by `vdctl check` and
 * `vdmaild -t`. Problems are printed one per line; blocks on disk only.
 */
#ifndef VD_TBL_CHECK_H
#define VD_TBL_CHECK_H

#include <stdio.h>

#include "cdb/tbl.h"

/* Returns the number of problems found (0: consistent). */
int tbl_check_set(struct tbl_set *s, FILE *out);

#endif
