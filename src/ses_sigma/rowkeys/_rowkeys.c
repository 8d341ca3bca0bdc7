/* Per-row helpers of the scan (ses_sigma/rowkeys/__init__.py has the pure-Python reference
 * of each, which the property tests compare with this module):
 *
 * digest(event_id, ts, key) -> int: SipHash-2-4 (Aumasson and Bernstein's reference
 *   algorithm, 64-bit output) under the 16-byte secret ``key`` of the bytes
 *   ts as 8 little-endian IEEE bytes || the str's kind (1, 2 or 4) as one byte || the str's
 *   code units (kind bytes each, little-endian).
 *   CPython keeps every str in its narrowest kind (PEP 393), so equal strings give equal
 *   bytes and different (ts, str) pairs different bytes: the time has a fixed length, and
 *   the kind fixes how the rest reads. Lone surrogates are code units like any other.
 *
 * KeySet: a set of uint64 (the digests above) in one open-addressing table (linear probing,
 *   load at most 3/4, so 10.7 to 21.3 bytes a key), with add(key) -> bool and
 *   add_many(buffer of native uint64) -> bytes (1: new, 0: already there, one per key, in
 *   order: a key repeated inside the buffer is new once).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------ SipHash-2-4 */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                            \
    do {                                                                                    \
        v0 += v1;                                                                           \
        v1 = ROTL(v1, 13);                                                                  \
        v1 ^= v0;                                                                           \
        v0 = ROTL(v0, 32);                                                                  \
        v2 += v3;                                                                           \
        v3 = ROTL(v3, 16);                                                                  \
        v3 ^= v2;                                                                           \
        v0 += v3;                                                                           \
        v3 = ROTL(v3, 21);                                                                  \
        v3 ^= v0;                                                                           \
        v2 += v1;                                                                           \
        v1 = ROTL(v1, 17);                                                                  \
        v1 ^= v2;                                                                           \
        v2 = ROTL(v2, 32);                                                                  \
    } while (0)

static uint64_t load_le64(const unsigned char *p) {
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

/* SipHash-2-4 of n bytes at p. */
static uint64_t siphash24(const unsigned char key[16], const unsigned char *p, size_t n) {
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = n - n % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(n & 0xff) << 56;
    for (size_t i = whole; i < n; i++)
        last |= (uint64_t)p[i] << (8 * (i - whole));
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static int is_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* The digested bytes are written to a stack buffer when they fit (an eventID is short),
 * else to an allocated one. */
#define DIGEST_STACK 256

static PyObject *digest(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "digest(event_id, ts, key) takes 3 arguments");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "digest: event_id must be a str");
        return NULL;
    }
    double ts = PyFloat_AsDouble(args[1]);
    if (ts == -1.0 && PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(args[2]) || PyBytes_GET_SIZE(args[2]) != 16) {
        PyErr_SetString(PyExc_TypeError, "digest: key must be 16 bytes");
        return NULL;
    }
    const unsigned char *key = (const unsigned char *)PyBytes_AS_STRING(args[2]);
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)
        return NULL;
#endif
    int kind = PyUnicode_KIND(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    size_t total = 9 + (size_t)n * (size_t)kind;
    unsigned char stack[DIGEST_STACK];
    unsigned char *buf = stack;
    if (total > DIGEST_STACK) {
        buf = PyMem_Malloc(total);
        if (buf == NULL)
            return PyErr_NoMemory();
    }
    uint64_t bits;
    memcpy(&bits, &ts, 8);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(bits >> (8 * i));
    buf[8] = (unsigned char)kind;
    if (kind == 1 || is_little_endian()) {
        memcpy(buf + 9, data, total - 9);
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            for (int j = 0; j < kind; j++)
                buf[9 + i * kind + j] = (unsigned char)(c >> (8 * j));
        }
    }
    uint64_t h = siphash24(key, buf, total);
    if (buf != stack)
        PyMem_Free(buf);
    return PyLong_FromUnsignedLongLong(h);
}

/* ------------------------------------------------------------------ KeySet */

typedef struct {
    PyObject_HEAD uint64_t *slots; /* 0: empty (the key 0 itself is kept in has_zero) */
    size_t mask;                   /* capacity - 1 (a power of two) */
    size_t used;                   /* nonzero keys held */
    int has_zero;
} KeySet;

/* Slot of a key: Fibonacci hashing (the keys are keyed digests, already uniform; this keeps
 * regular keys, as in the tests, from clustering). */
static inline size_t home(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

static int grow(KeySet *s) {
    size_t cap = (s->mask + 1) * 2;
    uint64_t *slots = PyMem_Calloc(cap, sizeof(uint64_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = cap - 1;
    for (size_t i = 0; i <= s->mask; i++) {
        uint64_t k = s->slots[i];
        if (k) {
            size_t j = home(k, mask);
            while (slots[j])
                j = (j + 1) & mask;
            slots[j] = k;
        }
    }
    PyMem_Free(s->slots);
    s->slots = slots;
    s->mask = mask;
    return 0;
}

/* 1: added, 0: already there, -1: out of memory (exception set). */
static int insert(KeySet *s, uint64_t key) {
    if (key == 0) {
        if (s->has_zero)
            return 0;
        s->has_zero = 1;
        return 1;
    }
    size_t j = home(key, s->mask);
    for (;;) {
        uint64_t k = s->slots[j];
        if (k == key)
            return 0;
        if (k == 0)
            break;
        j = (j + 1) & s->mask;
    }
    if ((s->used + 1) * 4 > (s->mask + 1) * 3) {
        if (grow(s) < 0)
            return -1;
        j = home(key, s->mask);
        while (s->slots[j])
            j = (j + 1) & s->mask;
    }
    s->slots[j] = key;
    s->used++;
    return 1;
}

static int contains(KeySet *s, uint64_t key) {
    if (key == 0)
        return s->has_zero;
    size_t j = home(key, s->mask);
    for (;;) {
        uint64_t k = s->slots[j];
        if (k == key)
            return 1;
        if (k == 0)
            return 0;
        j = (j + 1) & s->mask;
    }
}

static PyObject *keyset_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if ((args != NULL && PyTuple_GET_SIZE(args)) || (kwds != NULL && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "KeySet() takes no arguments");
        return NULL;
    }
    KeySet *s = (KeySet *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    s->slots = PyMem_Calloc(1024, sizeof(uint64_t));
    if (s->slots == NULL) {
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    s->mask = 1023;
    s->used = 0;
    s->has_zero = 0;
    return (PyObject *)s;
}

static void keyset_dealloc(KeySet *s) {
    PyMem_Free(s->slots);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static int as_key(PyObject *obj, uint64_t *out) {
    if (!PyLong_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "KeySet keys are ints in [0, 2**64)");
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1; /* negative or too large: OverflowError */
    *out = (uint64_t)v;
    return 0;
}

static PyObject *keyset_add(KeySet *s, PyObject *obj) {
    uint64_t key;
    if (as_key(obj, &key) < 0)
        return NULL;
    int r = insert(s, key);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

static PyObject *keyset_add_many(KeySet *s, PyObject *obj) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len % 8) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "add_many: the buffer's length is not a multiple of 8");
        return NULL;
    }
    Py_ssize_t n = view.len / 8;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    unsigned char *flags = (unsigned char *)PyBytes_AS_STRING(out);
    const unsigned char *p = (const unsigned char *)view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t key;
        memcpy(&key, p + 8 * i, 8); /* native order, as array('Q') writes it */
        int r = insert(s, key);
        if (r < 0) {
            PyBuffer_Release(&view);
            Py_DECREF(out);
            return NULL;
        }
        flags[i] = (unsigned char)r;
    }
    PyBuffer_Release(&view);
    return out;
}

static int keyset_contains(KeySet *s, PyObject *obj) {
    uint64_t key;
    if (!PyLong_Check(obj))
        return 0;
    if (as_key(obj, &key) < 0) {
        PyErr_Clear(); /* out of range: not a key, so not held */
        return 0;
    }
    return contains(s, key);
}

static Py_ssize_t keyset_len(KeySet *s) { return (Py_ssize_t)(s->used + (size_t)s->has_zero); }

static PyObject *keyset_sizeof(KeySet *s, PyObject *unused) {
    return PyLong_FromSize_t(sizeof(KeySet) + (s->mask + 1) * sizeof(uint64_t));
}

static PyMethodDef keyset_methods[] = {
    {"add", (PyCFunction)keyset_add, METH_O,
     "add(key) -> bool: add an int in [0, 2**64); False when it was already there."},
    {"add_many", (PyCFunction)keyset_add_many, METH_O,
     "add_many(buffer) -> bytes: add native uint64 keys in order; per key 1 (new) or 0."},
    {"__sizeof__", (PyCFunction)keyset_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods keyset_as_sequence = {
    .sq_length = (lenfunc)keyset_len,
    .sq_contains = (objobjproc)keyset_contains,
};

static PyTypeObject KeySetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ses_sigma.rowkeys._rowkeys.KeySet",
    .tp_basicsize = sizeof(KeySet),
    .tp_dealloc = (destructor)keyset_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A set of 64-bit keys in one open-addressing table (8 bytes a slot).",
    .tp_methods = keyset_methods,
    .tp_as_sequence = &keyset_as_sequence,
    .tp_new = keyset_new,
};

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"digest", (PyCFunction)(void (*)(void))digest, METH_FASTCALL,
     "digest(event_id, ts, key) -> int: keyed SipHash-2-4 of (eventTime, eventID)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_rowkeys",
    .m_doc = "Per-row helpers of the scan (C).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__rowkeys(void) {
    if (PyType_Ready(&KeySetType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&KeySetType);
    if (PyModule_AddObject(m, "KeySet", (PyObject *)&KeySetType) < 0) {
        Py_DECREF(&KeySetType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
