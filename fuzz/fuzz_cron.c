/* libFuzzer target for the trigger parser, the next-fire search and the TZif
 * reader.  The first byte picks what the rest is:
 *   0x00-0xEF  trigger text, parsed in one of a few zones chosen by the byte
 *              (UTC, northern, southern and half-hour DST); when it parses, a
 *              chain of next() calls from instants also taken from the byte
 *              must be strictly increasing;
 *   0xF0-0xFF  the bytes of a TZif file: parsed from memory, and if accepted
 *              queried for offsets, transitions and local-time resolution.
 * Any crash, sanitizer report, leak or non-increasing fire time is a bug.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_cron.c \
 *       src/cron.c src/tz.c -lpthread -o fuzz_cron && ./fuzz_cron -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {
    NULL,           "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
    "Pacific/Apia", "America/Santiago", "Europe/Dublin",
};

/* Starting points: ordinary dates, DST change days, and the ends of time. */
static const int64_t starts[] = {
    0,          1711846799,   1729990799,   1730613599, 1728143999,    1712419199,  1325239200,
    4109878799, -62135596800, 253402300790, INT64_MIN,  INT64_MAX - 1, -2145916800, 1893456000,
};

static void fuzz_tzif(const uint8_t *data, size_t size) {
  fpq__tz *z;
  char err[128];
  if (fpq__tz_from_tzif("fuzz", data, size, &z, err, sizeof err) != 0) return;
  fpq__tz_transition tr[8];
  fpq__tz_local r;
  for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
    int64_t t = starts[i];
    (void)fpq__tz_offset(z, t, NULL);
    if (fpq__tz_next_transition(z, t, &tr[0]) == 0 && tr[0].at <= t) abort();
    (void)fpq__tz_transitions(z, t, t < INT64_MAX - 400 * 86400 ? t + 400 * 86400 : t, tr, 8);
    fpq__tz_resolve_local(z, t, &r);
    if (r.kind == FPQ__TZ_AMBIGUOUS && r.second <= r.first) abort();
  }
  fpq__tz_release(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > 2 * FPQ__TRIGGER_MAX_TEXT) return 0;
  if (data[0] >= 0xF0) {
    fuzz_tzif(data + 1, size - 1);
    return 0;
  }
  char *text = malloc(size);
  if (!text) return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';

  fpq__trigger *t = NULL;
  char err[256];
  const char *tz = zones[data[0] % (sizeof zones / sizeof zones[0])];
  if (fpq__trigger_parse(text, tz, &t, err, sizeof err) == 0) {
    if (strlen(err) != 0) abort(); /* success leaves the error buffer empty */
    int64_t cur = starts[(data[0] >> 3) % (sizeof starts / sizeof starts[0])], next;
    fpq__trigger_set_anchor(t, cur ^ (int64_t)data[0] << 7);
    for (int i = 0; i < 4 && fpq__trigger_next(t, cur, &next) == 0; i++) {
      if (next <= cur) abort();
      cur = next;
    }
    fpq__trigger_free(t);
  } else if (t != NULL || err[0] == '\0' || memchr(err, '\n', strlen(err))) {
    abort(); /* failure: no trigger, and exactly one line of message */
  }
  free(text);
  return 0;
}
