/* alloc.c: the engine's allocator wrappers with failure injection for tests. The
 * counter is atomic because the worker allocates from libuv's thread pool too. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown; /* 0 = off; k > 0: the k-th next allocation fails */

void fpq__alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

static int should_fail(void) {
  long n = atomic_load(&fail_countdown);
  if (n <= 0) return 0;
  if (n == 1) return 1; /* stay at 1: every later allocation fails too */
  atomic_fetch_sub(&fail_countdown, 1);
  return 0;
}

void *fpq__malloc(size_t size) { return should_fail() ? NULL : malloc(size ? size : 1); }

void *fpq__calloc(size_t count, size_t size) {
  return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *fpq__realloc(void *ptr, size_t size) {
  return should_fail() ? NULL : realloc(ptr, size ? size : 1);
}

char *fpq__strndup(const char *s, size_t n) {
  if (s == NULL) return NULL;
  size_t len = strnlen(s, n);
  char *copy = fpq__malloc(len + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

char *fpq__strdup(const char *s) { return s ? fpq__strndup(s, strlen(s)) : NULL; }

void fpq__free(void *ptr) { free(ptr); }
