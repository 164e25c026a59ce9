/* executor.c: the C end of the executor protocol. Spawns a warm Python executor through
 * uv_spawn (new process group, channel on fd 3), writes run frames, decodes the frames it
 * sends back, and reports once, when both the process has exited and its channel has
 * reached EOF, that it is gone: only then is it certain that no frame is still in flight,
 * so the worker can tell "finished just before dying" from "died mid-job". */
#include "executor.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fpq.h"

/* How long to wait for EOF after the process exited: a grandchild that kept the channel
 * open must not keep the slot forever. */
#define DRAIN_AFTER_EXIT_MS 2000

struct fpq__executor {
  uv_process_t process;
  uv_pipe_t channel;
  uv_timer_t drain_timer;
  fpq__executor_events events;
  void *data;
  fpq__frame_reader reader;
  int exited;          /* exit callback seen */
  int channel_done;    /* EOF or error seen, reading stopped */
  int reported;        /* on_gone called */
  int open_handles;    /* handles still to close before freeing */
  int64_t exit_status;
  int term_signal;
  char reason[256];
};

typedef struct write_req {
  uv_write_t req;
  char *buf;
} write_req;

void fpq__executor_find_python(char *buf, size_t len) {
  const char *env = getenv("FPQ_PYTHON");
  if (env && *env) {
    snprintf(buf, len, "%s", env);
    return;
  }
  char exe[PATH_MAX];
  size_t n = sizeof exe;
  if (uv_exepath(exe, &n) == 0) {
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      snprintf(buf, len, "%.*s/python3", (int)(len > 16 ? len - 16 : 0), exe);
      if (access(buf, X_OK) == 0) return;
    }
  }
  snprintf(buf, len, "python3");
}

static void free_when_closed(uv_handle_t *h) {
  fpq__executor *e = h->data;
  if (--e->open_handles > 0) return;
  fpq__frame_reader_free(&e->reader);
  fpq__free(e);
}

static void report_if_gone(fpq__executor *e) {
  if (e->reported || !e->exited || !e->channel_done) return;
  e->reported = 1;
  uv_timer_stop(&e->drain_timer);
  e->events.on_gone(e, e->exit_status, e->term_signal, e->reason[0] ? e->reason : NULL);
  uv_close((uv_handle_t *)&e->process, free_when_closed);
  uv_close((uv_handle_t *)&e->channel, free_when_closed);
  uv_close((uv_handle_t *)&e->drain_timer, free_when_closed);
}

static void stop_reading(fpq__executor *e, const char *reason) {
  if (e->channel_done) return;
  e->channel_done = 1;
  uv_read_stop((uv_stream_t *)&e->channel);
  if (reason && !e->reason[0]) snprintf(e->reason, sizeof e->reason, "%s", reason);
}

static void on_drain_timeout(uv_timer_t *t) {
  fpq__executor *e = t->data;
  stop_reading(e, NULL);
  report_if_gone(e);
}

static void on_process_exit(uv_process_t *p, int64_t exit_status, int term_signal) {
  fpq__executor *e = p->data;
  e->exited = 1;
  e->exit_status = exit_status;
  e->term_signal = term_signal;
  if (!e->channel_done) uv_timer_start(&e->drain_timer, on_drain_timeout, DRAIN_AFTER_EXIT_MS, 0);
  report_if_gone(e);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[64 * 1024]; /* one loop thread; data is copied into the reader at once */
  *buf = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  fpq__executor *e = s->data;
  if (nread < 0) {
    stop_reading(e, nread == UV_EOF ? NULL : uv_strerror((int)nread));
    report_if_gone(e);
    return;
  }
  if (nread == 0 || e->channel_done) return;
  if (fpq__frame_push(&e->reader, buf->base, (size_t)nread)) {
    stop_reading(e, "out of memory reading the executor's frames");
    uv_process_kill(&e->process, SIGKILL);
    return;
  }
  for (;;) {
    json_t *msg;
    char err[256];
    if (fpq__frame_next(&e->reader, &msg, err, sizeof err)) {
      /* A broken stream cannot be resynchronised: end this executor. */
      stop_reading(e, err);
      kill(-e->process.pid, SIGKILL);
      return;
    }
    if (msg == NULL) break;
    e->events.on_message(e, msg);
    json_decref(msg);
    if (e->channel_done) break;
  }
}

fpq__executor *fpq__executor_start(uv_loop_t *loop, const char *python, const char *isolation,
                                   int pipeline_cache, const fpq__executor_events *events,
                                   void *data, char *err, size_t errlen) {
  fpq__executor *e = fpq__calloc(1, sizeof *e);
  if (e == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  e->events = *events;
  e->data = data;
  uv_pipe_init(loop, &e->channel, 0);
  uv_timer_init(loop, &e->drain_timer);
  e->channel.data = e->drain_timer.data = e->process.data = e;

  char cache[16];
  snprintf(cache, sizeof cache, "%d", pipeline_cache);
  char *args[] = {(char *)python, "-m", "flowerpower_job_queue.executor", "--isolation",
                  (char *)isolation, "--pipeline-cache", cache, NULL};
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 2; /* executor stdout joins the worker's log */
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
  stdio[3].data.stream = (uv_stream_t *)&e->channel;
  uv_process_options_t opts = {
      .exit_cb = on_process_exit,
      .file = python,
      .args = args,
      .stdio = stdio,
      .stdio_count = 4,
      .flags = UV_PROCESS_DETACHED, /* setsid: its own process group, which we signal */
  };
  int rc = uv_spawn(loop, &e->process, &opts);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the executor '%s': %s", python, uv_strerror(rc));
    /* libuv initialises the process handle even when the spawn fails: close all three. */
    e->open_handles = 3;
    uv_close((uv_handle_t *)&e->process, free_when_closed);
    uv_close((uv_handle_t *)&e->channel, free_when_closed);
    uv_close((uv_handle_t *)&e->drain_timer, free_when_closed);
    return NULL;
  }
  e->open_handles = 3;
  uv_read_start((uv_stream_t *)&e->channel, on_alloc, on_read);
  return e;
}

void *fpq__executor_data(const fpq__executor *e) { return e->data; }

static void on_written(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  (void)status; /* a failed write means the executor is gone; on_process_exit reports it */
  fpq__free(w->buf);
  fpq__free(w);
}

int fpq__executor_send(fpq__executor *e, const json_t *msg) {
  if (e->exited || e->channel_done) return FPQ_EUNAVAIL;
  write_req *w = fpq__calloc(1, sizeof *w);
  if (w == NULL) return FPQ_ENOMEM;
  size_t len;
  int rc = fpq__frame_encode(msg, &w->buf, &len);
  if (rc) {
    fpq__free(w);
    return rc;
  }
  uv_buf_t buf = uv_buf_init(w->buf, (unsigned int)len);
  rc = uv_write(&w->req, (uv_stream_t *)&e->channel, &buf, 1, on_written);
  if (rc) {
    fpq__free(w->buf);
    fpq__free(w);
    return FPQ_EUNAVAIL;
  }
  return 0;
}

void fpq__executor_signal(fpq__executor *e, int signum) {
  if (e->exited) return;
  /* The group first (reaches a forked child); the leader too in case it left it. */
  kill(-e->process.pid, signum);
  uv_process_kill(&e->process, signum);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  fpq__free(req);
}

void fpq__executor_shutdown(fpq__executor *e) {
  if (e->exited) return;
  uv_shutdown_t *req = fpq__calloc(1, sizeof *req);
  if (req == NULL || uv_shutdown(req, (uv_stream_t *)&e->channel, on_shutdown) != 0) {
    fpq__free(req);
    fpq__executor_signal(e, SIGTERM);
  }
}
