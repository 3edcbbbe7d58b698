/*
 * t_mail: checks shared by the tests of generated mail (test_autoreply.c,
 * test_bounce.c): the line rules every message we write keeps, and
 * Python's email package as a second, independent reader. A failed check
 * ends the running test, as T_ASSERT does (the file and line named are
 * t_mail.c's).
 */
#ifndef VD_T_MAIL_H
#define VD_T_MAIL_H

#include <stddef.h>

/*
 * p (len octets) is non-empty and ends in CRLF; every CR is followed by
 * LF, every line holds at most max octets (CRLF not counted), and every
 * other octet is TAB or printable US-ASCII.
 */
void t_mail_check_lines(const char *p, size_t len, size_t max);

/* Writes p (len octets) to path, replacing what is there. */
void t_mail_write_file(const char *path, const char *p, size_t len);

/* Skips the running test when python3 is not on the PATH. Call it before
 * allocating: a skip does not come back to free. */
void t_mail_need_python(void);

/*
 * Has Python 3 read msg (len octets, written to t_tmpdir()) with the
 * email package's default policy and run script with the result as m;
 * the script asserts what it expects. After it, no part of m may have
 * defects. A failed assertion (a non-zero exit) fails the test, Python's
 * output printed first.
 */
void t_mail_python(const char *script, const char *msg, size_t len);

#endif
