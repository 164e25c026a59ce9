/* frame.h: the executor protocol's framing (docs/executor-protocol.md): a 4-byte
 * big-endian length, then that many bytes of one JSON object. Pure functions, no I/O, so
 * the decoder can be fuzzed on its own. */
#ifndef FPQ_FRAME_H
#define FPQ_FRAME_H

#include <jansson.h>
#include <stddef.h>

/* 256 MiB of result plus room for the envelope. */
#define FPQ_FRAME_MAX 268500000u

typedef struct fpq__frame_reader {
  char *buf; /* owned */
  size_t len; /* bytes held */
  size_t cap;
  size_t start; /* first byte not yet consumed */
} fpq__frame_reader;

/* Appends bytes read from the peer. Returns 0 or FPQ_ENOMEM. */
int fpq__frame_push(fpq__frame_reader *r, const char *data, size_t len);
/* Takes the next complete frame: 0 with *out set (new reference, caller decrefs), 0 with
 * *out NULL when more bytes are needed, or FPQ_EFORMAT with one line in err when the
 * stream is broken (bad length, not JSON, not an object without a "type"). */
int fpq__frame_next(fpq__frame_reader *r, json_t **out, char *err, size_t errlen);
/* fpq__frame_next in two steps, so a large frame can be parsed off the loop thread:
 * next_raw takes the next complete frame's body (*body NULL when more bytes are needed),
 * which points into the reader and stays valid until the next push; parse makes the
 * message of a body (the same checks and errors as fpq__frame_next). */
int fpq__frame_next_raw(fpq__frame_reader *r, const char **body, size_t *len, char *err,
                        size_t errlen);
int fpq__frame_parse(const char *body, size_t len, json_t **out, char *err, size_t errlen);
void fpq__frame_reader_free(fpq__frame_reader *r);
/* Encodes msg as one frame into a buffer the caller frees with fpq__free. Returns 0 or
 * FPQ_ENOMEM / FPQ_ETOOBIG. */
int fpq__frame_encode(const json_t *msg, char **out, size_t *len);

#endif /* FPQ_FRAME_H */
