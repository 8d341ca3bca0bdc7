/* Shared by the two files of the pre-filter kernel: _rawscan.c (the one-pass scan and the
 * module) and rawscan_plan.c (the compiled pins and the per-line decision). */
#ifndef SES_SIGMA_RAWSCAN_H
#define SES_SIGMA_RAWSCAN_H
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define HAVE_SSE2 1
#else
#define HAVE_SSE2 0
#endif
/* AVX2, chosen at run time (no -march flag: the same build runs on every x86-64) */
#if HAVE_SSE2 && defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2 1
#else
#define HAVE_AVX2 0
#endif

typedef struct {
    const char *s;
    Py_ssize_t n;
} str_t;

typedef struct {
    int any_name;  /* no eventName pin */
    str_t *names;
    Py_ssize_t nnames;
    str_t *lits;
    Py_ssize_t nlits;
} entry_t;

typedef struct {
    str_t src;
    int any_name; /* union of the entries' names is "any" */
    str_t *names; /* union of the entries' names */
    Py_ssize_t nnames;
    entry_t *entries;
    Py_ssize_t nentries;
} source_t;

typedef struct {
    int need_names;
    source_t *sources;
    Py_ssize_t nsources;
    PyObject *keep; /* the bytes objects the str_t point into */
    void **blocks;  /* every malloc'd array, freed with the plan */
    Py_ssize_t nblocks;
} plan_t;

#define SOURCE_KEY_LEN 13
#define NAME_KEY_LEN 11
#define PLAN_CAPSULE "ses_sigma.rawscan.plan"

typedef struct {
    Py_ssize_t *v; /* triples: line index, start, end */
    Py_ssize_t n, cap;
} found_t;

typedef struct {
    const plan_t *plan;
    int pieces;
    const char *buf;
    found_t found;
    Py_ssize_t lines;
    int nomem;
    Py_ssize_t max_line; /* > 0: lines at least this long are kept, as -(index + 1) */
    /* when set, called for each kept line (while it is in the cache) instead of a push into
     * found; < 0: out of memory */
    int (*keep)(void *ctx, Py_ssize_t index, const char *ls, const char *le);
    void *keep_ctx;
    /* the current line */
    const char *ls;
    int backslash, nsrc, nname;
    const char *src, *name;
} state_t;

/* The one-pass scan of [p, stop) with the widest loop allowed by simd (2 AVX2 when the CPU
 * has it, 1 SSE2, 0 bytes); a last line without newline is ended at stop (_rawscan.c). */
void rawscan_run(state_t *st, const char *p, const char *stop, int simd);

/* candidates(...) / candidates_fd(...) (rawscan_lines.c) */
PyObject *rawscan_candidates(PyObject *self, PyObject *args);
PyObject *rawscan_candidates_fd(PyObject *self, PyObject *args);

/* compile_plan(need_names, sources) -> capsule (rawscan_plan.c) */
PyObject *rawscan_compile_plan(PyObject *self, PyObject *args);

/* 1 when the line [ls, le) must be decoded, 0 when no pin can hold. src /
 * name: the first "eventSource" / "eventName" key of the line (NULL if none), counts capped
 * at 2 (rawscan_plan.c). */
int rawscan_decide(const plan_t *plan, int pieces, const char *ls, const char *le,
                   int backslash, const char *src, int nsrc, const char *name, int nname);

#endif
