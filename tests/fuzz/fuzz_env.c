/*
 * libFuzzer target: the envelope of a queue file, read back from disk
 * (hostile: a crash, a torn write, an edit). The input is the file.
 * Checked:
 *  - every result frees what it took (LeakSanitizer), a refusal says why;
 *  - an accepted envelope (1) has every field NUL-terminated inside its
 *    buffer, kinds among L X H A P M F, mark_off at the R/D/W byte of its
 *    line and kind_off at the kind byte, text_off <= len right after
 *    the ^A^A line;
 *  - a torn file is never accepted nor refused: any cut before text_off
 *    reads 0 ("continues"), the cut at text_off reads the same envelope;
 *  - spool_env_format of the parsed envelope fails only when a field
 *    holds a byte it cannot carry, and otherwise (Z filled in with
 *    spool_env_set_size) parses back to the same envelope: fields,
 *    recipients, kinds, values, errorsto, done flags (W is written R).
 * It found two bugs, both fixed: "\t\tE" right after a recipient's
 * address (no kind: a negative length copied) and T above INT64_MAX (a
 * negative arrival that did not round-trip).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "spool/spool_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

static bool
clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* The envelope as accepted: well-formed in itself and against data. */
static void
check_env(const struct spool_env *e, const char *data, size_t len)
{
	if (!TERMINATED(e->qid) || !TERMINATED(e->client) ||
	    !TERMINATED(e->helo) || !TERMINATED(e->proto) ||
	    !TERMINATED(e->sender))
		abort();
	if (e->body != SPOOL_BODY_7BIT && e->body != SPOOL_BODY_8BITMIME)
		abort();
	if (e->text_off < 3 || e->text_off > len ||
	    memcmp(data + e->text_off - 3, "\001\001\n", 3) != 0 ||
	    (e->text_off > 3 && data[e->text_off - 4] != '\n'))
		abort();
	if (e->nrcpt > 0 && e->rcpt == NULL)
		abort();
	for (unsigned i = 0; i < e->nrcpt; i++) {
		const struct spool_rcpt *r = &e->rcpt[i];
		if (!TERMINATED(r->addr) || !TERMINATED(r->mailbox) ||
		    !TERMINATED(r->errorsto))
			abort();
		if (r->kind == 0 || strchr("LXHAPMF", r->kind) == NULL)
			abort();
		if (r->remote != (r->kind == 'X') ||
		    (r->kind == 'X' && r->mailbox[0] != '\0'))
			abort();
		/* Inside the envelope lines, the mark at a line start. */
		if (r->mark_off >= e->text_off || r->kind_off >= e->text_off ||
		    r->kind_off <= r->mark_off)
			abort();
		if (r->mark_off > 0 && data[r->mark_off - 1] != '\n')
			abort();
		char m = data[r->mark_off];
		if (m != 'R' && m != 'D' && m != 'W')
			abort();
		if (r->done != (m == 'D') || r->warned != (m == 'W'))
			abort();
		if (data[r->kind_off] != r->kind ||
		    data[r->kind_off - 1] != '\t' ||
		    memchr(data + r->mark_off, '\t',
			   r->kind_off - 1 - r->mark_off) != NULL ||
		    memchr(data + r->mark_off, '\n',
			   r->kind_off - r->mark_off) != NULL)
			abort();
		if (r->errorsto[0] != '\0' && strchr(r->errorsto, '@') == NULL)
			abort();
	}
}

static bool
env_clean(const struct spool_env *e)
{
	if (!clean(e->qid) || !clean(e->client) || !clean(e->helo) ||
	    !clean(e->proto) || !clean(e->sender))
		return false;
	for (unsigned i = 0; i < e->nrcpt; i++)
		if (!clean(e->rcpt[i].addr) || !clean(e->rcpt[i].mailbox) ||
		    !clean(e->rcpt[i].errorsto))
			return false;
	return true;
}

/* a and b the same envelope; reformatted: b from a's formatting, where
 * W is written R. */
static void
same_env(const struct spool_env *a, const struct spool_env *b,
	 bool reformatted)
{
	if (strcmp(a->qid, b->qid) != 0 || a->arrival != b->arrival ||
	    strcmp(a->client, b->client) != 0 ||
	    strcmp(a->helo, b->helo) != 0 ||
	    strcmp(a->proto, b->proto) != 0 || a->body != b->body ||
	    strcmp(a->sender, b->sender) != 0 || a->nrcpt != b->nrcpt ||
	    a->size != b->size || a->crc != b->crc)
		abort();
	for (unsigned i = 0; i < a->nrcpt; i++) {
		const struct spool_rcpt *x = &a->rcpt[i], *y = &b->rcpt[i];
		if (strcmp(x->addr, y->addr) != 0 ||
		    strcmp(x->mailbox, y->mailbox) != 0 ||
		    spool_rcpt_kind(x) != spool_rcpt_kind(y) ||
		    x->remote != y->remote ||
		    strcmp(x->errorsto, y->errorsto) != 0 ||
		    x->done != y->done ||
		    y->warned != (reformatted ? false : x->warned))
			abort();
		if (!reformatted && (x->mark_off != y->mark_off ||
				     x->kind_off != y->kind_off))
			abort();
	}
}

/* A parse that fails must say why and leave nothing behind. */
static void
check_refusal(int rc, const struct spool_env *e, const char *err)
{
	if (e->rcpt != NULL || e->nrcpt != 0)
		abort();
	if (rc < 0 && err[0] == '\0')
		abort();
}

static void
roundtrip(const struct spool_env *e)
{
	struct buf b;
	size_t zoff = 0;
	char err[128] = "";
	struct spool_env e2;
	int rc;

	buf_init(&b, SPOOL_ENV_MAX);
	rc = spool_env_format(&b, e, &zoff);
	if (rc < 0) {
		if (env_clean(e))
			abort(); /* refused what it can carry */
		buf_free(&b);
		return;
	}
	if (!env_clean(e))
		abort(); /* wrote a control or TAB of a field */
	if (zoff == 0 || zoff + SPOOL_TRAILER_LEN + 4 != buf_len(&b) ||
	    buf_data(&b)[zoff - 1] != 'Z' ||
	    memcmp(buf_data(&b) + zoff, "00000000000000000000 00000000",
		   SPOOL_TRAILER_LEN) != 0)
		abort();
	spool_env_set_size(buf_data(&b) + zoff, e->size, e->crc);
	rc = spool_env_parse(buf_data(&b), buf_len(&b), &e2, err, sizeof(err));
	if (rc != 1) {
		fprintf(stderr, "reformatted envelope: rc %d (%s)\n%.*s\n", rc,
			err, (int)buf_len(&b), buf_data(&b));
		abort();
	}
	check_env(&e2, buf_data(&b), buf_len(&b));
	if (e2.text_off != buf_len(&b))
		abort();
	same_env(e, &e2, true);
	spool_env_free(&e2);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char err[128] = "";
	struct spool_env e, e2;
	int rc;

	rc = spool_env_parse(in, size, &e, err, sizeof(err));
	if (rc != 1) {
		if (rc != 0 && rc != -1)
			abort();
		check_refusal(rc, &e, err);
		return 0;
	}
	check_env(&e, in, size);

	/* The same bytes cut at text_off: the same envelope. */
	rc = spool_env_parse(in, e.text_off, &e2, err, sizeof(err));
	if (rc != 1 || e2.text_off != e.text_off)
		abort();
	same_env(&e, &e2, false);
	spool_env_free(&e2);
	/* Torn before its end (two cuts: the last byte, one from the
	 * input): it continues, it is neither accepted nor malformed. */
	size_t cuts[2] = { e.text_off - 1,
			   (e.text_off - 1) * data[size - 1] / 255 };
	for (int k = 0; k < 2; k++) {
		err[0] = '\0';
		rc = spool_env_parse(in, cuts[k], &e2, err, sizeof(err));
		if (rc != 0)
			abort();
		check_refusal(rc, &e2, err);
	}
	roundtrip(&e);
	spool_env_free(&e);
	return 0;
}
