/* random.h: the engine's one source of random bytes, for job and schedule ids, the rq
 * backend's take ids and retry jitter. libuv's uv_random reads getrandom(2), or
 * /dev/urandom where the kernel has none, and never blocks once the pool is ready; what
 * it cannot give is an error the caller reports, never a loop that waits for it. */
#ifndef FPQ_RANDOM_H
#define FPQ_RANDOM_H

#include <stddef.h>

/* Fills buf with len random bytes. Returns 0, or FPQ_EIO when the system has none to
 * give (buf is then unspecified). */
int fpq__random(void *buf, size_t len);

/* The reason callers give when fpq__random fails. */
#define FPQ__RANDOM_FAILED \
  "the system gave no random bytes (getrandom and /dev/urandom both failed)"

/* Tests: while on is 1, every fpq__random call fails as if the system had no source. */
void fpq__random_fail(int on);

#endif /* FPQ_RANDOM_H */
