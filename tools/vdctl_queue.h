/*
 * vdctl_queue: `vdctl queue ...`, the admin's view of and hand on the
 * spool (spool/spool.h):
 *   list, show ID     read-only views of queue/ and hold/ (the envelope of
 *                     each queue file, spool_env; show prints the header)
 *   flush [ID]        every deferred message (or ID) is tried now
 *   hold ID           queue/ -> hold/: kept, not delivered
 *   release ID        hold/ -> queue/, tried now
 *   delete ID         removed from queue/ or hold/, without a bounce
 * vdmaild is the spool's single writer: while it runs (its pid_file names
 * a live process) a command is a request file in ctl/ plus a SIGUSR1, and
 * vdctl waits (5 s at most) until vdmaild took it and, for a message being
 * delivered, until its attempt ended. Without vdmaild, vdctl moves or
 * removes the file itself. Exit status: 0, 1 no such message (or not
 * taken yet), 2 usage, 3 I/O error.
 */
#ifndef VD_VDCTL_QUEUE_H
#define VD_VDCTL_QUEUE_H

int vdctl_queue(const char *spool_dir, const char *pid_file, int argc,
		char **argv);

#endif
