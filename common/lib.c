#include "common/lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"

/* The table copies void * into function pointers (POSIX dlsym). */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
    "function and object pointers differ in size");

static void (*report)(const char *msg);

void
trpt_lib_set_report(void (*fn)(const char *msg))
{
	report = fn;
}

/* Called once per library (its pthread_once, through lib->load). */
void
trpt__lib_load(struct trpt_lib *lib)
{
	void **syms;
	void *h;
	const char *e;
	size_t i;

	syms = calloc(lib->n, sizeof(*syms));
	if (syms == NULL) {
		snprintf(lib->why, sizeof(lib->why),
		    "cannot load %s (for %s): out of memory", lib->soname,
		    lib->what);
		goto out;
	}
	/* RTLD_LOCAL: its symbols are ours to look up, nobody else's.
	 * RTLD_NOW: every relocation now, as the linked program had (-z
	 * now), so that no lazy binding runs later. */
	h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		e = dlerror();
		snprintf(lib->why, sizeof(lib->why),
		    "cannot load %s (for %s): %s", lib->soname, lib->what,
		    e != NULL ? e : "dlopen failed");
		goto out;
	}
	for (i = 0; i < lib->n; i++) {
		syms[i] = dlsym(h, lib->names[i]);
		if (syms[i] == NULL) {
			snprintf(lib->why, sizeof(lib->why),
			    "cannot load %s (for %s): it has no %s",
			    lib->soname, lib->what, lib->names[i]);
			/* Never unloaded once loaded: a half-used library
			 * may have registered handlers (atexit, threads). */
			goto out;
		}
	}
	lib->fill(syms);
	lib->ok = 1;
out:
	free(syms);
	if (!lib->ok && report != NULL)
		report(lib->why);
}

int
trpt_lib_ready(struct trpt_lib *lib)
{
	if (pthread_once(&lib->once, lib->load) != 0)
		return 0;
	return lib->ok;
}

int
trpt_lib_need(struct trpt_lib *lib, struct trpt_err *err)
{
	if (trpt_lib_ready(lib))
		return TRPT_OK;
	return trpt_err_set(err, TRPT_EIO, "%s", lib->why);
}
