#include "tools/dir_admin.h"

#include <crypt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "cdb/tbl_rec.h"
#include "core/util.h"
#include "tools/ldap_conn.h"

#define DN_MAX 1024
#define MODS_MAX 16
#define VALS_MAX 8

static int
fail(struct dadm *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* An entry or a change being put together: attribute -> values. */
struct mods {
	LDAPMod m[MODS_MAX];
	LDAPMod *p[MODS_MAX + 1];
	char *v[MODS_MAX][VALS_MAX + 1];
	int n;
};

static void
mods_add(struct mods *ms, int op, const char *attr, const char *val)
{
	for (int i = 0; i < ms->n; i++) {
		if (strcmp(ms->m[i].mod_type, attr) != 0)
			continue;
		int k = 0;
		while (ms->v[i][k] != NULL)
			k++;
		if (k < VALS_MAX)
			ms->v[i][k] = (char *)val;
		return;
	}
	if (ms->n == MODS_MAX)
		return;
	int i = ms->n++;
	ms->m[i].mod_op = op;
	ms->m[i].mod_type = (char *)attr;
	ms->v[i][0] = (char *)val;
	ms->m[i].mod_values = ms->v[i];
	ms->p[i] = &ms->m[i];
	ms->p[ms->n] = NULL;
}

static int
ldap_fail(struct dadm *a, const char *what, const char *dn, int rc)
{
	return fail(a, "%s %s: %s", what, dn, ldap_err2string(rc));
}

/* 1 the entry exists, 0 it does not, -1 error. */
static int
exists(struct dadm *a, const char *dn)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL;
	int rc = ldap_search_ext_s(a->ld, dn, LDAP_SCOPE_BASE,
				   "(objectClass=*)", attrs, 0, NULL, NULL,
				   NULL, 1, &res);

	ldap_msgfree(res);
	if (rc == LDAP_SUCCESS)
		return 1;
	if (rc == LDAP_NO_SUCH_OBJECT)
		return 0;
	return ldap_fail(a, "search", dn, rc);
}

static int
add_entry(struct dadm *a, const char *dn, struct mods *ms)
{
	int rc = ldap_add_ext_s(a->ld, dn, ms->p, NULL, NULL);

	/* The search said it was not there: it is, but hidden from us. */
	if (rc == LDAP_ALREADY_EXISTS)
		return fail(a, "add %s: it exists but this account cannot read "
			    "it: %s", dn, ldap_err2string(LDAP_INSUFFICIENT_ACCESS));
	if (rc != LDAP_SUCCESS)
		return ldap_fail(a, "add", dn, rc);
	fprintf(a->out, "created  %s\n", dn);
	return 0;
}

static int
modify_entry(struct dadm *a, const char *dn, struct mods *ms)
{
	int rc = ldap_modify_ext_s(a->ld, dn, ms->p, NULL, NULL);

	if (rc != LDAP_SUCCESS)
		return ldap_fail(a, "modify", dn, rc);
	fprintf(a->out, "modified %s\n", dn);
	return 0;
}

/* RFC 4514 2.4: escapes an attribute value for use in a DN. */
static int
dn_value(const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; v[i] != '\0'; i++) {
		bool esc = strchr(",+\"\\<>;=", v[i]) != NULL ||
			   (i == 0 && (v[i] == '#' || v[i] == ' ')) ||
			   (v[i + 1] == '\0' && v[i] == ' ');
		if (o + 3 >= outlen)
			return -1;
		if (esc)
			out[o++] = '\\';
		out[o++] = v[i];
	}
	out[o] = '\0';
	return 0;
}

/* RFC 4515 3: escapes an assertion value for use in a filter. */
static int
filter_value(const char *v, char *out, size_t outlen)
{
	struct berval in = { strlen(v), (char *)v }, esc = { 0, NULL };

	if (ldap_bv2escaped_filter_value(&in, &esc) != 0 || esc.bv_val == NULL)
		return -1;
	int rc = util_strlcpy(out, esc.bv_val, outlen) < outlen ? 0 : -1;
	ldap_memfree(esc.bv_val);
	return rc;
}

/* The DN of the first entry below base matching filter: 1, 0 none, -1. */
static int
find_dn(struct dadm *a, const char *filter, char *dn, size_t dnlen)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL;
	int rc = ldap_search_ext_s(a->ld, a->cfg->base, LDAP_SCOPE_SUBTREE,
				   filter, attrs, 0, NULL, NULL, NULL, 2, &res);
	LDAPMessage *e;

	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		ldap_msgfree(res);
		return ldap_fail(a, "search", a->cfg->base, rc);
	}
	e = ldap_first_entry(a->ld, res);
	if (e != NULL) {
		char *d = ldap_get_dn(a->ld, e);
		util_strlcpy(dn, d ? d : "", dnlen);
		ldap_memfree(d);
	}
	ldap_msgfree(res);
	return e != NULL && dn[0] != '\0' ? 1 : 0;
}

/* The first value of attr on the entry dn, into out: 1, 0 none, -1. */
static int
get_value(struct dadm *a, const char *dn, const char *attr, char *out,
	  size_t outlen)
{
	char *attrs[] = { (char *)attr, NULL };
	LDAPMessage *res = NULL;
	int rc = ldap_search_ext_s(a->ld, dn, LDAP_SCOPE_BASE,
				   "(objectClass=*)", attrs, 0, NULL, NULL,
				   NULL, 1, &res);
	int found = 0;

	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return ldap_fail(a, "search", dn, rc);
	}
	LDAPMessage *e = ldap_first_entry(a->ld, res);
	struct berval **v = e ? ldap_get_values_len(a->ld, e, attr) : NULL;
	if (v != NULL && v[0] != NULL) {
		found = util_copy(out, outlen, v[0]->bv_val, v[0]->bv_len) == 0;
	}
	ldap_value_free_len(v);
	ldap_msgfree(res);
	return found;
}

int
dadm_open(struct dadm *a, const struct sync_cfg *cfg, const char *dn,
	  const char *pw, FILE *out)
{
	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	a->out = out;
	if (dn == NULL) {
		bool own = cfg->admin_dn[0] != '\0';
		dn = own ? cfg->admin_dn : cfg->bind_dn;
		pw = own ? cfg->admin_pw : cfg->bind_pw;
	}
	if (util_fmt(a->domain_base, sizeof(a->domain_base), "%s",
		     cfg->domain_base[0] ? cfg->domain_base : "") < 0 ||
	    util_fmt(a->org_base, sizeof(a->org_base), "%s",
		     cfg->org_base[0] ? cfg->org_base : cfg->base) < 0)
		return fail(a, "domain_base or org_base too long");
	if (a->domain_base[0] == '\0' &&
	    util_fmt(a->domain_base, sizeof(a->domain_base), "o=internet,%s",
		     cfg->base) < 0)
		return fail(a, "base too long");
	return lconn_open(cfg, dn, pw, &a->ld, a->err, sizeof(a->err));
}

void
dadm_close(struct dadm *a)
{
	if (a->ld != NULL)
		ldap_unbind_ext_s(a->ld, NULL, NULL);
	a->ld = NULL;
}

/* Creates domain_base when it is missing: its first RDN says how. */
static int
ensure_base(struct dadm *a, const char *dn)
{
	static const char *const kinds[][2] = {
		{ "o", "organization" }, { "ou", "organizationalUnit" },
		{ "dc", "domain" },
	};
	char attr[16], val[256];
	int rc = exists(a, dn);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	const char *eq = strchr(dn, '='), *comma = strchr(dn, ',');
	if (eq == NULL || (comma != NULL && comma < eq) ||
	    util_copy(attr, sizeof(attr), dn, (size_t)(eq - dn)) < 0 ||
	    util_copy(val, sizeof(val), eq + 1,
		      comma ? (size_t)(comma - eq - 1) : strlen(eq + 1)) < 0 ||
	    strchr(val, '\\') != NULL)
		return fail(a, "%s: cannot create it (simple o=, ou= or dc= "
			    "RDN expected)", dn);
	util_lower(attr, strlen(attr));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(kinds); i++) {
		if (strcmp(attr, kinds[i][0]) != 0)
			continue;
		struct mods ms = { .n = 0 };
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", kinds[i][1]);
		mods_add(&ms, LDAP_MOD_ADD, kinds[i][0], val);
		return add_entry(a, dn, &ms);
	}
	return fail(a, "%s: cannot create it (o=, ou= or dc= RDN expected)",
		    dn);
}

static int
ensure_ou(struct dadm *a, const char *parent, const char *ou)
{
	char dn[DN_MAX];
	struct mods ms = { .n = 0 };

	if (util_fmt(dn, sizeof(dn), "ou=%s,%s", ou, parent) < 0)
		return fail(a, "DN too long");
	int rc = exists(a, dn);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	mods_add(&ms, LDAP_MOD_ADD, "objectClass", "organizationalUnit");
	mods_add(&ms, LDAP_MOD_ADD, "ou", ou);
	return add_entry(a, dn, &ms);
}

/* The domain node o=NAME below org_base, with ou=people and ou=groups. */
static int
ensure_org(struct dadm *a, const char *name, const char *dn,
	   const struct dadm_domain_opts *o)
{
	struct mods ms = { .n = 0 };
	int rc = exists(a, dn);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", "organization");
		mods_add(&ms, LDAP_MOD_ADD, "objectClass",
			 "sunManagedOrganization");
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", "mailDomain");
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", "vdmailDomain");
		mods_add(&ms, LDAP_MOD_ADD, "o", name);
		mods_add(&ms, LDAP_MOD_ADD, "sunPreferredDomain", name);
		mods_add(&ms, LDAP_MOD_ADD, "associatedDomain", name);
		mods_add(&ms, LDAP_MOD_ADD, "inetDomainStatus", "active");
		if (o->postmaster != NULL)
			mods_add(&ms, LDAP_MOD_ADD, "vdmailDomainPostmaster",
				 o->postmaster);
		if (o->admin != NULL)
			mods_add(&ms, LDAP_MOD_ADD, "vdmailDomainAdmin",
				 o->admin);
		if (o->services != NULL)
			mods_add(&ms, LDAP_MOD_ADD,
				 "mailDomainAllowedServiceAccess", o->services);
		if (add_entry(a, dn, &ms) < 0)
			return -1;
	} else {
		fprintf(a->out, "exists   %s\n", dn);
	}
	if (ensure_ou(a, dn, "people") < 0 || ensure_ou(a, dn, "groups") < 0)
		return -1;
	return 0;
}

/*
 * One DC-tree component. The last one (the whole name) is an inetDomain
 * index node: vdsync takes the domain from the node its inetDomainBaseDN
 * names (Sun's Schema 2 compatibility layout).
 */
static int
ensure_dc(struct dadm *a, const char *dn, const char *label, bool last,
	  const char *name, const char *org)
{
	struct mods ms = { .n = 0 };
	char cls[64];
	int rc = exists(a, dn);

	if (rc < 0)
		return -1;
	if (rc == 1) {
		/* A component made for a subdomain earlier: make it the index. */
		if (last && get_value(a, dn, "inetDomainBaseDN", cls,
				      sizeof(cls)) == 0) {
			mods_add(&ms, LDAP_MOD_ADD, "objectClass", "inetDomain");
			mods_add(&ms, LDAP_MOD_ADD, "objectClass",
				 "domainRelatedObject");
			mods_add(&ms, LDAP_MOD_ADD, "associatedDomain", name);
			mods_add(&ms, LDAP_MOD_ADD, "inetDomainBaseDN", org);
			return modify_entry(a, dn, &ms);
		}
		fprintf(a->out, "exists   %s\n", dn);
		return 0;
	}
	mods_add(&ms, LDAP_MOD_ADD, "objectClass", "domain");
	mods_add(&ms, LDAP_MOD_ADD, "dc", label);
	if (last) {
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", "inetDomain");
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", "domainRelatedObject");
		mods_add(&ms, LDAP_MOD_ADD, "associatedDomain", name);
		mods_add(&ms, LDAP_MOD_ADD, "inetDomainBaseDN", org);
	}
	return add_entry(a, dn, &ms);
}

static int
check_domain(struct dadm *a, const char *in, char *name, size_t namelen)
{
	if (util_strlcpy(name, in, namelen) >= namelen)
		return fail(a, "%s: name too long", in);
	util_lower(name, strlen(name));
	if (!tbl_rec_is_domain(name, strlen(name)) || strchr(name, '.') == NULL)
		return fail(a, "%s: not a domain name", in);
	return 0;
}

int
dadm_domain_add(struct dadm *a, const char *in,
		const struct dadm_domain_opts *o)
{
	char name[TBL_DOMAIN_MAX], org[DN_MAX], esc[TBL_DOMAIN_MAX * 2];
	char dn[DN_MAX];
	size_t len;

	if (check_domain(a, in, name, sizeof(name)) < 0)
		return -1;
	if (dn_value(name, esc, sizeof(esc)) < 0 ||
	    util_fmt(org, sizeof(org), "o=%s,%s", esc, a->org_base) < 0)
		return fail(a, "%s: DN too long", name);
	if (ensure_base(a, a->domain_base) < 0 ||
	    ensure_org(a, name, org, o) < 0)
		return -1;
	/* Fig. 6 step 604: dc=com, then dc=abc,dc=com, ... each if missing. */
	len = strlen(name);
	util_strlcpy(dn, a->domain_base, sizeof(dn));
	for (size_t end = len; end > 0;) {
		size_t start = end;
		while (start > 0 && name[start - 1] != '.')
			start--;
		char label[64], next[DN_MAX];
		if (util_copy(label, sizeof(label), name + start, end - start) < 0 ||
		    util_fmt(next, sizeof(next), "dc=%s,%s", label, dn) < 0)
			return fail(a, "%s: DN too long", name);
		util_strlcpy(dn, next, sizeof(dn));
		if (ensure_dc(a, dn, label, start == 0, name, org) < 0)
			return -1;
		end = start ? start - 1 : 0;
	}
	return 0;
}

/* The domain's node: its Schema 2 node, else its DC-tree node. */
static int
find_domain(struct dadm *a, const char *in, char *dn, size_t dnlen)
{
	char name[TBL_DOMAIN_MAX], f[TBL_DOMAIN_MAX * 3], filter[1024];
	int rc;

	if (check_domain(a, in, name, sizeof(name)) < 0 ||
	    filter_value(name, f, sizeof(f)) < 0)
		return -1;
	util_fmt(filter, sizeof(filter), "(&(objectClass=sunManagedOrganization)"
		 "(|(sunPreferredDomain=%s)(associatedDomain=%s)))", f, f);
	if ((rc = find_dn(a, filter, dn, dnlen)) != 0)
		return rc;
	util_fmt(filter, sizeof(filter), "(&(objectClass=inetDomain)"
		 "(associatedDomain=%s))", f);
	if ((rc = find_dn(a, filter, dn, dnlen)) != 0)
		return rc;
	return fail(a, "%s: no such domain in the directory", name);
}

int
dadm_domain_status(struct dadm *a, const char *name, const char *status)
{
	char dn[DN_MAX];
	struct mods ms = { .n = 0 };

	if (find_domain(a, name, dn, sizeof(dn)) <= 0)
		return -1;
	mods_add(&ms, LDAP_MOD_REPLACE, "inetDomainStatus", status);
	return modify_entry(a, dn, &ms);
}

/* yescrypt, libxcrypt's preferred method, as {CRYPT} (RFC 2307 style). */
static int
hash_password(struct dadm *a, const char *pw, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	memset(&cd, 0, sizeof(cd));
	if (pw[0] == '\0')
		return fail(a, "empty password");
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL ||
	    crypt_rn(pw, salt, &cd, sizeof(cd)) == NULL || cd.output[0] == '*')
		return fail(a, "cannot hash the password");
	if (util_fmt(out, outlen, "{CRYPT}%s", cd.output) < 0)
		return fail(a, "hash too long");
	return 0;
}

static int
split_address(struct dadm *a, const char *addr, char *local, size_t llen,
	      char *domain, size_t dlen)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL || at == addr ||
	    util_copy(local, llen, addr, (size_t)(at - addr)) < 0 ||
	    util_strlcpy(domain, at + 1, dlen) >= dlen)
		return fail(a, "%s: not an address", addr);
	util_lower(local, strlen(local));
	for (const char *p = local; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      strchr(".-_+", *p)))
			return fail(a, "%s: local part: letters, digits and "
				    ".-_+ only", addr);
	return 0;
}

/* The entry whose mail is addr: 1 with its DN, 0 none, -1 error. */
static int
find_user(struct dadm *a, const char *addr, char *dn, size_t dnlen)
{
	char f[TBL_ADDR_MAX * 3], filter[1100];

	if (filter_value(addr, f, sizeof(f)) < 0)
		return fail(a, "%s: address too long", addr);
	util_fmt(filter, sizeof(filter), "(mail=%s)", f);
	return find_dn(a, filter, dn, dnlen);
}

int
dadm_user_add(struct dadm *a, const char *addr, const char *password)
{
	char local[TBL_LOCAL_MAX + 1], domain[TBL_DOMAIN_MAX], mail[TBL_ADDR_MAX];
	char node[DN_MAX], base[DN_MAX], dn[DN_MAX], esc[TBL_LOCAL_MAX * 2 + 1];
	char hash[CRYPT_OUTPUT_SIZE + 8], people[DN_MAX];
	struct mods ms = { .n = 0 };
	int rc;

	if (split_address(a, addr, local, sizeof(local), domain,
			  sizeof(domain)) < 0 ||
	    find_domain(a, domain, node, sizeof(node)) <= 0)
		return -1;
	util_lower(domain, strlen(domain));
	util_fmt(mail, sizeof(mail), "%s@%s", local, domain);
	if ((rc = find_user(a, mail, dn, sizeof(dn))) != 0) {
		if (rc > 0)
			fprintf(a->out, "exists   %s\n", dn);
		return rc < 0 ? -1 : 0;
	}
	if ((rc = get_value(a, node, "inetDomainBaseDN", base,
			    sizeof(base))) < 0)
		return -1;
	if (rc == 0)
		util_strlcpy(base, node, sizeof(base));
	if (hash_password(a, password, hash, sizeof(hash)) < 0 ||
	    ensure_ou(a, base, "people") < 0)
		return -1;
	if (dn_value(local, esc, sizeof(esc)) < 0 ||
	    util_fmt(people, sizeof(people), "ou=people,%s", base) < 0 ||
	    util_fmt(dn, sizeof(dn), "uid=%s,%s", esc, people) < 0)
		return fail(a, "%s: DN too long", addr);
	static const char *const classes[] = {
		"inetOrgPerson", "inetUser", "inetMailUser",
		"inetLocalMailRecipient",
	};
	for (size_t i = 0; i < UTIL_ARRAY_LEN(classes); i++)
		mods_add(&ms, LDAP_MOD_ADD, "objectClass", classes[i]);
	mods_add(&ms, LDAP_MOD_ADD, "uid", local);
	mods_add(&ms, LDAP_MOD_ADD, "cn", local);
	mods_add(&ms, LDAP_MOD_ADD, "sn", local);
	mods_add(&ms, LDAP_MOD_ADD, "mail", mail);
	mods_add(&ms, LDAP_MOD_ADD, "inetUserStatus", "active");
	mods_add(&ms, LDAP_MOD_ADD, "userPassword", hash);
	rc = add_entry(a, dn, &ms);
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

static int
modify_user(struct dadm *a, const char *addr, const char *attr,
	    const char *val)
{
	char dn[DN_MAX], mail[TBL_ADDR_MAX];
	struct mods ms = { .n = 0 };
	int rc;

	util_strlcpy(mail, addr, sizeof(mail));
	util_lower(mail, strlen(mail));
	if ((rc = find_user(a, mail, dn, sizeof(dn))) <= 0)
		return rc < 0 ? -1 : fail(a, "%s: no such user", mail);
	mods_add(&ms, LDAP_MOD_REPLACE, attr, val);
	return modify_entry(a, dn, &ms);
}

int
dadm_user_passwd(struct dadm *a, const char *addr, const char *password)
{
	char hash[CRYPT_OUTPUT_SIZE + 8];

	if (hash_password(a, password, hash, sizeof(hash)) < 0)
		return -1;
	int rc = modify_user(a, addr, "userPassword", hash);
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

int
dadm_user_status(struct dadm *a, const char *addr, const char *status)
{
	return modify_user(a, addr, "inetUserStatus", status);
}
