/* builtin_backends.h: the backends built into libfpq. Each defines its methods table in
 * its own folder (src/backend/NAME/backend.c); the core's registry (backend.c) adds them
 * on first use. This is all a built-in backend shares with the registry: it registers
 * like a plugin would, through the table, and never sees the registry's side
 * (src/backend.h) or anything above it. */
#ifndef FPQ_BUILTIN_BACKENDS_H
#define FPQ_BUILTIN_BACKENDS_H

#include "fpq_backend.h"

extern const struct fpq_backend_methods fpq__sqlite_methods;
extern const struct fpq_backend_methods fpq__rq_methods; /* when built with FPQ_HAVE_RQ */

#endif /* FPQ_BUILTIN_BACKENDS_H */
