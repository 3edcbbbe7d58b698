#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 1024

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->off = b->len = b->cap = 0;
	b->skip_to_lf = false;
}

int
buf_reserve(struct buf *b, size_t n)
{
	if (n > b->max - b->len)
		return -1;
	if (b->off + b->len + n <= b->cap)
		return 0;
	if (b->len + n <= b->cap) {
		/* Enough space overall: slide the data to the front. */
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
		return 0;
	}
	size_t ncap = b->cap ? b->cap : BUF_MIN_CAP;
	while (ncap < b->len + n)
		ncap *= 2;
	if (ncap > b->max)
		ncap = b->max;
	char *np = malloc(ncap);
	if (np == NULL)
		return -1;
	if (b->len)
		memcpy(np, b->p + b->off, b->len);
	free(b->p);
	b->p = np;
	b->cap = ncap;
	b->off = 0;
	return 0;
}

char *
buf_tail(struct buf *b, size_t want, size_t *avail_r)
{
	size_t room = buf_room(b);

	if (room == 0)
		return NULL;
	if (want > room)
		want = room;
	if (buf_reserve(b, want) < 0)
		return NULL;
	*avail_r = b->cap - b->off - b->len;
	if (*avail_r > room)
		*avail_r = room;
	return b->p + b->off + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

int
buf_append(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->off + b->len, data, n);
	b->len += n;
	return 0;
}


int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	char tmp[1024];
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(tmp))
		return buf_append(b, tmp, (size_t)n);
	/* Rare long output: format straight into reserved space. */
	if (buf_reserve(b, (size_t)n + 1) < 0)
		return -1;
	vsnprintf(b->p + b->off + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = b->len = 0;
		return;
	}
	b->off += n;
	b->len -= n;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
	b->skip_to_lf = false;
}

void
buf_shrink(struct buf *b, size_t keep)
{
	if (b->len == 0 && b->cap > keep) {
		free(b->p);
		b->p = NULL;
		b->cap = b->off = 0;
	}
}

int
buf_getline(struct buf *b, size_t limit, const char **line_r, size_t *len_r,
	    size_t *used_r)
{
	const char *d = buf_data(b);
	const char *lf;

	if (b->skip_to_lf) {
		lf = memchr(d, '\n', b->len);
		if (lf == NULL) {
			buf_consume(b, b->len);
			return 0;
		}
		buf_consume(b, (size_t)(lf - d) + 1);
		b->skip_to_lf = false;
		d = buf_data(b);
	}
	size_t scan = b->len < limit ? b->len : limit;
	lf = memchr(d, '\n', scan);
	if (lf == NULL) {
		if (b->len < limit)
			return 0;
		/* No LF within limit bytes: the line is too long. */
		lf = memchr(d, '\n', b->len);
		if (lf != NULL) {
			buf_consume(b, (size_t)(lf - d) + 1);
		} else {
			buf_consume(b, b->len);
			b->skip_to_lf = true;
		}
		return -1;
	}
	size_t n = (size_t)(lf - d);
	*used_r = n + 1;
	if (n > 0 && d[n - 1] == '\r')
		n--;
	*line_r = d;
	*len_r = n;
	return 1;
}
