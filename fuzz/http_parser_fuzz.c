/*
 * libFuzzer harness for the hp parser.
 *
 * The input is one byte stream. It is parsed twice: in one chunk, and split in two at an
 * offset derived from the first byte. Both runs must give the same normalized transcript
 * (heads with their method/target/version/fields, decoded body bytes per message, message
 * ends, the final error). Statuses are normalized because splitting legitimately changes how
 * many HP_AGAIN / HP_BODY events occur, not what they report. abort() on any mismatch or
 * on a span/consumed value outside the buffer.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I Sources/CShim/include \
 *            Sources/CShim/http_parser.c fuzz/http_parser_fuzz.c -o /tmp/hpfuzz
 */
#include "http_parser.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *bytes;
    size_t len, cap;
} out_buf;

static void out_put(out_buf *o, const void *src, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n)
            cap *= 2;
        o->bytes = realloc(o->bytes, cap);
        if (!o->bytes)
            abort();
        o->cap = cap;
    }
    memcpy(o->bytes + o->len, src, n);
    o->len += n;
}

static void out_tag(out_buf *o, char tag, uint32_t n)
{
    out_put(o, &tag, 1);
    out_put(o, &n, sizeof n);
}

static void out_span(out_buf *o, const uint8_t *buf, size_t len, hp_span s)
{
    if ((size_t)s.off + s.len > len)
        abort();
    out_tag(o, 's', s.len);
    out_put(o, buf + s.off, s.len);
}

/* Body bytes of the current message are gathered and written as one record, so the
 * record does not depend on how HP_BODY events were split. */
static void flush_body(out_buf *o, out_buf *body)
{
    if (body->len == 0)
        return;
    out_tag(o, 'B', (uint32_t)body->len);
    out_put(o, body->bytes, body->len);
    body->len = 0;
}

static void record_head(out_buf *o, const hp_parser *p, const uint8_t *buf, size_t len)
{
    uint16_t k;
    out_tag(o, 'H', p->nheaders);
    out_span(o, buf, len, p->method);
    out_span(o, buf, len, p->target);
    out_tag(o, 'v', p->version_minor);
    out_tag(o, 'c', p->chunked);
    out_put(o, &p->content_length, sizeof p->content_length);
    if (p->nheaders > p->limits.max_headers)
        abort();
    for (k = 0; k < p->nheaders; k++) {
        out_span(o, buf, len, p->headers[k].name);
        out_span(o, buf, len, p->headers[k].value);
    }
}

typedef struct {
    hp_parser p;
    uint8_t *buf; /* bytes received and not yet consumed */
    size_t len;
    out_buf out, body;
    int error;
} run;

/* Call hp_execute until HP_AGAIN or an error, as a server would. */
static void drain(run *r)
{
    for (;;) {
        int st = hp_execute(&r->p, r->buf, r->len);
        if (r->p.consumed > r->len)
            abort();
        if (st == HP_HEAD_DONE) {
            flush_body(&r->out, &r->body);
            record_head(&r->out, &r->p, r->buf, r->len);
        } else if (st == HP_BODY) {
            if (r->p.body.len == 0 || (size_t)r->p.body.off + r->p.body.len > r->len)
                abort();
            out_put(&r->body, r->buf + r->p.body.off, r->p.body.len);
        } else if (st == HP_DONE) {
            flush_body(&r->out, &r->body);
            out_tag(&r->out, 'D', 0);
        } else if (st < 0) {
            /* sticky: a second call repeats the error and consumes nothing */
            if (hp_execute(&r->p, r->buf, r->len) != st || r->p.consumed != 0)
                abort();
            r->error = st;
            return;
        }
        memmove(r->buf, r->buf + r->p.consumed, r->len - r->p.consumed);
        r->len -= r->p.consumed;
        if (st == HP_AGAIN)
            return;
    }
}

static void feed(run *r, const uint8_t *data, size_t n)
{
    if (r->error)
        return;
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    drain(r);
}

static void finish(run *r)
{
    flush_body(&r->out, &r->body);
    out_tag(&r->out, 'E', (uint32_t)r->error);
    out_tag(&r->out, 'L', r->error ? 0 : (uint32_t)r->len);
}

static void parse(run *r, const hp_limits *lim, const uint8_t *data, size_t size, size_t split)
{
    memset(r, 0, sizeof *r);
    hp_init(&r->p, lim);
    r->buf = malloc(size ? size : 1);
    if (!r->buf)
        abort();
    feed(r, data, split);
    feed(r, data + split, size - split);
    finish(r);
}

static void release(run *r)
{
    free(r->buf);
    free(r->out.bytes);
    free(r->body.bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Small limits for odd-sized inputs so limit paths are reachable with short inputs. */
    static const hp_limits small = { 64, 128, 4, 32 };
    hp_limits lim;
    size_t split;
    static run a, b;

    if (size == 0)
        return 0;
    lim = (size & 1) ? small : hp_default_limits();
    split = ((size_t)data[0] * 2654435761u) % (size + 1);

    parse(&a, &lim, data, size, size);
    parse(&b, &lim, data, size, split);
    if (a.out.len != b.out.len || memcmp(a.out.bytes, b.out.bytes, a.out.len) != 0)
        abort();
    release(&a);
    release(&b);
    return 0;
}
