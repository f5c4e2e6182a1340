/*
 * The WAL write buffer (schema/walbuf.h): a VFS shim, as SQLite documents
 * them (https://sqlite.org/vfs.html), whose only change is in the methods
 * of files opened with SQLITE_OPEN_WAL.
 *
 * Hand-written because SQLite has no setting for it: the log's frames go
 * down one xWrite per header and one per page (wal.c walWriteOneFrame).
 * Measured with serve at 16 connections (perf, 2026-11-30): 12 pwrite
 * calls a stored report, ~23% of the server's CPU; on this virtual
 * machine a system call costs more than the copy it makes.
 *
 * When to write the buffer out.  A commit ends with its commit frame,
 * whose header (bytes 4-7, the database size) is not 0; the write after
 * that header is the frame's page, and once it is in the buffer the
 * buffer goes down, within that xWrite, whose result is the write's
 * result.  SQLite publishes a commit (the wal-index header readers look
 * at) only after its last frame is written, so readers, other
 * connections and a process killed after the commit find every frame in
 * the file, as without the buffer.  With synchronous=FULL the commit
 * frame's page may be split at a sector boundary around an xSync, which
 * writes the buffer out too.  Frames of a transaction that never commits
 * (a cache spill of a large one) may stay in the buffer until the next
 * use of the file; a crash loses them as it loses an unfinished
 * transaction.  A write that fails drops the buffer: it held only the
 * current transaction's frames, which SQLite then rolls back.
 */

#include "schema/walbuf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define FRAME_HDR 24                /* wal.c WAL_FRAME_HDRSIZE */
#define BUF_MAX   (4 * 1024 * 1024) /* bytes held before writing */
#define BUF_FIRST (256 * 1024)
/* The unix VFS writes at most 0x1ffff bytes a call (os_unix.c
 * seekAndWriteFd masks the length with it). */
#define WRITE_MAX 0x1f000

struct wfile {
	sqlite3_file base; /* pMethods = &wal_methods */
	sqlite3_file *real;
	unsigned char *buf;
	size_t len, cap;
	sqlite3_int64 off; /* of buf[0] in the file */
	int commit;        /* the last write was a commit frame's header */
};

static sqlite3_vfs vfs;
static sqlite3_vfs *base_vfs;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;
static atomic_ullong writes_in, writes_out;

/* The real file follows struct wfile, 8-aligned. */
#define WFILE_SIZE ((sizeof(struct wfile) + 7) & ~(size_t)7)

static int
flush(struct wfile *w)
{
	size_t done, n;
	int rc = SQLITE_OK;

	for (done = 0; done < w->len && rc == SQLITE_OK; done += n) {
		n = w->len - done < WRITE_MAX ? w->len - done : WRITE_MAX;
		atomic_fetch_add_explicit(&writes_out, 1, memory_order_relaxed);
		rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int)n,
		    w->off + (sqlite3_int64)done);
	}
	w->len = 0;
	w->commit = 0;
	return rc;
}

static int
w_close(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w), crc;

	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
	crc = w->real->pMethods->xClose(w->real);
	return rc != SQLITE_OK ? rc : crc;
}

static int
w_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	if (rc != SQLITE_OK)
		return rc;
	return w->real->pMethods->xRead(w->real, p, n, off);
}

/* Makes room for n more bytes; 0 when the buffer cannot hold them. */
static int
room(struct wfile *w, size_t n)
{
	unsigned char *nb;
	size_t ncap;

	if (w->len + n <= w->cap)
		return 1;
	if (w->len + n > BUF_MAX)
		return 0;
	ncap = w->cap == 0 ? BUF_FIRST : w->cap;
	while (ncap < w->len + n)
		ncap *= 2;
	if (ncap > BUF_MAX)
		ncap = BUF_MAX;
	if ((nb = realloc(w->buf, ncap)) == NULL)
		return 0;
	w->buf = nb;
	w->cap = ncap;
	return 1;
}

static int
w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	struct wfile *w = (struct wfile *)f;
	const unsigned char *b = p;
	int rc, was_commit;

	atomic_fetch_add_explicit(&writes_in, 1, memory_order_relaxed);
	if (w->len > 0 && off != w->off + (sqlite3_int64)w->len &&
	    (rc = flush(w)) != SQLITE_OK)
		return rc;
	if (n <= 0)
		return w->real->pMethods->xWrite(w->real, p, n, off);
	if (!room(w, (size_t)n)) {
		/* Full (or out of memory): what is held goes first, then
		 * this write, buffered if it fits now, else directly. */
		if ((rc = flush(w)) != SQLITE_OK)
			return rc;
		if (!room(w, (size_t)n)) {
			atomic_fetch_add_explicit(
			    &writes_out, 1, memory_order_relaxed);
			return w->real->pMethods->xWrite(w->real, p, n, off);
		}
	}
	if (w->len == 0)
		w->off = off;
	memcpy(w->buf + w->len, b, (size_t)n);
	w->len += (size_t)n;
	was_commit = w->commit;
	w->commit = n == FRAME_HDR &&
		    (b[4] != 0 || b[5] != 0 || b[6] != 0 || b[7] != 0);
	if (was_commit)
		return flush(w);
	return SQLITE_OK;
}

static int
w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	if (rc != SQLITE_OK)
		return rc;
	return w->real->pMethods->xTruncate(w->real, size);
}

static int
w_sync(sqlite3_file *f, int flags)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	if (rc != SQLITE_OK)
		return rc;
	return w->real->pMethods->xSync(w->real, flags);
}

static int
w_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	if (rc != SQLITE_OK)
		return rc;
	return w->real->pMethods->xFileSize(w->real, size);
}

static int
w_lock(sqlite3_file *f, int lock)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xLock(w->real, lock);
}

static int
w_unlock(sqlite3_file *f, int lock)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xUnlock(w->real, lock);
}

static int
w_check_reserved(sqlite3_file *f, int *out)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int
w_file_control(sqlite3_file *f, int op, void *arg)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	if (rc != SQLITE_OK)
		return rc;
	return w->real->pMethods->xFileControl(w->real, op, arg);
}

static int
w_sector_size(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xSectorSize(w->real);
}

static int
w_device(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xDeviceCharacteristics(w->real);
}

static int
w_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xShmMap(w->real, pg, pgsz, extend, pp);
}

static int
w_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xShmLock(w->real, offset, n, flags);
}

static void
w_shm_barrier(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;

	w->real->pMethods->xShmBarrier(w->real);
}

static int
w_shm_unmap(sqlite3_file *f, int del)
{
	struct wfile *w = (struct wfile *)f;

	return w->real->pMethods->xShmUnmap(w->real, del);
}

static int
w_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	*pp = NULL;
	if (rc != SQLITE_OK || w->real->pMethods->iVersion < 3)
		return rc;
	return w->real->pMethods->xFetch(w->real, off, n, pp);
}

static int
w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	struct wfile *w = (struct wfile *)f;

	if (w->real->pMethods->iVersion < 3)
		return SQLITE_OK;
	return w->real->pMethods->xUnfetch(w->real, off, p);
}

static const sqlite3_io_methods wal_methods = {
	3,
	w_close,
	w_read,
	w_write,
	w_truncate,
	w_sync,
	w_file_size,
	w_lock,
	w_unlock,
	w_check_reserved,
	w_file_control,
	w_sector_size,
	w_device,
	w_shm_map,
	w_shm_lock,
	w_shm_barrier,
	w_shm_unmap,
	w_fetch,
	w_unfetch,
};

static int
v_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags,
    int *out_flags)
{
	struct wfile *w = (struct wfile *)f;
	int rc;

	(void)v;
	/* Anything but a log: the real file in f's room, as if opened by
	 * the default VFS itself. */
	if (!(flags & SQLITE_OPEN_WAL))
		return base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)((char *)w + WFILE_SIZE);
	rc = base_vfs->xOpen(base_vfs, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		if (w->real->pMethods != NULL)
			w->real->pMethods->xClose(w->real);
		w->base.pMethods = NULL;
		return rc;
	}
	w->base.pMethods = &wal_methods;
	return SQLITE_OK;
}

static int
v_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	(void)v;
	return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int
v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int
v_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *
v_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return base_vfs->xDlOpen(base_vfs, name);
}

static void
v_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	base_vfs->xDlError(base_vfs, n, out);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return base_vfs->xDlSym(base_vfs, h, sym);
}

static void
v_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	base_vfs->xDlClose(base_vfs, h);
}

static int
v_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return base_vfs->xRandomness(base_vfs, n, out);
}

static int
v_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return base_vfs->xSleep(base_vfs, us);
}

static int
v_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return base_vfs->xCurrentTime(base_vfs, out);
}

static int
v_last_error(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return base_vfs->xGetLastError(base_vfs, n, out);
}

static int
v_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static void
register_once(void)
{
	base_vfs = sqlite3_vfs_find(NULL);
	if (base_vfs == NULL || base_vfs->iVersion < 2 ||
	    base_vfs->xCurrentTimeInt64 == NULL)
		return;
	memset(&vfs, 0, sizeof(vfs));
	vfs.iVersion = 2;
	vfs.szOsFile = (int)WFILE_SIZE + base_vfs->szOsFile;
	vfs.mxPathname = base_vfs->mxPathname;
	vfs.zName = TRPT_WALBUF_VFS;
	vfs.xOpen = v_open;
	vfs.xDelete = v_delete;
	vfs.xAccess = v_access;
	vfs.xFullPathname = v_full_pathname;
	vfs.xDlOpen = v_dlopen;
	vfs.xDlError = v_dlerror;
	vfs.xDlSym = v_dlsym;
	vfs.xDlClose = v_dlclose;
	vfs.xRandomness = v_randomness;
	vfs.xSleep = v_sleep;
	vfs.xCurrentTime = v_current_time;
	vfs.xGetLastError = v_last_error;
	vfs.xCurrentTimeInt64 = v_current_time64;
	register_rc = sqlite3_vfs_register(&vfs, 0);
}

int
trpt_walbuf_register(struct trpt_err *err)
{
	pthread_once(&once, register_once);
	if (register_rc != SQLITE_OK)
		return trpt_err_set(err, TRPT_EDB,
		    "sqlite: cannot register the %s VFS: %s", TRPT_WALBUF_VFS,
		    base_vfs == NULL ? "no default VFS"
				     : sqlite3_errstr(register_rc));
	return TRPT_OK;
}

void
trpt_walbuf_stats(struct trpt_walbuf_stats *out)
{
	out->writes_in = atomic_load_explicit(&writes_in, memory_order_relaxed);
	out->writes_out =
	    atomic_load_explicit(&writes_out, memory_order_relaxed);
}
