/* libFuzzer target for the rq backend's reading of what other RQ clients wrote
 * (src/backend/rq/format.c): a job hash's `data` (zlib or not, JSON or a pickle or anything),
 * base64, and pub/sub command payloads. Checked beyond the sanitizers:
 *   - data that is refused gets FPQ_EFORMAT and one line saying why;
 *   - data that is read can be written back and read again to the same job fields;
 *   - base64 encode then decode gives the input back;
 *   - a command payload that is understood encodes back to one that decodes the same.
 *
 *   build/fuzz/fuzz_rq_data fuzz/corpus/fuzz_rq_data -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fpq.h"
#include "backend/rq/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256 * 1024) return 0;
  fpq_job *job = fpq_job_new();
  char why[256] = "";
  int rc = fpq__rq_data_decode(data, size, job, why, sizeof why);
  if (rc == FPQ_EFORMAT) {
    if (why[0] == '\0' || strchr(why, '\n')) abort();
  } else if (rc == 0) {
    if (job->func == NULL || job->run_json == NULL) abort();
    unsigned char *out = NULL;
    size_t outlen = 0;
    if (fpq__rq_data_encode(job, &out, &outlen) != 0) abort();
    fpq_job *back = fpq_job_new();
    if (fpq__rq_data_decode(out, outlen, back, why, sizeof why) != 0) abort();
    if (!same(job->func, back->func) || !same(job->project, back->project) ||
        !same(job->pipeline, back->pipeline) || !same(job->run_json, back->run_json))
      abort();
    fpq_job_free(back);
    free(out);
  } else if (rc != FPQ_ENOMEM) {
    abort();
  }
  fpq_job_free(job);

  char *b64 = NULL;
  size_t blen = 0;
  unsigned char *raw = NULL;
  size_t rlen = 0;
  if (fpq__rq_b64_encode(data, size, &b64, &blen) != 0) abort();
  if (fpq__rq_b64_decode(b64, blen, &raw, &rlen) != 0) abort();
  if (rlen != size || (size && memcmp(raw, data, size) != 0)) abort();
  free(b64);
  free(raw);

  char cmd[512];
  if (fpq__rq_command_decode((const char *)data, size, cmd, sizeof cmd) == 0 &&
      strlen(cmd) < sizeof cmd - 1) {
    char *again = fpq__rq_command_encode(cmd);
    char cmd2[512];
    if (again == NULL || fpq__rq_command_decode(again, strlen(again), cmd2, sizeof cmd2) != 0 ||
        strcmp(cmd, cmd2) != 0)
      abort();
    free(again);
  }
  return 0;
}
