#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Written once by log_init before any event source exists. */
static struct {
	const char *name;
	bool debug;
	bool syslog;
	long pid;
} log_cfg = { "vdmail", false, false, 0 };

void
log_init(const char *progname, bool debug, bool use_syslog)
{
	log_cfg.name = progname;
	log_cfg.debug = debug;
	log_cfg.syslog = use_syslog;
	log_cfg.pid = (long)getpid();
	if (use_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_debug(bool debug)
{
	log_cfg.debug = debug;
}

void
log_buffered(bool on)
{
	static char stderr_buf[16384];

	fflush(stderr);
	setvbuf(stderr, on ? stderr_buf : NULL, on ? _IOFBF : _IONBF,
		on ? sizeof(stderr_buf) : 0);
}

void
log_flush(void)
{
	fflush(stderr);
}


static void
log_emit(int prio, const char *level, const char *fmt, va_list ap,
	 const char *err)
{
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		return;
	if (err != NULL) {
		size_t l = strlen(msg);
		snprintf(msg + l, sizeof(msg) - l, ": %s", err);
	}
	if (log_cfg.syslog) {
		syslog(prio, "%s: %s", level, msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld]: %s: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_cfg.name,
		log_cfg.pid, level, msg);
	if (prio <= LOG_WARNING)
		fflush(stderr);
}

#define LOG_BODY(prio, level, err)                                          \
	do {                                                                \
		va_list ap;                                                 \
		va_start(ap, fmt);                                          \
		log_emit(prio, level, fmt, ap, err);                        \
		va_end(ap);                                                 \
	} while (0)

void
log_debug(const char *fmt, ...)
{
	if (log_cfg.debug)
		LOG_BODY(LOG_DEBUG, "debug", NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, "info", NULL);
}

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);
	LOG_BODY(LOG_WARNING, "warning", e);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, "warning", NULL);
}

void
log_crit(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, "critical", NULL);
}

void
log_fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);
	LOG_BODY(LOG_ERR, "fatal", e);
	exit(1);
}

void
log_fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_ERR, "fatal", NULL);
	exit(1);
}

void
log_assert_failed(const char *expr, const char *file, int line)
{
	log_crit("assertion failed: %s at %s:%d", expr, file, line);
	abort();
}
