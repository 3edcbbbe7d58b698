/*
 * qfile: opening one queue file for delivery, shared by local delivery
 * (deliver.c) and outbound delivery (outq.c). A file that fails
 * validation (torn, a bad envelope, size or id not matching, or, when
 * asked, a text not matching its CRC) is moved to corrupt/ and logged: it
 * is never delivered nor deleted. Blocks only on local disk.
 */
#ifndef VD_QFILE_H
#define VD_QFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "spool/spool.h"

/*
 * Opens queue/QID read-write and parses its envelope into env (free with
 * spool_env_free). check_text: also check the text against the CRC (a
 * file not fresh from this run's commit may have been torn by a crash).
 * Returns 1 (*fd_r open), 0 gone or quarantined, -1 try later (why).
 */
int qfile_load(struct spool *s, const char *qid, bool check_text,
	       int *fd_r, struct spool_env *env, char *why, size_t whylen);

/*
 * Overwrites recipient i's R byte with mark ('D' done). The byte reaches
 * the page cache at once, so a kill -9 after this keeps it; a crash of
 * the machine before the next flush can only repeat a delivery.
 */
int qfile_mark(int fd, const struct spool_env *env, unsigned i, char mark);

#endif
