/* executor.h: one warm Python executor process, seen from the worker's libuv loop
 * (docs/executor-protocol.md). */
#ifndef FPQ_EXECUTOR_H
#define FPQ_EXECUTOR_H

#include <jansson.h>
#include <uv.h>

#include "frame.h"

typedef struct fpq__executor fpq__executor;

typedef struct fpq__executor_events {
  /* A frame arrived (hello, done, ...). msg is borrowed for the call. result_text: for
   * a large done frame with ok true, its result already encoded as compact JSON (and
   * removed from msg), owned by the callee (free()); NULL otherwise. */
  void (*on_message)(fpq__executor *e, json_t *msg, char *result_text);
  /* The process is gone and its channel drained: exit_status, or term_signal when it was
   * killed; reason says what broke when the stream was bad. After this call the executor
   * is closing and is freed by the loop; do not use it again. */
  void (*on_gone)(fpq__executor *e, int64_t exit_status, int term_signal, const char *reason);
} fpq__executor_events;

/* Spawns `python -m flowerpower_job_queue.executor --isolation ISO --pipeline-cache N` as
 * the leader of a new process group, with the channel on fd 3. pipeline_cache is the
 * resolved executor.pipeline_cache (0 = off). Returns the executor (owned by the loop until
 * on_gone) or NULL with one line in err. data is the caller's. */
fpq__executor *fpq__executor_start(uv_loop_t *loop, const char *python, const char *isolation,
                                   int pipeline_cache, const fpq__executor_events *events,
                                   void *data, char *err, size_t errlen);
void *fpq__executor_data(const fpq__executor *e);
/* The executor's pid, which is also its process group (0 once it exited). */
int fpq__executor_pid(const fpq__executor *e);
/* Sends one message. Returns 0, FPQ_ETOOBIG or FPQ_ENOMEM; a write error shows up as the
 * process going away. */
int fpq__executor_send(fpq__executor *e, const json_t *msg);
/* Signals the executor's whole process group (the executor and any child it forked). */
void fpq__executor_signal(fpq__executor *e, int signum);
/* Asks it to exit by closing the channel (EOF); on_gone follows. */
void fpq__executor_shutdown(fpq__executor *e);

/* The interpreter executors run under: $FPQ_PYTHON, else python3 beside this program,
 * else python3 from PATH. Writes into buf. */
void fpq__executor_find_python(char *buf, size_t len);

#endif /* FPQ_EXECUTOR_H */
