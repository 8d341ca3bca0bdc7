/* Candidate lines handed to the JSON Lines reader as bytes, from a buffer or straight from a
 * read-only mapping of the file (no copy of the 95 % of lines that are ruled out).
 *
 * For each line the scan keeps (rules of ses_sigma/prefilter/reference.py), what the reader
 * needs is computed here, on the candidate only: its bytes without trailing '\r' (copied
 * into one arena), whether it is blank (whitespace only: no record, dropped here but
 * counted), whether it is shallow (at most `depth` '[' and '{', the cheap proof of
 * logs.decode._shallow_raw) and whether it is over-long (at least `max_line` bytes before
 * its newline: rejected by the reader as LineStream does). Only whole lines are taken: up to
 * the last newline of [start, end), or everything when `final` (the end of the data), where
 * a last line without newline is always a candidate.
 *
 * A mapped file that shrinks while it is read would raise SIGBUS on the pages past its new
 * end. Every access to the mapping happens inside collect(), between sigsetjmp and the
 * reset of a thread-local jump target, with the GIL released and no Python call: a SIGBUS
 * there jumps back and candidates_fd returns None (the caller reads the rest through the
 * buffered path). A SIGBUS anywhere else goes to the handler that was there before.
 */
#include "_rawscan.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_POPULATE /* Linux only: elsewhere the pages fault in as they are read */
#define MAP_POPULATE 0
#endif

typedef struct {
    Py_ssize_t index; /* line index; -(index + 1): over-long (no bytes) */
    Py_ssize_t off, len;
    int shallow;
} cand_t;

typedef struct {
    cand_t *c;
    Py_ssize_t n, cap;
    char *arena;
    Py_ssize_t used, acap;
    Py_ssize_t lines, count, consumed;
    int nomem;
} out_t;

static int add(out_t *out, Py_ssize_t index, const char *s, Py_ssize_t len, int shallow) {
    if (out->n == out->cap) {
        Py_ssize_t cap = out->cap ? out->cap * 2 : 256;
        cand_t *mem = realloc(out->c, sizeof(cand_t) * (size_t)cap);
        if (mem == NULL)
            return -1;
        out->c = mem;
        out->cap = cap;
    }
    if (out->used + len > out->acap) {
        Py_ssize_t cap = out->acap ? out->acap : 1 << 16;
        while (cap < out->used + len)
            cap *= 2;
        char *mem = realloc(out->arena, (size_t)cap);
        if (mem == NULL)
            return -1;
        out->arena = mem;
        out->acap = cap;
    }
    cand_t *c = &out->c[out->n++];
    c->index = index;
    c->off = out->used;
    c->len = len;
    c->shallow = shallow;
    if (len > 0)
        memcpy(out->arena + out->used, s, (size_t)len);
    out->used += len;
    return 0;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

typedef struct {
    out_t *out;
    Py_ssize_t depth, max_line;
} keep_t;

/* One line [ls, le) (le: its newline or the end of the data) the scan kept; index < 0:
 * -(index + 1) of an over-long line. */
static int keep(void *ctx, Py_ssize_t index, const char *ls, const char *le) {
    const keep_t *k = ctx;
    out_t *out = k->out;
    out->count++;
    if (index < 0 || (k->max_line > 0 && le - ls >= k->max_line))
        return add(out, index < 0 ? index : -index - 1, NULL, 0, 0);
    const char *p = ls;
    while (p < le && is_space(*p))
        p++;
    if (p == le)
        return 0; /* blank: counted, no record */
    const char *hi = le;
    while (hi > ls && hi[-1] == '\r')
        hi--;
    /* no early exit: the loop vectorises (-O3); a 1 KB line is a few dozen cycles */
    size_t brackets = 0, n = (size_t)(hi - ls);
    const unsigned char *u = (const unsigned char *)ls;
    for (size_t i = 0; i < n; i++)
        brackets += (u[i] == '[') + (u[i] == '{');
    int shallow = k->depth >= 0 && brackets <= (size_t)k->depth;
    return add(out, index, ls, hi - ls, shallow);
}

/* Scan the whole lines of base[start, end) into out; no Python call (may run unlocked and
 * guarded). */
static void collect(const plan_t *plan, const char *base, Py_ssize_t start, Py_ssize_t end,
                    int final, Py_ssize_t depth, Py_ssize_t max_line, out_t *out) {
    const char *lo = base + start, *hi = base + end;
    const char *whole = hi; /* the end of the last whole line */
    while (whole > lo && whole[-1] != '\n')
        whole--;
    keep_t k = {out, depth, max_line};
    state_t st;
    memset(&st, 0, sizeof st);
    st.plan = plan;
    st.buf = base;
    st.ls = lo;
    st.max_line = max_line;
    st.keep = keep;
    st.keep_ctx = &k;
    rawscan_run(&st, lo, whole, 2);
    out->lines = st.lines;
    out->consumed = whole - lo;
    if (st.nomem) {
        out->nomem = 1;
        return;
    }
    if (final && whole < hi) { /* the data ends without a newline */
        if (keep(&k, out->lines, whole, hi) < 0)
            out->nomem = 1;
        out->lines++;
        out->consumed = end - start;
    }
}

/* (lines, count, consumed, [(index, bytes or None, shallow), ...]) from out (freed). */
static PyObject *result(out_t *out) {
    PyObject *list = NULL, *res = NULL;
    if (out->nomem) {
        PyErr_NoMemory();
        goto done;
    }
    list = PyList_New(out->n);
    if (list == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < out->n; i++) {
        const cand_t *c = &out->c[i];
        PyObject *t = PyTuple_New(3), *index, *line;
        if (t == NULL)
            goto done;
        PyList_SET_ITEM(list, i, t);
        index = PyLong_FromSsize_t(c->index < 0 ? -c->index - 1 : c->index);
        if (c->index < 0) {
            line = Py_None;
            Py_INCREF(line);
        } else {
            line = PyBytes_FromStringAndSize(out->arena + c->off, c->len);
        }
        if (index == NULL || line == NULL) {
            Py_XDECREF(index);
            Py_XDECREF(line);
            goto done;
        }
        PyTuple_SET_ITEM(t, 0, index);
        PyTuple_SET_ITEM(t, 1, line);
        PyObject *flag = c->shallow ? Py_True : Py_False;
        Py_INCREF(flag);
        PyTuple_SET_ITEM(t, 2, flag);
    }
    res = Py_BuildValue("(nnnO)", out->lines, out->count, out->consumed, list);
done:
    Py_XDECREF(list);
    free(out->c);
    free(out->arena);
    return res;
}

static const plan_t *get_plan(PyObject *capsule) {
    return PyCapsule_GetPointer(capsule, PLAN_CAPSULE);
}

/* candidates(buffer, start, end, plan, depth, max_line) */
PyObject *rawscan_candidates(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, depth, max_line;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "y*nnOnn", &view, &start, &end, &capsule, &depth, &max_line))
        return NULL;
    const plan_t *plan = get_plan(capsule);
    if (plan == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (start < 0 || end < start || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start/end outside the buffer");
        return NULL;
    }
    out_t out;
    memset(&out, 0, sizeof out);
    Py_BEGIN_ALLOW_THREADS
    collect(plan, view.buf, start, end, 1, depth, max_line, &out);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return result(&out);
}

/* ------------------------------------------------------------------ the mapped file */

static __thread sigjmp_buf *bus_jump __attribute__((tls_model("initial-exec")));
static struct sigaction bus_before;
static int bus_installed = 0;

static void on_bus(int sig, siginfo_t *info, void *context) {
    sigjmp_buf *jump = bus_jump;
    if (jump != NULL) {
        bus_jump = NULL;
        siglongjmp(*jump, 1);
    }
    /* not a read of a guarded mapping: as if this handler were not there */
    if (bus_before.sa_flags & SA_SIGINFO) {
        bus_before.sa_sigaction(sig, info, context);
    } else if (bus_before.sa_handler == SIG_DFL || bus_before.sa_handler == SIG_IGN) {
        signal(sig, SIG_DFL);
        raise(sig);
    } else {
        bus_before.sa_handler(sig);
    }
}

static int install_bus_handler(void) {
    if (bus_installed)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &bus_before) != 0)
        return -1;
    bus_installed = 1;
    return 0;
}

/* Guarded: 0 done, 1 a SIGBUS (the file shrank), -1 the mapping failed. */
static int collect_mapped(const plan_t *plan, int fd, Py_ssize_t start, Py_ssize_t end,
                          int final, Py_ssize_t depth, Py_ssize_t max_line, out_t *out) {
    long page = sysconf(_SC_PAGESIZE);
    Py_ssize_t base_off = start - start % (page > 0 ? page : 4096);
    size_t length = (size_t)(end - base_off);
    /* populated at once: cheaper than a fault per page (measured; MADV_SEQUENTIAL gained
     * nothing and may drop the pages from the page cache) */
    const char *map =
        mmap(NULL, length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)base_off);
    if (map == MAP_FAILED)
        return -1;
    sigjmp_buf jump;
    int faulted = 0;
    if (sigsetjmp(jump, 1) == 0) {
        bus_jump = &jump;
        collect(plan, map - base_off, start, end, final, depth, max_line, out);
        bus_jump = NULL;
    } else {
        faulted = 1; /* bus_jump was reset by the handler */
    }
    munmap((void *)map, length);
    return faulted;
}

/* candidates_fd(fd, start, end, final, plan, depth, max_line): the same as candidates over
 * bytes [start, end) of the file, read through a mapping; None when they cannot be read
 * that way (the mapping failed, or the file shrank under it). */
PyObject *rawscan_candidates_fd(PyObject *self, PyObject *args) {
    int fd, final;
    Py_ssize_t start, end, depth, max_line;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "innpOnn", &fd, &start, &end, &final, &capsule, &depth,
                          &max_line))
        return NULL;
    const plan_t *plan = get_plan(capsule);
    if (plan == NULL)
        return NULL;
    if (start < 0 || end < start) {
        PyErr_SetString(PyExc_ValueError, "start/end: 0 <= start <= end");
        return NULL;
    }
    out_t out;
    memset(&out, 0, sizeof out);
    if (end > start) {
        if (install_bus_handler() != 0)
            Py_RETURN_NONE;
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = collect_mapped(plan, fd, start, end, final, depth, max_line, &out);
        Py_END_ALLOW_THREADS
        if (status != 0) {
            free(out.c);
            free(out.arena);
            Py_RETURN_NONE;
        }
    }
    return result(&out);
}
