/*
 * vdctl_queue: `vdctl queue list` and `vdctl queue show ID`, read-only
 * views of spool_dir/queue (the envelope of each queue file, spool_env).
 * Other queue commands (flush, delete, hold, release) come with outbound
 * delivery. Exit status: 0, 1 no such message, 3 I/O error.
 */
#ifndef VD_VDCTL_QUEUE_H
#define VD_VDCTL_QUEUE_H

int vdctl_queue(const char *spool_dir, int argc, char **argv);

#endif
