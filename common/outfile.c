#include "common/outfile.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
release(struct trpt_outfile *o)
{
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof(*o));
}

int
trpt_outfile_open(
    const char *path, struct trpt_outfile *o, struct trpt_err *err)
{
	struct stat st;
	const char *slash;
	mode_t mode, mask;
	size_t dlen;
	int fd, rc, exists;

	memset(o, 0, sizeof(*o));
	if (strcmp(path, "-") == 0) {
		o->f = stdout;
		o->is_stdout = 1;
		return TRPT_OK;
	}
	if ((o->path = strdup(path)) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	exists = stat(path, &st) == 0;
	if (!exists && errno != ENOENT) {
		rc = trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (exists && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			rc = trpt_err_set(
			    err, TRPT_EIO, "%s: is a directory", path);
			goto fail;
		}
		/* A FIFO, a terminal, a device: written as it is. */
		fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || (o->f = fdopen(fd, "w")) == NULL) {
			rc = trpt_err_set(
			    err, TRPT_EIO, "%s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		return TRPT_OK;
	}
	/* DIR/.BASE.XXXXXX beside the target. */
	slash = strrchr(path, '/');
	dlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	o->tmp = malloc(strlen(path) + 10);
	if (o->tmp == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(o->tmp, path, dlen);
	snprintf(
	    o->tmp + dlen, strlen(path) - dlen + 10, ".%s.XXXXXX", path + dlen);
	fd = mkstemp(o->tmp);
	if (fd < 0) {
		rc = trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		goto fail;
	}
	if (exists)
		mode = st.st_mode & 07777;
	else {
		mask = umask(0);
		umask(mask);
		mode = 0666 & ~mask;
	}
	if (fchmod(fd, mode) != 0 || (o->f = fdopen(fd, "w")) == NULL) {
		rc = trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(o->tmp);
		goto fail;
	}
	return TRPT_OK;
fail:
	release(o);
	return rc;
}

int
trpt_outfile_commit(struct trpt_outfile *o, struct trpt_err *err)
{
	int rc = TRPT_OK, failed;

	if (o->f == NULL)
		return trpt_err_set(err, TRPT_EINVAL, "output not open");
	failed = fflush(o->f) != 0 || ferror(o->f);
	if (o->is_stdout) {
		if (failed)
			rc = trpt_err_set(err, TRPT_EIO, "standard output: %s",
			    strerror(errno));
		release(o);
		return rc;
	}
	if (!failed && o->tmp != NULL && fsync(fileno(o->f)) != 0)
		failed = 1;
	if (failed)
		rc = trpt_err_set(
		    err, TRPT_EIO, "%s: %s", o->path, strerror(errno));
	if (fclose(o->f) != 0 && rc == TRPT_OK)
		rc = trpt_err_set(
		    err, TRPT_EIO, "%s: %s", o->path, strerror(errno));
	o->f = NULL;
	if (o->tmp != NULL) {
		if (rc == TRPT_OK && rename(o->tmp, o->path) != 0)
			rc = trpt_err_set(
			    err, TRPT_EIO, "%s: %s", o->path, strerror(errno));
		if (rc != TRPT_OK)
			unlink(o->tmp);
	}
	release(o);
	return rc;
}

void
trpt_outfile_abort(struct trpt_outfile *o)
{
	if (o->f != NULL && !o->is_stdout) {
		fclose(o->f);
		if (o->tmp != NULL)
			unlink(o->tmp);
	}
	release(o);
}
