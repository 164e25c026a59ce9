/* libFuzzer target for the settings parser (src/config.c): every input is parsed both
 * strict (conf/job_queue.yml) and lenient (a pipeline's YAML). Checked beyond the
 * sanitizers:
 *   - a failure returns FPQ_ECONFIG or FPQ_ENOMEM, no settings, and exactly one line of
 *     message naming the file;
 *   - a success gives non-empty, unique keys, each found again by fpq__settings_get;
 *   - what strict parsing accepts, lenient parsing accepts with the same settings
 *     (lenient only skips what strict refuses).
 *
 *   CC=clang cmake -S . -B build/fuzz -G Ninja -DFPQ_BUILD_FUZZ=ON -DFPQ_SANITIZE=ON \
 *       -DFPQ_WERROR=OFF && ninja -C build/fuzz fuzz_config
 *   build/fuzz/fuzz_config fuzz/corpus/fuzz_config -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fpq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_failure(int rc, const fpq__setting *s, size_t n, const char *err,
                          const char *file) {
  if (rc != FPQ_ECONFIG && rc != FPQ_ENOMEM) abort();
  if (s != NULL || n != 0) abort();
  if (err[0] == '\0' || strchr(err, '\n') || strncmp(err, file, strlen(file)) != 0) abort();
}

static void check_success(const fpq__setting *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i].key == NULL || s[i].value == NULL || s[i].key[0] == '\0') abort();
    if (fpq__settings_get(s, n, s[i].key) != s[i].value) abort(); /* keys are unique */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64 * 1024) return 0;
  const char *text = (const char *)data;
  fpq__setting *strict = NULL, *lenient = NULL;
  size_t nstrict = 0, nlenient = 0;
  char err[512] = "";
  int rc_strict = fpq__settings_parse(text, size, 0, &strict, &nstrict, err, sizeof err);
  if (rc_strict) check_failure(rc_strict, strict, nstrict, err, "conf/job_queue.yml: ");
  else check_success(strict, nstrict);

  err[0] = '\0';
  int rc_lenient = fpq__settings_parse(text, size, 1, &lenient, &nlenient, err, sizeof err);
  if (rc_lenient) check_failure(rc_lenient, lenient, nlenient, err, "pipeline YAML: ");
  else check_success(lenient, nlenient);

  if (rc_strict == 0) {
    if (rc_lenient != 0 || nlenient != nstrict) abort();
    for (size_t i = 0; i < nstrict; i++)
      if (strcmp(strict[i].key, lenient[i].key) != 0 ||
          strcmp(strict[i].value, lenient[i].value) != 0)
        abort();
  }
  fpq__settings_free(strict, nstrict);
  fpq__settings_free(lenient, nlenient);
  return 0;
}
