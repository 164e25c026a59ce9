/* libFuzzer target for the job's JSON form (src/job.c, fpq_job_from_json). Checked beyond
 * the sanitizers:
 *   - a failure returns FPQ_EINVAL or FPQ_EFORMAT, no job, and one line of message;
 *   - a job read back is valid as a record: its id passes fpq_validate_id;
 *   - whatever is read can be printed and read again (fpq_job_to_json's output is always
 *     accepted), and after one such trip printing is stable: to(from(to(job))) is
 *     to(job) once times have been rounded to RQ's microseconds;
 *   - fpq_job_dup of it prints the same.
 *
 *   build/fuzz/fuzz_job_json fuzz/corpus/fuzz_job_json -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fpq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fpq_job *read_back(const char *text) {
  fpq_job *job = NULL;
  char msg[512] = "";
  if (fpq_job_from_json(text, strlen(text), &job, msg, sizeof msg) != 0 || job == NULL)
    abort(); /* the engine printed something it cannot read */
  return job;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256 * 1024) return 0;
  fpq_job *job = NULL;
  char msg[512] = "";
  int rc = fpq_job_from_json((const char *)data, size, &job, msg, sizeof msg);
  if (rc != 0) {
    if ((rc != FPQ_EINVAL && rc != FPQ_EFORMAT) || job != NULL) abort();
    if (msg[0] == '\0' || strchr(msg, '\n')) abort();
    return 0;
  }
  if (job == NULL || fpq_validate_id(job->id, NULL, 0) != 0) abort();

  char *t1 = fpq_job_to_json(job);
  if (t1 == NULL) abort();
  fpq_job *j2 = read_back(t1);
  char *t2 = fpq_job_to_json(j2);
  fpq_job *j3 = read_back(t2);
  char *t3 = fpq_job_to_json(j3);
  if (t2 == NULL || t3 == NULL || strcmp(t2, t3) != 0) abort();

  fpq_job *copy = fpq_job_dup(job);
  char *tc = copy ? fpq_job_to_json(copy) : NULL;
  if (tc == NULL || strcmp(tc, t1) != 0) abort();

  free(tc);
  free(t1);
  free(t2);
  free(t3);
  fpq_job_free(copy);
  fpq_job_free(j2);
  fpq_job_free(j3);
  fpq_job_free(job);
  return 0;
}
