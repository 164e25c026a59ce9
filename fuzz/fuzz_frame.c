/* libFuzzer target for the executor protocol's frame decoder (src/frame.c). The input is
 * a byte stream from an executor; the first byte chooses how it is cut into reads and
 * whether a frame header claiming 4 GB comes first. Checked beyond the sanitizers:
 *   - a reader fed in random chunks gives the same frames and the same verdict as one
 *     fed the whole stream at once;
 *   - a 4 GB length claim breaks the stream at once (and allocates nothing for it);
 *   - every frame decoded is a JSON object with a "type" string, and encoding it again
 *     gives a frame that decodes to an equal object;
 *   - an error leaves exactly one line of message.
 *
 *   build/fuzz/fuzz_frame fuzz/corpus/fuzz_frame -max_total_time=60 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fpq.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES 64

typedef struct result {
  json_t *frames[MAX_FRAMES];
  size_t n;
  int broken; /* the stream broke (FPQ_EFORMAT) */
  int overflow;
} result;

/* Takes every complete frame now in r; returns 0, or -1 once the stream is broken. */
static int drain(fpq__frame_reader *r, result *out) {
  for (;;) {
    json_t *msg = NULL;
    char err[256] = "";
    int rc = fpq__frame_next(r, &msg, err, sizeof err);
    if (rc) {
      if (rc != FPQ_EFORMAT || msg != NULL || err[0] == '\0' || strchr(err, '\n')) abort();
      out->broken = 1;
      return -1;
    }
    if (msg == NULL) return 0;
    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "type"))) abort();
    if (out->n == MAX_FRAMES) {
      out->overflow = 1;
      json_decref(msg);
      continue;
    }
    out->frames[out->n++] = msg;
  }
}

/* Feeds the stream in chunks whose sizes come from a small generator seeded by seed;
 * seed 0 feeds it whole. */
static void feed(const uint8_t *stream, size_t size, unsigned seed, result *out) {
  fpq__frame_reader r = {0};
  size_t off = 0;
  unsigned x = seed;
  while (off < size && !out->broken) {
    size_t chunk = size - off;
    if (seed) {
      x = x * 1103515245u + 12345u;
      chunk = 1 + (x >> 16) % 17; /* 1..17 bytes: frame headers split every way */
      if (chunk > size - off) chunk = size - off;
    }
    if (fpq__frame_push(&r, (const char *)stream + off, chunk)) abort();
    off += chunk;
    if (drain(&r, out)) break;
  }
  fpq__frame_reader_free(&r);
}

static void release(result *res) {
  for (size_t i = 0; i < res->n; i++) json_decref(res->frames[i]);
}

/* A decoded frame encodes to a frame that decodes to an equal object. */
static void check_reencode(const json_t *msg) {
  char *buf = NULL;
  size_t len = 0;
  if (fpq__frame_encode(msg, &buf, &len)) abort();
  fpq__frame_reader r = {0};
  json_t *back = NULL;
  char err[256];
  if (fpq__frame_push(&r, buf, len) || fpq__frame_next(&r, &back, err, sizeof err) ||
      back == NULL || !json_equal(back, msg))
    abort();
  json_decref(back);
  fpq__frame_reader_free(&r);
  fpq__free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > 256 * 1024) return 0;
  unsigned seed = data[0];
  data++;
  size--;

  if (seed & 0x80) { /* a header claiming 4 GB - 1, then the stream */
    static const char claim[4] = {'\xff', '\xff', '\xff', '\xff'};
    fpq__frame_reader r = {0};
    json_t *msg = NULL;
    char err[256] = "";
    if (fpq__frame_push(&r, claim, 4) || fpq__frame_push(&r, (const char *)data, size))
      abort();
    if (fpq__frame_next(&r, &msg, err, sizeof err) != FPQ_EFORMAT || msg != NULL ||
        strstr(err, "4294967295") == NULL)
      abort();
    if (r.cap > 4096 + 2 * (size + 4)) abort(); /* nothing was allocated for the claim */
    fpq__frame_reader_free(&r);
  }

  result whole = {0}, chunked = {0};
  feed(data, size, 0, &whole);
  feed(data, size, seed | 1, &chunked);
  if (whole.n != chunked.n || whole.broken != chunked.broken) abort();
  for (size_t i = 0; i < whole.n; i++) {
    if (!json_equal(whole.frames[i], chunked.frames[i])) abort();
    check_reencode(whole.frames[i]);
  }
  release(&whole);
  release(&chunked);
  return 0;
}
