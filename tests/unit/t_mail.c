#include "tests/unit/t_mail.h"

#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/t.h"

/* What every check script starts and ends with (t_mail_python). */
static const char py_head[] =
	"import sys, email\n"
	"from email import policy\n"
	"m = email.message_from_binary_file(open(sys.argv[1], 'rb'),\n"
	"                                   policy=policy.default)\n";
static const char py_tail[] =
	"for p in m.walk():\n"
	"    assert not p.defects, p.defects\n"
	"print('ok')\n";

void
t_mail_check_lines(const char *p, size_t len, size_t max)
{
	size_t col = 0;

	T_ASSERT(len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r') {
			T_ASSERT(i + 1 < len && p[i + 1] == '\n');
			T_ASSERT(col <= max);
			col = 0;
			i++;
			continue;
		}
		T_ASSERT(c == '\t' || (c >= 0x20 && c < 0x7f));
		col++;
	}
}

void
t_mail_write_file(const char *path, const char *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	T_ASSERT(f != NULL);
	T_EQ_SIZE(fwrite(p, 1, len, f), len);
	T_EQ_INT(fclose(f), 0);
}

void
t_mail_need_python(void)
{
	if (system("command -v python3 >/dev/null 2>&1") != 0)
		T_SKIP("no python3");
}

void
t_mail_python(const char *script, const char *msg, size_t len)
{
	char eml[512], py[512], cmd[1200];
	FILE *f;
	int rc;

	snprintf(eml, sizeof(eml), "%s/msg.eml", t_tmpdir());
	snprintf(py, sizeof(py), "%s/check.py", t_tmpdir());
	t_mail_write_file(eml, msg, len);
	f = fopen(py, "wb");
	T_ASSERT(f != NULL);
	T_ASSERT(fputs(py_head, f) >= 0 && fputs(script, f) >= 0 &&
		 fputs(py_tail, f) >= 0);
	T_EQ_INT(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "python3 %s %s >%s/py.out 2>&1", py, eml,
		 t_tmpdir());
	rc = system(cmd);
	/* The script's assertion says what Python disliked: show it. */
	if (rc != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/py.out", t_tmpdir());
		T_ASSERT(system(cmd) == 0);
	}
	T_EQ_INT(rc, 0);
}
