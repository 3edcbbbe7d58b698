#include "tools/strmap.h"

#include <stdlib.h>
#include <string.h>

uint32_t
strmap_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of k, or of the empty slot where it would go (cap > 0). */
static size_t
slot_of(const struct strmap *m, const char *k)
{
	size_t j = strmap_hash(k) & (m->cap - 1);

	while (m->key[j] != NULL && strcmp(m->key[j], k) != 0)
		j = (j + 1) & (m->cap - 1);
	return j;
}

/* Keeps the load at most one half so probe runs stay short. */
static int
grow(struct strmap *m)
{
	struct strmap n = { .cap = m->cap ? m->cap * 2 : 64, .n = m->n };

	n.key = calloc(n.cap, sizeof(*n.key));
	n.val = calloc(n.cap, sizeof(*n.val));
	if (n.key == NULL || n.val == NULL) {
		free(n.key);
		free(n.val);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->key[i] == NULL)
			continue;
		size_t j = slot_of(&n, m->key[i]);
		n.key[j] = m->key[i];
		n.val[j] = m->val[i];
	}
	free(m->key);
	free(m->val);
	*m = n;
	return 0;
}

int
strmap_put(struct strmap *m, const char *k, void *v)
{
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -1;
	size_t j = slot_of(m, k);
	if (m->key[j] != NULL)
		return 0;
	if ((m->key[j] = strdup(k)) == NULL)
		return -1;
	m->val[j] = v;
	m->n++;
	return 1;
}

bool
strmap_has(const struct strmap *m, const char *k)
{
	return m->cap > 0 && m->key[slot_of(m, k)] != NULL;
}

void *
strmap_get(const struct strmap *m, const char *k)
{
	if (m->cap == 0)
		return NULL;
	size_t j = slot_of(m, k);
	return m->key[j] != NULL ? m->val[j] : NULL;
}

void
strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->key[i]);
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}
