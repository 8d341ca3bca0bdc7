/* The raw-bytes pre-filter kernel: one pass over a buffer of JSON Lines, finding the lines
 * that could match a pinned rule. The rules are the ones of ses_sigma/prefilter/reference.py
 * (the pure-Python reference, which the property tests compare with this kernel line by
 * line); the module docstring there states them and why they are sound.
 *
 * One pass: an AVX2 loop (chosen at run time when the CPU has it) or an SSE2 loop (x86-64
 * baseline; no -march flag needed) classifies 32 / 16 bytes at a time: newline, backslash,
 * and the anchor '"' _ 'v' _ _ _ {'S','N'} of the two keys "eventSource" / "eventName". Every
 * anchor is checked with memcmp. Elsewhere a portable byte loop gives the same events.
 * Every byte is looked at a bounded number of times: the key counts stop at 2, value
 * searches stop at the line end, and literal searches only run on lines whose
 * eventSource/eventName are pinned (each bounded by the plan's size). Nothing is read
 * outside [start, end). The GIL is released while the buffer is scanned.
 */
#include "_rawscan.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
/* Prefetch distance of the SIMD loops: the hardware prefetcher stops at 4 KiB page
 * boundaries, and page-cache pages (a mapped file) are scattered: asking for the bytes 2 KiB
 * ahead cut the scan of the mapped 906 MB bench file from 0.21 to 0.14 s CPU (measured;
 * 1 KiB and 4 KiB did no better). A prefetch never faults, past the buffer included. */
#define RAWSCAN_PF 2048

static const char SOURCE_KEY[] = "\"eventSource\"";
static const char NAME_KEY[] = "\"eventName\"";

/* ------------------------------------------------------------------ the scan */

static void push(state_t *st, const char *le) {
    if (st->found.n + 3 > st->found.cap) {
        Py_ssize_t cap = st->found.cap ? st->found.cap * 2 : 3 * 1024;
        Py_ssize_t *mem = realloc(st->found.v, sizeof(Py_ssize_t) * (size_t)cap);
        if (mem == NULL) {
            st->nomem = 1;
            return;
        }
        st->found.v = mem;
        st->found.cap = cap;
    }
    st->found.v[st->found.n++] = st->lines;
    st->found.v[st->found.n++] = st->ls - st->buf;
    st->found.v[st->found.n++] = le - st->buf;
}

static void end_line(state_t *st, const char *le) {
    int d;
    if (st->max_line > 0 && le - st->ls >= st->max_line)
        d = 2; /* over-long: kept whatever the decision */
    else
        d = rawscan_decide(st->plan, st->pieces, st->ls, le, st->backslash, st->src, st->nsrc,
                           st->name, st->nname);
    if (d < 0)
        st->nomem = 1;
    else if (d && st->keep != NULL) {
        if (st->keep(st->keep_ctx, d == 2 ? -st->lines - 1 : st->lines, st->ls, le) < 0)
            st->nomem = 1;
    } else if (d)
        push(st, le);
    st->lines++;
    st->ls = le + 1;
    st->backslash = st->nsrc = st->nname = 0;
    st->src = st->name = NULL;
}

/* An anchor '"' at p (p[2] == 'v', p[6] in S/N already likely): one of the two keys? */
static inline void anchor(state_t *st, const char *p, const char *end) {
    if (end - p >= SOURCE_KEY_LEN && memcmp(p, SOURCE_KEY, SOURCE_KEY_LEN) == 0) {
        if (st->nsrc++ == 0)
            st->src = p;
        if (st->nsrc > 2)
            st->nsrc = 2;
    } else if (end - p >= NAME_KEY_LEN && memcmp(p, NAME_KEY, NAME_KEY_LEN) == 0) {
        if (st->nname++ == 0)
            st->name = p;
        if (st->nname > 2)
            st->nname = 2;
    }
}

static inline void event(state_t *st, const char *p, const char *end) {
    char c = *p;
    if (c == '\n')
        end_line(st, p);
    else if (c == '\\')
        st->backslash = 1;
    else if (c == '"')
        anchor(st, p, end);
}

static void scan_bytes(state_t *st, const char *p, const char *end) {
    for (; p < end; p++) {
        char c = *p;
        if (c == '\n' || c == '\\' || (c == '"' && end - p > 6 && p[2] == 'v' &&
                                       (p[6] == 'S' || p[6] == 'N')))
            event(st, p, end);
    }
}

#if HAVE_SSE2
static void scan_sse2(state_t *st, const char *p, const char *end) {
    const __m128i nl = _mm_set1_epi8('\n'), bs = _mm_set1_epi8('\\');
    const __m128i qu = _mm_set1_epi8('"'), vv = _mm_set1_epi8('v');
    const __m128i ss = _mm_set1_epi8('S'), nn = _mm_set1_epi8('N');
    /* the three loads of one step cover [p, p + 22) */
    while (end - p >= 22) {
        _mm_prefetch(p + RAWSCAN_PF, _MM_HINT_T0);
        __m128i a = _mm_loadu_si128((const __m128i *)p);
        __m128i b = _mm_loadu_si128((const __m128i *)(p + 2));
        __m128i c = _mm_loadu_si128((const __m128i *)(p + 6));
        __m128i key = _mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi8(a, qu), _mm_cmpeq_epi8(b, vv)),
            _mm_or_si128(_mm_cmpeq_epi8(c, ss), _mm_cmpeq_epi8(c, nn)));
        __m128i any =
            _mm_or_si128(key, _mm_or_si128(_mm_cmpeq_epi8(a, nl), _mm_cmpeq_epi8(a, bs)));
        unsigned mask = (unsigned)_mm_movemask_epi8(any);
        while (mask) {
            int i = __builtin_ctz(mask);
            mask &= mask - 1;
            event(st, p + i, end);
        }
        p += 16;
    }
    scan_bytes(st, p, end);
}
#endif

#if HAVE_AVX2
__attribute__((target("avx2"))) static void scan_avx2(state_t *st, const char *p,
                                                      const char *end) {
    const __m256i nl = _mm256_set1_epi8('\n'), bs = _mm256_set1_epi8('\\');
    const __m256i qu = _mm256_set1_epi8('"'), vv = _mm256_set1_epi8('v');
    const __m256i ss = _mm256_set1_epi8('S'), nn = _mm256_set1_epi8('N');
    /* the three loads of one step cover [p, p + 38) */
    while (end - p >= 38) {
        _mm_prefetch(p + RAWSCAN_PF, _MM_HINT_T0);
        __m256i a = _mm256_loadu_si256((const __m256i *)p);
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + 2));
        __m256i c = _mm256_loadu_si256((const __m256i *)(p + 6));
        __m256i key = _mm256_and_si256(
            _mm256_and_si256(_mm256_cmpeq_epi8(a, qu), _mm256_cmpeq_epi8(b, vv)),
            _mm256_or_si256(_mm256_cmpeq_epi8(c, ss), _mm256_cmpeq_epi8(c, nn)));
        __m256i any = _mm256_or_si256(
            key, _mm256_or_si256(_mm256_cmpeq_epi8(a, nl), _mm256_cmpeq_epi8(a, bs)));
        unsigned mask = (unsigned)_mm256_movemask_epi8(any);
        while (mask) {
            int i = __builtin_ctz(mask);
            mask &= mask - 1;
            event(st, p + i, end);
        }
        p += 32;
    }
    scan_sse2(st, p, end);
}
#endif

static int have_avx2 = 0;

void rawscan_run(state_t *st, const char *p, const char *stop, int simd) {
#if HAVE_AVX2
    if (simd >= 2 && have_avx2)
        scan_avx2(st, p, stop);
    else
#endif
#if HAVE_SSE2
    if (simd)
        scan_sse2(st, p, stop);
    else
#endif
        scan_bytes(st, p, stop);
    if (st->ls < stop) /* the last line has no newline */
        end_line(st, stop);
}

/* scan(buffer, start, end, plan, pieces=False, simd=2)
 *   -> (lines, [(index, start, end), ...]); simd: 2 the widest the CPU has, 1 SSE2, 0 none */
static PyObject *scan(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"buffer", "start", "end", "plan", "pieces", "simd", NULL};
    Py_buffer view;
    Py_ssize_t start, end;
    PyObject *capsule;
    int simd = 2, pieces = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*nnO|pi", kwlist, &view, &start, &end,
                                     &capsule, &pieces, &simd))
        return NULL;
    const plan_t *plan = PyCapsule_GetPointer(capsule, PLAN_CAPSULE);
    if (plan == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (start < 0 || end < start || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start/end outside the buffer");
        return NULL;
    }
    state_t st;
    memset(&st, 0, sizeof st);
    st.plan = plan;
    st.pieces = pieces;
    st.buf = view.buf;
    st.ls = st.buf + start;
    const char *p = st.buf + start, *stop = st.buf + end;
    Py_BEGIN_ALLOW_THREADS
    rawscan_run(&st, p, stop, simd);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL, *list = NULL;
    if (st.nomem) {
        PyErr_NoMemory();
        goto done;
    }
    list = PyList_New(st.found.n / 3);
    if (list == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < st.found.n / 3; i++) {
        PyObject *t = Py_BuildValue("(nnn)", st.found.v[3 * i], st.found.v[3 * i + 1],
                                    st.found.v[3 * i + 2]);
        if (t == NULL)
            goto done;
        PyList_SET_ITEM(list, i, t);
    }
    result = Py_BuildValue("(nO)", st.lines, list);
done:
    Py_XDECREF(list);
    free(st.found.v);
    return result;
}

static const char CUT[] = "},{\"eventVersion\":";
#define CUT_LEN (sizeof CUT - 1)

/* The first CUT starting in [p, limit) (read up to stop >= limit), or NULL: the trigram "},{"
 * found 16 positions at a time, each hit compared whole (glibc's memmem took most of
 * split_records' time, measured). */
static const char *find_cut(const char *p, const char *limit, const char *stop) {
#if HAVE_SSE2
    const __m128i c0 = _mm_set1_epi8('}'), c1 = _mm_set1_epi8(','), c2 = _mm_set1_epi8('{');
    while (p < limit && stop - p >= 18) { /* the loads cover [p, p + 18) */
        __m128i a = _mm_loadu_si128((const __m128i *)p);
        __m128i b = _mm_loadu_si128((const __m128i *)(p + 1));
        __m128i c = _mm_loadu_si128((const __m128i *)(p + 2));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi8(a, c0), _mm_cmpeq_epi8(b, c1)), _mm_cmpeq_epi8(c, c2)));
        while (mask) {
            const char *q = p + __builtin_ctz(mask);
            mask &= mask - 1;
            if (q < limit && (size_t)(stop - q) >= CUT_LEN && memcmp(q, CUT, CUT_LEN) == 0)
                return q;
        }
        p += 16;
    }
#endif
    for (; p < limit && (size_t)(stop - p) >= CUT_LEN; p++)
        if (*p == '}' && memcmp(p, CUT, CUT_LEN) == 0)
            return p;
    return NULL;
}

/* Copy blocks of this size and search each while it is in the cache. */
#define SPLIT_BLOCK (64 << 10)

/* split_records(data, start, end) -> bytes: data[start:end] with the ',' of every
 * '},{"eventVersion":' turned into a newline (one record per line, same length). */
static PyObject *split_records(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end))
        return NULL;
    if (start < 0 || end < start || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start/end outside the buffer");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, end - start);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *dst = PyBytes_AS_STRING(out);
    const char *src = (const char *)view.buf + start;
    const char *stop = src + (end - start);
    Py_BEGIN_ALLOW_THREADS
    const char *blk = src, *p = src;
    while (blk < stop) {
        const char *limit = stop - blk > SPLIT_BLOCK ? blk + SPLIT_BLOCK : stop;
        memcpy(dst + (blk - src), blk, (size_t)(limit - blk));
        if (p > blk) /* a cut found in the previous block whose ',' is in this one */
            dst[p - CUT_LEN - src + 1] = '\n';
        /* p: past the last cut; a cut is CUT_LEN long and cannot overlap itself */
        const char *q;
        while ((q = find_cut(p, limit, stop)) != NULL) {
            p = q + CUT_LEN;
            if (q + 1 < limit)
                dst[q - src + 1] = '\n';
            else
                break; /* its ',' is the first byte of the next block: set after the copy */
        }
        if (q == NULL && p < limit)
            p = limit;
        blk = limit;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return out;
}

/* keep_heap() -> bool: glibc's malloc told to serve blocks under 32 MiB from its heap and to
 * keep up to 64 MiB of free memory there (False elsewhere: nothing done). Its defaults map and
 * unmap the decompressed S3 objects and their copies (a few MiB each) file after file: a page
 * fault per 4 KiB page, 55 k of them and about a quarter of the read time of the 125 bench
 * objects (measured). Process-wide, idempotent; peak memory is unchanged (freed memory is
 * reused, not added to). */
static PyObject *keep_heap(PyObject *self, PyObject *noargs) {
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    static int done = 0;
    if (!done) {
        done = mallopt(M_MMAP_THRESHOLD, 32 << 20) && mallopt(M_TRIM_THRESHOLD, 64 << 20);
        if (!done)
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"keep_heap", keep_heap, METH_NOARGS,
     "keep_heap() -> bool: malloc keeps blocks under 32 MiB in its heap (glibc only)"},
    {"split_records", split_records, METH_VARARGS,
     "split_records(data, start, end) -> bytes with one S3 record per line"},
    {"compile_plan", rawscan_compile_plan, METH_VARARGS,
     "compile_plan(need_names, sources) -> plan (see ses_sigma.prefilter.kernel)"},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_VARARGS | METH_KEYWORDS,
     "scan(buffer, start, end, plan, pieces=False, simd=2) -> (lines, [(i, start, end)])"},
    {"candidates", rawscan_candidates, METH_VARARGS,
     "candidates(buffer, start, end, plan, depth, max_line) -> (lines, count, used, found)"},
    {"candidates_fd", rawscan_candidates_fd, METH_VARARGS,
     "candidates_fd(fd, start, end, final, plan, depth, max_line) -> same, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rawscan",
    "C kernel of the raw-bytes pre-filter (see ses_sigma.prefilter.reference).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__rawscan(void) {
#if HAVE_AVX2
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    /* SIMD: the widest loop scan(simd=2) uses: 2 AVX2, 1 SSE2, 0 the byte loop */
    if (PyModule_AddIntConstant(m, "SIMD", have_avx2 ? 2 : HAVE_SSE2) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
