/*
 * dns_update, dns_wire and dns_tsig: names, the packet encoder and
 * decoder, key parsing and the TSIG round trip, without a network. The
 * unit binary is linked from the daemon's sources only, so the three
 * modules are compiled into this file (their static helpers are tested
 * too); tools/dns_wire.c, tools/dns_tsig.c and tools/dns_update.c must
 * therefore not also be added to the unit link.
 */
#include <stdlib.h>

#include "tools/dns_wire.c"
#include "tools/dns_tsig.c"
#include "tools/dns_update.c"

#include "tests/unit/t.h"

static int
norm(const char *in, char *out)
{
	char err[200];

	return dns_wire_name_norm(in, out, 256, "name", err, sizeof(err));
}

T_TEST(dns_update_names_checked_and_lowered)
{
	char out[256], big[300];

	T_EQ_INT(norm("Mail.Example.COM.", out), 0);
	T_EQ_STR(out, "mail.example.com");
	T_EQ_INT(norm("_dmarc.a-b.example", out), 0);
	T_EQ_INT(norm("", out), -1);
	T_EQ_INT(norm(".", out), -1);
	T_EQ_INT(norm("a..b", out), -1);
	T_EQ_INT(norm("-a.b", out), -1);
	T_EQ_INT(norm("a-.b", out), -1);
	T_EQ_INT(norm("a b.c", out), -1);
	T_EQ_INT(norm("a\\.b", out), -1);
	memset(big, 'a', 64);
	big[64] = '\0';
	T_EQ_INT(norm(big, out), -1); /* a 64-octet label */
	big[63] = '\0';
	T_EQ_INT(norm(big, out), 0);
	for (int i = 0; i < 254; i++)
		big[i] = i % 2 ? '.' : 'a';
	big[253] = '\0';
	T_EQ_INT(norm(big, out), 0); /* 253 characters */
	big[253] = 'a';
	big[254] = '\0';
	T_EQ_INT(norm(big, out), -1);
	T_ASSERT(dns_wire_name_within("a.b.example", "example"));
	T_ASSERT(dns_wire_name_within("example", "example"));
	T_ASSERT(!dns_wire_name_within("badexample", "example"));
	T_ASSERT(!dns_wire_name_within("example", "a.example"));
}

T_TEST(dns_update_update_message_layout)
{
	static const unsigned char want[] = {
		0x12, 0x34, 0x28, 0x00, 0, 1, 0, 0, 0, 1, 0, 0,
		2, 'e', 'x', 0, 0, 6, 0, 1,
		1, 'a', 2, 'e', 'x', 0, 0, 15, 0, 1, 0, 0, 0x0e, 0x10,
		0, 8, 0, 10, 1, 'm', 2, 'e', 'x', 0,
	};
	unsigned char b[REQ_MAX];
	struct dns_wire_buf w = { b, sizeof(b), 0, false };
	struct dns_update_cfg c = { .ttl = 3600, .mx_pref = 10 };
	struct dns_wire_buf tiny = { b, 20, 0, false };

	T_EQ_INT(build_update(&w, 0x1234, "ex", "a.ex", &c, "m.ex"), 0);
	T_EQ_MEM(w.p, w.len, want, sizeof(want));
	T_EQ_INT(build_update(&tiny, 1, "ex", "a.ex", &c, "m.ex"), -1);
}

/* An MX answer with a compressed owner and target. */
static size_t
mx_answer(unsigned char *p)
{
	static const unsigned char a[] = {
		0xab, 0xcd, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0,
		1, 'd', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 15, 0, 1,
		0xc0, 12, 0, 15, 0, 1, 0, 0, 1, 0x2c, 0, 7,
		0, 10, 2, 'm', 'x', 0xc0, 14,
	};

	memcpy(p, a, sizeof(a));
	return sizeof(a);
}

T_TEST(dns_update_decoder_follows_pointers)
{
	unsigned char p[128];
	struct dns_wire_msg m = { p, mx_answer(p) };
	struct dns_wire_hdr h;
	struct dns_wire_rr rr, t;
	char out[64];
	size_t off, o = 0;

	dns_wire_hdr_read(&m, &h);
	T_EQ_INT(h.an, 1);
	T_EQ_INT(dns_wire_skip_questions(&m, &h, &off), 0);
	T_EQ_INT(dns_wire_read_rr(&m, &off, &rr), 0);
	T_EQ_STR(rr.name, "d.example");
	T_EQ_INT(rr.type, DNS_WIRE_T_MX);
	T_EQ_INT(mx_line(&m, &rr, out, sizeof(out), &o), 0);
	T_EQ_STR(out, "10 mx.example\n");
	T_EQ_INT(mx_line(&m, &rr, out, 8, &(size_t){ 0 }), -2);
	T_EQ_INT(dns_wire_walk(&m, &h, &t), 0);
	/*
	 * Every shorter packet is malformed; each is copied to a buffer of
	 * its exact size so that ASan sees any read past its end.
	 */
	for (size_t n = DNS_WIRE_HDR_LEN; n < m.len; n++) {
		unsigned char *q = malloc(n);
		T_ASSERT(q != NULL);
		memcpy(q, p, n);
		struct dns_wire_msg cut = { q, n };
		int r = dns_wire_walk(&cut, &h, &t);
		free(q);
		T_EQ_INT(r, -1);
	}
}

/* A copy of exactly n bytes, so that ASan sees any read past the end. */
static struct dns_wire_msg
exact(const unsigned char *p, size_t n)
{
	unsigned char *q = malloc(n);

	T_ASSERT(q != NULL);
	memcpy(q, p, n);
	return (struct dns_wire_msg){ q, n };
}

T_TEST(dns_update_trailing_bytes_refused)
{
	unsigned char p[128];
	struct dns_wire_msg m = { p, mx_answer(p) };
	struct dns_wire_hdr h;
	struct dns_wire_rr t;

	dns_wire_hdr_read(&m, &h);
	m.len++;
	T_EQ_INT(dns_wire_walk(&m, &h, &t), -1);
}

T_TEST(dns_update_mx_answers_whole_and_cut)
{
	/* d.example CNAME t.example; t.example MX 5 m.t.example */
	static const unsigned char a[] = {
		0, 1, 0x84, 0, 0, 1, 0, 2, 0, 0, 0, 0,
		1, 'd', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 15, 0, 1,
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 't', 0xc0, 14,
		0xc0, 39, 0, 15, 0, 1, 0, 0, 0, 60, 0, 6, 0, 5, 1, 'm',
		0xc0, 39,
	};
	char out[64], err[200];

	struct dns_wire_msg m = exact(a, sizeof(a));
	T_EQ_INT(mx_parse(&m, "d.example", out, sizeof(out), err,
			  sizeof(err)), 1);
	T_EQ_STR(out, "5 m.t.example\n");
	T_EQ_INT(mx_parse(&m, "d.example", out, 10, err, sizeof(err)), -1);
	T_ASSERT(strstr(err, "buffer") != NULL);
	free((void *)m.p);
	for (size_t n = DNS_WIRE_HDR_LEN; n < sizeof(a); n++) {
		m = exact(a, n);
		int r = mx_parse(&m, "d.example", out, sizeof(out), err,
				 sizeof(err));
		free((void *)m.p);
		T_EQ_INT(r, -1);
	}
}

T_TEST(dns_update_soa_answers_whole_and_cut)
{
	/* NXDOMAIN for new.abc.example, the SOA of abc.example in NS. */
	static const unsigned char below[] = {
		0, 1, 0x84, 3, 0, 1, 0, 0, 0, 1, 0, 0,
		3, 'n', 'e', 'w', 3, 'A', 'b', 'c', 7, 'e', 'x', 'a', 'm', 'p',
		'l', 'e', 0, 0, 6, 0, 1,
		0xc0, 16, 0, 6, 0, 1, 0, 0, 1, 0x2c, 0, 3, 0, 0, 0,
	};
	unsigned char a[sizeof(below)];
	char zone[256], err[200];
	struct dns_wire_msg m;

	m = exact(below, sizeof(below));
	T_EQ_INT(soa_parse(&m, "new.abc.example", zone, sizeof(zone), err,
			   sizeof(err)), 0);
	T_EQ_STR(zone, "abc.example");
	/* A zone that does not contain the name is refused. */
	T_EQ_INT(soa_parse(&m, "new.xyz.example", zone, sizeof(zone), err,
			   sizeof(err)), -1);
	free((void *)m.p);
	for (size_t n = DNS_WIRE_HDR_LEN; n < sizeof(below); n++) {
		m = exact(below, n);
		int r = soa_parse(&m, "new.abc.example", zone, sizeof(zone),
				  err, sizeof(err));
		free((void *)m.p);
		T_EQ_INT(r, -1);
	}
	memcpy(a, below, sizeof(a));
	a[2] &= (unsigned char)~0x04; /* not authoritative */
	m = (struct dns_wire_msg){ a, sizeof(a) };
	T_EQ_INT(soa_parse(&m, "new.abc.example", zone, sizeof(zone), err,
			   sizeof(err)), -1);
	a[2] |= 0x04;
	a[3] = 5;
	T_EQ_INT(soa_parse(&m, "new.abc.example", zone, sizeof(zone), err,
			   sizeof(err)), -1);
	T_ASSERT(strstr(err, "REFUSED") != NULL);
}

static int
decode(const unsigned char *p, size_t len, size_t at, char *out)
{
	struct dns_wire_msg m = { p, len };

	return dns_wire_read_name(&m, &at, len, out, DNS_WIRE_NAME_TEXT_MAX);
}

T_TEST(dns_update_decoder_refuses_hostile_names)
{
	static const unsigned char self[] = { 0xc0, 0 };
	static const unsigned char loop[] = { 1, 'a', 0xc0, 0 };
	static const unsigned char fwd[] = { 0xc0, 2, 0 };
	static const unsigned char chain[] = { 0, 0xc0, 0, 0xc0, 1 };
	static const unsigned char ext[] = { 0x41, 0 };
	static const unsigned char odd[] = { 3, 'a', '.', 0xff, 0 };
	unsigned char big[300];
	char out[DNS_WIRE_NAME_TEXT_MAX];

	T_EQ_INT(decode(self, sizeof(self), 0, out), -1);
	T_EQ_INT(decode(loop, sizeof(loop), 0, out), -1);
	T_EQ_INT(decode(fwd, sizeof(fwd), 0, out), -1);
	T_EQ_INT(decode(ext, sizeof(ext), 0, out), -1);
	T_EQ_INT(decode(chain, sizeof(chain), 3, out), 0); /* backwards */
	T_EQ_STR(out, "");
	T_EQ_INT(decode(odd, sizeof(odd), 0, out), 0);
	T_EQ_STR(out, "a\\046\\255");
	/* 4 labels of 63 + root = 257 octets > 255 (RFC 1035 2.3.4). */
	for (int i = 0; i < 4; i++) {
		big[i * 64] = 63;
		memset(big + i * 64 + 1, 'a', 63);
	}
	big[256] = 0;
	T_EQ_INT(decode(big, 257, 0, out), -1);
	T_EQ_INT(decode(big + 64, 193, 0, out), 0);
	T_EQ_INT(decode(big + 64, 192, 0, out), -1); /* no end */
}

T_TEST(dns_update_base64)
{
	unsigned char b[16];

	T_EQ_INT(util_b64_decode("Zm9vYmFy", 8, b, sizeof(b)), 6);
	T_EQ_MEM(b, 6, "foobar", 6);
	T_EQ_INT(util_b64_decode("Zg==", 4, b, sizeof(b)), 1);
	T_EQ_INT(util_b64_decode("Zm8=", 4, b, sizeof(b)), 2);
	T_EQ_INT(util_b64_decode("Zg=a", 4, b, sizeof(b)), -1);
	T_EQ_INT(util_b64_decode("Z===", 4, b, sizeof(b)), -1);
	T_EQ_INT(util_b64_decode("Zg==Zg==", 8, b, sizeof(b)), -1);
	T_EQ_INT(util_b64_decode("Zm9", 3, b, sizeof(b)), -1);
	T_EQ_INT(util_b64_decode("Zm9vYmFy", 8, b, 5), -1);
}

static int
key(struct dns_update_cfg *c, const char *text)
{
	char err[200];

	return dns_update_parse_key(c, text, strlen(text), err, sizeof(err));
}

T_TEST(dns_update_key_forms)
{
	struct dns_update_cfg c;

	memset(&c, 0, sizeof(c));
	T_EQ_INT(key(&c, "K1. HMAC-SHA256 Zm9vYmFy\n"), 0);
	T_EQ_STR(c.tsig_name, "k1");
	T_EQ_STR(c.tsig_alg, "hmac-sha256");
	T_EQ_MEM(c.tsig_secret, c.tsig_len, "foobar", 6);
	T_EQ_INT(key(&c, "# made by tsig-keygen\nkey \"vd-key\" {\n"
		     "\talgorithm hmac-sha512; /* why not */\n"
		     "\tsecret \"Zm8=\";\n};\nkey \"other\" { };\n"), 0);
	T_EQ_STR(c.tsig_name, "vd-key");
	T_EQ_STR(c.tsig_alg, "hmac-sha512");
	T_EQ_INT(c.tsig_len, 2);
	/* Errors leave c as it was. */
	T_EQ_INT(key(&c, "k hmac-md5 Zm8="), -1);
	T_EQ_INT(key(&c, "k hmac-sha1 Zm8"), -1);
	T_EQ_INT(key(&c, "k hmac-sha1"), -1);
	T_EQ_INT(key(&c, "k hmac-sha1 Zm8= extra"), -1);
	T_EQ_INT(key(&c, "k hmac-sha1 \"Zm8="), -1);
	T_EQ_INT(key(&c, "key \"k\" { algorithm hmac-sha1; };"), -1);
	T_EQ_INT(key(&c, "key \"k\" { secret \"Zm8=\"; };"), -1);
	T_EQ_INT(key(&c, "key \"k\" { algorithm hmac-sha1; secret \"Zm8=\""),
		 -1);
	T_EQ_INT(key(&c, "key \"k\" { bogus 1; };"), -1);
	T_EQ_INT(key(&c, "/* open"), -1);
	T_EQ_STR(c.tsig_name, "vd-key");
	T_EQ_INT(c.tsig_len, 2);
}

/*
 * Signs a request, then plays the server: the answer is the request with
 * QR set and a TSIG whose MAC is computed over the finished answer (with
 * a zero MAC in place) as RFC 8945 4.3.2 says. That the digest matches
 * BIND's is shown by the e2e test; this checks what dns_tsig_check enforces.
 */
static size_t
signed_answer(const struct dns_tsig_key *k, unsigned char *a,
	      unsigned char *reqmac, unsigned error, long skew)
{
	unsigned char qb[REQ_MAX], mac[64];
	struct dns_wire_buf w = { qb, sizeof(qb), 0, false };
	struct dns_wire_buf o = { a, PKT_MAX, 0, false };
	struct dns_update_cfg c = { .ttl = 60, .mx_pref = 5 };
	uint64_t now = (uint64_t)((long)time(NULL) + skew);
	struct dns_wire_msg m;
	struct dns_wire_rr rr;
	struct tsig_rd t;
	size_t body, rd, macat;

	T_EQ_INT(build_update(&w, 0x4242, "ex", "a.ex", &c, "m.ex"), 0);
	body = w.len;
	T_EQ_INT(dns_tsig_sign(&w, k, 0x4242, reqmac), 0);
	T_EQ_INT(dns_wire_get16(qb + 10), 1);
	dns_wire_put(&o, qb, body);
	a[2] |= 0x80;
	dns_wire_put_name(&o, k->name);
	dns_wire_put16(&o, DNS_WIRE_T_TSIG);
	dns_wire_put16(&o, DNS_WIRE_C_ANY);
	dns_wire_put32(&o, 0);
	rd = o.len;
	dns_wire_put16(&o, 0);
	dns_wire_put_name(&o, k->alg->name);
	dns_wire_put16(&o, (unsigned)(now >> 32));
	dns_wire_put32(&o, (uint32_t)now);
	dns_wire_put16(&o, 300);
	dns_wire_put16(&o, (unsigned)k->alg->maclen);
	macat = o.len;
	dns_wire_put(&o, mac, k->alg->maclen);
	dns_wire_put16(&o, 0x4242);
	dns_wire_put16(&o, error);
	dns_wire_put16(&o, 0);
	dns_wire_patch16(&o, rd, (unsigned)(o.len - rd - 2));
	dns_wire_patch16(&o, 10, 1);
	T_ASSERT(!o.full);
	m = (struct dns_wire_msg){ a, o.len };
	struct dns_wire_hdr h;
	dns_wire_hdr_read(&m, &h);
	T_EQ_INT(dns_wire_walk(&m, &h, &rr), 1);
	T_EQ_INT(tsig_rd_parse(&m, &rr, &t), 0);
	T_EQ_INT(tsig_answer_mac(&m, &rr, &t, k, reqmac, mac), 0);
	memcpy(a + macat, mac, k->alg->maclen);
	return o.len;
}

static int
check(const struct dns_tsig_key *k, const unsigned char *a, size_t len,
      const unsigned char *reqmac, char *err)
{
	struct dns_wire_msg m = { a, len };
	struct dns_wire_hdr h;

	dns_wire_hdr_read(&m, &h);
	return dns_tsig_check(&m, &h, k, reqmac, err, 300);
}

T_TEST(dns_update_tsig_round_trip)
{
	static unsigned char a[PKT_MAX];
	unsigned char reqmac[64];
	char err[300];
	struct dns_tsig_key k = { "vd-key", &tsig_algs[0],
			      (const unsigned char *)"0123456789abcdef", 16 };
	struct dns_tsig_key other = k;
	size_t n;

	for (size_t i = 0; i < sizeof(tsig_algs) / sizeof(tsig_algs[0]); i++) {
		k.alg = &tsig_algs[i];
		n = signed_answer(&k, a, reqmac, 0, 0);
		T_EQ_INT(check(&k, a, n, reqmac, err), 0);
	}
	k.alg = &tsig_algs[0];
	n = signed_answer(&k, a, reqmac, 0, 0);
	/*
	 * Any changed bit of the answer breaks it, but the header's ID (the
	 * MAC covers the Original ID; transact checks the ID) and the case of
	 * the TSIG's own names (digested in canonical form, 4.3.3).
	 */
	for (size_t i = 2; i < n; i++) {
		bool letter = (a[i] | 0x20) >= 'a' && (a[i] | 0x20) <= 'z';
		for (unsigned bit = 0; bit < 8; bit++) {
			if (bit == 5 && letter && i >= n - 79)
				continue;
			a[i] ^= (unsigned char)(1u << bit);
			if (check(&k, a, n, reqmac, err) != -1)
				t_fail(__FILE__, __LINE__, "byte %zu bit %u",
				       i, bit);
			a[i] ^= (unsigned char)(1u << bit);
		}
	}
	T_EQ_INT(check(&k, a, n, reqmac, err), 0);
	reqmac[0] ^= 1; /* another request's answer */
	T_EQ_INT(check(&k, a, n, reqmac, err), -1);
	reqmac[0] ^= 1;
	other.secret = (const unsigned char *)"0123456789abcdeF";
	T_EQ_INT(check(&other, a, n, reqmac, err), -1);
	T_ASSERT(strstr(err, "does not verify") != NULL);
	for (size_t cut = DNS_WIRE_HDR_LEN; cut < n; cut++) {
		unsigned char *q = malloc(cut); /* exact size, for ASan */
		T_ASSERT(q != NULL);
		memcpy(q, a, cut);
		int r = check(&k, q, cut, reqmac, err);
		free(q);
		T_EQ_INT(r, -1);
	}
	n = signed_answer(&k, a, reqmac, 0, 400);
	T_EQ_INT(check(&k, a, n, reqmac, err), -1);
	T_ASSERT(strstr(err, "BADTIME") != NULL);
	n = signed_answer(&k, a, reqmac, 18, 0);
	T_EQ_INT(check(&k, a, n, reqmac, err), -1);
	T_ASSERT(strstr(err, "BADTIME") != NULL);
}

T_TEST(dns_update_tsig_unsigned_errors)
{
	static unsigned char a[PKT_MAX];
	unsigned char reqmac[64];
	char err[300];
	struct dns_tsig_key k = { "vd-key", &tsig_algs[0],
			      (const unsigned char *)"0123456789abcdef", 16 };
	size_t n = signed_answer(&k, a, reqmac, 0, 0);
	size_t tsig = n - (6 + 32 + 10 + 13 + 10 + 8);

	/* As RFC 8945 5.3.2: NOTAUTH, MAC size 0, error BADSIG. */
	a[3] = (unsigned char)((a[3] & 0xF0) | 9);
	a[tsig + 8 + 10 + 13 + 9] = 0;       /* MAC size (low byte) */
	memmove(a + tsig + 8 + 10 + 13 + 10,
		a + tsig + 8 + 10 + 13 + 10 + 32, 6);
	n -= 32;
	a[n - 3] = 16;                        /* Error = BADSIG */
	dns_wire_patch16(&(struct dns_wire_buf){ a, n, n, false }, tsig + 8 + 8,
		  (unsigned)(n - tsig - 8 - 10));
	T_EQ_INT(check(&k, a, n, reqmac, err), -1);
	T_ASSERT(strstr(err, "NOTAUTH") != NULL);
	T_ASSERT(strstr(err, "BADSIG") != NULL);
	a[n - 3] = 0;                         /* empty MAC, no error */
	T_EQ_INT(check(&k, a, n, reqmac, err), -1);
	T_ASSERT(strstr(err, "not trusted") != NULL);
}
