/* frame.c: encoder and incremental decoder of the executor protocol's frames. The
 * decoder keeps partial input across reads and never trusts the length it is told: a
 * length outside 1..FPQ_FRAME_MAX breaks the stream at once instead of allocating it. */
#include "frame.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "fpq.h"
#include "job.h"

int fpq__frame_push(fpq__frame_reader *r, const char *data, size_t len) {
  if (len == 0) return 0; /* an empty reader has no buffer to memcpy into, even 0 bytes */
  if (r->start > 0 && r->start == r->len) r->start = r->len = 0;
  if (r->len + len > r->cap) {
    if (r->start > 0) { /* reclaim consumed space before growing */
      memmove(r->buf, r->buf + r->start, r->len - r->start);
      r->len -= r->start;
      r->start = 0;
    }
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + len) cap *= 2;
    if (cap != r->cap) {
      char *grown = fpq__realloc(r->buf, cap);
      if (grown == NULL) return FPQ_ENOMEM;
      r->buf = grown;
      r->cap = cap;
    }
  }
  memcpy(r->buf + r->len, data, len);
  r->len += len;
  return 0;
}

int fpq__frame_next_raw(fpq__frame_reader *r, const char **body, size_t *len, char *err,
                        size_t errlen) {
  *body = NULL;
  *len = 0;
  size_t avail = r->len - r->start;
  if (avail < 4) return 0;
  const unsigned char *p = (const unsigned char *)r->buf + r->start;
  uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  if (n == 0 || n > FPQ_FRAME_MAX) {
    snprintf(err, errlen, "frame length %u is outside 1..%u: the stream is broken", n,
             FPQ_FRAME_MAX);
    return FPQ_EFORMAT;
  }
  if (avail - 4 < n) return 0;
  *body = r->buf + r->start + 4;
  *len = n;
  r->start += 4 + (size_t)n;
  return 0;
}

int fpq__frame_parse(const char *body, size_t len, json_t **out, char *err, size_t errlen) {
  *out = NULL;
  json_t *msg = fpq__json_load(body, len, JSON_REJECT_DUPLICATES, "frame is", err, errlen);
  if (msg == NULL) return FPQ_EFORMAT;
  if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "type"))) {
    json_decref(msg);
    snprintf(err, errlen, "frame is not a JSON object with a \"type\" string");
    return FPQ_EFORMAT;
  }
  *out = msg;
  return 0;
}

int fpq__frame_next(fpq__frame_reader *r, json_t **out, char *err, size_t errlen) {
  *out = NULL;
  const char *body;
  size_t len;
  int rc = fpq__frame_next_raw(r, &body, &len, err, errlen);
  if (rc || body == NULL) return rc;
  return fpq__frame_parse(body, len, out, err, errlen);
}

void fpq__frame_reader_free(fpq__frame_reader *r) {
  fpq__free(r->buf);
  memset(r, 0, sizeof *r);
}

int fpq__frame_encode(const json_t *msg, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  size_t n = json_dumpb(msg, NULL, 0, JSON_COMPACT);
  if (n == 0) return FPQ_ENOMEM;
  if (n > FPQ_FRAME_MAX) return FPQ_ETOOBIG;
  char *buf = fpq__malloc(n + 4);
  if (buf == NULL) return FPQ_ENOMEM;
  if (json_dumpb(msg, buf + 4, n, JSON_COMPACT) != n) {
    fpq__free(buf);
    return FPQ_ENOMEM;
  }
  buf[0] = (char)(n >> 24);
  buf[1] = (char)(n >> 16);
  buf[2] = (char)(n >> 8);
  buf[3] = (char)n;
  *out = buf;
  *len = n + 4;
  return 0;
}
