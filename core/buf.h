/*
 * buf: a byte buffer with a hard ceiling, and the line reader every
 * protocol uses. Data lives in p[off .. off+len); appends never grow the
 * buffer past max. Memory is allocated on first use and can be given back
 * when the buffer is empty, so an idle connection costs little.
 * Never blocks; the only failure is "would exceed max" (or out of memory),
 * reported as -1.
 */
#ifndef VD_BUF_H
#define VD_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t off, len, cap, max;
	bool skip_to_lf; /* line reader: discarding the rest of a long line */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);

static inline char *
buf_data(const struct buf *b)
{
	/* a buffer never grown has no storage: NULL + 0 is undefined */
	return b->p != NULL ? b->p + b->off : (char *)"";
}

static inline size_t
buf_len(const struct buf *b)
{
	return b->len;
}

/* Bytes that may still be appended before max is reached. */
static inline size_t
buf_room(const struct buf *b)
{
	return b->max - b->len;
}

/*
 * Makes n contiguous bytes writable after the data (compacting, then
 * growing geometrically up to max). Returns 0, or -1 when len + n > max or
 * memory is short.
 */
int buf_reserve(struct buf *b, size_t n);

/*
 * Returns a pointer to at least want (at most buf_room) writable bytes
 * after the data, with their count in *avail_r, or NULL when full.
 * Follow with buf_commit(b, n) for the n bytes actually written.
 */
char *buf_tail(struct buf *b, size_t want, size_t *avail_r);
void buf_commit(struct buf *b, size_t n);

int buf_append(struct buf *b, const void *data, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Drops n bytes (n <= len) from the front. */
void buf_consume(struct buf *b, size_t n);

/* Empties the buffer and clears the line reader state. */
void buf_reset(struct buf *b);

/* Frees the memory when the buffer is empty and holds more than keep. */
void buf_shrink(struct buf *b, size_t keep);

/*
 * Line reader. A line ends at LF; a CR right before it is stripped too.
 * limit counts the whole line including its terminator.
 * Returns 1: line_r and len_r give the line without terminator; the caller
 *            must buf_consume(b, *used_r) once done with it.
 *         0: no complete line yet.
 *        -1: the line is longer than limit; it is (being) discarded up to
 *            and including its LF, so the next call starts on a fresh line.
 */
int buf_getline(struct buf *b, size_t limit, const char **line_r,
		size_t *len_r, size_t *used_r);

#endif
