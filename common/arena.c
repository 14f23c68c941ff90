/*
 * Bump allocator. Blocks are chained; an allocation larger than a quarter of
 * the block size gets a block of its own so large strings do not waste the
 * tail of the current block. Everything is freed at once by destroy.
 */
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct cn_arena {
    struct arena_block *head;
    size_t block_size;
    size_t total;
};

struct cn_arena *cn_arena_create(size_t block_size)
{
    struct cn_arena *a = cn_calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->block_size = block_size < 256 ? 256 : block_size;
    return a;
}

void cn_arena_destroy(struct cn_arena *a)
{
    if (!a)
        return;
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *cn_arena_alloc(struct cn_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct arena_block *b = a->head;
    if (b && b->size - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p;
    }
    size_t size = n > a->block_size / 4 ? n : a->block_size;
    struct arena_block *nb = cn_malloc(sizeof(*nb) + size);
    if (!nb)
        return NULL;
    nb->size = size;
    nb->used = n;
    a->total += sizeof(*nb) + size;
    if (size == n && b) {
        /* A dedicated block: keep the current block first for small ones. */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    return nb->data;
}

char *cn_arena_strndup(struct cn_arena *a, const char *s, size_t n)
{
    char *d = cn_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *cn_arena_strdup(struct cn_arena *a, const char *s)
{
    return cn_arena_strndup(a, s, strlen(s));
}

size_t cn_arena_size(const struct cn_arena *a)
{
    return a->total;
}
