/* alloc.h: every allocation of the engine goes through here, so tests can make the
 * n-th allocation fail and check that each error path frees what it took (hiredis'
 * alloc.h does the same). */
#ifndef FPQ_ALLOC_H
#define FPQ_ALLOC_H

#include <stddef.h>

void *fpq__malloc(size_t size);
void *fpq__calloc(size_t count, size_t size);
void *fpq__realloc(void *ptr, size_t size);
char *fpq__strdup(const char *s);
char *fpq__strndup(const char *s, size_t n);
void fpq__free(void *ptr);

/* Tests: make allocation number n (counting from 1 after this call) and every later one
 * fail; n = 0 turns failure injection off. */
void fpq__alloc_fail_after(long n);

#endif /* FPQ_ALLOC_H */
