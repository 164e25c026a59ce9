/* project.h: what the engine reads of a FlowerPower project without starting Python. */
#ifndef FPQ_PROJECT_H
#define FPQ_PROJECT_H

#include <stddef.h>

/* FlowerPower's RetryConfig defaults, used when neither the caller nor the pipeline's
 * YAML says otherwise, so a queued run retries as project.run() would. */
#define FPQ_DEFAULT_MAX_RETRIES 3
#define FPQ_DEFAULT_RETRY_DELAY 1.0
#define FPQ_DEFAULT_JITTER 0.1

/* 0 when the project holds the pipeline (pipelines/a/b.py for "a.b") or is not on this
 * machine (no pipelines/ directory: it lives where the workers run); FPQ_ENOTFOUND with
 * one line in msg otherwise. */
int fpq__pipeline_check(const char *project, const char *pipeline, char *msg, size_t len);

/* Fills the retry fields still unset (< 0) from conf/pipelines/NAME.yml's run.retry (or
 * its legacy flat keys), else FlowerPower's defaults. Returns 0, or FPQ_ECONFIG with one
 * line in msg when the YAML cannot be read or a value is not a number. */
int fpq__pipeline_retry_policy(const char *project, const char *pipeline, int *max_retries,
                               double *retry_delay, double *jitter_factor, char *msg,
                               size_t len);

#endif /* FPQ_PROJECT_H */
