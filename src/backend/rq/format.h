/* format.h (rq): RQ 2.x's wire encodings, both ways: a job hash <-> fpq_job, the job's
 * zlib-compressed JSON `data`, result stream entries, worker hashes and pub/sub command
 * payloads. No I/O here: everything works on hiredis replies and byte buffers, so the
 * fuzz targets and tests can drive it directly. */
#ifndef FPQ_RQ_FORMAT_H
#define FPQ_RQ_FORMAT_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "fpq.h"

#define FPQ_RQ_RUN_PIPELINE FPQ_TASK_FUNC
/* RQ's defaults: results kept 500 s, failures one year. */
#define FPQ_RQ_RESULT_TTL 500
#define FPQ_RQ_FAILURE_TTL 31536000

/* Base64 as Python's b64encode/b64decode (RFC 4648, padded). Results are NUL-terminated
 * and freed with fpq__free; decode returns FPQ_EFORMAT for text that is not base64. */
int fpq__rq_b64_encode(const void *data, size_t len, char **out, size_t *outlen);
int fpq__rq_b64_decode(const char *text, size_t len, unsigned char **out, size_t *outlen);
/* zlib (RFC 1950) that Python's zlib.decompress reads (deflate stores short input as it
 * is and compresses the rest), and zlib.decompress's reading; inflate refuses output
 * over max bytes and returns FPQ_EFORMAT for input that is not a zlib stream. Outputs
 * are NUL-terminated (not counted in *outlen) and freed with fpq__free. */
int fpq__rq_deflate(const void *in, size_t len, unsigned char **out, size_t *outlen);
int fpq__rq_inflate(const void *in, size_t len, size_t max, unsigned char **out,
                    size_t *outlen);

/* The job's `data`: zlib of JSON [func, null, [], {"project", "pipeline", "run"}]
 * written as Python's json.dumps writes it (separators, ensure_ascii), so rq tools see
 * the same text Python would have stored (floats may differ in their last digits).
 * Caller frees *out. */
int fpq__rq_data_encode(const fpq_job *job, unsigned char **out, size_t *outlen);
/* Reads `data` (compressed or not, as RQ does) into job->func/project/pipeline/run_json.
 * Returns FPQ_EFORMAT with one line in why when it is not RQ's JSON form: a pickle
 * (never loaded), other bytes, or JSON of another shape. Positional and keyword
 * arguments are both understood, as Python rq would pass them. */
int fpq__rq_data_decode(const void *data, size_t len, fpq_job *job, char *why, size_t whylen);

/* Builds a job from HGETALL rq:job:ID and, optionally, XREVRANGE rq:results:ID + -
 * COUNT 1 (may be NULL). Unknown fields and statuses are tolerated; `data` that is not
 * JSON leaves project/pipeline/func NULL (fpq__rq_data_decode says why). Returns 0 and a
 * job the caller owns, FPQ_ENOTFOUND for an empty hash, FPQ_ENOMEM. */
int fpq__rq_job_from_reply(const char *id, const redisReply *hash, const redisReply *latest,
                           fpq_job **out);
/* A field of an HGETALL reply, or NULL. */
const redisReply *fpq__rq_hash_field(const redisReply *hash, const char *name);

/* The text RQ keeps as exc_string for one of our error JSON objects: its traceback, or
 * "Type: message" when it has none. Caller frees. */
char *fpq__rq_exc_text(const char *error_json);
/* base64(zlib(text)): a result stream's exc_string. Caller frees. */
char *fpq__rq_exc_encode(const char *text);

/* Fills w from HGETALL rq:worker:NAME. */
void fpq__rq_worker_from_reply(const char *name, const redisReply *hash, fpq_worker_info *w);

/* Our worker commands as RQ's pub/sub JSON, and back. "shutdown-now" has no RQ twin: it
 * travels as {"command": "shutdown", "fpq_now": true}, which a Python rq worker reads as
 * a plain (warm) shutdown. encode returns a string the caller frees, NULL for an unknown
 * command; decode returns 0 and the command in buf, or -1 for a payload we do not know. */
char *fpq__rq_command_encode(const char *command);
int fpq__rq_command_decode(const char *payload, size_t len, char *buf, size_t buflen);

#endif /* FPQ_RQ_FORMAT_H */
