/* The pre-filter kernel's compiled pins (a capsule built once per Prefilter) and the
 * per-line decision: rules 2-5 of ses_sigma/prefilter/reference.py, whose docstring states
 * them and why they are sound. */
#include "_rawscan.h"

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
    plan_free((plan_t *)PyCapsule_GetPointer(capsule, PLAN_CAPSULE));
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
PyObject *rawscan_compile_plan(PyObject *self, PyObject *args) {
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
    PyObject *capsule = PyCapsule_New(plan, PLAN_CAPSULE, capsule_free);
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

static inline char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* 1 when the literal lit (ASCII-lower-cased) occurs in [h, h + n) compared as in the
 * ASCII-lower-cased line: memmem(lower(line), lit) without the lower-cased copy. A candidate
 * start is a byte equal to lit[0] or its upper case (and the next to lit[1] or its upper case),
 * found 16 positions at a time; each is then compared byte by byte. */
static inline int ci_rest(const char *h, const char *lit, Py_ssize_t m) {
    for (Py_ssize_t k = 0; k < m; k++)
        if (lower(h[k]) != lit[k])
            return 0;
    return 1;
}

static inline char upper_of(char l) {
    return (l >= 'a' && l <= 'z') ? (char)(l - 32) : l;
}

static int ci_contains(const char *h, Py_ssize_t n, const char *lit, Py_ssize_t m) {
    if (m == 0)
        return 1;
    if (m > n)
        return 0;
    for (Py_ssize_t k = 0; k < m; k++)
        if (lit[k] >= 'A' && lit[k] <= 'Z')
            return 0; /* lower() never gives an upper-case letter */
    Py_ssize_t last = n - m, i = 0; /* starts 0..last */
    char l0 = lit[0], u0 = upper_of(lit[0]);
#if HAVE_SSE2
    if (m >= 2) {
        char l1 = lit[1], u1 = upper_of(lit[1]);
        const __m128i a0 = _mm_set1_epi8(l0), b0 = _mm_set1_epi8(u0);
        const __m128i a1 = _mm_set1_epi8(l1), b1 = _mm_set1_epi8(u1);
        /* loads of [i, i + 17): i + 15 <= last = n - m <= n - 2 */
        for (; i + 15 <= last; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(h + i));
            __m128i w = _mm_loadu_si128((const __m128i *)(h + i + 1));
            __m128i hit = _mm_and_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, a0), _mm_cmpeq_epi8(v, b0)),
                _mm_or_si128(_mm_cmpeq_epi8(w, a1), _mm_cmpeq_epi8(w, b1)));
            unsigned mask = (unsigned)_mm_movemask_epi8(hit);
            while (mask) {
                int k = __builtin_ctz(mask);
                mask &= mask - 1;
                if (ci_rest(h + i + k + 2, lit + 2, m - 2))
                    return 1;
            }
        }
    }
#endif
    for (; i <= last; i++)
        if ((h[i] == l0 || h[i] == u0) && ci_rest(h + i, lit, m))
            return 1;
    return 0;
}

static int in_set(const str_t *set, Py_ssize_t n, const char *low, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (set[i].n == len && memcmp(set[i].s, low, (size_t)len) == 0)
            return 1;
    return 0;
}


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

/* The line [ls, le), spaces, tabs and CRs aside, starts with '{' and ends with '}': what every
 * whole record looks like. Any other line (truncated, garbled, blank) is decoded, so that the
 * reader reports it (reference.object_shaped). */
static inline int object_shaped(const char *ls, const char *le) {
    while (ls < le && (*ls == ' ' || *ls == '\t' || *ls == '\r'))
        ls++;
    while (le > ls && (le[-1] == ' ' || le[-1] == '\t' || le[-1] == '\r'))
        le--;
    return le - ls >= 2 && *ls == '{' && le[-1] == '}';
}

/* 1 when the line [ls, le) must be decoded. src/name: first occurrence of each key in the
 * line (NULL if none), counts capped at 2. */
int rawscan_decide(const plan_t *plan, int pieces, const char *ls, const char *le,
                   int backslash, const char *src, int nsrc, const char *name, int nname) {
    char sval[256], nval[256];
    Py_ssize_t slen, nlen = -1;
    if (backslash || nsrc != 1 || !object_shaped(ls, le))
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
    int checked = 0, ascii = -1;
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
        checked = 1;
        int all = 1;
        for (Py_ssize_t k = 0; k < en->nlits && all; k++)
            all = ci_contains(ls, len, en->lits[k].s, en->lits[k].n);
        if (all)
            return 1;
    }
    /* ruled out by a literal alone: a piece of a record must be a whole object */
    return pieces && checked ? !balanced(ls, le) : 0;
}
