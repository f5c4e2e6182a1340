#include "ingest/files.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "ingest/mbox.h"

/* A prefix of an oversized file is kept in quarantine, not all of it. */
#define QUARANTINE_PREFIX (1024u * 1024)

/*
 * One buffer reads every file of a walk: a buffer of its own for each
 * file (64 KiB, grown to 128 KiB by the read that finds the end) cost a
 * malloc, a free and malloc_consolidate or an mmap per file (issue 15).
 * Past READ_KEEP it is given back after the file, so that one large input
 * does not stay in memory for the rest of the walk.
 */
#define READ_KEEP (1024u * 1024)

struct walker {
	struct trpt_pipeline *p;
	struct trpt_buf rd;
};

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

#define STREAM_BLOCK (64u * 1024)

/* Where "\nFrom " starts in buf[from, len), or len. */
static size_t
next_separator(const char *buf, size_t from, size_t len)
{
	const char *q;

	while (from + 6 <= len) {
		q = memchr(buf + from, '\n', len - from - 5);
		if (q == NULL)
			break;
		if (memcmp(q + 1, "From ", 5) == 0)
			return (size_t)(q - buf);
		from = (size_t)(q - buf) + 1;
	}
	return len;
}

/*
 * An mbox larger than max_message, read message by message (issue 9 item
 * 10: rejecting it whole lost every small message in it).  Memory stays
 * within max_message and one read block.  A message larger than
 * max_message is rejected with its first bytes kept, and skipped.  A read
 * error rejects the rest of the file.
 */
static int
stream_mbox(struct trpt_pipeline *p, int fd, const struct trpt_origin *origin,
    struct trpt_err *err)
{
	size_t max = p->limits.max_message, cap = max + STREAM_BLOCK;
	size_t len = 0, scan = 1, k, keep;
	char *buf = malloc(cap), reason[TRPT_ERR_MSG_LEN];
	int n = 0, eof = 0, skipping = 0, rc = TRPT_OK;
	ssize_t r;

	if (buf == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "%s: out of memory", origin->source);
	while (rc == TRPT_OK) {
		while (!eof && len < cap) {
			r = read(fd, buf + len,
			    cap - len < STREAM_BLOCK ? cap - len
						     : STREAM_BLOCK);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				snprintf(reason, sizeof(reason),
				    "read error after message %d: %s", n,
				    strerror(errno));
				rc = trpt_pipeline_reject(
				    p, NULL, 0, origin, reason, err);
				goto out;
			}
			if (r == 0)
				eof = 1;
			len += (size_t)r;
		}
		k = next_separator(buf, scan > 6 ? scan - 6 : 0, len);
		if (k == len && !eof) {
			/* The buffer is full and holds no end of message:
			 * one larger than max_message. */
			if (!skipping) {
				keep = max < QUARANTINE_PREFIX
					   ? max
					   : QUARANTINE_PREFIX;
				rc = trpt_pipeline_mbox_message(
				    p, buf, keep, ++n, 1, origin, NULL, err);
				skipping = 1;
			}
			memmove(buf, buf + len - 5, 5);
			len = 5;
			scan = 1;
			continue;
		}
		if (k < len)
			k++; /* the newline ends the message */
		if (skipping)
			skipping = 0;
		else if (k > max)
			rc = trpt_pipeline_mbox_message(p, buf,
			    max < QUARANTINE_PREFIX ? max : QUARANTINE_PREFIX,
			    ++n, 1, origin, NULL, err);
		else if (k > 0)
			rc = trpt_pipeline_mbox_message(
			    p, buf, k, ++n, 0, origin, NULL, err);
		memmove(buf, buf + k, len - k);
		len -= k;
		scan = 1;
		if (eof && len == 0)
			break;
	}
out:
	free(buf);
	return rc;
}

/* True when the file at fd starts as an mbox does (fd left at 0). */
static int
starts_as_mbox(int fd)
{
	char head[5];

	return pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
	       trpt_mbox_looks_like(head, sizeof(head));
}

static int
ingest_file(
    struct walker *w, const char *path, const char *kind, struct trpt_err *err)
{
	struct trpt_pipeline *p = w->p;
	struct trpt_origin origin;
	struct trpt_err ferr;
	char *data = NULL, reason[TRPT_ERR_MSG_LEN + 32];
	int rc, fd;
	ssize_t n;

	memset(&origin, 0, sizeof(origin));
	origin.kind = kind;
	origin.source = strcmp(path, "-") == 0 ? "<stdin>" : path;
	origin.filename = strcmp(path, "-") == 0 ? NULL : base_name(path);
	origin.received = (int64_t)time(NULL);

	w->rd.max = p->limits.max_message;
	rc = trpt_buf_load_file(&w->rd, path, &ferr);
	if (rc != TRPT_OK && w->rd.cap > READ_KEEP)
		trpt_buf_free(&w->rd);
	if (rc == TRPT_ENOMEM)
		return trpt_err_set(err, rc, "%s", ferr.msg);
	if (rc == TRPT_ELIMIT && strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY)) >= 0) {
		if (starts_as_mbox(fd)) {
			rc = stream_mbox(p, fd, &origin, err);
			close(fd);
			return rc;
		}
		close(fd);
	}
	if (rc == TRPT_ELIMIT) {
		/* Keep the head of it so that the quarantine shows what it
		 * was; the file itself stays where it is. */
		size_t keep = p->limits.max_message < QUARANTINE_PREFIX
				  ? p->limits.max_message
				  : QUARANTINE_PREFIX;

		snprintf(reason, sizeof(reason),
		    "larger than the limit of %zu bytes (first %zu bytes kept)",
		    p->limits.max_message, keep);
		data = malloc(keep);
		fd = strcmp(path, "-") == 0 ? -1 : open(path, O_RDONLY);
		n = data != NULL && fd >= 0 ? read(fd, data, keep) : -1;
		if (fd >= 0)
			close(fd);
		rc = trpt_pipeline_reject(p, n > 0 ? data : NULL,
		    n > 0 ? (size_t)n : 0, &origin, reason, err);
		free(data);
		return rc;
	}
	if (rc != TRPT_OK) {
		/* Unreadable: nothing to keep, but say so and count it. */
		const char *msg = ferr.msg;
		size_t pl = strlen(origin.source);

		if (strncmp(msg, origin.source, pl) == 0 && msg[pl] == ':')
			msg += pl + 2; /* the source is already named */
		return trpt_pipeline_reject(p, NULL, 0, &origin, msg, err);
	}
	rc = trpt_pipeline_input(p, w->rd.data != NULL ? w->rd.data : "",
	    w->rd.len, &origin, NULL, err);
	if (w->rd.cap > READ_KEEP)
		trpt_buf_free(&w->rd);
	return rc;
}

static int
skip_entry(const char *dir, const char *name)
{
	char sib[4096];
	struct stat st;

	if (name[0] == '.')
		return 1; /* ., .., and hidden files (Dovecot's indexes) */
	if (strcmp(name, "tmp") == 0) {
		/* Maildir tmp/ holds messages still being delivered. */
		snprintf(sib, sizeof(sib), "%s/cur", dir);
		if (stat(sib, &st) == 0 && S_ISDIR(st.st_mode))
			return 1;
		snprintf(sib, sizeof(sib), "%s/new", dir);
		if (stat(sib, &st) == 0 && S_ISDIR(st.st_mode))
			return 1;
	}
	return 0;
}

static int
walk(struct walker *w, const char *path, unsigned depth, struct trpt_err *err)
{
	struct trpt_pipeline *p = w->p;
	struct dirent **names = NULL;
	struct trpt_origin origin;
	struct stat st;
	char sub[4096], reason[TRPT_ERR_MSG_LEN];
	int n, i, rc = TRPT_OK;

	memset(&origin, 0, sizeof(origin));
	origin.kind = "file";
	origin.source = path;
	origin.received = (int64_t)time(NULL);

	if (strcmp(path, "-") == 0)
		return ingest_file(w, path, "stdin", err);
	if (stat(path, &st) != 0) {
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
		return trpt_pipeline_reject(p, NULL, 0, &origin, reason, err);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (!S_ISREG(st.st_mode))
			return trpt_pipeline_reject(p, NULL, 0, &origin,
			    "not a regular file or directory", err);
		return ingest_file(w, path, "file", err);
	}
	if (depth >= TRPT_MAX_DIR_DEPTH)
		return trpt_pipeline_reject(
		    p, NULL, 0, &origin, "directories nested too deep", err);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
		return trpt_pipeline_reject(p, NULL, 0, &origin, reason, err);
	}
	for (i = 0; i < n; i++) {
		if (rc == TRPT_OK && !skip_entry(path, names[i]->d_name)) {
			struct stat lst;

			snprintf(sub, sizeof(sub), "%s%s%s", path,
			    path[strlen(path) - 1] == '/' ? "" : "/",
			    names[i]->d_name);
			/* Symbolic links to directories are not followed:
			 * a loop would never end.  A regular file (as the
			 * directory entry says, when it does) is read
			 * without a stat of its own. */
			if (names[i]->d_type == DT_REG)
				rc = ingest_file(w, sub, "file", err);
			else if (lstat(sub, &lst) == 0 &&
				 S_ISLNK(lst.st_mode) && stat(sub, &st) == 0 &&
				 S_ISDIR(st.st_mode))
				;
			else
				rc = walk(w, sub, depth + 1, err);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
trpt_files_ingest(
    struct trpt_pipeline *p, const char *path, struct trpt_err *err)
{
	struct walker w;
	int rc;

	w.p = p;
	trpt_buf_init(&w.rd, p->limits.max_message);
	rc = walk(&w, path, 0, err);
	trpt_buf_free(&w.rd);
	return rc;
}
