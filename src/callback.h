/* callback.h: runs a job's callback (on_success / on_failure / on_stopped) once its final
 * outcome is recorded, as a short-lived `python -m flowerpower_job_queue.callback` process
 * on the worker's loop (docs/python-api.md, "Callbacks"). */
#ifndef FPQ_CALLBACK_H
#define FPQ_CALLBACK_H

#include <uv.h>

#include "fpq.h"

/* Called on the loop once the callback process is gone. failure is NULL when the callback
 * returned, else one line saying how it failed ("timed out after 60 s", "exited with
 * status 1"); which is "on_success", "on_failure" or "on_stopped". Strings are borrowed. */
typedef void (*fpq__callback_done)(void *data, const char *job_id, const char *which,
                                   const char *ref, const char *failure);

/* The callback the job names for its final status (finished: on_success, failed:
 * on_failure, stopped: on_stopped), or NULL when it names none. *which is set to its
 * name. */
const char *fpq__callback_for(const fpq_job *job, fpq_status final, const char **which);

/* Starts the callback for job's final status: python (the executors' interpreter) runs
 * in project_dir (the worker's own project: a job names its project, never a path) and
 * reads {"which", "ref", "project_dir", "job"} on stdin, job being
 * the job's JSON form with its final status, result and error. It is killed (its whole
 * process group) after timeout seconds. Returns 1 when started (done follows, exactly
 * once), 0 when the job has no callback for this status, or -1 with one line in err. */
int fpq__callback_start(uv_loop_t *loop, const char *python, const char *project_dir,
                        const fpq_job *job, fpq_status final, const char *result_json, const char *error_json,
                        double timeout, fpq__callback_done done, void *data, char *err,
                        size_t errlen);

#endif
