/* spool_env: the queue file envelope, formatted and parsed back. */
#include <stdio.h>
#include <stdlib.h>

#include "spool/spool_env.h"
#include "tests/unit/t.h"

static void
sample(struct spool_env *e, struct spool_rcpt r[2])
{
	memset(e, 0, sizeof(*e));
	memset(r, 0, 2 * sizeof(r[0]));
	strcpy(e->qid, "000660DF931DEBFF");
	e->arrival = 1795363222;
	strcpy(e->client, "2001:db8::1");
	strcpy(e->helo, "mx.remote.test");
	strcpy(e->proto, "ESMTPS");
	e->body = SPOOL_BODY_8BITMIME;
	strcpy(e->sender, "");
	strcpy(r[0].addr, "alice@example.net");
	strcpy(r[0].mailbox, "example.com/alice");
	strcpy(r[1].addr, "\"john doe\"@example.com");
	strcpy(r[1].mailbox, "example.com/john");
	r[1].done = true;
	e->rcpt = r;
	e->nrcpt = 2;
}

T_TEST(spool_env_round_trip)
{
	struct spool_env e, p;
	struct spool_rcpt r[2];
	struct buf b;
	char err[128];
	size_t zoff;

	sample(&e, r);
	buf_init(&b, 1 << 16);
	T_EQ_INT(spool_env_format(&b, &e, &zoff), 0);
	size_t envlen = buf_len(&b);
	spool_env_set_size(buf_data(&b) + zoff, 12345, 0xdeadbeef);
	T_EQ_INT(buf_append(&b, "Subject: x\r\n", 12), 0);
	for (size_t cut = 0; cut < envlen; cut++)
		T_EQ_INT(spool_env_parse(buf_data(&b), cut, &p, err,
					 sizeof(err)), 0);
	T_EQ_INT(spool_env_parse(buf_data(&b), buf_len(&b), &p, err,
				 sizeof(err)), 1);
	T_EQ_STR(p.qid, e.qid);
	T_ASSERT(p.arrival == e.arrival);
	T_EQ_STR(p.client, e.client);
	T_EQ_STR(p.helo, e.helo);
	T_EQ_STR(p.proto, "ESMTPS");
	T_EQ_INT(p.body, SPOOL_BODY_8BITMIME);
	T_EQ_STR(p.sender, "");
	T_EQ_INT(p.nrcpt, 2);
	T_EQ_STR(p.rcpt[1].addr, "\"john doe\"@example.com");
	T_ASSERT(!p.rcpt[0].done && p.rcpt[1].done);
	T_ASSERT(p.size == 12345);
	T_ASSERT(p.crc == 0xdeadbeef);
	T_EQ_SIZE(p.text_off, envlen);
	/* mark_off is the R/D byte the runner overwrites. */
	T_EQ_INT(buf_data(&b)[p.rcpt[0].mark_off], 'R');
	T_EQ_INT(buf_data(&b)[p.rcpt[1].mark_off], 'D');
	spool_env_free(&p);
	buf_free(&b);
}

T_TEST(spool_env_refuses_what_it_cannot_carry)
{
	struct spool_env e;
	struct spool_rcpt r[2];
	struct buf b;
	size_t zoff;

	buf_init(&b, 1 << 16);
	sample(&e, r);
	strcpy(e.helo, "bad\nI000");
	T_EQ_INT(spool_env_format(&b, &e, &zoff), -1);
	sample(&e, r);
	strcpy(r[0].addr, "a\tb@x.test");
	T_EQ_INT(spool_env_format(&b, &e, &zoff), -1);
	buf_free(&b);
}

T_TEST(spool_env_malformed)
{
	static const char *const bad[] = {
		"V2\nIx\n\001\001\n",
		"V1\nI0\nT1\nS\n\001\001\n",             /* no Z */
		"V1\nI0\nT1\nZ00000000000000000000 00000000\n\001\001\n", /* no S */
		"V1\nI0\nTx\nS\nZ00000000000000000000 00000000\n\001\001\n",
		"V1\nI0\nT1\nS\nZ12\n\001\001\n",
		"V1\nI0\nT1\nS\nZ00000000000000000000\n\001\001\n",
		"V1\nI0\nT1\nS\nZ00000000000000000000 0000000g\n\001\001\n",
		"V1\nI0\nT1\nS\nRa@b\n\001\001\n",
		"V1\nI0\nT1\nS\nRa@b\tL../x\nZ00000000000000000000 00000000\n\001\001\n",
		"V1\nI0\nT1\nS\nQ?\nZ00000000000000000000 00000000\n\001\001\n",
		"V1\n\nI0\n",
		/* found by fuzz_env: no kind before E (a negative length) */
		"V1\nRa\t\tEb@c\n",
		"V1\nI0\nT1\nS\nRa@b\t\tEb@c\nZ00000000000000000000 00000000\n"
		"\001\001\n",
		/* and an arrival past the year 9999 (time_t overflow later) */
		"V1\nI0\nT18446744073709551615\nS\nZ00000000000000000000 "
		"00000000\n\001\001\n",
		"V1\nI0\nT253402300800\nS\nZ00000000000000000000 00000000\n"
		"\001\001\n",
		/* kinds: an unknown one, F without a 5xx reply, E without @ */
		"V1\nI0\nT1\nS\nRa@b\tQx\nZ00000000000000000000 00000000\n"
		"\001\001\n",
		"V1\nI0\nT1\nS\nRa@b\tF451 4.0.0 no\nZ00000000000000000000 "
		"00000000\n\001\001\n",
		"V1\nI0\nT1\nS\nRa@b\tX\tEnobody\nZ00000000000000000000 "
		"00000000\n\001\001\n",
	};
	struct spool_env p;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (spool_env_parse(bad[i], strlen(bad[i]), &p, err,
				    sizeof(err)) != -1)
			t_fail(__FILE__, __LINE__, "accepted case %zu", i);
}
