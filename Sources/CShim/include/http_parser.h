/*
 * hp: a small, strict, incremental HTTP/1.1 request parser.
 *
 * Zero-copy: the parser never copies request bytes and allocates nothing. It reports
 * byte ranges (hp_span) into the buffer the caller passes, and how many bytes of that
 * buffer the caller may discard (p->consumed).
 *
 * States (one explicit enum, see http_parser.c):
 *   HEAD   request line + header fields, up to the empty line
 *   BODY   Content-Length body
 *   CHUNK_SIZE / CHUNK_EXT / CHUNK_DATA / CHUNK_DATA_CR / CHUNK_DATA_LF / TRAILER   chunked body
 *   DONE   one message finished; the next call starts the next (pipelined) message
 *   ERROR  sticky: every later call returns the same error
 *
 * Calling convention, repeated until it returns HP_AGAIN or an error:
 *   int r = hp_execute(&p, data, len);
 *   - Head phase: `data` must start at the first byte of the current message (the caller
 *     discards nothing until HP_HEAD_DONE). The parser remembers how far it scanned, so a
 *     call with more bytes appended does not rescan. On HP_HEAD_DONE, spans in p->method,
 *     p->target and p->headers are offsets into `data`, and p->consumed is the head length.
 *   - Body phase: `data` starts at the first byte not yet consumed. HP_BODY reports one
 *     span of body bytes in p->body (offsets into `data`); p->consumed covers it and any
 *     framing before it. HP_AGAIN may also consume framing bytes.
 *   - HP_DONE: the message (head + body) is complete; p->consumed bytes are done with.
 *     A message without a body yields HP_HEAD_DONE and then HP_DONE on the next call.
 * After any return the caller drops p->consumed bytes from the front of its buffer.
 *
 * Policy (limits, status codes, keep-alive, Expect) belongs to the Swift side; the parser
 * only enforces the framing rules of RFC 9112 strictly and the limits it is given.
 */
#ifndef NEO_HTTP_PARSER_H
#define NEO_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define HP_MAX_HEADERS_CAP 128

typedef struct { uint32_t off; uint32_t len; } hp_span;
typedef struct { hp_span name; hp_span value; } hp_header;

typedef enum {
    HP_AGAIN = 0,       /* need more bytes */
    HP_HEAD_DONE = 1,   /* request head complete */
    HP_BODY = 2,        /* p->body holds body bytes */
    HP_DONE = 3,        /* message complete */

    /* Errors: negative, distinct, sticky. */
    HP_E_BAD_REQUEST_LINE = -1,     /* not "METHOD SP TARGET SP HTTP/x.y" */
    HP_E_BAD_METHOD = -2,           /* empty or non-token method */
    HP_E_BAD_TARGET = -3,           /* invalid characters or form of request-target */
    HP_E_BAD_VERSION = -4,          /* malformed HTTP-version */
    HP_E_UNSUPPORTED_VERSION = -5,  /* well-formed but not HTTP/1.0 or HTTP/1.1 */
    HP_E_BARE_LF = -6,              /* LF without CR */
    HP_E_BARE_CR = -7,              /* CR not followed by LF */
    HP_E_BAD_HEADER_NAME = -8,      /* empty or non-token field name, or missing colon */
    HP_E_SPACE_BEFORE_COLON = -9,   /* whitespace between field name and colon */
    HP_E_OBS_FOLD = -10,            /* line folding (line starting with SP/HTAB) */
    HP_E_BAD_HEADER_VALUE = -11,    /* NUL or other control character in a field value */
    HP_E_REQUEST_LINE_TOO_LONG = -12,
    HP_E_HEADERS_TOO_LARGE = -13,   /* header block over max_header_bytes */
    HP_E_TOO_MANY_HEADERS = -14,
    HP_E_CL_AND_TE = -15,           /* both Content-Length and Transfer-Encoding */
    HP_E_DUPLICATE_CL = -16,
    HP_E_BAD_CL = -17,              /* non-numeric, signed, empty or overflowing Content-Length */
    HP_E_BAD_TE = -18,              /* Transfer-Encoding other than exactly one final "chunked" */
    HP_E_BAD_CHUNK_SIZE = -19,      /* empty, non-hex or overflowing chunk size */
    HP_E_BAD_CHUNK_EXT = -20,       /* malformed or over-long chunk extension */
    HP_E_BAD_CHUNK_END = -21,       /* chunk data not followed by CRLF */
    HP_E_BODY_TOO_LARGE = -22,      /* Content-Length or decoded chunked body over max_body */
    HP_E_MISSING_HOST = -23,        /* HTTP/1.1 request without Host */
    HP_E_DUPLICATE_HOST = -24,
    HP_E_BAD_TRAILER = -25,         /* malformed trailer section */
    HP_E_BAD_HOST = -26             /* Host value not uri-host [ ":" port ] */
} hp_status;

typedef struct {
    uint32_t max_request_line;  /* bytes of the request line, CRLF excluded (default 8192) */
    uint32_t max_header_bytes;  /* bytes of all header lines after the request line (default 16384) */
    uint32_t max_headers;       /* number of header fields (default 100, at most HP_MAX_HEADERS_CAP) */
    uint64_t max_body;          /* decoded body bytes (default 1 MiB) */
} hp_limits;

typedef struct {
    /* --- results, valid after HP_HEAD_DONE until the caller discards the head bytes --- */
    hp_span method;
    hp_span target;
    uint8_t version_minor;          /* 0 or 1 */
    uint8_t chunked;                /* Transfer-Encoding: chunked */
    uint16_t nheaders;
    int64_t content_length;         /* -1 when absent */
    hp_header headers[HP_MAX_HEADERS_CAP];
    hp_span body;                   /* after HP_BODY */
    size_t consumed;                /* after every call */

    /* --- private state --- */
    hp_limits limits;
    int state;
    int error;
    size_t scan;                    /* head phase: bytes of the current head already scanned */
    size_t line_start;              /* head phase: offset of the line being scanned */
    size_t header_bytes;            /* head phase: bytes of header lines so far */
    uint64_t remaining;             /* body/chunk bytes still to come */
    uint64_t body_total;            /* decoded body bytes so far */
    uint32_t chunk_line;            /* bytes of the current chunk-size / trailer line */
    uint32_t trailer_bytes;         /* bytes of trailer lines so far */
    uint8_t chunk_digits;           /* hex digits seen in the current chunk size */
    uint8_t saw_cr;                 /* chunk framing: CR seen, LF expected */
    uint8_t has_host;
    uint8_t has_cl;
    uint8_t has_te;
    uint8_t trailer_line_empty;     /* current trailer line has no bytes yet */
    uint8_t trailer_in_value;       /* current trailer line: colon seen */
    uint8_t ext_phase;              /* chunk extension: before ';', name start, rest */
    uint8_t leading_lines;          /* empty lines skipped before the request line */
} hp_parser;

/* Default limits (design §2). */
hp_limits hp_default_limits(void);

/* Prepare `p` for the first message of a connection. */
void hp_init(hp_parser *p, const hp_limits *limits);

/* Parse; see the calling convention above. Returns an hp_status. */
int hp_execute(hp_parser *p, const uint8_t *data, size_t len);

/* A short, stable, human-readable reason for an error status ("bare LF in request"). */
const char *hp_error_reason(int status);

/* ASCII case-insensitive compare of a span of `base` with a NUL-terminated lowercase literal. */
int hp_span_ieq(const uint8_t *base, hp_span s, const char *lower);

#endif
