#include "tools/dir_sync.h"

#include <errno.h>
#include <ldap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "tools/dir_cache.h"
#include "tools/dir_map.h"
#include "tools/ldap_conn.h"
#include "tools/sync_write.h"

struct dsync {
	const struct sync_cfg *cfg;
	struct dcache cache;
	char cache_path[SYNC_CFG_STR + 16];
	LDAP *ld;
	LDAP *ld_search;    /* second connection for memberURL searches */
	bool force;
	bool no_cookie;     /* this refresh started from nothing */
	bool saw_present;   /* the server used the present phase */
	bool refreshed;     /* the refresh phase is over */
	unsigned changes;   /* applied since the tables were last written */
	bool unsaved;       /* tables newer than the saved cache (follow) */
	double saved_at;    /* when the cache was last saved */
	int error;          /* out of memory in a callback */
};

/* SIGTERM/SIGINT in follow mode: finish the current step and exit. */
static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Binds as the sync account; the reason is logged. 0 or -1. */
static int
open_conn(const struct sync_cfg *c, LDAP **ld_r)
{
	char err[1200];

	if (lconn_open(c, c->bind_dn, c->bind_pw, ld_r, err, sizeof(err)) < 0) {
		log_warnx("vdsync: %s", err);
		return -1;
	}
	return 0;
}

static void
disconnect_ldap(struct dsync *s)
{
	if (s->ld != NULL)
		ldap_unbind_ext_s(s->ld, NULL, NULL);
	if (s->ld_search != NULL)
		ldap_unbind_ext_s(s->ld_search, NULL, NULL);
	s->ld = s->ld_search = NULL;
}

/* An LDAP entry into a cache entry (NULL when out of memory). */
static struct dent *
entry_from_ldap(LDAP *ld, LDAPMessage *msg, const char *uuid)
{
	char *dn = ldap_get_dn(ld, msg), *name;
	BerElement *ber = NULL;
	struct dent *e = dn ? dent_new(uuid, dn) : NULL;

	ldap_memfree(dn);
	if (e == NULL)
		return NULL;
	for (name = ldap_first_attribute(ld, msg, &ber); name != NULL;
	     name = ldap_next_attribute(ld, msg, ber)) {
		struct berval **v = ldap_get_values_len(ld, msg, name);
		for (int i = 0; v != NULL && v[i] != NULL; i++)
			if (dent_add(e, name, v[i]->bv_val, v[i]->bv_len) < 0) {
				char esc[256];
				util_log_escape(esc, sizeof(esc), e->dn,
						strlen(e->dn));
				log_warnx("vdsync: entry dn=\"%s\": attribute "
					  "%.64s: value too long, left out",
					  esc, name);
			}
		ldap_value_free_len(v);
		ldap_memfree(name);
	}
	ber_free(ber, 0);
	return e;
}

static void
remove_entry(struct dsync *s, const char *uuid)
{
	struct dent *e = dcache_take(&s->cache, uuid);

	if (e == NULL)
		return;
	dmap_forget(&s->cache, e);
	dent_free(e);
	s->changes++;
}

static int
on_entry(ldap_sync_t *ls, LDAPMessage *msg, struct berval *uuid,
	 ldap_sync_refresh_t phase)
{
	struct dsync *s = ls->ls_private;
	char id[DENT_UUID_LEN + 1];
	struct dent *e;

	if (uuid == NULL || uuid->bv_len != 16)
		return LDAP_SUCCESS; /* not an entry we can key */
	dent_uuid_text((const unsigned char *)uuid->bv_val, 16, id);
	switch (phase) {
	case LDAP_SYNC_CAPI_ADD:
	case LDAP_SYNC_CAPI_MODIFY:
		if ((e = entry_from_ldap(ls->ls_ld, msg, id)) == NULL) {
			s->error = 1;
			return LDAP_NO_MEMORY;
		}
		e->present = e->changed = true;
		dcache_put(&s->cache, e);
		s->changes++;
		break;
	case LDAP_SYNC_CAPI_PRESENT:
		s->saw_present = true;
		if ((e = dcache_get(&s->cache, id)) != NULL)
			e->present = true;
		break;
	case LDAP_SYNC_CAPI_DELETE:
		remove_entry(s, id);
		break;
	default:
		break;
	}
	return LDAP_SUCCESS;
}

static int
drop_absent(void *arg, struct dent *e)
{
	struct dsync *s = arg;

	if (!e->present)
		remove_entry(s, e->uuid);
	else
		e->present = false;
	return 0;
}

static int
clear_present(void *arg, struct dent *e)
{
	(void)arg;
	e->present = false;
	return 0;
}

/* The end of a refresh: entries the present phase did not name are gone. */
static void
refresh_done(struct dsync *s, bool present_phase)
{
	if (present_phase || s->no_cookie)
		dcache_each(&s->cache, drop_absent, s);
	else
		dcache_each(&s->cache, clear_present, NULL);
	s->refreshed = true;
}

static int
on_intermediate(ldap_sync_t *ls, LDAPMessage *msg, BerVarray uuids,
		ldap_sync_refresh_t phase)
{
	struct dsync *s = ls->ls_private;
	char id[DENT_UUID_LEN + 1];
	struct dent *e;

	(void)msg;
	switch (phase) {
	case LDAP_SYNC_CAPI_PRESENTS:
		s->saw_present = true;
		break;
	case LDAP_SYNC_CAPI_PRESENTS_IDSET:
	case LDAP_SYNC_CAPI_DELETES_IDSET:
		for (int i = 0; uuids != NULL && uuids[i].bv_val != NULL; i++) {
			if (uuids[i].bv_len != 16)
				continue;
			dent_uuid_text((const unsigned char *)uuids[i].bv_val,
				       16, id);
			if (phase == LDAP_SYNC_CAPI_DELETES_IDSET)
				remove_entry(s, id);
			else if ((e = dcache_get(&s->cache, id)) != NULL)
				e->present = true;
		}
		if (phase == LDAP_SYNC_CAPI_PRESENTS_IDSET)
			s->saw_present = true;
		break;
	case LDAP_SYNC_CAPI_DONE:
		refresh_done(s, s->saw_present);
		break;
	default:
		break;
	}
	return LDAP_SUCCESS;
}

static int
on_result(ldap_sync_t *ls, LDAPMessage *msg, int refresh_deletes)
{
	struct dsync *s = ls->ls_private;

	(void)msg;
	if (!s->refreshed)
		refresh_done(s, !refresh_deletes && s->saw_present);
	return LDAP_SUCCESS;
}

/* memberURL and URL broadcasters: a search for the entries' mail. */
static int
expand_url(void *arg, const char *url, dmap_add_fn *add, void *arg2)
{
	struct dsync *s = arg;
	LDAPURLDesc *lud = NULL;
	LDAPMessage *res = NULL;
	char *attrs[] = { "mail", NULL };
	struct timeval tv = { (time_t)s->cfg->timeout, 0 };
	int rc;

	/* The sync search may be persisting on s->ld: search on another. */
	if (s->ld_search == NULL && open_conn(s->cfg, &s->ld_search) < 0)
		return -1;
	if (ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS)
		return -1;
	rc = ldap_search_ext_s(s->ld_search, lud->lud_dn ? lud->lud_dn : "",
			       lud->lud_scope < 0 ? LDAP_SCOPE_SUBTREE
						  : lud->lud_scope,
			       lud->lud_filter, attrs, 0, NULL, NULL, &tv,
			       100000, &res);
	ldap_free_urldesc(lud);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		ldap_msgfree(res);
		/* A lost connection is opened again at the next expansion. */
		ldap_unbind_ext_s(s->ld_search, NULL, NULL);
		s->ld_search = NULL;
		return -1;
	}
	for (LDAPMessage *m = ldap_first_entry(s->ld_search, res); m != NULL;
	     m = ldap_next_entry(s->ld_search, m)) {
		struct berval **v = ldap_get_values_len(s->ld_search, m, "mail");
		if (v != NULL && v[0] != NULL && v[0]->bv_len < TBL_ADDR_MAX) {
			char mail[TBL_ADDR_MAX];
			util_copy(mail, sizeof(mail), v[0]->bv_val,
				  v[0]->bv_len);
			add(arg2, mail);
		}
		ldap_value_free_len(v);
	}
	ldap_msgfree(res);
	return 0;
}

/*
 * Follow saves the cache at most this often: it is rewritten whole, and a
 * change must not wait for the last one's save. A crash in between only
 * repeats changes from the older cookie.
 */
#define DSYNC_SAVE_INTERVAL 10.0

static int
save_cache(struct dsync *s)
{
	char err[512];

	if (dcache_save(&s->cache, s->cache_path, err, sizeof(err)) < 0) {
		log_warnx("vdsync: %s", err);
		return 3;
	}
	s->unsaved = false;
	s->saved_at = now_s();
	return 0;
}

/* Regenerates what changed and puts it in service; then saves the cache
 * (when save, or when follow has not saved for DSYNC_SAVE_INTERVAL). */
static int
publish(struct dsync *s, bool all, bool save)
{
	struct dmap_stats st;
	unsigned written;
	double t0 = now_s();
	int rc;

	if (dmap_update(&s->cache, all, expand_url, s, &st) < 0) {
		log_warnx("vdsync: out of memory while mapping entries");
		return 3;
	}
	rc = sync_write_tables(&s->cache, s->cfg, s->force, &written);
	if (rc != 0)
		return rc < 0 ? 3 : 1;
	double done = now_s() - t0;
	s->unsaved = true;
	if ((save || now_s() - s->saved_at >= DSYNC_SAVE_INTERVAL) &&
	    (rc = save_cache(s)) != 0)
		return rc;
	log_info("vdsync: %zu entries, %u domains regenerated (%u domains, "
		 "%u users, %u lists), %u skipped, %u tables replaced in "
		 "%.3f s", s->cache.nent, st.regenerated, st.domains, st.users,
		 st.lists, st.skipped, written, done);
	s->changes = 0;
	return 0;
}

static void
sync_setup(struct dsync *s, ldap_sync_t *ls)
{
	/* User attributes only: the UUID comes with the sync state control,
	 * and operational attributes would double the cache for nothing. */
	static char *attrs[] = { "*", NULL };

	ldap_sync_initialize(ls);
	ls->ls_base = (char *)s->cfg->base;
	ls->ls_scope = LDAP_SCOPE_SUBTREE;
	ls->ls_filter = (char *)s->cfg->filter;
	ls->ls_attrs = attrs;
	ls->ls_timelimit = 0;
	ls->ls_sizelimit = 0;
	ls->ls_timeout = 0;
	ls->ls_search_entry = on_entry;
	ls->ls_intermediate = on_intermediate;
	ls->ls_search_result = on_result;
	ls->ls_private = s;
	ls->ls_ld = s->ld;
	if (s->cache.cookie[0] != '\0') {
		ber_str2bv(s->cache.cookie, 0, 1, &ls->ls_cookie);
	}
	s->no_cookie = s->cache.cookie[0] == '\0';
	s->saw_present = false;
	s->refreshed = false;
}

/* ldap_sync_destroy frees base, filter and attrs and unbinds ls_ld: all
 * of them are ours, released by us. */
static void
sync_teardown(ldap_sync_t *ls)
{
	ls->ls_ld = NULL;
	ls->ls_base = NULL;
	ls->ls_filter = NULL;
	ls->ls_attrs = NULL;
	ldap_sync_destroy(ls, 0);
}

static void
keep_cookie(struct dsync *s, ldap_sync_t *ls)
{
	if (ls->ls_cookie.bv_val != NULL &&
	    ls->ls_cookie.bv_len < sizeof(s->cache.cookie))
		util_copy(s->cache.cookie, sizeof(s->cache.cookie),
			  ls->ls_cookie.bv_val, ls->ls_cookie.bv_len);
}

/* Unmarks every entry: a refresh from nothing must name each again. */
static void
restart_from_nothing(struct dsync *s)
{
	s->cache.cookie[0] = '\0';
	dcache_each(&s->cache, clear_present, NULL);
}

/* One refresh (the whole of refreshOnly, the first phase of persist). */
static int
refresh(struct dsync *s, ldap_sync_t *ls, int mode)
{
	int rc;

	for (int tries = 0; tries < 2; tries++) {
		sync_setup(s, ls);
		rc = ldap_sync_init(ls, mode);
		if (rc == LDAP_SUCCESS || (mode ==
		    LDAP_SYNC_REFRESH_AND_PERSIST && s->refreshed &&
		    rc != LDAP_SYNC_REFRESH_REQUIRED))
			break;
		if (rc != LDAP_SYNC_REFRESH_REQUIRED || s->no_cookie) {
			log_warnx("vdsync: sync search on %s: %s",
				  s->cfg->base, ldap_err2string(rc));
			return -1;
		}
		log_warnx("vdsync: the server refused the stored cookie "
			  "(e-syncRefreshRequired): full refresh");
		sync_teardown(ls);
		restart_from_nothing(s);
	}
	if (s->error)
		return -1;
	if (!s->refreshed)
		refresh_done(s, s->saw_present);
	keep_cookie(s, ls);
	return rc == LDAP_SUCCESS ? 0 : -1;
}

static int
open_state(struct dsync *s)
{
	if (mkdir(s->cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		log_warn("vdsync: %s", s->cfg->state_dir);
		return -1;
	}
	if (util_fmt(s->cache_path, sizeof(s->cache_path), "%s/cache",
		     s->cfg->state_dir) < 0)
		return -1;
	return dcache_init(&s->cache);
}

static int
run_once(struct dsync *s, enum dsync_mode mode)
{
	ldap_sync_t ls;
	char err[512];
	int rc;

	if (mode == DSYNC_INCREMENTAL &&
	    (rc = dcache_load(&s->cache, s->cache_path, err, sizeof(err))) <= 0) {
		if (rc < 0)
			log_warnx("vdsync: %s: full refresh", err);
		else
			log_info("vdsync: no directory cache yet: full refresh");
		mode = DSYNC_FULL;
	}
	if (mode == DSYNC_FULL)
		dcache_clear(&s->cache);
	if (open_conn(s->cfg, &s->ld) < 0)
		return 3;
	rc = refresh(s, &ls, LDAP_SYNC_REFRESH_ONLY);
	if (rc < 0) {
		sync_teardown(&ls);
		disconnect_ldap(s);
		return 3;
	}
	rc = publish(s, mode == DSYNC_FULL, true);
	sync_teardown(&ls);
	disconnect_ldap(s);
	return rc;
}

/* Waits up to secs for the LDAP socket; 1 readable, 0 timeout, -1 gone. */
static int
wait_ldap(struct dsync *s, double secs)
{
	int fd = -1;
	struct pollfd p;

	if (ldap_get_option(s->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS ||
	    fd < 0)
		return -1;
	p.fd = fd;
	p.events = POLLIN;
	int rc = poll(&p, 1, (int)(secs * 1000));
	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	return rc > 0 ? 1 : 0;
}

/* The persist phase: returns when the connection is lost or on stop. */
static void
persist(struct dsync *s, ldap_sync_t *ls)
{
	double first_change = 0;

	while (!stop_requested) {
		double wait = s->changes ? s->cfg->follow_delay : 0.1;
		int rc = wait_ldap(s, wait);
		if (rc < 0)
			break;
		/* Always poll: libldap may hold messages it already read. */
		unsigned before = s->changes;
		if (ldap_sync_poll(ls) != LDAP_SUCCESS || s->error)
			break;
		if (before == 0 && s->changes > 0)
			first_change = now_s();
		keep_cookie(s, ls);
		/* Changes come in bursts: publish once they pause briefly. */
		if (s->changes > 0 && (rc == 0 || now_s() - first_change >=
						      s->cfg->follow_delay))
			publish(s, false, false);
		else if (s->changes == 0 && s->unsaved &&
			 now_s() - s->saved_at >= DSYNC_SAVE_INTERVAL)
			save_cache(s);
	}
	keep_cookie(s, ls);
	if (s->changes > 0)
		publish(s, false, true);
	else if (s->unsaved)
		save_cache(s);
}

static int
run_follow(struct dsync *s)
{
	double backoff = 1;
	char err[512];

	if (dcache_load(&s->cache, s->cache_path, err, sizeof(err)) < 0)
		log_warnx("vdsync: %s: full refresh", err);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGPIPE, SIG_IGN);
	while (!stop_requested) {
		ldap_sync_t ls;
		if (open_conn(s->cfg, &s->ld) == 0) {
			bool fresh = s->cache.cookie[0] == '\0';
			if (refresh(s, &ls, LDAP_SYNC_REFRESH_AND_PERSIST) == 0) {
				backoff = 1;
				log_info("vdsync: following %s at %s",
					 s->cfg->base, s->cfg->uri);
				publish(s, fresh, true);
				persist(s, &ls);
			}
			sync_teardown(&ls);
			disconnect_ldap(s);
		}
		if (stop_requested)
			break;
		log_warnx("vdsync: lost %s; the tables in service stay; "
			  "retrying in %.0f s", s->cfg->uri, backoff);
		for (double t = 0; t < backoff && !stop_requested; t += 0.1)
			usleep(100000);
		backoff = backoff * 2 > s->cfg->backoff_max ? s->cfg->backoff_max
							    : backoff * 2;
	}
	log_info("vdsync: stopped");
	return 0;
}

int
dsync_run(const struct sync_cfg *cfg, enum dsync_mode mode, bool force)
{
	struct dsync s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.force = force;
	if (open_state(&s) < 0)
		return 3;
	rc = mode == DSYNC_FOLLOW ? run_follow(&s) : run_once(&s, mode);
	dcache_fini(&s.cache);
	return rc;
}
