/* job.h: the engine's private view of the job record (the public one is in fpq.h): the
 * message and queue helpers the core and the built-in backends share (src/shared/). */
#ifndef FPQ_JOB_H
#define FPQ_JOB_H

#include <jansson.h>

#include "fpq.h"

/* Writes n bytes as 2n lower-case hex digits and a NUL; returns the NUL's address. */
char *fpq__hex(char *out, const unsigned char *bytes, size_t n);
/* Writes a time-ordered UUID (version 7) from the clock and 16 random bytes (changed in
 * place: time, version and variant). */
void fpq__job_id_format(char id[FPQ_ID_MAX + 1], unsigned char b[16]);
/* Writes one line into msg (if not NULL) and returns FPQ_EINVAL: the shape of every
 * validation failure. */
int fpq__invalid(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses JSON someone gave us (json_loadb's flags). Returns a new reference, or NULL with
 * one line in msg (may be NULL) that begins with what, the subject and its verb ("inputs
 * is", "run options are"): "<what> not valid JSON: <why> at position <n>". */
json_t *fpq__json_load(const char *text, size_t len, size_t flags, const char *what, char *msg,
                       size_t msglen);
/* A queue's rank in the default order: high 0, default 1, low 2, any other queue 3. */
int fpq__queue_priority(const char *queue);
/* A project's name (issue 12): 1-FPQ_PROJECT_NAME_MAX of A-Z a-z 0-9 _ - ., not "." or
 * "..". Returns 0, or FPQ_EINVAL with one line in msg. */
int fpq__validate_project_name(const char *name, char *msg, size_t msglen);
/* Copies a user's value into buf for a one-line message: non-printable bytes escaped,
 * long values cut with "...". */
void fpq__quote(const char *value, char *buf, size_t len);
/* Copies text (e.g. jansson's error text, which quotes the input near the error raw) into
 * buf with control and non-ASCII bytes escaped, so it cannot break a one-line message. */
void fpq__one_line(const char *text, char *buf, size_t len);
/* NULL-terminated list of the run() keyword arguments we accept. */
const char *const *fpq__run_keys(void);
/* The job's JSON form as a jansson object (new reference), NULL when out of memory. */
json_t *fpq__job_to_object(const fpq_job *job);
/* A stored error as the executor reports one: {"type", "message", "traceback": ""},
 * compact JSON the caller frees with free(); NULL when out of memory. */
char *fpq__error_json(const char *type, const char *message);
/* Sets the backend's error for a renewal or outcome the job no longer accepts from this
 * run (execution NULL or "": a caller that checks the worker's name only) and returns
 * FPQ_ELEASE; one wording for every backend. */
struct fpq_backend;
int fpq__not_held(struct fpq_backend *b, const char *id, const char *worker,
                  const char *execution);

#endif /* FPQ_JOB_H */
