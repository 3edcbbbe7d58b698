/*
 * tbl_build: the only writer of tables. Reads a table's text form (the
 * "map" form of tinycdb's cdb -c -m: KEY WHITESPACE VALUE per line, '#'
 * comments and empty lines ignored), validates every record with tbl_rec,
 * and replaces the table atomically: NAME.tmp.PID created O_EXCL, written,
 * fsync'd, renamed over NAME, then the directory fsync'd, so a crash leaves
 * either the old table or the new one, never a torn one.
 * Error lines name the file, line and field ("users.txt:7: field 'quota':
 * ..."). Used by vdctl (and later vdsync); blocks on local disk only.
 */
#ifndef VD_TBL_BUILD_H
#define VD_TBL_BUILD_H

#include <stdio.h>

#include "cdb/tbl_rec.h"

#define TBL_BUILD_LINE_MAX (4 * 1024 * 1024) /* a list with many members */

/*
 * Validates the text form in src; when dest is not NULL and no record is
 * bad, writes the table there atomically (mode 0600 for passwords, 0644
 * otherwise). Problems go to errs, one line each.
 * Returns the number of bad records (0: success), or -1 on an I/O error.
 */
int tbl_build_text(enum tbl_kind kind, const char *src, const char *dest,
		   FILE *errs);

/*
 * Validates every record of a built table. Returns the number of bad
 * records, or -1 when the file cannot be read as a cdb.
 */
int tbl_build_check_cdb(enum tbl_kind kind, const char *path, FILE *errs);

/*
 * Writes the table at path in the text form, "KEY VALUE\n" per record in
 * file order: the same bytes as `cdb -d -m`. Returns 0 or -1.
 */
int tbl_build_dump(const char *path, FILE *out);

/* fsyncs the directory holding path (after a rename into it). 0 or -1. */
int tbl_build_sync_dir(const char *path);

#endif
