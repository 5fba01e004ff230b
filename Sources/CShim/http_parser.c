/*
 * hp: a small, strict, incremental HTTP/1.1 request parser (RFC 9110 / RFC 9112).
 *
 * See http_parser.h for the calling convention. Design notes:
 *  - One state enum drives hp_execute. The head is scanned line by line: bytes are checked
 *    for line endings and limits as they arrive, and a line's content is parsed once, when
 *    its CRLF arrives. p->scan remembers where scanning stopped, so nothing is rescanned.
 *  - Chunked framing is parsed byte by byte, so partial framing is consumed, never rescanned.
 *  - Every rejection has its own status; an error is sticky.
 *  - No allocation, no copies; results are spans into the caller's buffer.
 */
#include "http_parser.h"

#include <string.h>

enum {
    S_HEAD_START,        /* before the request line: skipping empty lines */
    S_HEAD_REQUEST_LINE, /* inside the request line */
    S_HEAD_FIELDS,       /* header field lines, up to the empty line */
    S_BODY,              /* Content-Length body */
    S_CHUNK_SIZE,        /* hex digits of a chunk-size line */
    S_CHUNK_EXT,         /* rest of the chunk-size line: BWS and extensions */
    S_CHUNK_DATA,        /* chunk payload */
    S_CHUNK_DATA_CR,     /* CR expected after chunk payload */
    S_CHUNK_DATA_LF,     /* LF expected after chunk payload */
    S_TRAILER,           /* trailer section after the last chunk */
    S_DONE,              /* message complete; next call reports HP_DONE */
    S_ERROR              /* sticky */
};

/* Chunk extension sub-phases (p->ext_phase). */
enum { EXT_BWS, EXT_NAME, EXT_REST };

/* RFC 9112 §2.2 lets a server skip empty lines before the request line; bound it so an
 * endless stream of CRLFs cannot keep a connection busy. */
#define HP_MAX_LEADING_EMPTY 8
/* A chunk-size line (size + extensions) is not otherwise bounded by the grammar. */
#define HP_MAX_CHUNK_LINE 4096
/* 15 hex digits = 60 bits: the size and body_total + size can never overflow uint64. */
#define HP_MAX_CHUNK_DIGITS 15
/* 18 decimal digits < 2^63: Content-Length fits int64 without overflow checks. */
#define HP_MAX_CL_DIGITS 18
/* Spans are 32-bit offsets; keep the longest possible head well below 4 GiB. */
#define HP_MAX_LINE_LIMIT (1u << 30)

hp_limits hp_default_limits(void)
{
    hp_limits l = { 8192, 16384, 100, 1048576 };
    return l;
}

/* ---- character classes ------------------------------------------------------------- */

/* tchar (RFC 9110 §5.6.2): the characters of a token (method, field name). */
static int is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* field-content bytes: HTAB, SP, VCHAR, obs-text. Excludes NUL, CR, LF, other controls, DEL. */
static int is_value_byte(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7F);
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static int has_prefix_ci(const uint8_t *s, size_t n, const char *lower_prefix)
{
    size_t k, m = strlen(lower_prefix);
    if (n < m)
        return 0;
    for (k = 0; k < m; k++)
        if (lower(s[k]) != (uint8_t)lower_prefix[k])
            return 0;
    return 1;
}

int hp_span_ieq(const uint8_t *base, hp_span s, const char *lower_lit)
{
    return strlen(lower_lit) == s.len && has_prefix_ci(base + s.off, s.len, lower_lit);
}

static hp_span span(size_t from, size_t to)
{
    hp_span s = { (uint32_t)from, (uint32_t)(to - from) };
    return s;
}

/* ---- message lifecycle --------------------------------------------------------------- */

/* Reset the per-message state. The headers array is left alone: nheaders bounds it. */
static void next_message(hp_parser *p)
{
    p->method = span(0, 0);
    p->target = span(0, 0);
    p->version_minor = 0;
    p->chunked = 0;
    p->nheaders = 0;
    p->content_length = -1;
    p->body = span(0, 0);
    p->state = S_HEAD_START;
    p->scan = 0;
    p->line_start = 0;
    p->header_bytes = 0;
    p->remaining = 0;
    p->body_total = 0;
    p->chunk_line = 0;
    p->trailer_bytes = 0;
    p->chunk_digits = 0;
    p->saw_cr = 0;
    p->has_host = 0;
    p->has_cl = 0;
    p->has_te = 0;
    p->trailer_line_empty = 1;
    p->trailer_in_value = 0;
    p->ext_phase = EXT_BWS;
    p->leading_lines = 0;
}

void hp_init(hp_parser *p, const hp_limits *limits)
{
    memset(p, 0, sizeof *p);
    p->limits = *limits;
    if (p->limits.max_headers > HP_MAX_HEADERS_CAP)
        p->limits.max_headers = HP_MAX_HEADERS_CAP;
    if (p->limits.max_request_line > HP_MAX_LINE_LIMIT)
        p->limits.max_request_line = HP_MAX_LINE_LIMIT;
    if (p->limits.max_header_bytes > HP_MAX_LINE_LIMIT)
        p->limits.max_header_bytes = HP_MAX_LINE_LIMIT;
    next_message(p);
}

static int fail(hp_parser *p, int status)
{
    p->state = S_ERROR;
    p->error = status;
    p->consumed = 0;
    return status;
}

/* ---- request line -------------------------------------------------------------------- */

static int check_target(const hp_parser *p, const uint8_t *d, size_t s, size_t e)
{
    size_t k;
    for (k = s; k < e; k++)
        if (d[k] < 0x21 || d[k] > 0x7E || d[k] == '#')
            return HP_E_BAD_TARGET;
    if (d[s] == '/')
        return HP_AGAIN; /* origin-form */
    if (d[s] == '*') {
        /* asterisk-form exists only for server-wide OPTIONS (RFC 9112 §3.2.4) */
        int options = p->method.len == 7 && memcmp(d + p->method.off, "OPTIONS", 7) == 0;
        return (e - s == 1 && options) ? HP_AGAIN : HP_E_BAD_TARGET;
    }
    /* absolute-form needs something after the scheme; authority-form (CONNECT) is not served */
    if (has_prefix_ci(d + s, e - s, "http://") && e - s > 7)
        return HP_AGAIN;
    if (has_prefix_ci(d + s, e - s, "https://") && e - s > 8)
        return HP_AGAIN;
    return HP_E_BAD_TARGET;
}

static int check_version(hp_parser *p, const uint8_t *d, size_t s, size_t e)
{
    const uint8_t *v = d + s;
    if (e - s != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
        v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
        return HP_E_BAD_VERSION;
    if (v[5] != '1' || v[7] > '1')
        return HP_E_UNSUPPORTED_VERSION;
    p->version_minor = (uint8_t)(v[7] - '0');
    return HP_AGAIN;
}

/* request-line = method SP request-target SP HTTP-version, line [s, e) without CRLF. */
static int parse_request_line(hp_parser *p, const uint8_t *d, size_t s, size_t e)
{
    size_t sp1 = s, sp2 = e;
    int r;

    while (sp1 < e && is_tchar(d[sp1]))
        sp1++;
    if (sp1 == e)
        return HP_E_BAD_REQUEST_LINE; /* one word: no target, no version */
    if (d[sp1] != ' ' || sp1 == s)
        return HP_E_BAD_METHOD;
    while (d[sp2 - 1] != ' ') /* stops at sp1 + 1 at the latest */
        sp2--;
    sp2--;
    if (sp2 == sp1)
        return HP_E_BAD_REQUEST_LINE; /* "GET /": HTTP/0.9 style, no version */
    /* Exactly one SP between parts; SPs elsewhere inside the target are a target error. */
    if (d[sp1 + 1] == ' ' || d[sp2 - 1] == ' ' || sp2 + 1 == e)
        return HP_E_BAD_REQUEST_LINE;

    p->method = span(s, sp1);
    p->target = span(sp1 + 1, sp2);
    r = check_target(p, d, sp1 + 1, sp2);
    if (r != HP_AGAIN)
        return r;
    return check_version(p, d, sp2 + 1, e);
}

/* ---- header fields ------------------------------------------------------------------- */

static int set_content_length(hp_parser *p, const uint8_t *d, hp_span v)
{
    int64_t n = 0;
    uint32_t k;
    if (p->has_cl)
        return HP_E_DUPLICATE_CL; /* even when equal: one framing source only */
    p->has_cl = 1;
    if (v.len == 0 || v.len > HP_MAX_CL_DIGITS)
        return HP_E_BAD_CL;
    for (k = 0; k < v.len; k++) {
        uint8_t c = d[v.off + k];
        if (c < '0' || c > '9')
            return HP_E_BAD_CL;
        n = n * 10 + (c - '0');
    }
    p->content_length = n;
    return HP_AGAIN;
}

static int set_transfer_encoding(hp_parser *p, const uint8_t *d, hp_span v)
{
    /* Only a lone "chunked" is served: any other coding list is a smuggling risk. HTTP/1.0
     * has no Transfer-Encoding (RFC 9112 §6.1). */
    if (p->has_te || p->version_minor == 0 || !hp_span_ieq(d, v, "chunked"))
        return HP_E_BAD_TE;
    p->has_te = 1;
    p->chunked = 1;
    return HP_AGAIN;
}

/* ---- Host (RFC 9110 §7.2: uri-host [ ":" port ], RFC 3986 §3.2.2) -------------------- */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* unreserved / sub-delims, except ",": RFC 3986 allows a comma in a reg-name, but no DNS name
 * has one, and "a, b" is what two Host lines folded into one look like. */
static int is_host_char(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
        return 1;
    return c != 0 && strchr("-._~!$&'()*+;=", c) != NULL;
}

/* IPv4address: four dec-octets 0-255, no leading zeros. */
static int is_ipv4(const uint8_t *s, size_t n)
{
    size_t i = 0, start;
    unsigned v, part;
    for (part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
        for (start = i, v = 0; i < n && is_digit(s[i]) && i - start < 3; i++)
            v = v * 10 + (unsigned)(s[i] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return 0;
    }
    return i == n;
}

/* IPv6address: eight h16 groups, or fewer with one "::"; the last two may be an IPv4address. */
static int is_ipv6(const uint8_t *s, size_t n)
{
    size_t i = 0, start;
    int groups = 0, gap = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 1;
        i = 2;
    } else if (n >= 1 && s[0] == ':')
        return 0;
    while (i < n) {
        for (start = i; i < n && hex_value(s[i]) >= 0 && i - start < 4; i++)
            ;
        if (i < n && s[i] == '.') /* ls32 as an IPv4address: the rest of the literal */
            return is_ipv4(s + start, n - start) && (gap ? groups + 2 <= 7 : groups + 2 == 8);
        if (i == start || (i < n && s[i] != ':'))
            return 0;
        groups++;
        if (i == n)
            break;
        if (++i == n)
            return 0; /* one trailing colon */
        if (s[i] == ':') {
            if (gap)
                return 0;
            gap = 1;
            i++;
        }
    }
    return gap ? groups <= 7 : groups == 8;
}

/* IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ). */
static int is_ipvfuture(const uint8_t *s, size_t n)
{
    size_t i = 1, start;
    if (n < 4 || lower(s[0]) != 'v')
        return 0;
    for (start = i; i < n && hex_value(s[i]) >= 0; i++)
        ;
    if (i == start || i + 1 >= n || s[i] != '.')
        return 0;
    for (i++; i < n; i++)
        if (!is_host_char(s[i]) && s[i] != ':')
            return 0;
    return 1;
}

/* host [ ":" port ], host = IP-literal / IPv4address / reg-name, port = *DIGIT (so "a:" is valid).
 * An IPv4address is also a reg-name, and an empty reg-name is valid (RFC 9110 §7.2). */
static int is_valid_host(const uint8_t *d, hp_span v)
{
    const uint8_t *s = d + v.off;
    size_t n = v.len, i = 0, close;
    if (n > 0 && s[0] == '[') {
        for (close = 1; close < n && s[close] != ']'; close++)
            ;
        if (close == n || !(is_ipv6(s + 1, close - 1) || is_ipvfuture(s + 1, close - 1)))
            return 0;
        i = close + 1;
    } else {
        while (i < n && s[i] != ':') {
            if (is_host_char(s[i]))
                i++;
            else if (s[i] == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0)
                i += 3;
            else
                return 0;
        }
    }
    if (i == n)
        return 1;
    if (s[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

static int framing_field(hp_parser *p, const uint8_t *d, const hp_header *h)
{
    if (hp_span_ieq(d, h->name, "content-length"))
        return set_content_length(p, d, h->value);
    if (hp_span_ieq(d, h->name, "transfer-encoding"))
        return set_transfer_encoding(p, d, h->value);
    if (hp_span_ieq(d, h->name, "host")) {
        if (p->has_host)
            return HP_E_DUPLICATE_HOST;
        p->has_host = 1;
        if (!is_valid_host(d, h->value))
            return HP_E_BAD_HOST;
    }
    return HP_AGAIN;
}

/* A field name ended at d[k], which is neither ':' nor a tchar. */
static int bad_name_end(const uint8_t *d, size_t k, size_t e)
{
    if (!is_ws(d[k]))
        return HP_E_BAD_HEADER_NAME;
    while (k < e && is_ws(d[k]))
        k++;
    return (k < e && d[k] == ':') ? HP_E_SPACE_BEFORE_COLON : HP_E_BAD_HEADER_NAME;
}

/* field-line = field-name ":" OWS field-value OWS, line [s, e) without CRLF, s < e. */
static int parse_field(hp_parser *p, const uint8_t *d, size_t s, size_t e)
{
    size_t k = s, vs, ve;
    hp_header *h;

    if (is_ws(d[s]))
        return HP_E_OBS_FOLD;
    while (k < e && is_tchar(d[k]))
        k++;
    if (k == e)
        return HP_E_BAD_HEADER_NAME; /* no colon */
    if (d[k] != ':')
        return bad_name_end(d, k, e);
    if (k == s)
        return HP_E_BAD_HEADER_NAME; /* empty name */
    for (vs = k + 1; vs < e; vs++)
        if (!is_value_byte(d[vs]))
            return HP_E_BAD_HEADER_VALUE;
    for (vs = k + 1; vs < e && is_ws(d[vs]); vs++)
        ;
    for (ve = e; ve > vs && is_ws(d[ve - 1]); ve--)
        ;
    if (p->nheaders >= p->limits.max_headers)
        return HP_E_TOO_MANY_HEADERS;
    h = &p->headers[p->nheaders++];
    h->name = span(s, k);
    h->value = span(vs, ve);
    return framing_field(p, d, h);
}

/* ---- head scanning ------------------------------------------------------------------- */

/* The empty line ended the head at `end` (just past its CRLF): apply message-level rules. */
static int end_head(hp_parser *p, size_t end)
{
    if (p->has_cl && p->has_te)
        return HP_E_CL_AND_TE;
    if (p->version_minor == 1 && !p->has_host)
        return HP_E_MISSING_HOST;
    /* Refuse an announced oversized body now, so the server can answer 413 unread. */
    if (p->content_length > 0 && (uint64_t)p->content_length > p->limits.max_body)
        return HP_E_BODY_TOO_LARGE;
    p->consumed = end;
    if (p->chunked)
        p->state = S_CHUNK_SIZE;
    else if (p->content_length > 0) {
        p->remaining = (uint64_t)p->content_length;
        p->state = S_BODY;
    } else
        p->state = S_DONE;
    return HP_HEAD_DONE;
}

/* A line [line_start, e) ended with CRLF at e. */
static int end_line(hp_parser *p, const uint8_t *d, size_t e)
{
    int r;
    if (p->state == S_HEAD_START)
        return ++p->leading_lines > HP_MAX_LEADING_EMPTY ? HP_E_BAD_REQUEST_LINE : HP_AGAIN;
    if (p->state == S_HEAD_REQUEST_LINE) {
        r = parse_request_line(p, d, p->line_start, e);
        if (r == HP_AGAIN)
            p->state = S_HEAD_FIELDS;
        return r;
    }
    if (e == p->line_start)
        return end_head(p, e + 2);
    p->header_bytes += e + 2 - p->line_start;
    if (p->header_bytes > p->limits.max_header_bytes)
        return HP_E_HEADERS_TOO_LARGE;
    return parse_field(p, d, p->line_start, e);
}

/* Limits are enforced per byte, so an endless line fails without waiting for its end. */
static int count_byte(hp_parser *p, size_t i)
{
    if (p->state == S_HEAD_START)
        p->state = S_HEAD_REQUEST_LINE; /* first byte of a non-empty line */
    if (p->state == S_HEAD_REQUEST_LINE)
        return i - p->line_start >= p->limits.max_request_line ? HP_E_REQUEST_LINE_TOO_LONG
                                                               : HP_AGAIN;
    return p->header_bytes + (i - p->line_start) + 1 > p->limits.max_header_bytes
               ? HP_E_HEADERS_TOO_LARGE
               : HP_AGAIN;
}

static int scan_head(hp_parser *p, const uint8_t *d, size_t len)
{
    size_t i = p->scan;
    int r;

    if (len < i)
        return HP_AGAIN; /* caller broke the convention (dropped head bytes); nothing to do */
    while (i < len) {
        if (d[i] == '\n')
            return HP_E_BARE_LF; /* every LF that ends a line is consumed with its CR */
        if (d[i] == '\r') {
            if (i + 1 == len)
                break; /* the CR is judged when the next byte arrives */
            if (d[i + 1] != '\n')
                return HP_E_BARE_CR;
            r = end_line(p, d, i);
            i += 2;
            p->line_start = i;
            if (r != HP_AGAIN)
                return r;
            continue;
        }
        r = count_byte(p, i);
        if (r != HP_AGAIN)
            return r;
        i++;
    }
    p->scan = i;
    return HP_AGAIN;
}

/* ---- bodies -------------------------------------------------------------------------- */

/* Report up to `remaining` bytes starting at data[i]. */
static int body_span(hp_parser *p, size_t i, size_t len)
{
    size_t n = len - i;
    if (n > p->remaining)
        n = (size_t)p->remaining;
    p->consumed = i + n;
    if (n == 0)
        return HP_AGAIN;
    p->body = span(i, i + n);
    p->remaining -= n;
    p->body_total += n;
    return HP_BODY;
}

/* The chunk-size line's content ended (CR seen): is it complete? */
static int chunk_line_complete(const hp_parser *p)
{
    if (p->state == S_CHUNK_SIZE)
        return p->chunk_line == 0 ? HP_E_BAD_CHUNK_SIZE : HP_AGAIN;
    return p->ext_phase == EXT_REST ? HP_AGAIN : HP_E_BAD_CHUNK_EXT;
}

/* CRLF ended a chunk-size line: payload, or the trailer section after the last chunk. */
static int chunk_line_done(hp_parser *p)
{
    p->saw_cr = 0;
    p->chunk_line = 0;
    p->chunk_digits = 0;
    p->ext_phase = EXT_BWS;
    if (p->remaining == 0) {
        p->state = S_TRAILER;
        p->trailer_line_empty = 1;
        p->trailer_in_value = 0;
    } else
        p->state = S_CHUNK_DATA;
    return HP_AGAIN;
}

static int chunk_ext_byte(hp_parser *p, uint8_t c)
{
    /* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): nobody uses extensions, so
     * past the first name character we only require printable bytes (quoted strings may
     * hold anything printable), bounded by HP_MAX_CHUNK_LINE. */
    if (c == '\t' || c == ' ')
        return HP_AGAIN;
    if (p->ext_phase == EXT_BWS) {
        p->ext_phase = EXT_NAME;
        return c == ';' ? HP_AGAIN : HP_E_BAD_CHUNK_EXT;
    }
    if (p->ext_phase == EXT_NAME) {
        p->ext_phase = EXT_REST;
        return is_tchar(c) ? HP_AGAIN : HP_E_BAD_CHUNK_EXT;
    }
    return is_value_byte(c) ? HP_AGAIN : HP_E_BAD_CHUNK_EXT;
}

static int chunk_size_byte(hp_parser *p, uint8_t c)
{
    int v = hex_value(c);
    if (v < 0) {
        if (p->chunk_line == 1 || !(c == ';' || is_ws(c)))
            return HP_E_BAD_CHUNK_SIZE;
        p->state = S_CHUNK_EXT;
        return chunk_ext_byte(p, c);
    }
    if (p->remaining == 0 && v == 0)
        return HP_AGAIN; /* leading zeros are not significant */
    if (++p->chunk_digits > HP_MAX_CHUNK_DIGITS)
        return HP_E_BAD_CHUNK_SIZE;
    p->remaining = (p->remaining << 4) | (uint64_t)v;
    /* body_total <= max_body always holds, so the subtraction cannot wrap */
    if (p->remaining > p->limits.max_body - p->body_total)
        return HP_E_BODY_TOO_LARGE;
    return HP_AGAIN;
}

/* One byte of: chunk-size [ chunk-ext ] CRLF */
static int chunk_line_byte(hp_parser *p, uint8_t c)
{
    int r;
    if (p->saw_cr)
        return c == '\n' ? chunk_line_done(p) : HP_E_BARE_CR;
    if (c == '\n')
        return HP_E_BARE_LF;
    if (c == '\r') {
        r = chunk_line_complete(p);
        p->saw_cr = (r == HP_AGAIN);
        return r;
    }
    if (++p->chunk_line > HP_MAX_CHUNK_LINE)
        return HP_E_BAD_CHUNK_EXT;
    if (p->state == S_CHUNK_SIZE)
        return chunk_size_byte(p, c);
    return chunk_ext_byte(p, c);
}

/* One byte of the trailer section: *( field-line CRLF ) CRLF. Trailers are validated like
 * header fields but not reported: nothing downstream may depend on them (RFC 9110 §6.5). */
static int trailer_byte(hp_parser *p, uint8_t c)
{
    if (++p->trailer_bytes > p->limits.max_header_bytes)
        return HP_E_BAD_TRAILER;
    if (p->saw_cr) {
        if (c != '\n')
            return HP_E_BARE_CR;
        if (p->trailer_line_empty)
            return HP_DONE;
        p->saw_cr = 0;
        p->trailer_line_empty = 1;
        p->trailer_in_value = 0;
        return HP_AGAIN;
    }
    if (c == '\n')
        return HP_E_BARE_LF;
    if (c == '\r') {
        /* a line is either empty (end of trailers) or has a name and a colon */
        p->saw_cr = 1;
        return (p->trailer_line_empty || p->trailer_in_value) ? HP_AGAIN : HP_E_BAD_TRAILER;
    }
    if (p->trailer_in_value)
        return is_value_byte(c) ? HP_AGAIN : HP_E_BAD_TRAILER;
    if (c == ':' && !p->trailer_line_empty) {
        p->trailer_in_value = 1;
        return HP_AGAIN;
    }
    /* non-token byte in a name, empty name, or obs-fold (line starting with SP/HTAB) */
    p->trailer_line_empty = 0;
    return is_tchar(c) ? HP_AGAIN : HP_E_BAD_TRAILER;
}

/* Chunk data must be followed by exactly CRLF: a lenient parser here is a smuggling vector. */
static int data_end_byte(hp_parser *p, uint8_t c)
{
    if (p->state == S_CHUNK_DATA_CR && c == '\r') {
        p->state = S_CHUNK_DATA_LF;
        return HP_AGAIN;
    }
    if (p->state == S_CHUNK_DATA_LF && c == '\n') {
        p->state = S_CHUNK_SIZE;
        return HP_AGAIN;
    }
    return HP_E_BAD_CHUNK_END;
}

static int framing_byte(hp_parser *p, uint8_t c)
{
    if (p->state == S_CHUNK_DATA_CR || p->state == S_CHUNK_DATA_LF)
        return data_end_byte(p, c);
    if (p->state == S_TRAILER)
        return trailer_byte(p, c);
    return chunk_line_byte(p, c);
}

/* ---- driver -------------------------------------------------------------------------- */

int hp_execute(hp_parser *p, const uint8_t *data, size_t len)
{
    size_t i = 0; /* body phase: bytes of `data` consumed so far in this call */
    int r;

    p->consumed = 0;
    for (;;) {
        switch (p->state) {
        case S_HEAD_START:
        case S_HEAD_REQUEST_LINE:
        case S_HEAD_FIELDS:
            r = scan_head(p, data, len);
            return r < 0 ? fail(p, r) : r;
        case S_BODY:
            r = body_span(p, 0, len);
            if (p->remaining == 0)
                p->state = S_DONE;
            return r;
        case S_CHUNK_DATA:
            r = body_span(p, i, len);
            if (p->remaining == 0)
                p->state = S_CHUNK_DATA_CR;
            return r;
        case S_DONE:
            next_message(p);
            return HP_DONE;
        case S_ERROR:
            return p->error;
        default:
            break; /* chunk framing: one byte at a time below */
        }
        if (i == len) {
            p->consumed = i;
            return HP_AGAIN;
        }
        r = framing_byte(p, data[i++]);
        if (r == HP_DONE) {
            next_message(p);
            p->consumed = i;
            return HP_DONE;
        }
        if (r != HP_AGAIN)
            return fail(p, r);
    }
}

const char *hp_error_reason(int status)
{
    switch (status) {
    case HP_AGAIN: return "incomplete request";
    case HP_HEAD_DONE: return "request head complete";
    case HP_BODY: return "request body";
    case HP_DONE: return "request complete";
    case HP_E_BAD_REQUEST_LINE: return "malformed request line";
    case HP_E_BAD_METHOD: return "invalid method";
    case HP_E_BAD_TARGET: return "invalid request target";
    case HP_E_BAD_VERSION: return "malformed HTTP version";
    case HP_E_UNSUPPORTED_VERSION: return "unsupported HTTP version";
    case HP_E_BARE_LF: return "bare LF in request head";
    case HP_E_BARE_CR: return "bare CR in request head";
    case HP_E_BAD_HEADER_NAME: return "invalid header field name";
    case HP_E_SPACE_BEFORE_COLON: return "whitespace before colon in header field";
    case HP_E_OBS_FOLD: return "obsolete line folding in header field";
    case HP_E_BAD_HEADER_VALUE: return "invalid character in header field value";
    case HP_E_REQUEST_LINE_TOO_LONG: return "request line too long";
    case HP_E_HEADERS_TOO_LARGE: return "header section too large";
    case HP_E_TOO_MANY_HEADERS: return "too many header fields";
    case HP_E_CL_AND_TE: return "both Content-Length and Transfer-Encoding";
    case HP_E_DUPLICATE_CL: return "duplicate Content-Length";
    case HP_E_BAD_CL: return "invalid Content-Length";
    case HP_E_BAD_TE: return "unsupported Transfer-Encoding";
    case HP_E_BAD_CHUNK_SIZE: return "invalid chunk size";
    case HP_E_BAD_CHUNK_EXT: return "invalid chunk extension";
    case HP_E_BAD_CHUNK_END: return "chunk data not followed by CRLF";
    case HP_E_BODY_TOO_LARGE: return "request body too large";
    case HP_E_MISSING_HOST: return "missing Host header";
    case HP_E_DUPLICATE_HOST: return "duplicate Host header";
    case HP_E_BAD_TRAILER: return "invalid trailer section";
    case HP_E_BAD_HOST: return "Host header is not host[:port]";
    default: return "malformed request";
    }
}
