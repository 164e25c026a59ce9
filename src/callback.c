/* callback.c: one callback run. The worker calls fpq__callback_start after fpq_finish has
 * recorded a job's final outcome, so nothing a callback does (raise, hang, crash, exit)
 * can change that outcome: the process only reports back how it went, which the worker
 * logs. A callback runs in its own process (not in the executor) so that a slow or
 * misbehaving one never holds up the next job, and a time limit is a kill, not a hope. */
#include "callback.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "job.h"

typedef struct callback_run {
  uv_process_t process;
  uv_pipe_t in;
  uv_timer_t timer;
  uv_write_t write;
  char *payload; /* JSON on the child's stdin; freed once written */
  int open_handles;
  int timed_out;
  double timeout;
  fpq__callback_done done;
  void *data;
  char id[FPQ_ID_MAX + 1];
  const char *which;
  char ref[FPQ_CALLBACK_MAX + 1];
} callback_run;

const char *fpq__callback_for(const fpq_job *job, fpq_status final, const char **which) {
  const char *ref = NULL;
  *which = NULL;
  if (final == FPQ_STATUS_FINISHED) ref = job->on_success, *which = "on_success";
  else if (final == FPQ_STATUS_FAILED) ref = job->on_failure, *which = "on_failure";
  else if (final == FPQ_STATUS_STOPPED) ref = job->on_stopped, *which = "on_stopped";
  return ref && *ref ? ref : NULL;
}

static void free_when_closed(uv_handle_t *h) {
  callback_run *c = h->data;
  if (--c->open_handles > 0) return;
  fpq__free(c->payload);
  fpq__free(c);
}

static void close_all(callback_run *c) {
  uv_close((uv_handle_t *)&c->process, free_when_closed);
  if (!uv_is_closing((uv_handle_t *)&c->in)) uv_close((uv_handle_t *)&c->in, free_when_closed);
  uv_close((uv_handle_t *)&c->timer, free_when_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
  callback_run *c = p->data;
  uv_timer_stop(&c->timer);
  char failure[128] = "";
  if (c->timed_out)
    snprintf(failure, sizeof failure, "timed out after %g s and was killed", c->timeout);
  else if (term_signal)
    snprintf(failure, sizeof failure, "was killed by signal %d", term_signal);
  else if (status != 0)
    snprintf(failure, sizeof failure, "exited with status %lld (its error is above)",
             (long long)status);
  c->done(c->data, c->id, c->which, c->ref, failure[0] ? failure : NULL);
  close_all(c);
}

static void on_timeout(uv_timer_t *t) {
  callback_run *c = t->data;
  c->timed_out = 1;
  /* Its own process group: whatever the callback started goes too. */
  kill(-c->process.pid, SIGKILL);
  uv_process_kill(&c->process, SIGKILL);
}

static void on_written(uv_write_t *req, int status) {
  callback_run *c = req->data;
  (void)status; /* a child that did not read its input fails, and says so */
  fpq__free(c->payload);
  c->payload = NULL;
  if (!uv_is_closing((uv_handle_t *)&c->in)) uv_close((uv_handle_t *)&c->in, free_when_closed);
}

/* {"which", "ref", "job"}: the job as fpq_job_to_json shows it, with the outcome just
 * recorded (the job passed in is as it was taken). Caller frees with free(). */
static char *payload_for(const fpq_job *job, fpq_status final, const char *which,
                         const char *ref, const char *project_dir, const char *result_json,
                         const char *error_json) {
  json_t *o = fpq__job_to_object(job);
  if (o == NULL) return NULL;
  json_t *result = result_json ? json_loads(result_json, JSON_DECODE_ANY, NULL) : json_null();
  json_t *error = error_json ? json_loads(error_json, 0, NULL) : json_null();
  json_object_set_new(o, "status", json_string(fpq_status_name(final)));
  json_object_set_new(o, "result", result ? result : json_null());
  json_object_set_new(o, "error", error ? error : json_null());
  json_t *msg = json_pack("{s:s, s:s, s:s, s:o}", "which", which, "ref", ref, "project_dir",
                          project_dir, "job", o);
  char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  json_decref(msg);
  return text;
}

int fpq__callback_start(uv_loop_t *loop, const char *python, const char *project_dir,
                        const fpq_job *job, fpq_status final, const char *result_json, const char *error_json,
                        double timeout, fpq__callback_done done, void *data, char *err,
                        size_t errlen) {
  const char *which;
  const char *ref = fpq__callback_for(job, final, &which);
  if (ref == NULL) return 0;
  callback_run *c = fpq__calloc(1, sizeof *c);
  char *text = c ? payload_for(job, final, which, ref, project_dir, result_json, error_json) : NULL;
  if (text == NULL) {
    snprintf(err, errlen, "out of memory");
    fpq__free(c);
    return -1;
  }
  /* jansson's buffer, copied so one allocator frees it. */
  c->payload = fpq__strdup(text);
  free(text);
  if (c->payload == NULL) {
    snprintf(err, errlen, "out of memory");
    fpq__free(c);
    return -1;
  }
  c->done = done;
  c->data = data;
  c->which = which;
  c->timeout = timeout;
  snprintf(c->id, sizeof c->id, "%s", job->id);
  snprintf(c->ref, sizeof c->ref, "%s", ref);
  uv_pipe_init(loop, &c->in, 0);
  uv_timer_init(loop, &c->timer);
  c->in.data = c->timer.data = c->process.data = c->write.data = c;
  /* --supervisor: it dies with the worker (as an executor does), so a worker that is
   * SIGKILLed leaves no callback running past its time limit. */
  char supervisor[32];
  snprintf(supervisor, sizeof supervisor, "%d", (int)getpid());
  char *args[] = {(char *)python, "-m", "flowerpower_job_queue.callback", "--supervisor",
                  supervisor, NULL};
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&c->in;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 2; /* what it prints joins the worker's log */
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  uv_process_options_t opts = {
      .exit_cb = on_exit_cb,
      .file = python,
      .args = args,
      .cwd = project_dir, /* `-m` puts it first on sys.path: the project's own modules */
      .stdio = stdio,
      .stdio_count = 3,
      .flags = UV_PROCESS_DETACHED,
  };
  c->open_handles = 3;
  int rc = uv_spawn(loop, &c->process, &opts);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start '%s -m flowerpower_job_queue.callback' in %s: %s",
             python, project_dir, uv_strerror(rc));
    close_all(c); /* libuv set the process handle up even so */
    return -1;
  }
  uv_buf_t buf = uv_buf_init(c->payload, (unsigned)strlen(c->payload));
  if (uv_write(&c->write, (uv_stream_t *)&c->in, &buf, 1, on_written) != 0)
    uv_close((uv_handle_t *)&c->in, free_when_closed); /* the child sees EOF and fails */
  uv_timer_start(&c->timer, on_timeout, (uint64_t)(timeout * 1000), 0);
  return 1;
}
