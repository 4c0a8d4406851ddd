/* Flat JSON Lines → Arrow column buffers, in one pass, for the engine's common case.
 *
 * Why this exists: pyarrow's JSON reader is the only C reader of JSON into Arrow among the
 * project's dependencies, and on flat records (HelloData's gzip JSONL, the bench's 2 M rows) it
 * costs about twice the CPU of duckdb's whole conversion: it tokenises every value into text, then
 * converts that text again per column (docs/benchmarks.md). This parser reads one run of whole
 * lines straight into the buffers of the declared columns (validity bitmaps, int64 / float64
 * values, bool bitmaps, int32 offsets and UTF-8 data), with the GIL released.
 *
 * It accepts only what it can decide exactly: each non-blank line one JSON object whose declared
 * keys hold a scalar of their column's kind or null. Anything else — a value of another kind, a
 * nested value in a declared column, an unknown key when the schema refuses them, a duplicate key,
 * a number that does not fit, invalid JSON or UTF-8, an object spanning lines —
 * makes parse() return None, and the caller hands the run to pyarrow's reader, whose errors the
 * engine already locates by record and column. So this file decides speed, never what a file
 * means: every verdict other than "as pyarrow reads it" is pyarrow's.
 *
 * Kinds: 's' string, 'i' int64, 'f' float64, 'b' bool, 'e' an epoch number (int64 only; a
 * fraction or text goes to pyarrow, which infers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256
#define KEY_MAX 1024

/* Bytes written by the parser: a column's strings, grown as they come (capacity for the whole
 * run per column would touch, over the runs, far more memory than the strings take), or the
 * fixed buffer of an escaped key. */
typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    int grows;
    int failed; /* out of memory */
} Sink;

static int reserve(Sink *k, Py_ssize_t extra) {
    if (k->len + extra <= k->cap) return 1;
    if (!k->grows) return 0;
    Py_ssize_t cap = k->cap ? k->cap : 64 << 10;
    while (cap < k->len + extra) cap *= 2;
    char *data = PyMem_RawRealloc(k->data, (size_t)cap);
    if (!data) {
        k->failed = 1;
        return 0;
    }
    k->data = data;
    k->cap = cap;
    return 1;
}

typedef struct {
    char kind;
    const char *name;
    Py_ssize_t name_len;
    PyObject *valid;  /* bitmap bytes */
    PyObject *values; /* int64/float64 values, bool bitmap, or int32 offsets */
    uint8_t *valid_p;
    uint8_t *values_p;
    Sink strings; /* strings' UTF-8 bytes */
    Py_ssize_t nulls;
    Py_ssize_t seen; /* the last row holding this key (duplicates) */
} Column;

typedef struct {
    const char *p;
    const char *end;
    Column *cols;
    Py_ssize_t ncols;
    int rescue;
    uint8_t *flags; /* per row: a non-null unknown field */
    int any_flag;
    Py_ssize_t hint;
    char key[KEY_MAX]; /* an escaped key, unescaped */
} Parser;

static locale_t c_locale;

#define SET_BIT(bits, i) ((bits)[(i) >> 3] |= (uint8_t)(1u << ((i)&7)))

static inline void skip_space(Parser *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r')) s->p++;
}

/* One UTF-8 sequence starting at a byte >= 0x80; its length, 0 if invalid. */
static inline int utf8_sequence(const unsigned char *q, const unsigned char *end) {
    unsigned char c = q[0];
    Py_ssize_t left = end - q;
#define CONT(k) (left > (k) && (q[k] & 0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) return CONT(1) ? 2 : 0;
    if (c == 0xE0) return (left > 2 && q[1] >= 0xA0 && q[1] <= 0xBF && CONT(2)) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return (CONT(1) && CONT(2)) ? 3 : 0;
    if (c == 0xED) return (left > 2 && q[1] >= 0x80 && q[1] <= 0x9F && CONT(2)) ? 3 : 0;
    if (c == 0xF0)
        return (left > 3 && q[1] >= 0x90 && q[1] <= 0xBF && CONT(2) && CONT(3)) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return (CONT(1) && CONT(2) && CONT(3)) ? 4 : 0;
    if (c == 0xF4)
        return (left > 3 && q[1] >= 0x80 && q[1] <= 0x8F && CONT(2) && CONT(3)) ? 4 : 0;
#undef CONT
    return 0;
}

/* The bytes that end a plain run inside a string: the quote, the backslash, control characters
 * (refused) and the first byte of a multi-byte UTF-8 sequence (checked). */
static uint8_t SPECIAL[256];

static void init_special(void) {
    for (int c = 0; c < 256; c++) SPECIAL[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

static inline int hex4(const char *q, unsigned *out) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = q[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* A string whose opening quote is at s->p. With out != NULL its unescaped bytes are appended to
 * it. 1 on success, 0 to refuse (or out of memory: out->failed). */
static int read_string(Parser *s, Sink *out, int allow_escapes) {
    const char *q = s->p + 1;
    const char *end = s->end;
    for (;;) {
        const char *start = q;
        for (;;) {
            while (q < end && !SPECIAL[(unsigned char)*q]) q++;
            if (q >= end || (unsigned char)*q < 0x80) break;
            int n = utf8_sequence((const unsigned char *)q, (const unsigned char *)end);
            if (!n) return 0;
            q += n;
        }
        if (q >= end) return 0;
        if (out) {
            if (!reserve(out, q - start + 4)) return 0; /* + room for an escape's bytes */
            memcpy(out->data + out->len, start, (size_t)(q - start));
            out->len += q - start;
        }
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            s->p = q + 1;
            return 1;
        }
        if (c < 0x20 || !allow_escapes || q + 1 >= end) return 0;
        char e = q[1];
        char one = 0;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': break;
        default: return 0;
        }
        if (one) {
            if (out) out->data[out->len++] = one;
            q += 2;
            continue;
        }
        unsigned cp;
        if (end - q < 6 || !hex4(q + 2, &cp)) return 0;
        q += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return 0;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low;
            if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || !hex4(q + 2, &low)) return 0;
            if (low < 0xDC00 || low > 0xDFFF) return 0;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            q += 6;
        }
        if (cp == 0) return 0; /* NUL: left to pyarrow */
        if (out) {
            if (!reserve(out, 4)) return 0;
            char *o = out->data + out->len;
            if (cp < 0x80) {
                o[0] = (char)cp;
                out->len += 1;
            } else if (cp < 0x800) {
                o[0] = (char)(0xC0 | (cp >> 6));
                o[1] = (char)(0x80 | (cp & 0x3F));
                out->len += 2;
            } else if (cp < 0x10000) {
                o[0] = (char)(0xE0 | (cp >> 12));
                o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char)(0x80 | (cp & 0x3F));
                out->len += 3;
            } else {
                o[0] = (char)(0xF0 | (cp >> 18));
                o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[3] = (char)(0x80 | (cp & 0x3F));
                out->len += 4;
            }
        }
    }
}

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The extent of a JSON number at s->p, checked against the grammar; whether it is an integer. */
static int number_extent(Parser *s, const char **stop, int *integral) {
    const char *q = s->p;
    const char *end = s->end;
    if (q < end && *q == '-') q++;
    if (q >= end) return 0;
    if (*q == '0') {
        q++;
        if (q < end && is_digit(*q)) return 0;
    } else if (is_digit(*q)) {
        while (q < end && is_digit(*q)) q++;
    } else {
        return 0;
    }
    *integral = 1;
    if (q < end && *q == '.') {
        *integral = 0;
        q++;
        if (q >= end || !is_digit(*q)) return 0;
        while (q < end && is_digit(*q)) q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        *integral = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q >= end || !is_digit(*q)) return 0;
        while (q < end && is_digit(*q)) q++;
    }
    *stop = q;
    return 1;
}

static int read_int(Parser *s, int64_t *out) {
    const char *stop;
    int integral;
    if (!number_extent(s, &stop, &integral) || !integral) return 0;
    const char *q = s->p;
    int negative = *q == '-';
    if (negative) q++;
    if (stop - q > 19) return 0;
    uint64_t v = 0;
    for (; q < stop; q++) v = v * 10 + (uint64_t)(*q - '0');
    if (negative ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return 0;
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    s->p = stop;
    return 1;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A JSON number as the nearest double: by Clinger's fast path when the digits (at most 2^53) and
 * the power of ten (at most 1e22) are both exact doubles, one correctly rounded multiplication or
 * division; by the C locale's strtod otherwise. */
static int read_float(Parser *s, double *out) {
    const char *stop;
    int integral;
    if (!number_extent(s, &stop, &integral)) return 0;
    const char *q = s->p;
    int negative = *q == '-';
    if (negative) q++;
    uint64_t m = 0;
    int digits = 0;
    int exp10 = 0;
    int exact = 1;
    for (; q < stop && is_digit(*q); q++) {
        if (digits || *q != '0') digits++;
        m = m * 10 + (uint64_t)(*q - '0');
        if (digits > 19) exact = 0;
    }
    if (q < stop && *q == '.') {
        for (q++; q < stop && is_digit(*q); q++) {
            if (digits || *q != '0') digits++;
            if (digits > 19) {
                exact = 0;
                break;
            }
            m = m * 10 + (uint64_t)(*q - '0');
            exp10--;
        }
    }
    if (m > (UINT64_C(1) << 53)) exact = 0; /* the digits are no longer an exact double */
    if (exact && q < stop && (*q == 'e' || *q == 'E')) {
        q++;
        int sign = 1;
        if (*q == '+' || *q == '-') sign = *q++ == '-' ? -1 : 1;
        int e = 0;
        for (; q < stop; q++) {
            e = e * 10 + (*q - '0');
            if (e > 400) {
                exact = 0;
                break;
            }
        }
        exp10 += sign * e;
    }
    double v;
    if (exact && exp10 >= -22 && exp10 <= 22) {
        v = (double)m;
        v = exp10 < 0 ? v / POW10[-exp10] : v * POW10[exp10];
        if (negative) v = -v;
    } else {
        char buffer[128];
        Py_ssize_t n = stop - s->p;
        if (n >= (Py_ssize_t)sizeof(buffer)) return 0;
        memcpy(buffer, s->p, (size_t)n);
        buffer[n] = 0;
        errno = 0;
        char *parsed;
        v = strtod_l(buffer, &parsed, c_locale);
        if (errno || parsed != buffer + n) return 0; /* overflow, underflow: pyarrow decides */
    }
    *out = v;
    s->p = stop;
    return 1;
}

static inline int literal(Parser *s, const char *word, Py_ssize_t n) {
    if (s->end - s->p < n || memcmp(s->p, word, (size_t)n) != 0) return 0;
    s->p += n;
    return 1;
}

/* Any JSON value (an unknown key's); *is_null tells whether it was null. */
static int skip_value(Parser *s, int depth, int *is_null) {
    *is_null = 0;
    if (s->p >= s->end || depth > MAX_DEPTH) return 0;
    char c = *s->p;
    if (c == '"') return read_string(s, NULL, 1);
    if (c == 'n') {
        *is_null = 1;
        return literal(s, "null", 4);
    }
    if (c == 't') return literal(s, "true", 4);
    if (c == 'f') return literal(s, "false", 5);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        int inner_null;
        s->p++;
        skip_space(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                if (s->p >= s->end || *s->p != '"' || !read_string(s, NULL, 1)) return 0;
                skip_space(s);
                if (s->p >= s->end || *s->p != ':') return 0;
                s->p++;
                skip_space(s);
            }
            if (!skip_value(s, depth + 1, &inner_null)) return 0;
            skip_space(s);
            if (s->p >= s->end) return 0;
            if (*s->p == ',') {
                s->p++;
                skip_space(s);
                continue;
            }
            if (*s->p != close) return 0;
            s->p++;
            return 1;
        }
    }
    /* A number as pyarrow would infer it: an int64, or else a finite double. */
    const char *start = s->p;
    int64_t whole;
    if (read_int(s, &whole)) return 1;
    s->p = start;
    double real;
    return read_float(s, &real);
}

static int read_value(Parser *s, Column *col, Py_ssize_t row) {
    if (s->p < s->end && *s->p == 'n') {
        if (!literal(s, "null", 4)) return 0;
        col->nulls++;
        return 1;
    }
    switch (col->kind) {
    case 's': {
        if (s->p >= s->end || *s->p != '"') return 0;
        if (!read_string(s, &col->strings, 1)) return 0;
        break;
    }
    case 'i':
    case 'e': {
        int64_t v;
        if (!read_int(s, &v)) return 0;
        ((int64_t *)col->values_p)[row] = v;
        break;
    }
    case 'f': {
        double v;
        if (!read_float(s, &v)) return 0;
        ((double *)col->values_p)[row] = v;
        break;
    }
    case 'b': {
        if (literal(s, "true", 4)) SET_BIT(col->values_p, row);
        else if (!literal(s, "false", 5)) return 0;
        break;
    }
    default:
        return 0;
    }
    SET_BIT(col->valid_p, row);
    return 1;
}

static Column *find_column(Parser *s, const char *key, Py_ssize_t len) {
    /* Vendors write every line's keys in one order: try the column after the last one found. */
    Py_ssize_t n = s->ncols;
    Py_ssize_t i = s->hint < n ? s->hint : 0;
    for (Py_ssize_t k = 0; k < n; k++, i = i + 1 < n ? i + 1 : 0) {
        Column *col = &s->cols[i];
        if (col->name_len == len && memcmp(col->name, key, (size_t)len) == 0) {
            s->hint = i + 1;
            return col;
        }
    }
    return NULL;
}

static void end_row(Parser *s, Py_ssize_t row) {
    for (Py_ssize_t i = 0; i < s->ncols; i++) {
        Column *col = &s->cols[i];
        if (col->seen != row) col->nulls++;
        if (col->kind == 's') ((int32_t *)col->values_p)[row + 1] = (int32_t)col->strings.len;
    }
}

/* Every line of the run; the number of rows, or -1 to refuse the run. */
static Py_ssize_t parse_lines(Parser *s) {
    Py_ssize_t row = 0;
    for (;;) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
            s->p++;
        if (s->p >= s->end) return row;
        if (*s->p != '{') return -1;
        s->p++;
        skip_space(s);
        s->hint = 0;
        if (s->p < s->end && *s->p == '}') {
            s->p++;
        } else {
            for (;;) {
                if (s->p >= s->end || *s->p != '"') return -1;
                const char *quote = s->p;
                const char *key = quote + 1;
                Py_ssize_t key_len;
                if (read_string(s, NULL, 0)) {
                    key_len = s->p - 1 - key;
                } else {
                    /* An escaped key (ensure_ascii writers escape every non-ASCII name). */
                    s->p = quote;
                    if (!read_string(s, NULL, 1) || s->p - quote > KEY_MAX) return -1;
                    s->p = quote;
                    Sink unescaped = {s->key, 0, KEY_MAX, 0, 0};
                    if (!read_string(s, &unescaped, 1)) return -1;
                    key = s->key;
                    key_len = unescaped.len;
                }
                skip_space(s);
                if (s->p >= s->end || *s->p != ':') return -1;
                s->p++;
                skip_space(s);
                Column *col = find_column(s, key, key_len);
                if (col) {
                    if (col->seen == row) return -1;
                    col->seen = row;
                    if (!read_value(s, col, row)) return -1;
                } else {
                    int is_null;
                    if (!s->rescue || !skip_value(s, 0, &is_null)) return -1;
                    if (!is_null) {
                        s->flags[row] = 1;
                        s->any_flag = 1;
                    }
                }
                skip_space(s);
                if (s->p >= s->end) return -1;
                if (*s->p == ',') {
                    s->p++;
                    skip_space(s);
                    continue;
                }
                if (*s->p != '}') return -1;
                s->p++;
                break;
            }
        }
        end_row(s, row);
        row++;
        skip_space(s);
        if (s->p < s->end && *s->p != '\n') return -1;
    }
}

static int alloc_bytes(PyObject **obj, char **ptr, Py_ssize_t size, int zero) {
    *obj = PyBytes_FromStringAndSize(NULL, size);
    if (!*obj) return 0;
    *ptr = PyBytes_AS_STRING(*obj);
    if (zero) memset(*ptr, 0, (size_t)size);
    return 1;
}

/* A column's strings handed to Python without a copy: the parser's own allocation, exposed
 * through the buffer protocol (read-only) and freed with the object. */
typedef struct {
    PyObject_HEAD char *data;
    Py_ssize_t size;
} Strings;

static int strings_getbuffer(PyObject *self, Py_buffer *view, int flags) {
    Strings *owned = (Strings *)self;
    return PyBuffer_FillInfo(view, self, owned->data, owned->size, 1, flags);
}

static void strings_dealloc(PyObject *self) {
    PyMem_RawFree(((Strings *)self)->data);
    Py_TYPE(self)->tp_free(self);
}

static PyBufferProcs strings_buffer = {.bf_getbuffer = strings_getbuffer};

static PyTypeObject StringsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "export_pipelines.normalize._jsonlines.Strings",
    .tp_doc = "A column's UTF-8 bytes, as parsed.",
    .tp_basicsize = sizeof(Strings),
    .tp_dealloc = strings_dealloc,
    .tp_as_buffer = &strings_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

/* The sink's bytes as a Strings object (the sink gives them up). */
static PyObject *strings_from(Sink *sink) {
    /* A column of no text: Arrow wants an address all the same. */
    if (!sink->data && !(sink->data = PyMem_RawMalloc(1))) return PyErr_NoMemory();
    Strings *owned = PyObject_New(Strings, &StringsType);
    if (!owned) return NULL;
    owned->data = sink->data;
    owned->size = sink->len;
    sink->data = NULL;
    sink->len = sink->cap = 0;
    return (PyObject *)owned;
}

static void release(Column *cols, Py_ssize_t n, PyObject *flags) {
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(cols[i].valid);
        Py_XDECREF(cols[i].values);
        PyMem_RawFree(cols[i].strings.data);
    }
    Py_XDECREF(flags);
    PyMem_Free(cols);
}

static PyObject *shrunk(PyObject **obj, Py_ssize_t size) {
    if (_PyBytes_Resize(obj, size) < 0) return NULL;
    PyObject *o = *obj;
    *obj = NULL;
    return o;
}

PyDoc_STRVAR(parse_doc,
             "parse(data, kinds, names, rescue) -> (rows, columns, flags) | None\n\n"
             "One run of whole JSON lines into column buffers: per column (validity bitmap, "
             "nulls, values, data); flags is one byte per row (a non-null unknown field) or "
             "None. None when the run holds anything this parser does not decide exactly.");

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer view;
    const char *kinds;
    Py_ssize_t nkinds;
    PyObject *names;
    int rescue;
    if (!PyArg_ParseTuple(args, "y*y#O!p", &view, &kinds, &nkinds, &PyTuple_Type, &names,
                          &rescue))
        return NULL;
    if (PyTuple_GET_SIZE(names) != nkinds || view.len > INT32_MAX) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "one name per kind, runs under 2 GB");
        return NULL;
    }
    const char *data = view.buf;
    Py_ssize_t len = view.len;
    Py_ssize_t lines = 1;
    for (const char *q = data; (q = memchr(q, '\n', (size_t)(data + len - q))) != NULL; q++)
        lines++;
    Column *cols = PyMem_Calloc((size_t)(nkinds ? nkinds : 1), sizeof(Column));
    PyObject *flags = NULL;
    if (!cols) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_ssize_t bitmap = lines / 8 + 1;
    int ok = 1;
    for (Py_ssize_t i = 0; i < nkinds && ok; i++) {
        Column *col = &cols[i];
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyBytes_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "names are bytes");
            ok = 0;
            break;
        }
        col->kind = kinds[i];
        col->name = PyBytes_AS_STRING(name);
        col->name_len = PyBytes_GET_SIZE(name);
        col->seen = -1;
        char *valid, *values;
        ok = alloc_bytes(&col->valid, &valid, bitmap, 1);
        col->valid_p = (uint8_t *)valid;
        switch (col->kind) {
        case 's':
            ok = ok && alloc_bytes(&col->values, &values, (lines + 1) * 4, 0);
            if (ok) ((int32_t *)values)[0] = 0;
            col->strings.grows = 1;
            break;
        case 'b':
            ok = ok && alloc_bytes(&col->values, &values, bitmap, 1);
            break;
        case 'i':
        case 'e':
        case 'f':
            ok = ok && alloc_bytes(&col->values, &values, lines * 8, 1);
            break;
        default:
            PyErr_Format(PyExc_ValueError, "unknown kind %c", col->kind);
            ok = 0;
        }
        if (ok) col->values_p = (uint8_t *)values;
    }
    char *flag_p = NULL;
    ok = ok && alloc_bytes(&flags, &flag_p, lines, 1);
    if (!ok) {
        release(cols, nkinds, flags);
        PyBuffer_Release(&view);
        return NULL;
    }
    Parser s = {data, data + len, cols, nkinds, rescue, (uint8_t *)flag_p, 0, 0};
    Py_ssize_t rows;
    Py_BEGIN_ALLOW_THREADS
    rows = parse_lines(&s);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    for (Py_ssize_t i = 0; i < nkinds; i++) {
        if (cols[i].strings.failed) {
            release(cols, nkinds, flags);
            return PyErr_NoMemory();
        }
    }
    if (rows < 0) {
        release(cols, nkinds, flags);
        Py_RETURN_NONE;
    }
    PyObject *columns = PyList_New(nkinds);
    if (!columns) {
        release(cols, nkinds, flags);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nkinds; i++) {
        Column *col = &cols[i];
        Py_ssize_t width = col->kind == 's'   ? (rows + 1) * 4
                           : col->kind == 'b' ? rows / 8 + 1
                                              : rows * 8;
        PyObject *valid = shrunk(&col->valid, rows / 8 + 1);
        PyObject *values = valid ? shrunk(&col->values, width) : NULL;
        PyObject *strings = NULL;
        if (values && col->kind == 's') strings = strings_from(&col->strings);
        if (!valid || !values || (col->kind == 's' && !strings)) {
            Py_XDECREF(valid);
            Py_XDECREF(values);
            Py_DECREF(columns);
            release(cols, nkinds, flags);
            return NULL;
        }
        PyObject *item = Py_BuildValue("(NnNN)", valid, col->nulls, values,
                                       strings ? strings : Py_NewRef(Py_None));
        if (!item) {
            Py_DECREF(columns);
            release(cols, nkinds, flags);
            return NULL;
        }
        PyList_SET_ITEM(columns, i, item);
    }
    PyObject *flagged = s.any_flag ? shrunk(&flags, rows) : Py_NewRef(Py_None);
    release(cols, nkinds, flags);
    if (!flagged) {
        Py_DECREF(columns);
        return NULL;
    }
    return Py_BuildValue("(nNN)", rows, columns, flagged);
}

static PyMethodDef methods[] = {{"parse", parse, METH_VARARGS, parse_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_jsonlines",
    .m_doc = "Flat JSON Lines into Arrow column buffers.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__jsonlines(void) {
    init_special();
    if (PyType_Ready(&StringsType) < 0) return NULL;
    if (!c_locale) c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale) return PyErr_NoMemory();
    return PyModule_Create(&module);
}
