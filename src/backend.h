/* backend.h: the core's side of the backend interface: the registry and the one place
 * every backend call goes through (preconditions, missing methods, error detail). */
#ifndef FPQ_BACKEND_INTERNAL_H
#define FPQ_BACKEND_INTERNAL_H

#include "config.h"
#include "fpq_backend.h"

/* Adds a backend to the registry. FPQ_EEXIST if its name is taken, FPQ_EINVAL if its
 * version is newer than this core or it lacks a required method. */
int fpq__backend_add(const struct fpq_backend_methods *m);
/* Finds a backend by name, loading a plugin named in the conf file
 * (backends.NAME.library: /path/to/plugin.so) when it is not built in. Returns NULL with
 * one line in err listing the known names. */
const struct fpq_backend_methods *fpq__backend_find(const fpq__config *c, const char *name,
                                                    char *err, size_t errlen);
/* 1 when `name` is neither built in nor registered yet: finding it would load code
 * (a plugin or an adapter). */
int fpq__backend_needs_loading(const char *name);
/* Comma-separated names of the registered backends, into buf. */
void fpq__backend_names(char *buf, size_t len);

/* Opens a handle (allocated here, freed by fpq__backend_close). On failure *out still
 * holds a handle whose errstr says why, unless allocation itself failed (NULL). */
int fpq__backend_open(const struct fpq_backend_methods *m, const char *url,
                      const fpq_backend_settings *s, fpq_backend **out);
void fpq__backend_close(fpq_backend *b);

int fpq__backend_enqueue(fpq_backend *b, const fpq_job *job);
/* Batch enqueue (version 4), or a loop of enqueue on an older backend; on error *failed
 * is the index of the job at fault (n when none is). */
int fpq__backend_enqueue_many(fpq_backend *b, const fpq_job *const *jobs, size_t n,
                              size_t *failed);
int fpq__backend_get(fpq_backend *b, const char *id, fpq_job **out);
int fpq__backend_find_jobs(fpq_backend *b, const char *project, const char *pipeline,
                           int limit, fpq_job ***out, size_t *n);
int fpq__backend_cancel(fpq_backend *b, const char *id, double now);
int fpq__backend_requeue(fpq_backend *b, const char *id, double now);
int fpq__backend_counts(fpq_backend *b, fpq_queue_counts **out, size_t *n);
int fpq__backend_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out);
int fpq__backend_extend(fpq_backend *b, const char *id, const char *worker,
                        const char *execution, double until);
int fpq__backend_finish(fpq_backend *b, const fpq_finish_args *a);
/* finish, then take without waiting: one backend call on a version-5 backend
 * (finish_take), else the two. Returns finish's result; *take_rc is take's, or finish's
 * error when the take did not run. nowait: the caller's thread must not wait
 * (finish_take_nowait, version 6): returns 1 when the step did not complete at once (or
 * the backend cannot say), for the caller to call again with nowait 0. */
int fpq__backend_finish_take(fpq_backend *b, const fpq_finish_args *a, const fpq_take_args *t,
                             int nowait, int *take_rc, fpq_job **out);
int fpq__backend_maintain(fpq_backend *b, double now, int *moved);
int fpq__backend_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now);
int fpq__backend_worker_gone(fpq_backend *b, const char *name, double now);
int fpq__backend_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n);
int fpq__backend_worker_command(fpq_backend *b, const char *name, const char *command);
int fpq__backend_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len);

/* Version 2 (schedules, leases): a version-1 backend answers FPQ_ENOTSUP. */
int fpq__backend_schedule_put(fpq_backend *b, const fpq_schedule *s);
int fpq__backend_schedule_get(fpq_backend *b, const char *id, fpq_schedule **out);
int fpq__backend_schedule_list(fpq_backend *b, const char *project, int64_t due, int limit,
                               fpq_schedule ***out, size_t *n);
int fpq__backend_schedule_remove(fpq_backend *b, const char *id);
int fpq__backend_schedule_set_paused(fpq_backend *b, const char *id, int paused,
                                     int64_t next_fire);
int fpq__backend_schedule_advance(fpq_backend *b, const fpq_schedule_advance_args *a);
int fpq__backend_lease_acquire(fpq_backend *b, const char *name, const char *owner, double now,
                               double ttl, char *holder, size_t holder_len);
int fpq__backend_lease_release(fpq_backend *b, const char *name, const char *owner);

int fpq__backend_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                             size_t *n);

/* Version 3 (retention): older backends answer FPQ_ENOTSUP. */
int fpq__backend_prune(fpq_backend *b, double now, int64_t *removed);
int fpq__backend_retention(fpq_backend *b, double now, fpq_retention *out);

#endif /* FPQ_BACKEND_INTERNAL_H */
