#include "schema/report.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/*
 * A report's blocks: each a malloc of under 1 KiB (glibc serves those
 * from its per-thread cache; a request of 1 KiB or more first
 * consolidates the chunks the last report's JSON tree freed), except a
 * block of its own for anything larger than a quarter of one.
 */
#define BLOCK_SIZE 960
#define ALIGN      _Alignof(max_align_t)

/*
 * Under AddressSanitizer the free part of a block stays poisoned, and a
 * fence of 8 bytes after each piece, so that reading or writing past a
 * string or array of a report is still caught as it was when each was a
 * malloc of its own.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TRPT_REPORT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TRPT_REPORT_ASAN 1
#endif
#endif
#ifdef TRPT_REPORT_ASAN
#include <sanitizer/asan_interface.h>
#define FENCE          8
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define FENCE          0
#define POISON(p, n)   ((void)0)
#define UNPOISON(p, n) ((void)0)
#endif

struct trpt_report_block {
	struct trpt_report_block *next;
	size_t used, size; /* of data */
	_Alignas(max_align_t) unsigned char data[];
};

static struct trpt_report_block *
block_new(size_t size)
{
	struct trpt_report_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + size);
	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->used = 0;
	b->size = size;
	POISON(b->data, size);
	return b;
}

static void
block_free(struct trpt_report_block *b)
{
	UNPOISON(b->data, b->size);
	free(b);
}

/* n bytes of r's blocks, aligned to align (1 or ALIGN), not zeroed. */
static void *
take(struct trpt_report *r, size_t n, size_t align)
{
	struct trpt_report_block *b = r->blocks_, *nb;
	size_t at;

	if (n > BLOCK_SIZE / 4) {
		/* A block of its own, behind the current one. */
		if ((nb = block_new(n)) == NULL)
			return NULL;
		nb->used = n;
		UNPOISON(nb->data, n);
		nb->next = b->next;
		b->next = nb;
		return nb->data;
	}
	if (FENCE > 0 && align < 8)
		align = 8; /* the shadow memory's granule */
	at = (b->used + align - 1) & ~(align - 1);
	if (at > b->size || b->size - at < n + FENCE) {
		if ((nb = block_new(BLOCK_SIZE)) == NULL)
			return NULL;
		nb->next = b;
		r->blocks_ = b = nb;
		at = 0;
	}
	b->used = at + n + FENCE;
	UNPOISON(b->data + at, n);
	return b->data + at;
}

int
trpt_report_new(struct trpt_report **out)
{
	struct trpt_report_block *b = block_new(BLOCK_SIZE);
	struct trpt_report *r;

	if (b == NULL)
		return TRPT_ENOMEM;
	_Static_assert(sizeof(*r) <= BLOCK_SIZE, "a report fits a block");
	r = (struct trpt_report *)(void *)b->data;
	UNPOISON(r, sizeof(*r));
	memset(r, 0, sizeof(*r));
	b->used = sizeof(*r) + FENCE;
	r->blocks_ = b;
	*out = r;
	return TRPT_OK;
}

void *
trpt_report_alloc(struct trpt_report *r, size_t n)
{
	void *p = take(r, n > 0 ? n : 1, ALIGN);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

char *
trpt_report_strndup(struct trpt_report *r, const char *s, size_t n)
{
	char *d;

	if (n == SIZE_MAX || (d = take(r, n + 1, 1)) == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

int
trpt_strlist_add(struct trpt_strlist *l, const char *s)
{
	char **nv, *copy;

	copy = strdup(s);
	if (copy == NULL)
		return TRPT_ENOMEM;
	nv = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (nv == NULL) {
		free(copy);
		return TRPT_ENOMEM;
	}
	nv[l->n++] = copy;
	l->v = nv;
	return TRPT_OK;
}

void
trpt_strlist_clear(struct trpt_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
failure_clear(struct trpt_failure *f)
{
	free(f->result_type);
	free(f->sending_mta_ip);
	free(f->receiving_mx_hostname);
	free(f->receiving_mx_helo);
	free(f->receiving_ip);
	free(f->failure_reason_code);
	free(f->additional_information);
}

void
trpt_report_free(struct trpt_report **rp)
{
	struct trpt_report *r;
	size_t i, j;

	if (rp == NULL || *rp == NULL)
		return;
	r = *rp;
	*rp = NULL;
	if (r->blocks_ != NULL) {
		/* The report itself is in the last block of the list. */
		struct trpt_report_block *b = r->blocks_, *next;

		trpt_strlist_clear(&r->warnings);
		for (; b != NULL; b = next) {
			next = b->next;
			block_free(b);
		}
		return;
	}
	for (i = 0; i < r->npolicies; i++) {
		struct trpt_policy *p = &r->policies[i];

		free(p->policy_type);
		free(p->policy_domain);
		trpt_strlist_clear(&p->policy_strings);
		trpt_strlist_clear(&p->mx_hosts);
		for (j = 0; j < p->nfailures; j++)
			failure_clear(&p->failures[j]);
		free(p->failures);
	}
	free(r->policies);
	free(r->organization_name);
	free(r->contact_info);
	free(r->report_id);
	trpt_strlist_clear(&r->warnings);
	free(r);
}
