/*
 * mboxfile: the `file` delivery option: a message appended to an mbox
 * file below file_dir (mailDeliveryFileURL, a relative path).
 *
 * The format is mboxrd: a "From SENDER DATE" line (RFC 4155), the message
 * with LF line ends, every line that matches ">*From " quoted with one
 * more ">", and an empty line after it. The file is locked with a POSIX
 * record lock (fcntl, the lock mutt, Dovecot and procmail also take) taken
 * without waiting: a file locked by someone else is a temporary failure,
 * tried again later, never a wait in the loop. The append is made durable
 * (fsync) before it counts; a write that fails is cut off again
 * (ftruncate to the old size), so a reader never sees half a message.
 * Missing directories below file_dir are made (0700); no component may be
 * a symbolic link (O_NOFOLLOW), so a user cannot aim the append at a file
 * outside file_dir. Blocks only on local disk.
 */
#ifndef VD_MBOXFILE_H
#define VD_MBOXFILE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum mboxfile_result { MBOXFILE_OK, MBOXFILE_TEMP, MBOXFILE_PERM };

/*
 * Appends len bytes of msg_fd from offset off (a message with CRLF line
 * ends) to dir_fd/relpath, From line with sender ("" = MAILER-DAEMON) and
 * arrival. why says what failed.
 */
enum mboxfile_result mboxfile_append(int dir_fd, const char *relpath,
				     const char *sender, time_t arrival,
				     int msg_fd, uint64_t off, uint64_t len,
				     char *why, size_t whylen);

#endif
