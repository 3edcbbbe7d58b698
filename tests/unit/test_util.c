/* util: bounded copies, number parsing, CRC-32. */
#include "core/util.h"
#include "tests/unit/t.h"

T_TEST(util_crc32_known_vectors)
{
	/* The standard check value of CRC-32/ISO-HDLC. */
	T_EQ_INT(util_crc32(0, "123456789", 9), 0xCBF43926u);
	T_EQ_INT(util_crc32(0, "", 0), 0);
	/* Fed in pieces it gives the same value. */
	T_EQ_INT(util_crc32(util_crc32(0, "1234", 4), "56789", 5),
		 0xCBF43926u);
}

T_TEST(util_parse_numbers)
{
	uint64_t v;
	int64_t q;

	T_EQ_INT(util_parse_u64("18446744073709551615", 20, UINT64_MAX, &v), 0);
	T_ASSERT(v == UINT64_MAX);
	T_EQ_INT(util_parse_u64("18446744073709551616", 20, UINT64_MAX, &v),
		 -1);
	T_EQ_INT(util_parse_u64("12", 2, 11, &v), -1);
	T_EQ_INT(util_parse_u64("", 0, 10, &v), -1);
	T_EQ_INT(util_parse_u64("+1", 2, 10, &v), -1);
	T_EQ_INT(util_parse_size("10M", 3, &q), 0);
	T_EQ_INT(q, 10 * 1024 * 1024);
	T_EQ_INT(util_parse_size("-1", 2, &q), 0);
	T_EQ_INT(q, -1);
	T_EQ_INT(util_parse_size("4097G", 5, &q), -1);
	T_EQ_INT(util_parse_size("M", 1, &q), -1);
	T_EQ_INT(util_parse_size("-2", 2, &q), -1);
}

T_TEST(util_bounded_copies_and_escapes)
{
	char b[8];

	T_EQ_INT(util_copy(b, sizeof(b), "1234567", 7), 0);
	T_EQ_INT(util_copy(b, sizeof(b), "12345678", 8), -1);
	T_EQ_STR(b, "");
	T_EQ_INT(util_strlcpy(b, "123456789", sizeof(b)), 9);
	T_EQ_STR(b, "1234567");
	T_EQ_INT(util_fmt(b, sizeof(b), "%s", "12345678"), -1);
	util_log_escape(b, sizeof(b), "a\r\nb", 4);
	T_EQ_STR(b, "a\\x0d");
	T_ASSERT(util_is_ieq("HeLLo", 5, "hello"));
	T_ASSERT(!util_is_ieq("hello", 4, "hello"));
}
