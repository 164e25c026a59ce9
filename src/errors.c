/* errors.c: names and texts of the FPQ_E* codes, generated from the one X-macro list
 * in fpq.h so the three can never disagree. */
#include "fpq.h"

const char *fpq_strerror(int err) {
  switch (err) {
    case FPQ_OK: return "success";
#define FPQ_ERR_TEXT(name, value, text) \
    case FPQ_##name: return text;
    FPQ_ERRNO_MAP(FPQ_ERR_TEXT)
#undef FPQ_ERR_TEXT
  }
  return "unknown error";
}

const char *fpq_err_name(int err) {
  switch (err) {
    case FPQ_OK: return "OK";
#define FPQ_ERR_NAME(name, value, text) \
    case FPQ_##name: return #name;
    FPQ_ERRNO_MAP(FPQ_ERR_NAME)
#undef FPQ_ERR_NAME
  }
  return "EUNKNOWN";
}

const char *fpq_version(void) { return FPQ_VERSION; }
