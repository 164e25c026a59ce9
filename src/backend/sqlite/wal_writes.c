/* wal_writes.c (sqlite): one write per WAL frame instead of two.
 *
 * SQLite writes each frame it appends to the WAL as two pwrite calls: the 24-byte frame
 * header, then the page right behind it. An enqueue commits about six pages, so twelve
 * system calls, most of the kernel time of an enqueue and of the worker's step. This VFS
 * is the default one ("unix") with one change to WAL files: a 24-byte write that appends
 * (it starts where this handle's last write ended) is held back and joined to the next
 * write when that one starts where it ends (the frame's page), so the two reach the
 * kernel as one. Database, journal and shared-memory files are the default VFS's own,
 * untouched.
 *
 * Invariants:
 * - Only an appended frame header is held, and SQLite writes such a header only in
 *   walWriteOneFrame, immediately followed by its page: so a held header never outlives
 *   the call that writes its frame. (With synchronous=FULL on a device without powersafe
 *   overwrite, walWriteToLog may split a write at a sector boundary into a first piece
 *   that is exactly 24 bytes; the sync that follows it at once writes it.) A header
 *   rewritten in place (walRewriteChecksums, at the commit of a transaction that spilled
 *   pages and changed them again, with no sync after it at synchronous=NORMAL) does not
 *   append, and is written at once: held, it would wait in memory past the commit, which
 *   a crash would then lose.
 * - A held header is written before any other operation on its file (a read, a sync, a
 *   size, a truncate, a close, any other write), so every later operation, in this
 *   process or another, sees the file exactly as with two writes. Between SQLite's two
 *   calls nothing can see the frame anyway: a frame is published (the wal-index header)
 *   only after all of a commit's frames are written.
 *
 * Other processes open the same files with the default VFS (Python's sqlite3, an older
 * fpq): the files and their locks are the same, only the number of writes differs. */
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "backend.h"

#define FRAME_HEADER 24 /* a WAL frame's header, in bytes (SQLite's file format) */
#define VFS_NAME "fpq-wal-writes"

typedef struct wal_file {
  sqlite3_file base;          /* first: SQLite sees this; pMethods = &wal_methods */
  sqlite3_file *real;         /* the default VFS's file, right behind this struct */
  sqlite3_int64 held_at;      /* where the held header goes, or -1: none held */
  sqlite3_int64 written_to;   /* where this handle's last write ended; -1: not known */
  unsigned char held[FRAME_HEADER];
  unsigned char *joined;      /* header + page, for the one write; grown as needed */
  int joined_size;
} wal_file;

static sqlite3_vfs *default_vfs;
static sqlite3_vfs wal_writes_vfs;

static wal_file *as_wal(sqlite3_file *f) { return (wal_file *)f; }

/* Writes the held header, if any. */
static int flush(wal_file *w) {
  if (w->held_at < 0) return SQLITE_OK;
  sqlite3_int64 at = w->held_at;
  w->held_at = -1;
  return w->real->pMethods->xWrite(w->real, w->held, FRAME_HEADER, at);
}

/* Whether the buffer can hold a header and amount bytes behind it (grown if need be). */
static int room_to_join(wal_file *w, int amount) {
  int need = FRAME_HEADER + amount;
  if (need <= w->joined_size) return 1;
  unsigned char *grown = sqlite3_realloc(w->joined, need);
  if (grown == NULL) return 0; /* then the two writes, as without this VFS */
  w->joined = grown;
  w->joined_size = need;
  return 1;
}

static int wal_write(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset) {
  wal_file *w = as_wal(f);
  if (w->held_at >= 0 && offset == w->held_at + FRAME_HEADER && room_to_join(w, amount)) {
    memcpy(w->joined, w->held, FRAME_HEADER);
    memcpy(w->joined + FRAME_HEADER, data, (size_t)amount);
    sqlite3_int64 at = w->held_at;
    w->held_at = -1;
    w->written_to = offset + amount;
    return w->real->pMethods->xWrite(w->real, w->joined, FRAME_HEADER + amount, at);
  }
  int rc = flush(w);
  if (rc != SQLITE_OK) return rc;
  if (amount == FRAME_HEADER && offset == w->written_to) { /* appends: its page follows */
    memcpy(w->held, data, FRAME_HEADER);
    w->held_at = offset;
    w->written_to = offset + FRAME_HEADER;
    return SQLITE_OK;
  }
  w->written_to = offset + amount;
  return w->real->pMethods->xWrite(w->real, data, amount, offset);
}

static int wal_close(sqlite3_file *f) {
  wal_file *w = as_wal(f);
  int flushed = flush(w);
  int rc = w->real->pMethods->xClose(w->real);
  sqlite3_free(w->joined);
  w->joined = NULL;
  return flushed != SQLITE_OK ? flushed : rc;
}

/* Every other method writes the held header first, then is the default VFS's. */
#define FLUSHED(w)                              \
  do {                                          \
    int flush_rc = flush(w);                    \
    if (flush_rc != SQLITE_OK) return flush_rc; \
  } while (0)

static int wal_read(sqlite3_file *f, void *data, int amount, sqlite3_int64 offset) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  return w->real->pMethods->xRead(w->real, data, amount, offset);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  w->written_to = -1;
  return w->real->pMethods->xTruncate(w->real, size);
}

/* After a sync the next write starts a new stretch (walWriteToLog's sync point splits a
 * write there): nothing written right after it is held. */
static int wal_sync(sqlite3_file *f, int flags) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  w->written_to = -1;
  return w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  return w->real->pMethods->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int level) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  return w->real->pMethods->xLock(w->real, level);
}

static int wal_unlock(sqlite3_file *f, int level) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  return w->real->pMethods->xUnlock(w->real, level);
}

static int wal_check_reserved_lock(sqlite3_file *f, int *out) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg) {
  wal_file *w = as_wal(f);
  FLUSHED(w);
  return w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f) {
  wal_file *w = as_wal(f);
  return w->real->pMethods->xSectorSize(w->real);
}

static int wal_device_characteristics(sqlite3_file *f) {
  wal_file *w = as_wal(f);
  return w->real->pMethods->xDeviceCharacteristics(w->real);
}

/* Version 1 methods only: SQLite maps neither shared memory nor pages of a WAL file. */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved_lock,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
};

static int wal_writes_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
                           int flags, int *out_flags) {
  (void)vfs;
  /* Not a WAL file: the default VFS's own file, in the space SQLite gave (larger). */
  if (!(flags & SQLITE_OPEN_WAL))
    return default_vfs->xOpen(default_vfs, name, f, flags, out_flags);
  wal_file *w = as_wal(f);
  memset(w, 0, sizeof *w);
  w->real = (sqlite3_file *)(w + 1);
  w->held_at = -1;
  w->written_to = -1;
  int rc = default_vfs->xOpen(default_vfs, name, w->real, flags, out_flags);
  /* On failure pMethods stays NULL: SQLite then does not call xClose. */
  if (rc == SQLITE_OK) w->base.pMethods = &wal_methods;
  return rc;
}

static void register_once(void) {
  /* Only over SQLite's own unix VFS, whose methods are known not to depend on which
   * sqlite3_vfs they are handed; a host program's own default VFS is left as it is. */
  sqlite3_vfs *found = sqlite3_vfs_find(NULL);
  if (found == NULL || found->iVersion < 1 || strcmp(found->zName, "unix") != 0) return;
  default_vfs = found;
  wal_writes_vfs = *found;
  wal_writes_vfs.pNext = NULL;
  wal_writes_vfs.zName = VFS_NAME;
  wal_writes_vfs.szOsFile = (int)sizeof(wal_file) + found->szOsFile;
  wal_writes_vfs.xOpen = wal_writes_open;
  if (sqlite3_vfs_register(&wal_writes_vfs, 0) != SQLITE_OK) default_vfs = NULL;
}

const char *fpq__sqlite_vfs(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, register_once);
  return default_vfs ? VFS_NAME : NULL;
}
