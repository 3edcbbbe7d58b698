/*
 * log: one line per event on stderr (or syslog), grep-able, key=value.
 * Mail lines start with the queue id ("ID: from=<..> size=N nrcpt=N"),
 * session lines with a connection id ("c=00002a smtp connect ...").
 * Peer-supplied text must go through util_log_escape first; secrets never
 * reach a log. log_fatal exits and is for start-up only.
 * The only state is set once by log_init before the loop starts.
 */
#ifndef VD_LOG_H
#define VD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

void log_init(const char *progname, bool debug, bool use_syslog);
/* Debug lines on or off (SIGHUP applies log_debug). */
void log_set_debug(bool debug);

/*
 * Lines are buffered (stdio) and written by log_flush, which the loop
 * calls once per turn before it sleeps; warnings and worse are written at
 * once. Saves a system call per line under load.
 */
void log_buffered(bool on);
void log_flush(void);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_crit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void log_fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* A broken invariant: log and abort (a bug, never bad input). */
#define VD_ASSERT(cond)                                                     \
	do {                                                                \
		if (!(cond))                                                \
			log_assert_failed(#cond, __FILE__, __LINE__);       \
	} while (0)
void log_assert_failed(const char *expr, const char *file, int line)
	__attribute__((noreturn));

#endif
