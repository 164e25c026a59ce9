/* random.c: random bytes through libuv (random.h). A separate file so that job.c,
 * queue.c and the rq backend share one source and one failure path, and tests can turn
 * that source off to check that every caller reports it instead of spinning. */
#include "random.h"

#include <stdatomic.h>
#include <uv.h>

#include "fpq.h"

static atomic_int failing;

void fpq__random_fail(int on) { atomic_store(&failing, on); }

int fpq__random(void *buf, size_t len) {
  if (atomic_load(&failing)) return FPQ_EIO;
  /* No loop and no callback: uv_random runs synchronously in this thread. It retries
   * EINTR itself and falls back to /dev/urandom, so an error here is final. */
  return uv_random(NULL, NULL, buf, len, 0, NULL) == 0 ? 0 : FPQ_EIO;
}
