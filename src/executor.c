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
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "alloc.h"
#include "fpq.h"
#include "fpq_worker.h"

/* How long to wait for EOF after the process exited: a grandchild that kept the channel
 * open must not keep the slot forever. */
#define DRAIN_AFTER_EXIT_MS 2000
/* Frames at least this large are parsed on the thread pool, and a done frame's result
 * encoded there too: a 200 MB result took the loop 11 s (decode, then encode again). */
#define PARSE_OFF_LOOP (1u << 20)

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
  int parsing;         /* a large frame is being parsed off the loop; reading is paused */
  int64_t exit_status;
  int term_signal;
  char reason[256];
};

/* A large frame on its way through the thread pool. body points into the reader, which
 * no push touches meanwhile (reading is paused until it is back). */
typedef struct parse_req {
  uv_work_t req;
  fpq__executor *e;
  const char *body;
  size_t len;
  json_t *msg;
  char *result_text; /* a done frame's result, encoded; handed to on_message */
  int rc;
  char err[256];
} parse_req;

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
  /* Beside fpq (a build tree, an old install), else the environment's own when fpq is
   * the one inside the installed package: ENV/lib/python3.X/site-packages/
   * flowerpower_job_queue/bin/fpq, with ENV/bin/python3 five levels up. */
  static const char *const relative[] = {"/python3", "/../../../../../bin/python3"};
  char exe[PATH_MAX];
  size_t n = sizeof exe;
  if (uv_exepath(exe, &n) == 0) {
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
        snprintf(buf, len, "%.*s%s", (int)(len > 32 ? len - 32 : 0), exe, relative[i]);
        if (access(buf, X_OK) == 0) return;
      }
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
  if (e->reported || !e->exited || !e->channel_done || e->parsing) return;
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

static void drain_frames(fpq__executor *e);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void parse_work(uv_work_t *req) {
  parse_req *p = (parse_req *)req;
  p->rc = fpq__frame_parse(p->body, p->len, &p->msg, p->err, sizeof p->err);
  if (p->rc || strcmp(json_string_value(json_object_get(p->msg, "type")), "done") != 0 ||
      !json_is_true(json_object_get(p->msg, "ok")))
    return;
  /* The worker stores the result as JSON text: encode it here, and drop the decoded
   * value here too, so neither step runs on the loop. */
  json_t *result = json_object_get(p->msg, "result");
  p->result_text = json_dumps(result ? result : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
  if (p->result_text) json_object_del(p->msg, "result");
}

static void after_parse(uv_work_t *req, int status) {
  parse_req *p = (parse_req *)req;
  fpq__executor *e = p->e;
  (void)status;
  e->parsing = 0;
  if (p->rc) {
    stop_reading(e, p->err);
    kill(-e->process.pid, SIGKILL);
  } else { /* received whole before any end of the channel: delivered */
    e->events.on_message(e, p->msg, p->result_text);
    p->result_text = NULL; /* on_message's now */
  }
  json_decref(p->msg);
  free(p->result_text);
  fpq__free(p);
  if (!e->channel_done) {
    uv_read_start((uv_stream_t *)&e->channel, on_alloc, on_read);
    drain_frames(e);
  }
  report_if_gone(e);
}

/* Delivers the complete frames the reader holds, in order; a large one goes to the
 * thread pool and the rest wait (reading paused) until it is delivered. */
static void drain_frames(fpq__executor *e) {
  while (!e->channel_done && !e->parsing) {
    const char *body;
    size_t len;
    char err[256];
    if (fpq__frame_next_raw(&e->reader, &body, &len, err, sizeof err)) {
      /* A broken stream cannot be resynchronised: end this executor. */
      stop_reading(e, err);
      kill(-e->process.pid, SIGKILL);
      return;
    }
    if (body == NULL) return;
    if (len >= PARSE_OFF_LOOP) {
      parse_req *p = fpq__calloc(1, sizeof *p);
      if (p != NULL) {
        p->e = e;
        p->body = body;
        p->len = len;
        e->parsing = 1;
        uv_read_stop((uv_stream_t *)&e->channel);
        if (uv_queue_work(e->process.loop, &p->req, parse_work, after_parse) == 0) return;
        e->parsing = 0;
        fpq__free(p);
        uv_read_start((uv_stream_t *)&e->channel, on_alloc, on_read);
      } /* no memory for the request: parse it here */
    }
    json_t *msg;
    if (fpq__frame_parse(body, len, &msg, err, sizeof err)) {
      stop_reading(e, err);
      kill(-e->process.pid, SIGKILL);
      return;
    }
    e->events.on_message(e, msg, NULL);
    json_decref(msg);
  }
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
  drain_frames(e);
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

  /* --supervisor: the executor dies with this process (PR_SET_PDEATHSIG, then a check
   * that its parent is still this pid, in case we died before it was set), so no run
   * outlives a SIGKILLed worker and overlaps its retry. */
  char supervisor[32], cache[16];
  snprintf(supervisor, sizeof supervisor, "%d", (int)getpid());
  snprintf(cache, sizeof cache, "%d", pipeline_cache);
  char *args[] = {(char *)python, "-m", "flowerpower_job_queue.executor", "--isolation",
                  (char *)isolation, "--supervisor", supervisor, "--pipeline-cache", cache,
                  NULL};
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

int fpq__executor_pid(const fpq__executor *e) { return e->exited ? 0 : e->process.pid; }

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

int fpq_die_with_parent(int supervisor_pid) {
  int rc = FPQ_ENOTSUP;
#ifdef __linux__
  /* The signal follows the parent *thread* that forked us: the worker spawns executors
   * from its loop thread (the main thread), and an executor forks from its main thread. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) == 0) rc = 0;
#endif
  /* Set after the parent may already have gone: then we were reparented (to init or a
   * subreaper) and no signal will ever come. */
  if (supervisor_pid > 0 && getppid() != (pid_t)supervisor_pid) kill(getpid(), SIGKILL);
  return rc;
}
