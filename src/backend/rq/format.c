/* format.c (rq): RQ 2.x's encodings (see format.h and shared/reference/rq-wire.md).
 *
 * What we write is what Python rq writes with serializer="json", field for field (less the
 * fields it writes as '', which its readers take as unset when missing), so rq's own
 * tools read our jobs; what we read is what any RQ 2.x client may have written,
 * including empty-string fields, uncompressed `data`, bare NaN in JSON and the older
 * timestamp form. Our own bookkeeping lives in extra `fpq_*` hash fields, which RQ keeps
 * untouched when it saves a job. We never read or write pickle. */
#include "format.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "clock.h"
#include "job.h"

/* ---- base64 ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fpq__rq_b64_encode(const void *data, size_t len, char **out, size_t *outlen) {
  const unsigned char *in = data;
  size_t n = 4 * ((len + 2) / 3);
  char *o = fpq__malloc(n + 1);
  if (o == NULL) return FPQ_ENOMEM;
  size_t j = 0;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < len) v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < len) v |= in[i + 2];
    o[j++] = b64chars[(v >> 18) & 63];
    o[j++] = b64chars[(v >> 12) & 63];
    o[j++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
    o[j++] = i + 2 < len ? b64chars[v & 63] : '=';
  }
  o[j] = '\0';
  *out = o;
  if (outlen) *outlen = j;
  return 0;
}

static int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int fpq__rq_b64_decode(const char *text, size_t len, unsigned char **out, size_t *outlen) {
  unsigned char *o = fpq__malloc(len / 4 * 3 + 4);
  if (o == NULL) return FPQ_ENOMEM;
  size_t j = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '=') break;
    if (c == '\n' || c == '\r') continue;
    int d = b64val(c);
    if (d < 0) {
      fpq__free(o);
      return FPQ_EFORMAT;
    }
    v = (v << 6) | (unsigned)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      o[j++] = (unsigned char)((v >> bits) & 0xff);
    }
  }
  o[j] = '\0';
  *out = o;
  *outlen = j;
  return 0;
}

/* ---- zlib ---- */

/* Input up to STORE_MAX bytes is stored (deflate level 0: zlib's framing around the
 * bytes as they are), longer input compressed at level 6, zlib.compress()'s default.
 * A job's `data` is typically 150-300 bytes: compressing 180 of them saved 40 bytes of
 * Redis and cost 6-7 us, half of the producer's CPU per job in a batch enqueue; storing
 * costs 0.3 us. Every zlib reader (RQ's zlib.decompress, ours) reads both alike. */
#define STORE_MAX 512
enum { STORED, COMPRESSED, DEFLATE_KINDS };

/* One deflate state per thread and kind, reset for each call. compress2() allocates and
 * clears ~256 KB of zlib state per call: measured here (bench/compare, issue 6) 65 us
 * per job's `data` when glibc hands that memory back and faults it in again, and ~10% of
 * the C enqueue's CPU on the rq backend otherwise, against 6.5 us reusing the state.
 * deflateReset keeps level, window and memLevel. */
static pthread_key_t deflater_keys[DEFLATE_KINDS];
static pthread_once_t deflater_once = PTHREAD_ONCE_INIT;
static int deflater_keys_ok;

static void deflater_free(void *p) {
  deflateEnd(p);
  fpq__free(p);
}

static void deflater_keys_init(void) {
  if (pthread_key_create(&deflater_keys[STORED], deflater_free) != 0) return;
  if (pthread_key_create(&deflater_keys[COMPRESSED], deflater_free) != 0) {
    pthread_key_delete(deflater_keys[STORED]);
    return;
  }
  deflater_keys_ok = 1;
}

/* This thread's deflate state of that kind, reset; NULL when none can be had. */
static z_stream *thread_deflater(int kind) {
  if (pthread_once(&deflater_once, deflater_keys_init) != 0 || !deflater_keys_ok) return NULL;
  z_stream *z = pthread_getspecific(deflater_keys[kind]);
  if (z != NULL) return deflateReset(z) == Z_OK ? z : NULL;
  z = fpq__malloc(sizeof *z);
  if (z == NULL) return NULL;
  memset(z, 0, sizeof *z);
  /* Storing needs no match search: the smallest hash table (memLevel 1). */
  int rc = kind == STORED ? deflateInit2(z, 0, Z_DEFLATED, MAX_WBITS, 1, Z_DEFAULT_STRATEGY)
                          : deflateInit(z, Z_DEFAULT_COMPRESSION);
  if (rc != Z_OK) {
    fpq__free(z);
    return NULL;
  }
  if (pthread_setspecific(deflater_keys[kind], z) != 0) {
    deflater_free(z);
    return NULL;
  }
  return z;
}

int fpq__rq_deflate(const void *in, size_t len, unsigned char **out, size_t *outlen) {
  int level = len <= STORE_MAX ? 0 : Z_DEFAULT_COMPRESSION;
  z_stream *z = len < UINT_MAX / 2 ? thread_deflater(level ? COMPRESSED : STORED) : NULL;
  /* deflateBound, not compressBound: a zlib before 1.2.9 splits stored input into blocks
   * of its buffer's size (507 bytes at memLevel 1), 5 bytes of framing each. */
  uLongf n = z ? deflateBound(z, (uLong)len) : compressBound((uLong)len);
  unsigned char *o = fpq__malloc(n + 1);
  if (o == NULL) return FPQ_ENOMEM;
  if (z != NULL && n < UINT_MAX) {
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    z->next_out = o;
    z->avail_out = (uInt)n;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) {
      fpq__free(o);
      return FPQ_ENOMEM;
    }
    n -= z->avail_out;
  } else if (compress2(o, &n, in, (uLong)len, level) != Z_OK) {
    fpq__free(o);
    return FPQ_ENOMEM;
  }
  o[n] = '\0';
  *out = o;
  *outlen = n;
  return 0;
}

int fpq__rq_inflate(const void *in, size_t len, size_t max, unsigned char **out,
                    size_t *outlen) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit(&z) != Z_OK) return FPQ_ENOMEM;
  size_t cap = len * 4 + 64, used = 0;
  unsigned char *o = fpq__malloc(cap + 1);
  int rc = o ? Z_OK : Z_MEM_ERROR;
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)len;
  while (rc == Z_OK) {
    if (used == cap) {
      if (cap >= max) {
        rc = Z_BUF_ERROR;
        break;
      }
      cap = cap * 2 > max ? max : cap * 2;
      unsigned char *grown = fpq__realloc(o, cap + 1);
      if (grown == NULL) {
        rc = Z_MEM_ERROR;
        break;
      }
      o = grown;
    }
    z.next_out = o + used;
    z.avail_out = (uInt)(cap - used);
    rc = inflate(&z, Z_NO_FLUSH);
    used = cap - z.avail_out;
    if (rc == Z_BUF_ERROR && z.avail_in > 0 && used == cap) rc = Z_OK; /* needs room */
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.avail_in != 0) {
    fpq__free(o);
    return rc == Z_MEM_ERROR ? FPQ_ENOMEM : FPQ_EFORMAT;
  }
  o[used] = '\0';
  *out = o;
  *outlen = used;
  return 0;
}

/* ---- JSON ---- */

/* Python's json.dumps writes bare NaN, Infinity and -Infinity (allow_nan=True), which
 * jansson refuses; outside strings they become null, the nearest JSON value. Returns a
 * copy the caller frees, or NULL when there was nothing to replace. */
static char *without_nan(const char *text, size_t len) {
  static const struct {
    const char *word;
    size_t n;
  } words[] = {{"-Infinity", 9}, {"Infinity", 8}, {"NaN", 3}};
  char *o = fpq__malloc(len * 2 + 1); /* "NaN" -> "null" grows by a third at most */
  if (o == NULL) return NULL;
  size_t j = 0;
  int in_string = 0, replaced = 0;
  for (size_t i = 0; i < len;) {
    char c = text[i];
    if (in_string) {
      o[j++] = c;
      if (c == '\\' && i + 1 < len) o[j++] = text[++i];
      else if (c == '"') in_string = 0;
      i++;
      continue;
    }
    if (c == '"') in_string = 1;
    size_t w = 0;
    for (; w < sizeof words / sizeof *words; w++)
      if (len - i >= words[w].n && memcmp(text + i, words[w].word, words[w].n) == 0) break;
    if (w < sizeof words / sizeof *words) {
      memcpy(o + j, "null", 4);
      j += 4;
      i += words[w].n;
      replaced = 1;
      continue;
    }
    o[j++] = c;
    i++;
  }
  o[j] = '\0';
  if (!replaced) {
    fpq__free(o);
    return NULL;
  }
  return o;
}

/* JSON_ALLOW_NUL: "\u0000" inside a string is valid JSON (Python writes it); where a NUL
 * would cut a value we use as text (project, pipeline, func) the caller refuses it. */
static json_t *loads_lenient(const char *text, size_t len) {
  json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (v) return v;
  char *fixed = without_nan(text, len);
  if (fixed == NULL) return NULL;
  v = json_loads(fixed, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  fpq__free(fixed);
  return v;
}

int fpq__rq_data_encode(const fpq_job *job, unsigned char **out, size_t *outlen) {
  /* JSON_ALLOW_NUL: what decode accepts ("\u0000" in a string) encodes back. */
  json_t *run = json_loads(job->run_json ? job->run_json : "{}", JSON_ALLOW_NUL, NULL);
  if (run == NULL) return FPQ_EINVAL;
  json_t *kwargs = json_pack("{s:s?, s:s?, s:o}", "project", job->project, "pipeline",
                             job->pipeline, "run", run);
  json_t *data = kwargs ? json_pack("[s, n, [], o]", job->func ? job->func : FPQ_RQ_RUN_PIPELINE,
                                    kwargs)
                        : NULL;
  /* No JSON_COMPACT: jansson then separates with ", " and ": " like Python's json.dumps;
   * JSON_ENSURE_ASCII matches its ensure_ascii=True. */
  char *text = data ? json_dumps(data, JSON_ENSURE_ASCII) : NULL;
  json_decref(data);
  if (text == NULL) return FPQ_ENOMEM;
  /* jansson writes \u00EB where Python writes \u00eb: same JSON, but make it the same
   * bytes too. Every backslash in the output starts an escape, so walking escapes is
   * enough to find the \uXXXX ones. */
  for (char *p = text; *p; p++) {
    if (*p != '\\') continue;
    if (p[1] == 'u')
      for (int k = 2; k < 6 && p[k]; k++) p[k] = (char)tolower((unsigned char)p[k]);
    p++;
  }
  int rc = fpq__rq_deflate(text, strlen(text), out, outlen);
  free(text);
  return rc;
}

static int set_json_text(char **field, json_t *v) {
  if (v == NULL || json_is_null(v)) return fpq_job_set(field, "{}");
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (text == NULL) return FPQ_ENOMEM;
  int rc = fpq_job_set(field, text);
  free(text);
  return rc;
}

/* A zlib stream's two-byte header: CMF 0x78 (deflate, 32K window) and FLG making the pair a
 * multiple of 31, as RQ's zlib.compress writes (0x78 0x9c). JSON never starts with 'x'. */
static int looks_zlib(const char *text, size_t len) {
  const unsigned char *b = (const unsigned char *)text;
  return len >= 2 && b[0] == 0x78 && ((b[0] << 8) | b[1]) % 31 == 0;
}

/* A string we use as C text: present, and without a NUL that would cut it short. */
static int whole_string(json_t *v) {
  return v == NULL || json_is_null(v) ||
         (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v));
}

int fpq__rq_data_decode(const void *data, size_t len, fpq_job *job, char *why, size_t whylen) {
  unsigned char *plain = NULL;
  size_t plen = 0;
  int rc = fpq__rq_inflate(data, len, FPQ_RUN_MAX * 4 + 65536, &plain, &plen);
  if (rc == FPQ_ENOMEM) return rc;
  const char *text = rc == 0 ? (const char *)plain : (const char *)data; /* RQ's fallback */
  size_t tlen = rc == 0 ? plen : len;
  json_t *v = NULL;
  if (tlen > 0 && (unsigned char)text[0] == 0x80) {
    snprintf(why, whylen, "the job's data is a pickle (Python rq's default serializer), "
             "which fpq never loads: enqueue it with serializer=\"json\"");
  } else if (rc != 0 && looks_zlib(text, tlen)) {
    snprintf(why, whylen, "the job's data starts like zlib but does not inflate (%zu bytes: "
             "truncated or corrupt)", tlen);
  } else if (memchr(text, '\0', tlen) != NULL || (v = loads_lenient(text, tlen)) == NULL) {
    snprintf(why, whylen, "the job's data is not JSON (%s, %zu bytes): fpq runs only jobs "
             "enqueued with serializer=\"json\" and never loads pickle",
             rc == 0 ? "zlib-compressed" : "uncompressed", tlen);
  }
  fpq__free(plain);
  if (v == NULL) return FPQ_EFORMAT;
  json_t *func = json_array_get(v, 0), *args = json_array_get(v, 2),
         *kwargs = json_array_get(v, 3);
  if (!json_is_array(v) || json_array_size(v) != 4 || !json_is_string(func) ||
      !json_is_null(json_array_get(v, 1)) || !json_is_array(args) || !json_is_object(kwargs)) {
    json_decref(v);
    snprintf(why, whylen, "the job's data is JSON but not RQ's [func, null, args, kwargs]");
    return FPQ_EFORMAT;
  }
  /* run_pipeline(project, pipeline, run): positional or keyword, as Python binds them. */
  json_t *project = json_object_get(kwargs, "project");
  json_t *pipeline = json_object_get(kwargs, "pipeline");
  json_t *run = json_object_get(kwargs, "run");
  if (project == NULL) project = json_array_get(args, 0);
  if (pipeline == NULL) pipeline = json_array_get(args, 1);
  if (run == NULL) run = json_array_get(args, 2);
  if (!whole_string(func) || !whole_string(project) || !whole_string(pipeline)) {
    json_decref(v);
    snprintf(why, whylen, "the job's func, project or pipeline holds a NUL character");
    return FPQ_EFORMAT;
  }
  rc = fpq_job_set(&job->func, json_string_value(func)) |
       fpq_job_set(&job->project, json_string_value(project)) |
       fpq_job_set(&job->pipeline, json_string_value(pipeline)) |
       set_json_text(&job->run_json, json_is_object(run) ? run : NULL);
  json_decref(v);
  return rc ? FPQ_ENOMEM : 0;
}

/* ---- job hash ---- */

const redisReply *fpq__rq_hash_field(const redisReply *hash, const char *name) {
  if (hash == NULL || hash->type != REDIS_REPLY_ARRAY) return NULL;
  size_t n = strlen(name);
  for (size_t i = 0; i + 1 < hash->elements; i += 2) {
    const redisReply *k = hash->element[i];
    if (k->type == REDIS_REPLY_STRING && k->len == n && memcmp(k->str, name, n) == 0)
      return hash->element[i + 1]->type == REDIS_REPLY_STRING ? hash->element[i + 1] : NULL;
  }
  return NULL;
}

/* A field's text, or NULL when absent or empty (RQ writes '' for unset). */
static const char *text_field(const redisReply *hash, const char *name) {
  const redisReply *r = fpq__rq_hash_field(hash, name);
  return r && r->len > 0 ? r->str : NULL;
}

static double number_field(const redisReply *hash, const char *name, double dflt) {
  const char *t = text_field(hash, name);
  if (t == NULL) return dflt;
  char *end;
  double v = strtod(t, &end);
  return end != t && isfinite(v) ? v : dflt;
}

/* A retention as RQ stores it: whole seconds, -1 forever; any other negative number or
 * text reads as unset (FPQ_TTL_DEFAULT) rather than as a retention nobody asked for. */
static double ttl_field(const redisReply *hash, const char *name) {
  double v = number_field(hash, name, FPQ_TTL_DEFAULT);
  return v == FPQ_TTL_FOREVER || (v >= 0 && v <= FPQ_TTL_MAX) ? v : FPQ_TTL_DEFAULT;
}

static double time_field(const redisReply *hash, const char *name) {
  const char *t = text_field(hash, name);
  double v = 0;
  return t && fpq__parse_rq_time(t, &v) == 0 ? v : 0;
}

static fpq_status status_field(const redisReply *hash) {
  const char *t = text_field(hash, "status");
  fpq_status s;
  if (t == NULL) return FPQ_STATUS_CREATED; /* RQ: a missing status means created */
  if (fpq_status_parse(t, &s) == 0) return s;
  /* RQ 3.0's rate_limited and ready_to_enqueue are jobs waiting to run. */
  return FPQ_STATUS_QUEUED;
}

/* The newest result stream entry's fields, or NULL. */
static const redisReply *latest_fields(const redisReply *latest, const char **type) {
  *type = NULL;
  if (latest == NULL || latest->type != REDIS_REPLY_ARRAY || latest->elements == 0) return NULL;
  const redisReply *entry = latest->element[0];
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
      entry->element[1]->type != REDIS_REPLY_ARRAY)
    return NULL;
  const redisReply *fields = entry->element[1];
  *type = text_field(fields, "type");
  return fields;
}

/* Our error JSON from a stream entry's exc_string (written by Python rq): the traceback's
 * last line "Type: message" gives the type. */
static char *error_from_exc(const redisReply *fields) {
  const char *b64 = text_field(fields, "exc_string");
  if (b64 == NULL) return NULL;
  unsigned char *z = NULL, *text = NULL;
  size_t zlen = 0, tlen = 0;
  if (fpq__rq_b64_decode(b64, strlen(b64), &z, &zlen) != 0) return NULL;
  int rc = fpq__rq_inflate(z, zlen, FPQ_RESULT_MAX, &text, &tlen);
  fpq__free(z);
  if (rc != 0) return NULL;
  const char *s = (const char *)text;
  size_t end = tlen;
  while (end > 0 && isspace((unsigned char)s[end - 1])) end--;
  size_t start = end;
  while (start > 0 && s[start - 1] != '\n') start--;
  char type[128] = "Error";
  const char *message = s + start;
  size_t mlen = end - start;
  size_t k = start;
  while (k < end && (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '.')) k++;
  if (k > start && k < end && s[k] == ':' && k - start < sizeof type) {
    snprintf(type, sizeof type, "%.*s", (int)(k - start), s + start);
    message = s + k + 1;
    while (message < s + end && *message == ' ') message++;
    mlen = (size_t)(s + end - message);
  } else if (strstr(s, "AbandonedJobError")) {
    snprintf(type, sizeof type, "AbandonedJobError");
  }
  json_t *e = json_pack("{s:s, s:s%, s:s}", "type", type, "message", message, mlen,
                        "traceback", s);
  char *out = e ? json_dumps(e, JSON_COMPACT) : NULL;
  json_decref(e);
  fpq__free(text);
  char *copy = out ? fpq__strdup(out) : NULL;
  free(out);
  return copy;
}

/* Do our error JSON and one read back from RQ's exc_string tell of the same failure? */
static int same_failure(const char *ours, const char *from_rq) {
  char *text = fpq__rq_exc_text(ours);
  json_t *e = json_loads(from_rq, 0, NULL);
  const char *tb = json_string_value(json_object_get(e, "traceback"));
  int same = text && tb && strcmp(text, tb) == 0;
  json_decref(e);
  fpq__free(text);
  return same;
}

static char *result_from_entry(const redisReply *fields) {
  const char *b64 = text_field(fields, "return_value");
  if (b64 == NULL) return fpq__strdup("null"); /* RQ omits it for None */
  unsigned char *text = NULL;
  size_t tlen = 0;
  if (fpq__rq_b64_decode(b64, strlen(b64), &text, &tlen) != 0) return fpq__strdup("null");
  return (char *)text;
}

int fpq__rq_job_from_reply(const char *id, const redisReply *hash, const redisReply *latest,
                           fpq_job **out) {
  *out = NULL;
  if (hash == NULL || hash->type != REDIS_REPLY_ARRAY || hash->elements == 0)
    return FPQ_ENOTFOUND;
  fpq_job *job = fpq_job_new();
  if (job == NULL) return FPQ_ENOMEM;
  snprintf(job->id, sizeof job->id, "%s", id);
  job->status = status_field(hash);
  const redisReply *data = fpq__rq_hash_field(hash, "data");
  char why[256];
  if (data && fpq__rq_data_decode(data->str, data->len, job, why, sizeof why) == FPQ_ENOMEM)
    goto oom;
  const char *origin = text_field(hash, "origin");
  if (fpq_job_set(&job->queue, origin ? origin : "default") ||
      fpq_job_set(&job->description, text_field(hash, "description")) ||
      fpq_job_set(&job->worker, text_field(hash, "worker_name")) ||
      fpq_job_set(&job->execution, text_field(hash, "fpq_exec")))
    goto oom;
  int rank = fpq__queue_priority(job->queue);
  job->priority = rank < FPQ_PRIORITY_COUNT ? (fpq_priority)rank : FPQ_PRIORITY_LOW;
  job->created_at = time_field(hash, "created_at");
  job->enqueued_at = time_field(hash, "enqueued_at");
  job->started_at = time_field(hash, "started_at");
  job->ended_at = time_field(hash, "ended_at");
  /* Only a scheduled job has a due time (RQ's scheduler may promote ours without
   * clearing fpq_run_at). */
  job->run_at = job->status == FPQ_STATUS_SCHEDULED ? number_field(hash, "fpq_run_at", 0) : 0;
  /* Ours count every start; a job only Python rq ran has RQ's number_of_retries instead:
   * its runs are those retries plus the current or last one. */
  if (fpq__rq_hash_field(hash, "fpq_attempts")) {
    job->attempts = (int)number_field(hash, "fpq_attempts", 0);
  } else {
    int ran = job->status == FPQ_STATUS_STARTED || job->status == FPQ_STATUS_FINISHED ||
              job->status == FPQ_STATUS_FAILED || job->status == FPQ_STATUS_STOPPED;
    double retries = number_field(hash, "number_of_retries", 0);
    job->attempts = (int)fmin(fmax(retries, 0), 1e6) + ran;
  }
  /* A job Python rq enqueued carries only RQ's Retry fields: retries_left counts down
   * per retry (during a run it still counts the current attempt's retry). */
  double retries_left = number_field(hash, "retries_left", 0);
  int derived = (int)retries_left + job->attempts - (job->status == FPQ_STATUS_STARTED ? 1 : 0);
  job->max_retries = (int)number_field(hash, "fpq_max_retries", derived > 0 ? derived : 0);
  double first_interval = 0;
  const char *intervals = text_field(hash, "retry_intervals");
  if (intervals) {
    json_t *list = json_loads(intervals, 0, NULL);
    if (json_is_number(json_array_get(list, 0)))
      first_interval = json_number_value(json_array_get(list, 0));
    json_decref(list);
  }
  job->retry_delay = number_field(hash, "fpq_retry_delay", first_interval);
  job->jitter_factor = number_field(hash, "fpq_jitter", 0);
  double timeout = 0;
  const char *t = text_field(hash, "timeout");
  if (t && strcmp(t, "-1") != 0 && fpq_parse_duration(t, &timeout, NULL, 0) != 0)
    timeout = 0;
  job->timeout = number_field(hash, "fpq_timeout", timeout);
  /* RQ's own retention fields (rq writes them when its enqueue got result_ttl= or
   * failure_ttl=); absent means the project's default, which the core resolves. */
  job->result_ttl = ttl_field(hash, "result_ttl");
  job->failure_ttl = ttl_field(hash, "failure_ttl");
  if (fpq_job_set(&job->log, text_field(hash, "fpq_log"))) goto oom;
  /* RQ's dependency_ids (a JSON list), or the single dependency_id older RQ wrote. */
  const char *deps = text_field(hash, "dependency_ids"), *dep = text_field(hash, "dependency_id");
  json_t *one = deps == NULL && dep ? json_pack("[s]", dep) : NULL;
  char *one_text = one ? json_dumps(one, JSON_COMPACT) : NULL;
  json_decref(one);
  int oom = fpq_job_set(&job->depends_on, deps ? deps : one_text);
  free(one_text);
  if (oom) goto oom;
  /* RQ's callback names (dotted paths; "" for none). Not checked here: a malformed one is
   * reported when the worker runs it, and never changes the job. */
  if (fpq_job_set(&job->on_success, text_field(hash, "success_callback_name")) ||
      fpq_job_set(&job->on_failure, text_field(hash, "failure_callback_name")) ||
      fpq_job_set(&job->on_stopped, text_field(hash, "stopped_callback_name")))
    goto oom;
  const char *fpq_error = text_field(hash, "fpq_error");
  const char *type = NULL;
  const redisReply *fields = latest_fields(latest, &type);
  int ended_badly = job->status == FPQ_STATUS_FAILED || job->status == FPQ_STATUS_STOPPED;
  char *from_rq = fields && ended_badly ? error_from_exc(fields) : NULL;
  if (fpq_error && from_rq && !same_failure(fpq_error, from_rq)) {
    /* Python rq failed it after our last attempt (its worker, or its abandoned-job
     * cleanup): the newest word is RQ's. */
    job->error_json = from_rq;
    from_rq = NULL;
  } else if (fpq_error) {
    if (fpq_job_set(&job->error_json, fpq_error)) {
      fpq__free(from_rq);
      goto oom;
    }
  } else {
    job->error_json = from_rq;
    from_rq = NULL;
  }
  fpq__free(from_rq);
  if (job->status == FPQ_STATUS_FINISHED) {
    job->result_json = fields && type && strcmp(type, "1") == 0 ? result_from_entry(fields)
                                                                 : fpq__strdup("null");
    if (job->result_json == NULL) goto oom;
  }
  *out = job;
  return 0;
oom:
  fpq_job_free(job);
  return FPQ_ENOMEM;
}

/* ---- errors ---- */

char *fpq__rq_exc_text(const char *error_json) {
  if (error_json == NULL) return fpq__strdup("");
  json_t *e = json_loads(error_json, 0, NULL);
  if (!json_is_object(e)) {
    json_decref(e);
    return fpq__strdup(error_json);
  }
  const char *tb = json_string_value(json_object_get(e, "traceback"));
  const char *type = json_string_value(json_object_get(e, "type"));
  const char *message = json_string_value(json_object_get(e, "message"));
  char *out;
  if (tb && *tb) {
    out = fpq__strdup(tb);
  } else {
    size_t n = (type ? strlen(type) : 5) + (message ? strlen(message) : 0) + 3;
    out = fpq__malloc(n);
    if (out)
      snprintf(out, n, "%s%s%s", type ? type : "Error", message && *message ? ": " : "",
               message ? message : "");
  }
  json_decref(e);
  return out;
}

char *fpq__rq_exc_encode(const char *text) {
  unsigned char *z = NULL;
  size_t zlen = 0;
  if (fpq__rq_deflate(text, strlen(text), &z, &zlen) != 0) return NULL;
  char *b64 = NULL;
  int rc = fpq__rq_b64_encode(z, zlen, &b64, NULL);
  fpq__free(z);
  return rc == 0 ? b64 : NULL;
}

/* ---- workers and commands ---- */

static void copy_field(const redisReply *hash, const char *name, char *buf, size_t len) {
  const char *t = text_field(hash, name);
  snprintf(buf, len, "%s", t ? t : "");
}

void fpq__rq_worker_from_reply(const char *name, const redisReply *hash, fpq_worker_info *w) {
  memset(w, 0, sizeof *w);
  snprintf(w->name, sizeof w->name, "%s", name);
  copy_field(hash, "hostname", w->hostname, sizeof w->hostname);
  copy_field(hash, "state", w->state, sizeof w->state);
  copy_field(hash, "queues", w->queues, sizeof w->queues);
  copy_field(hash, "current_job", w->current_job, sizeof w->current_job);
  w->pid = (int)number_field(hash, "pid", 0);
  w->birth = time_field(hash, "birth");
  w->last_heartbeat = time_field(hash, "last_heartbeat");
  w->successful = (int64_t)number_field(hash, "successful_job_count", 0);
  w->failed = (int64_t)number_field(hash, "failed_job_count", 0);
  w->busy_seconds = number_field(hash, "total_working_time", 0);
}

char *fpq__rq_command_encode(const char *command) {
  json_t *o = NULL;
  if (strcmp(command, "shutdown") == 0 || strcmp(command, "kill-horse") == 0)
    o = json_pack("{s:s}", "command", command);
  else if (strcmp(command, "shutdown-now") == 0)
    o = json_pack("{s:s, s:b}", "command", "shutdown", "fpq_now", 1);
  else if (strncmp(command, "stop-job:", 9) == 0)
    o = json_pack("{s:s, s:s}", "command", "stop-job", "job_id", command + 9);
  char *text = o ? json_dumps(o, 0) : NULL; /* Python's separators, as send_command */
  json_decref(o);
  char *copy = text ? fpq__strdup(text) : NULL;
  free(text);
  return copy;
}

int fpq__rq_command_decode(const char *payload, size_t len, char *buf, size_t buflen) {
  json_t *o = json_loadb(payload, len, 0, NULL);
  const char *cmd = json_string_value(json_object_get(o, "command"));
  int rc = 0;
  if (cmd && strcmp(cmd, "shutdown") == 0)
    snprintf(buf, buflen, "%s", json_is_true(json_object_get(o, "fpq_now")) ? "shutdown-now"
                                                                           : "shutdown");
  else if (cmd && strcmp(cmd, "kill-horse") == 0)
    snprintf(buf, buflen, "kill-horse");
  /* RQ 3's stop-execution names the job too; a job runs once at a time on one worker,
   * so stopping its execution is stopping the job here. */
  else if (cmd && (strcmp(cmd, "stop-job") == 0 || strcmp(cmd, "stop-execution") == 0) &&
           json_is_string(json_object_get(o, "job_id")))
    snprintf(buf, buflen, "stop-job:%s", json_string_value(json_object_get(o, "job_id")));
  else
    rc = -1;
  json_decref(o);
  return rc;
}
