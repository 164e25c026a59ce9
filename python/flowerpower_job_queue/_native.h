/* _native.h: what the files of the _native extension share: _native.c (the module, the
 * Queue type and its job methods), _native_schedules.c (its schedule methods),
 * _native_records.c (records as dicts and back), _native_backend.c (backends written in
 * Python, plugged into the engine), _native_run.c (the worker and scheduler run in
 * this process) and _native_help.c (the fpq commands' help, for the Typer CLI). */
#ifndef FPQ_PY_NATIVE_H
#define FPQ_PY_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include "fpq.h"
#include "fpq_backend.h"

/* The error text of a handle is at most 768 bytes (src/queue.h); room for our prefix. */
#define ERR_MAX 1024
/* A call on a closed handle; positive, so it never collides with an FPQ_E* code. */
#define CLOSED 1

typedef struct {
  PyObject *queue_type;
  /* The exception classes from flowerpower_job_queue.exceptions. */
  PyObject *JobQueueError;
  PyObject *InvalidInput;
  PyObject *JobNotFound;
  PyObject *BackendUnavailable;
  PyObject *JobTimeout;
} native_state;

typedef struct {
  PyObject_HEAD
  fpq_queue *q;           /* NULL once closed */
  PyThread_type_lock lock; /* held while a thread uses q */
  PyObject *backend;       /* resolved settings, str, fixed at open */
  PyObject *url;
  PyObject *project_dir;
} QueueObject;

/* Runs `call` (a statement that sets rc) on self->q with the GIL released and the handle's
 * lock held; on failure copies the handle's message into err before the lock goes. */
#define WITH_HANDLE(self, rc, err, call)                                 \
  do {                                                                   \
    Py_BEGIN_ALLOW_THREADS                                               \
    PyThread_acquire_lock((self)->lock, WAIT_LOCK);                      \
    if ((self)->q == NULL) {                                             \
      (rc) = CLOSED;                                                     \
    } else {                                                             \
      call;                                                              \
      if ((rc) != 0) snprintf((err), ERR_MAX, "%s", fpq_errmsg((self)->q)); \
    }                                                                    \
    PyThread_release_lock((self)->lock);                                 \
    Py_END_ALLOW_THREADS                                                 \
  } while (0)

/* Helpers defined in _native.c. */
/* The state of the module that defined tp (or a base of it); NULL with an exception. */
native_state *type_state(PyTypeObject *tp);
/* The module's state. */
native_state *module_state(PyObject *module);
/* Raise the package's exception for an FPQ_E* code (or CLOSED) with the engine's message
 * ("" = the code's generic text) or a PyUnicode_FromFormat message. Return NULL. */
PyObject *raise_code(const native_state *st, int code, const char *msg);
/* raise_code with the setting or argument the error is about (the exception's field). */
PyObject *raise_code_field(const native_state *st, int code, const char *msg,
                           const char *field);
PyObject *raise_format(const native_state *st, int code, const char *fmt, ...);

/* Records (_native_records.c). To Python: new references, NULL with an exception. From
 * Python: strict about types (ValueError/TypeError naming the field); the C records are
 * the caller's (fpq_job_free, fpq_schedule_free). */
/* str, or None for NULL; float epoch seconds, or None for 0. New references. */
PyObject *str_or_none(const char *s);
PyObject *time_or_none(double t);
/* d[key] = value, dropping the reference; value NULL means an error is set. */
int put(PyObject *d, const char *key, PyObject *value);
PyObject *job_to_dict(const fpq_job *job);
fpq_job *dict_to_job(PyObject *d);
PyObject *jobs_to_list(fpq_job *const *jobs, size_t n);
PyObject *schedule_to_dict(const fpq_schedule *s);
fpq_schedule *dict_to_schedule(PyObject *d);
PyObject *schedules_to_list(fpq_schedule *const *list, size_t n);
PyObject *worker_to_dict(const fpq_worker_info *w);
int dict_to_worker(PyObject *d, fpq_worker_info *w);
PyObject *counts_to_dict(const fpq_queue_counts *c);
int dict_to_counts(PyObject *d, fpq_queue_counts *c);
PyObject *run_record_to_dict(const fpq_run_record *r);
int dict_to_run_record(PyObject *d, fpq_run_record *r);
/* d[key] as a status; -1 with ValueError naming record and key. */
int read_status(PyObject *d, const char *record, const char *key, fpq_status *out);

/* Python backends (_native_backend.c); call with the GIL held. */
/* Adds class cls as backend `name` (again: replaces its class). 0, or an FPQ_E* code with
 * one line in err. */
int python_backend_register(const char *name, PyObject *cls, char *err, size_t errlen);
/* The class registered as backend `name` (borrowed), or NULL. */
PyObject *python_backend_class(const char *name);
/* Lets the engine load `backends.NAME.adapter` classes named in conf/job_queue.yml. */
void python_backend_install_loader(void);

/* The worker and the scheduler in this process (_native_run.c): module functions. */
PyObject *native_run_worker(PyObject *module, PyObject *args, PyObject *kwds);
PyObject *native_run_scheduler(PyObject *module, PyObject *args, PyObject *kwds);
extern const char run_worker_doc[], run_scheduler_doc[];

/* The fpq commands' help table (_native_help.c over cli/help.c). */
PyObject *native_cli_help(PyObject *module, PyObject *ignored);
extern const char cli_help_doc[];

/* Settings and decisions (_native_config.c): module functions. */
PyObject *native_resolve_config(PyObject *module, PyObject *args, PyObject *kwds);
PyObject *native_project_serves(PyObject *module, PyObject *args, PyObject *kwds);
PyObject *native_retry_decision(PyObject *module, PyObject *args);
extern const char resolve_config_doc[], project_serves_doc[], retry_decision_doc[];
/* "O&" converter: a path-like or None -> bytes (or NULL), released by the caller. */
int path_or_none(PyObject *obj, void *out);

/* Enqueue (_native_enqueue.c): Queue methods. */
PyObject *Queue_enqueue(QueueObject *self, PyObject *args, PyObject *kwds);
PyObject *Queue_enqueue_many(QueueObject *self, PyObject *items);
PyObject *Queue_enqueue_jsonl(QueueObject *self, PyObject *arg);
extern const char enqueue_doc[], enqueue_many_doc[], enqueue_jsonl_doc[];

/* Schedules (_native_schedules.c): Queue methods and module functions. */
PyObject *Queue_schedule_put(QueueObject *self, PyObject *args, PyObject *kwds);
PyObject *Queue_schedule_get(QueueObject *self, PyObject *args);
PyObject *Queue_schedule_list(QueueObject *self, PyObject *args, PyObject *kwds);
PyObject *Queue_schedule_remove(QueueObject *self, PyObject *args);
PyObject *Queue_schedule_pause(QueueObject *self, PyObject *args);
PyObject *Queue_schedule_resume(QueueObject *self, PyObject *args);
PyObject *Queue_schedule_next(QueueObject *self, PyObject *args, PyObject *kwds);
PyObject *native_next_fires(PyObject *module, PyObject *args, PyObject *kwds);
PyObject *native_validate_trigger(PyObject *module, PyObject *args, PyObject *kwds);
PyObject *native_schedule_json(PyObject *module, PyObject *args);
extern const char schedule_put_doc[], schedule_get_doc[], schedule_list_doc[],
    schedule_remove_doc[], schedule_pause_doc[], schedule_resume_doc[], schedule_next_doc[],
    next_fires_doc[], validate_trigger_doc[], schedule_json_doc[];

#define NATIVE_SCHEDULE_METHODS                                                         \
  {"schedule_put", (PyCFunction)(void (*)(void))Queue_schedule_put,                     \
   METH_VARARGS | METH_KEYWORDS, schedule_put_doc},                                     \
  {"schedule_get", (PyCFunction)Queue_schedule_get, METH_VARARGS, schedule_get_doc},    \
  {"schedule_list", (PyCFunction)(void (*)(void))Queue_schedule_list,                   \
   METH_VARARGS | METH_KEYWORDS, schedule_list_doc},                                    \
  {"schedule_remove", (PyCFunction)Queue_schedule_remove, METH_VARARGS,                 \
   schedule_remove_doc},                                                                \
  {"schedule_pause", (PyCFunction)Queue_schedule_pause, METH_VARARGS, schedule_pause_doc}, \
  {"schedule_resume", (PyCFunction)Queue_schedule_resume, METH_VARARGS,                 \
   schedule_resume_doc},                                                                \
  {"schedule_next", (PyCFunction)(void (*)(void))Queue_schedule_next,                   \
   METH_VARARGS | METH_KEYWORDS, schedule_next_doc},

#define NATIVE_SCHEDULE_FUNCTIONS                                                       \
  {"next_fires", (PyCFunction)(void (*)(void))native_next_fires,                        \
   METH_VARARGS | METH_KEYWORDS, next_fires_doc},                                       \
  {"validate_trigger", (PyCFunction)(void (*)(void))native_validate_trigger,            \
   METH_VARARGS | METH_KEYWORDS, validate_trigger_doc},                                 \
  {"schedule_json", native_schedule_json, METH_VARARGS, schedule_json_doc},

#endif /* FPQ_PY_NATIVE_H */
