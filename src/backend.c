/* backend.c: the registry of storage backends and the wrappers every backend call goes
 * through. Built-in backends register on first use; a plugin is a shared object named in
 * conf/job_queue.yml (backends.NAME.library) and loaded with dlopen. The wrappers are the
 * single place where a missing method becomes FPQ_ENOTSUP and where errors get their
 * detail, so no caller has to know which backend it talks to. */
#include "backend.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "builtin_backends.h"
#include "job.h"

#define MAX_BACKENDS 32

static const struct fpq_backend_methods *registry[MAX_BACKENDS];
static size_t registry_len;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static fpq_adapter_loader_fn adapter_loader; /* guarded by registry_lock */

/* Backend names become conf keys (backends.NAME.*) and environment variable names
 * (FPQ_BACKENDS_NAME_*): keep them to characters both can hold. */
static int valid_name(const char *name) {
  size_t n = strlen(name);
  return n >= 1 && n <= 63 &&
         strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int add_locked(const struct fpq_backend_methods *m) {
  if (m == NULL || m->name == NULL || !valid_name(m->name) || m->version < 1 ||
      m->version > FPQ_BACKEND_VERSION || m->handle_size < sizeof(fpq_backend) ||
      m->open == NULL || m->close == NULL)
    return FPQ_EINVAL;
  for (size_t i = 0; i < registry_len; i++)
    if (strcmp(registry[i]->name, m->name) == 0) return FPQ_EEXIST;
  if (registry_len == MAX_BACKENDS) return FPQ_ENOMEM;
  registry[registry_len++] = m;
  return 0;
}

static void register_builtins(void) {
  pthread_mutex_lock(&registry_lock);
  add_locked(&fpq__sqlite_methods);
#ifdef FPQ_HAVE_RQ
  add_locked(&fpq__rq_methods);
#endif
  pthread_mutex_unlock(&registry_lock);
}

int fpq__backend_add(const struct fpq_backend_methods *m) {
  pthread_once(&builtins_once, register_builtins);
  pthread_mutex_lock(&registry_lock);
  int rc = add_locked(m);
  pthread_mutex_unlock(&registry_lock);
  return rc;
}

int fpq_backend_add(const struct fpq_backend_methods *m) { return fpq__backend_add(m); }

void fpq_set_adapter_loader(fpq_adapter_loader_fn loader) {
  pthread_mutex_lock(&registry_lock);
  adapter_loader = loader;
  pthread_mutex_unlock(&registry_lock);
}

void fpq_backend_names(char *buf, size_t len) { fpq__backend_names(buf, len); }

void fpq__backend_names(char *buf, size_t len) {
  pthread_once(&builtins_once, register_builtins);
  size_t o = 0;
  buf[0] = '\0';
  pthread_mutex_lock(&registry_lock);
  for (size_t i = 0; i < registry_len && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", registry[i]->name);
  pthread_mutex_unlock(&registry_lock);
}

static const struct fpq_backend_methods *lookup(const char *name) {
  const struct fpq_backend_methods *found = NULL;
  pthread_mutex_lock(&registry_lock);
  for (size_t i = 0; i < registry_len && !found; i++)
    if (strcmp(registry[i]->name, name) == 0) found = registry[i];
  pthread_mutex_unlock(&registry_lock);
  return found;
}

/* Loads a plugin; the handle is never closed because the methods live in it. */
static const struct fpq_backend_methods *load_plugin(const char *name, const char *path,
                                                     char *err, size_t errlen) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    snprintf(err, errlen, "backend '%s': cannot load plugin %s: %s", name, path, dlerror());
    return NULL;
  }
  static const fpq_host_api host = {
      .version = FPQ_HOST_API_VERSION,
      .backend_version = FPQ_BACKEND_VERSION,
      .job_new = fpq_job_new,
      .job_free = fpq_job_free,
      .job_dup = fpq_job_dup,
      .job_set = fpq_job_set,
      .status_name = fpq_status_name,
      .status_parse = fpq_status_parse,
      .retry_decision = fpq_retry_decision,
      .alloc = fpq__malloc,
      .realloc = fpq__realloc,
      .free = fpq__free,
  };
  fpq_backend_register_fn reg;
  *(void **)&reg = dlsym(lib, "fpq_backend_register");
  const struct fpq_backend_methods *m = reg ? reg(&host) : NULL;
  if (m == NULL) {
    snprintf(err, errlen, "backend '%s': plugin %s %s", name, path,
             reg ? "refused this core's version" : "does not export fpq_backend_register");
    return NULL;
  }
  if (m->name == NULL || strcmp(m->name, name) != 0) {
    snprintf(err, errlen, "backend '%s': plugin %s calls itself '%s'", name, path,
             m->name ? m->name : "");
    return NULL;
  }
  int rc = fpq__backend_add(m);
  if (rc == FPQ_EINVAL) {
    snprintf(err, errlen,
             "backend '%s': plugin %s has version %d (this core supports 1 to %d) or lacks "
             "open/close", name, path, m->version, FPQ_BACKEND_VERSION);
    return NULL;
  }
  return lookup(name);
}

/* Appends to names (", "-joined) the backends conf/job_queue.yml declares
 * (backends.NAME.library or backends.NAME.adapter) that are not registered yet, so a
 * mistyped name is answered with every name that would have worked. */
static void add_declared_names(const fpq__config *c, char *names, size_t len) {
  for (size_t i = 0; i < c->nsettings; i++) {
    const char *key = c->settings[i].key;
    if (strncmp(key, "backends.", 9) != 0) continue;
    const char *name = key + 9, *dot = strchr(name, '.');
    if (dot == NULL || (strcmp(dot, ".library") != 0 && strcmp(dot, ".adapter") != 0)) continue;
    char one[64];
    snprintf(one, sizeof one, "%.*s", (int)(dot - name), name);
    if (lookup(one) != NULL) continue;
    char listed[70];
    snprintf(listed, sizeof listed, ", %s", one);
    size_t used = strlen(names);
    if (strstr(names, listed) == NULL && strncmp(names, listed + 2, strlen(one) + 1) != 0 &&
        used + strlen(listed) < len)
      snprintf(names + used, len - used, "%s", listed);
  }
}

/* A backend whose code is in another language: the host's loader registers it. */
static const struct fpq_backend_methods *load_adapter(const char *name, const char *spec,
                                                      char *err, size_t errlen) {
  pthread_mutex_lock(&registry_lock);
  fpq_adapter_loader_fn loader = adapter_loader;
  pthread_mutex_unlock(&registry_lock);
  char q[80];
  fpq__quote(spec, q, sizeof q);
  if (loader == NULL) {
    snprintf(err, errlen, "backend '%s' is a Python adapter ('%s'): this program runs C "
             "backends only; use flowerpower-queue or the Python API, which run the same "
             "engine with it", name, q);
    return NULL;
  }
  err[0] = '\0';
  int rc = loader(name, spec, err, errlen);
  const struct fpq_backend_methods *m = rc == 0 ? lookup(name) : NULL;
  if (m == NULL && err[0] == '\0')
    snprintf(err, errlen, "backend '%s': adapter '%s' did not register a backend of that "
             "name", name, q);
  return m;
}

int fpq__backend_needs_loading(const char *name) {
  pthread_once(&builtins_once, register_builtins);
  return lookup(name) == NULL;
}

const struct fpq_backend_methods *fpq__backend_find(const fpq__config *c, const char *name,
                                                    char *err, size_t errlen) {
  pthread_once(&builtins_once, register_builtins);
  const struct fpq_backend_methods *m = lookup(name);
  if (m) return m;
  char key[128];
  snprintf(key, sizeof key, "backends.%s.library", name);
  const char *path = c ? fpq__config_get(c, key) : NULL;
  if (path && path[0] != '/' && c) {
    /* A relative plugin path is the project's, wherever the command runs: dlopen would
     * read it from the current directory (or, without a slash, the library path). */
    char full[PATH_MAX + 256];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", c->project_dir, path) >= sizeof full) {
      snprintf(err, errlen, "backend '%s': plugin path '%.200s' is too long", name, path);
      return NULL;
    }
    return load_plugin(name, full, err, errlen);
  }
  if (path) return load_plugin(name, path, err, errlen);
  snprintf(key, sizeof key, "backends.%s.adapter", name);
  const char *spec = c ? fpq__config_get(c, key) : NULL;
  if (spec) return load_adapter(name, spec, err, errlen);
  char names[512], q[80];
  fpq__backend_names(names, sizeof names);
  if (c) add_declared_names(c, names, sizeof names);
  fpq__quote(name, q, sizeof q);
  snprintf(err, errlen, "backend '%s' is not known: expected one of %s (or a plugin under "
           "backends: in conf/job_queue.yml)", q, names);
  return NULL;
}

int fpq__backend_open(const struct fpq_backend_methods *m, const char *url,
                      const fpq_backend_settings *s, fpq_backend **out) {
  fpq_backend *b = fpq__calloc(1, m->handle_size);
  *out = b;
  if (b == NULL) return FPQ_ENOMEM;
  b->methods = m;
  int rc = m->open(b, url, s);
  if (rc != 0 && b->err == 0) fpq_backend_fail(b, rc, "%s", fpq_strerror(rc));
  return rc;
}

void fpq__backend_close(fpq_backend *b) {
  if (b == NULL) return;
  b->methods->close(b);
  fpq__free(b);
}

/* Calls an optional method; clears the error first so a stale message never shows. */
#define CALL(b, method, ...)                                                              \
  do {                                                                                    \
    (b)->err = 0;                                                                         \
    (b)->errstr[0] = '\0';                                                                \
    if ((b)->methods->method == NULL)                                                     \
      return fpq_backend_fail((b), FPQ_ENOTSUP, "backend '%s' does not support %s",      \
                              (b)->methods->name, #method);                               \
    int rc_ = (b)->methods->method((b), __VA_ARGS__);                                     \
    if (rc_ != 0 && (b)->errstr[0] == '\0') fpq_backend_fail((b), rc_, "%s", fpq_strerror(rc_)); \
    return rc_;                                                                           \
  } while (0)

int fpq__backend_enqueue(fpq_backend *b, const fpq_job *job) { CALL(b, enqueue, job); }

int fpq__backend_get(fpq_backend *b, const char *id, fpq_job **out) {
  *out = NULL;
  CALL(b, get, id, out);
}

int fpq__backend_find_jobs(fpq_backend *b, const char *project, const char *pipeline,
                           int limit, fpq_job ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  CALL(b, find, project, pipeline, limit, out, n);
}

int fpq__backend_cancel(fpq_backend *b, const char *id, double now) { CALL(b, cancel, id, now); }

int fpq__backend_requeue(fpq_backend *b, const char *id, double now) {
  CALL(b, requeue, id, now);
}

int fpq__backend_counts(fpq_backend *b, fpq_queue_counts **out, size_t *n) {
  *out = NULL;
  *n = 0;
  CALL(b, counts, out, n);
}

int fpq__backend_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out) {
  *out = NULL;
  CALL(b, take, a, out);
}

int fpq__backend_extend(fpq_backend *b, const char *id, const char *worker,
                        const char *execution, double until) {
  /* A version-3 backend checks the run's token; an older one (or a run taken from one)
   * only the worker's name. */
  if (execution && b->methods->version >= 3 && b->methods->extend_execution)
    CALL(b, extend_execution, id, worker, execution, until);
  CALL(b, extend, id, worker, until);
}

int fpq__backend_finish(fpq_backend *b, const fpq_finish_args *a) { CALL(b, finish, a); }

int fpq__backend_finish_take(fpq_backend *b, const fpq_finish_args *a, const fpq_take_args *t,
                             int nowait, int *take_rc, fpq_job **out) {
  *out = NULL;
  int rc;
  const struct fpq_backend_methods *m = b->methods;
  /* Both: a step this one left unfinished is completed by the waiting finish_take. */
  if (nowait && (m->version < 6 || m->finish_take_nowait == NULL || m->finish_take == NULL))
    return 1;
  if (nowait || (m->version >= 5 && m->finish_take)) {
    b->err = 0;
    b->errstr[0] = '\0';
    *take_rc = FPQ_EEMPTY;
    rc = nowait ? m->finish_take_nowait(b, a, t, take_rc, out)
                : m->finish_take(b, a, t, take_rc, out);
    if (rc > 0) {
      if (*out) fpq_job_free(*out);
      *out = NULL;
      /* Not done at once: the caller completes it on a thread that may wait. From the
       * waiting call, a positive answer is a backend's mistake. */
      if (nowait) return 1;
      rc = fpq_backend_fail(b, FPQ_EBACKEND, "the backend's finish_take answered %d", rc);
    }
    int failed = rc != 0 ? rc : *take_rc != 0 && *take_rc != FPQ_EEMPTY ? *take_rc : 0;
    if (failed && b->errstr[0] == '\0') fpq_backend_fail(b, failed, "%s", fpq_strerror(failed));
  } else {
    rc = fpq__backend_finish(b, a);
    if (rc != 0 && rc != FPQ_ELEASE) {
      *take_rc = rc;
      return rc;
    }
    /* finish's message (why the job is no longer held) outlives the take's call. */
    char why[sizeof b->errstr];
    snprintf(why, sizeof why, "%s", b->errstr);
    *take_rc = fpq__backend_take(b, t, out);
    if (rc) fpq_backend_fail(b, rc, "%s", why);
  }
  if (rc != 0 && rc != FPQ_ELEASE) *take_rc = rc;
  return rc;
}

int fpq__backend_maintain(fpq_backend *b, double now, int *moved) {
  int ignored;
  CALL(b, maintain, now, moved ? moved : &ignored);
}

int fpq__backend_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now) {
  CALL(b, worker_beat, w, ttl, now);
}

int fpq__backend_worker_gone(fpq_backend *b, const char *name, double now) {
  CALL(b, worker_gone, name, now);
}

int fpq__backend_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n) {
  *out = NULL;
  *n = 0;
  CALL(b, workers, now, out, n);
}

int fpq__backend_worker_command(fpq_backend *b, const char *name, const char *command) {
  CALL(b, worker_command, name, command);
}

int fpq__backend_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len) {
  if (len) buf[0] = '\0';
  CALL(b, worker_next_command, name, buf, len);
}

/* Methods appended in version N lie beyond the end of an older plugin's struct: look at
 * the version before the pointer, or we would read past it. */
#define CALL_VN(n, b, method, ...)                                                        \
  do {                                                                                    \
    if ((b)->methods->version < (n)) {                                                    \
      (b)->err = 0;                                                                       \
      return fpq_backend_fail((b), FPQ_ENOTSUP,                                           \
                              "backend '%s' (version %d) does not support %s: it needs " \
                              "a version %d backend", (b)->methods->name,                 \
                              (b)->methods->version, #method, (n));                       \
    }                                                                                     \
    CALL(b, method, __VA_ARGS__);                                                         \
  } while (0)
#define CALL_V2(b, method, ...) CALL_VN(2, b, method, __VA_ARGS__)

int fpq__backend_schedule_put(fpq_backend *b, const fpq_schedule *s) {
  CALL_V2(b, schedule_put, s);
}

int fpq__backend_schedule_get(fpq_backend *b, const char *id, fpq_schedule **out) {
  *out = NULL;
  CALL_V2(b, schedule_get, id, out);
}

int fpq__backend_schedule_list(fpq_backend *b, const char *project, int64_t due, int limit,
                               fpq_schedule ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  CALL_V2(b, schedule_list, project, due, limit, out, n);
}

int fpq__backend_schedule_remove(fpq_backend *b, const char *id) {
  CALL_V2(b, schedule_remove, id);
}

int fpq__backend_schedule_set_paused(fpq_backend *b, const char *id, int paused,
                                     int64_t next_fire) {
  CALL_V2(b, schedule_set_paused, id, paused, next_fire);
}

int fpq__backend_schedule_advance(fpq_backend *b, const fpq_schedule_advance_args *a) {
  CALL_V2(b, schedule_advance, a);
}

int fpq__backend_lease_acquire(fpq_backend *b, const char *name, const char *owner, double now,
                               double ttl, char *holder, size_t holder_len) {
  if (holder_len) holder[0] = '\0';
  CALL_V2(b, lease_acquire, name, owner, now, ttl, holder, holder_len);
}

int fpq__backend_lease_release(fpq_backend *b, const char *name, const char *owner) {
  CALL_V2(b, lease_release, name, owner);
}

int fpq__backend_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                             size_t *n) {
  *out = NULL;
  *n = 0;
  CALL_V2(b, ended_since, since, limit, out, n);
}

int fpq__backend_enqueue_many(fpq_backend *b, const fpq_job *const *jobs, size_t n,
                              size_t *failed) {
  *failed = n;
  if (b->methods->version >= 4 && b->methods->enqueue_many)
    CALL(b, enqueue_many, jobs, n, failed);
  /* An older backend: one enqueue per job, stopping at the first refusal; the jobs before
   * it stay stored (the caller's message says so). */
  for (size_t i = 0; i < n; i++) {
    int rc = fpq__backend_enqueue(b, jobs[i]);
    if (rc) {
      *failed = i;
      return rc;
    }
  }
  return 0;
}

int fpq__backend_prune(fpq_backend *b, double now, int64_t *removed) {
  *removed = 0;
  CALL_VN(3, b, prune, now, removed);
}

int fpq__backend_retention(fpq_backend *b, double now, fpq_retention *out) {
  out->kept = 0;
  out->bytes = 0;
  CALL_VN(3, b, retention, now, out);
}
