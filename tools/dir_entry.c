#include "tools/dir_entry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/*
 * Names that are one attribute type in our schema (etc/ldap/vdmail.schema):
 * misc.schema's name first, the Sun name it is folded to second.
 */
static const char *const aliases[][2] = {
	{ "maillocaladdress", "mailalternateaddress" },
	{ "rfc822mailmember", "mgrprfc822mailmember" },
};

void
dent_canon(const char *name, char *out, size_t outlen)
{
	util_strlcpy(out, name, outlen);
	util_lower(out, strlen(out));
	/* "mail;lang-en" and the like: the options are not part of the type. */
	char *semi = strchr(out, ';');
	if (semi != NULL)
		*semi = '\0';
	for (size_t i = 0; i < UTIL_ARRAY_LEN(aliases); i++)
		if (strcmp(out, aliases[i][0]) == 0)
			util_strlcpy(out, aliases[i][1], outlen);
}

struct dent *
dent_new(const char *uuid, const char *dn)
{
	struct dent *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	util_strlcpy(e->uuid, uuid, sizeof(e->uuid));
	e->dn = strdup(dn);
	if (e->dn == NULL) {
		free(e);
		return NULL;
	}
	return e;
}

void
dent_free(struct dent *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->na; i++) {
		for (size_t j = 0; j < e->a[i].nv; j++)
			free(e->a[i].v[j].s);
		free(e->a[i].v);
	}
	free(e->a);
	free(e->dn);
	free(e->domain);
	free(e);
}

static struct dent_attr *
find_attr(const struct dent *e, const char *canon)
{
	for (size_t i = 0; i < e->na; i++)
		if (strcmp(e->a[i].name, canon) == 0)
			return &e->a[i];
	return NULL;
}

int
dent_add(struct dent *e, const char *name, const char *v, size_t len)
{
	char canon[DENT_NAME_MAX];
	struct dent_attr *a;

	if (len > DENT_VALUE_MAX)
		return -1;
	dent_canon(name, canon, sizeof(canon));
	a = find_attr(e, canon);
	if (a == NULL) {
		void *n = realloc(e->a, (e->na + 1) * sizeof(*e->a));
		if (n == NULL)
			return -1;
		e->a = n;
		a = &e->a[e->na++];
		memset(a, 0, sizeof(*a));
		util_strlcpy(a->name, canon, sizeof(a->name));
	}
	void *nv = realloc(a->v, (a->nv + 1) * sizeof(*a->v));
	if (nv == NULL)
		return -1;
	a->v = nv;
	char *s = malloc(len + 1);
	if (s == NULL)
		return -1;
	memcpy(s, v, len);
	s[len] = '\0';
	a->v[a->nv].s = s;
	a->v[a->nv].len = len;
	a->nv++;
	return 0;
}

const struct dent_attr *
dent_attr(const struct dent *e, const char *name)
{
	char canon[DENT_NAME_MAX];

	dent_canon(name, canon, sizeof(canon));
	return find_attr(e, canon);
}

const char *
dent_first(const struct dent *e, const char *name)
{
	const struct dent_attr *a = dent_attr(e, name);

	return a != NULL && a->nv > 0 ? a->v[0].s : NULL;
}

bool
dent_has_class(const struct dent *e, const char *oc)
{
	const struct dent_attr *a = find_attr(e, "objectclass");

	for (size_t i = 0; a != NULL && i < a->nv; i++)
		if (strcasecmp(a->v[i].s, oc) == 0)
			return true;
	return false;
}

void
dent_uuid_text(const unsigned char *raw, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len && i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[raw[i] >> 4];
		out[o++] = hex[raw[i] & 15];
	}
	out[o] = '\0';
}

int
dent_escape(const char *src, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (o + 4 > outlen) {
			out[o < outlen ? o : 0] = '\0';
			return -1;
		}
		if (c <= 0x20 || c == '%' || c == 0x7f) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

static int
write_escaped(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == '%' || c == 0x7f) {
			if (fprintf(f, "%%%02X", c) < 0)
				return -1;
		} else if (putc(c, f) == EOF) {
			return -1;
		}
	}
	return 0;
}

int
dent_write(const struct dent *e, FILE *f)
{
	if (fprintf(f, "E %s\nN ", e->uuid) < 0 ||
	    write_escaped(f, e->dn, strlen(e->dn)) < 0 || putc('\n', f) == EOF)
		return -1;
	if (e->domain != NULL && fprintf(f, "G %s\n", e->domain) < 0)
		return -1;
	for (size_t i = 0; i < e->na; i++)
		for (size_t j = 0; j < e->a[i].nv; j++)
			if (fprintf(f, "A %s ", e->a[i].name) < 0 ||
			    write_escaped(f, e->a[i].v[j].s,
					  e->a[i].v[j].len) < 0 ||
			    putc('\n', f) == EOF)
				return -1;
	return fputs(".\n", f) == EOF ? -1 : 0;
}

/* Decodes %XX in place; returns the new length or -1. */
static long
unescape(char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			s[o++] = s[i];
			continue;
		}
		int hi, lo;
		if (i + 2 >= len || (hi = util_hexval(s[i + 1])) < 0 ||
		    (lo = util_hexval(s[i + 2])) < 0)
			return -1;
		s[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	s[o] = '\0';
	return (long)o;
}

static long
get_line(FILE *f, char **line, size_t *cap)
{
	ssize_t n = getline(line, cap, f);

	if (n <= 0)
		return -1;
	if ((*line)[n - 1] == '\n')
		(*line)[--n] = '\0';
	return (long)n;
}

int
dent_read(FILE *f, char **line, size_t *cap, struct dent **e_r)
{
	long n = get_line(f, line, cap);
	struct dent *e;

	if (n < 0 || strncmp(*line, "E ", 2) != 0)
		return 0;
	if (n - 2 != DENT_UUID_LEN)
		return -1;
	char uuid[DENT_UUID_LEN + 1];
	memcpy(uuid, *line + 2, sizeof(uuid));
	n = get_line(f, line, cap);
	if (n < 2 || strncmp(*line, "N ", 2) != 0 ||
	    unescape(*line + 2, (size_t)n - 2) < 0 ||
	    (e = dent_new(uuid, *line + 2)) == NULL)
		return -1;
	while ((n = get_line(f, line, cap)) >= 0) {
		if (strcmp(*line, ".") == 0) {
			*e_r = e;
			return 1;
		}
		if (strncmp(*line, "G ", 2) == 0 && e->domain == NULL) {
			if ((e->domain = strdup(*line + 2)) == NULL)
				break;
			continue;
		}
		char *name = *line + 2, *sp = strchr(name, ' ');
		long vl;
		if (strncmp(*line, "A ", 2) != 0 || sp == NULL)
			break;
		*sp = '\0';
		vl = unescape(sp + 1, (size_t)(n - (sp + 1 - *line)));
		if (vl < 0 || dent_add(e, name, sp + 1, (size_t)vl) < 0)
			break;
	}
	dent_free(e);
	return -1;
}

void
dent_dn_norm(const char *dn, char *out, size_t outlen)
{
	size_t o = 0;
	bool skip = true;

	for (const char *p = dn; *p != '\0' && o + 1 < outlen; p++) {
		if (*p == ' ' && skip)
			continue;
		if (*p == ' ' && (p[1] == '=' || p[1] == ','))
			continue;
		out[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		skip = *p == ',' || *p == '=';
	}
	out[o] = '\0';
}

bool
dent_dn_under(const char *dn, const char *base)
{
	char a[1024], b[1024];
	size_t la, lb;

	dent_dn_norm(dn, a, sizeof(a));
	dent_dn_norm(base, b, sizeof(b));
	la = strlen(a);
	lb = strlen(b);
	if (lb == 0 || la < lb || strcmp(a + la - lb, b) != 0)
		return false;
	return la == lb || a[la - lb - 1] == ',';
}
