/* The raw-bytes pre-filter kernel: one pass over a buffer of JSON Lines, finding the lines
 * that could match a pinned rule. The rules are the ones of ses_sigma/prefilter/reference.py
 * (the pure-Python reference, which the property tests compare with this kernel line by
 * line); the module docstring there states them and why they are sound.
 *
 * One pass: an AVX2 loop (chosen at run time when the CPU has it) or an SSE2 loop (x86-64
 * baseline; no -march flag needed) classifies 32 / 16 bytes at a time: newline, backslash,
 * and the anchor '"' _ 'v' _ _ _ {'S','N'} of the two keys "eventSource" / "eventName". Every
 * anchor is checked with memcmp. Elsewhere a portable byte loop gives the same events. Every byte is looked at a bounded number of times: the
 * key counts stop at 2, value searches stop at the line end, and literal searches only run
 * on lines whose eventSource/eventName are pinned (each bounded by the plan's size).
 * Nothing is read outside [start, end). The GIL is released while the buffer is scanned.
 */
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

static const char SOURCE_KEY[] = "\"eventSource\"";
static const char NAME_KEY[] = "\"eventName\"";
#define SOURCE_KEY_LEN 13
#define NAME_KEY_LEN 11

/* ------------------------------------------------------------------ plan construction */

static void plan_free(plan_t *plan) {
    if (plan == NULL)
        return;
    for (Py_ssize_t i = 0; i < plan->nblocks; i++)
        free(plan->blocks[i]);
    free(plan->blocks);
    Py_XDECREF(plan->keep);
    free(plan);
}

static void capsule_free(PyObject *capsule) {
    plan_free((plan_t *)PyCapsule_GetPointer(capsule, "ses_sigma.rawscan.plan"));
}

static void *plan_alloc(plan_t *plan, Py_ssize_t count, size_t size) {
    void **blocks = realloc(plan->blocks, sizeof(void *) * (size_t)(plan->nblocks + 1));
    if (blocks == NULL)
        return NULL;
    plan->blocks = blocks;
    void *mem = calloc((size_t)(count > 0 ? count : 1), size);
    if (mem == NULL)
        return NULL;
    plan->blocks[plan->nblocks++] = mem;
    return mem;
}

/* A tuple of bytes -> str_t array; -1 with an exception set on a wrong type. */
static int strings(plan_t *plan, PyObject *tuple, str_t **out, Py_ssize_t *count) {
    if (!PyTuple_Check(tuple)) {
        PyErr_SetString(PyExc_TypeError, "expected a tuple of bytes");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    str_t *arr = plan_alloc(plan, n, sizeof(str_t));
    if (arr == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "expected a tuple of bytes");
            return -1;
        }
        arr[i].s = PyBytes_AS_STRING(item);
        arr[i].n = PyBytes_GET_SIZE(item);
    }
    *out = arr;
    *count = n;
    return 0;
}

/* compile_plan(need_names, sources) -> capsule.
 * sources: tuple of (source: bytes, names: tuple[bytes] | None,
 *                    entries: tuple of (names: tuple[bytes] | None, literals: tuple[bytes])).
 * Every value is already ASCII-lower-cased by the caller. */
static PyObject *compile_plan(PyObject *self, PyObject *args) {
    int need_names;
    PyObject *sources;
    if (!PyArg_ParseTuple(args, "pO!", &need_names, &PyTuple_Type, &sources))
        return NULL;
    plan_t *plan = calloc(1, sizeof(plan_t));
    if (plan == NULL)
        return PyErr_NoMemory();
    plan->need_names = need_names;
    Py_INCREF(sources);
    plan->keep = sources;
    plan->nsources = PyTuple_GET_SIZE(sources);
    plan->sources = plan_alloc(plan, plan->nsources, sizeof(source_t));
    if (plan->sources == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < plan->nsources; i++) {
        PyObject *src, *names, *entries;
        source_t *st = &plan->sources[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(sources, i), "O!OO!;a source",
                              &PyBytes_Type, &src, &names, &PyTuple_Type, &entries))
            goto fail;
        st->src.s = PyBytes_AS_STRING(src);
        st->src.n = PyBytes_GET_SIZE(src);
        st->any_name = names == Py_None;
        if (!st->any_name && strings(plan, names, &st->names, &st->nnames) < 0)
            goto fail;
        st->nentries = PyTuple_GET_SIZE(entries);
        st->entries = plan_alloc(plan, st->nentries, sizeof(entry_t));
        if (st->entries == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t j = 0; j < st->nentries; j++) {
            PyObject *enames, *lits;
            entry_t *en = &st->entries[j];
            if (!PyArg_ParseTuple(PyTuple_GET_ITEM(entries, j), "OO!;an entry", &enames,
                                  &PyTuple_Type, &lits))
                goto fail;
            en->any_name = enames == Py_None;
            if (!en->any_name && strings(plan, enames, &en->names, &en->nnames) < 0)
                goto fail;
            if (strings(plan, lits, &en->lits, &en->nlits) < 0)
                goto fail;
        }
    }
    PyObject *capsule = PyCapsule_New(plan, "ses_sigma.rawscan.plan", capsule_free);
    if (capsule == NULL)
        goto fail;
    return capsule;
fail:
    plan_free(plan);
    return NULL;
}

/* ------------------------------------------------------------------ per-line decision */

/* Branch-free loops (the compiler vectorizes them): lines are long. */
static int ascii_only(const char *p, Py_ssize_t n) {
    unsigned char acc = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        acc |= (unsigned char)p[i];
    return acc < 0x80;
}

static void lower_copy(char *out, const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        out[i] = (char)(c | ((unsigned char)(c - 'A') < 26) << 5);
    }
}

static int in_set(const str_t *set, Py_ssize_t n, const char *low, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (set[i].n == len && memcmp(set[i].s, low, (size_t)len) == 0)
            return 1;
    return 0;
}

static inline char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

typedef struct {
    char *low; /* scratch: the ASCII-lower-cased line */
    Py_ssize_t cap;
} scratch_t;

/* The value of a plain key occurrence `"key":"value"` at `key`; 0 when it is not plain text
 * (no ':"' right after the key, no closing quote in the line, or a byte >= 0x80). The value
 * is copied lower-cased into out (at most cap bytes; longer values are never pinned). */
static int plain_value(const char *key, Py_ssize_t keylen, const char *le, char *out,
                       Py_ssize_t cap, Py_ssize_t *outlen) {
    const char *v = key + keylen;
    if (le - v < 2 || v[0] != ':' || v[1] != '"')
        return 0;
    v += 2;
    const char *q = memchr(v, '"', (size_t)(le - v));
    if (q == NULL || !ascii_only(v, q - v))
        return 0;
    Py_ssize_t n = q - v;
    if (n > cap) {
        *outlen = -1; /* plain, but longer than any pinned value: pins nothing */
        return 1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = lower(v[i]);
    *outlen = n;
    return 1;
}

/* 1 when [ls, le) is one JSON object: starts with '{' and its bracket depth (outside strings;
 * the line holds no backslash) first returns to 0 at its last byte. */
static int balanced(const char *ls, const char *le) {
    Py_ssize_t depth = 0;
    if (ls == le || *ls != '{')
        return 0;
    for (const char *p = ls; p < le; p++) {
        char c = *p;
        if (c == '"') {
            const char *q = memchr(p + 1, '"', (size_t)(le - p - 1));
            if (q == NULL)
                return 0;
            p = q;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return p + 1 == le;
        }
    }
    return 0;
}

/* 1 when the line [ls, le) must be decoded. src/name: first occurrence of each key in the
 * line (NULL if none), counts capped at 2. -1 on memory exhaustion. */
static int decide(const plan_t *plan, int pieces, const char *ls, const char *le,
                  int backslash, const char *src, int nsrc, const char *name, int nname,
                  scratch_t *scr) {
    char sval[256], nval[256];
    Py_ssize_t slen, nlen = -1;
    if (backslash || nsrc != 1)
        return 1;
    if (!plain_value(src, SOURCE_KEY_LEN, le, sval, sizeof sval, &slen))
        return 1;
    const source_t *st = NULL;
    for (Py_ssize_t i = 0; i < plan->nsources; i++) {
        if (plan->sources[i].src.n == slen &&
            memcmp(plan->sources[i].src.s, sval, (size_t)slen) == 0) {
            st = &plan->sources[i];
            break;
        }
    }
    if (st == NULL)
        return 0;
    if (plan->need_names) {
        if (nname != 1 || !plain_value(name, NAME_KEY_LEN, le, nval, sizeof nval, &nlen))
            return 1;
    }
    if (!st->any_name && !in_set(st->names, st->nnames, nval, nlen))
        return 0;
    int lowered = 0, ascii = -1;
    Py_ssize_t len = le - ls;
    for (Py_ssize_t j = 0; j < st->nentries; j++) {
        const entry_t *en = &st->entries[j];
        if (!en->any_name && !in_set(en->names, en->nnames, nval, nlen))
            continue;
        if (en->nlits == 0)
            return 1;
        if (ascii < 0)
            ascii = ascii_only(ls, len);
        if (!ascii)
            return 1; /* a non-ASCII letter may lower-case to ASCII: the matcher decides */
        if (!lowered) {
            if (scr->cap < len) {
                char *mem = realloc(scr->low, (size_t)(len > 0 ? len : 1));
                if (mem == NULL)
                    return -1;
                scr->low = mem;
                scr->cap = len;
            }
            lower_copy(scr->low, ls, len);
            lowered = 1;
        }
        int all = 1;
        for (Py_ssize_t k = 0; k < en->nlits && all; k++)
            all = memmem(scr->low, (size_t)len, en->lits[k].s, (size_t)en->lits[k].n) != NULL;
        if (all)
            return 1;
    }
    /* ruled out by a literal alone: a piece of a record must be a whole object */
    return pieces && lowered ? !balanced(ls, le) : 0;
}

/* ------------------------------------------------------------------ the scan */

typedef struct {
    Py_ssize_t *v; /* triples: line index, start, end */
    Py_ssize_t n, cap;
} found_t;

typedef struct {
    const plan_t *plan;
    int pieces;
    const char *buf;
    found_t found;
    scratch_t scr;
    Py_ssize_t lines;
    int nomem;
    /* the current line */
    const char *ls;
    int backslash, nsrc, nname;
    const char *src, *name;
} state_t;

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
    int d = decide(st->plan, st->pieces, st->ls, le, st->backslash, st->src, st->nsrc, st->name,
                   st->nname, &st->scr);
    if (d < 0)
        st->nomem = 1;
    else if (d)
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
    const plan_t *plan = PyCapsule_GetPointer(capsule, "ses_sigma.rawscan.plan");
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
#if HAVE_AVX2
    if (simd == 2 && have_avx2)
        scan_avx2(&st, p, stop);
    else
#endif
#if HAVE_SSE2
    if (simd)
        scan_sse2(&st, p, stop);
    else
#endif
        scan_bytes(&st, p, stop);
    if (st.ls < stop) /* the last line has no newline */
        end_line(&st, stop);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    free(st.scr.low);
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

/* split_records(data, start, end) -> bytes: data[start:end] with the ',' of every
 * '},{"eventVersion":' turned into a newline (one record per line, same length). */
static PyObject *split_records(PyObject *self, PyObject *args) {
    static const char cut[] = "},{\"eventVersion\":";
    const size_t cutlen = sizeof cut - 1;
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
    size_t n = (size_t)(end - start);
    Py_BEGIN_ALLOW_THREADS
    memcpy(dst, src, n);
    const char *p = src, *stop = src + n;
    while ((size_t)(stop - p) >= cutlen && (p = memmem(p, (size_t)(stop - p), cut, cutlen))) {
        dst[p - src + 1] = '\n';
        p += cutlen;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"split_records", split_records, METH_VARARGS,
     "split_records(data, start, end) -> bytes with one S3 record per line"},
    {"compile_plan", compile_plan, METH_VARARGS,
     "compile_plan(need_names, sources) -> plan (see ses_sigma.prefilter.kernel)"},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_VARARGS | METH_KEYWORDS,
     "scan(buffer, start, end, plan, pieces=False, simd=2) -> (lines, [(i, start, end)])"},
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
