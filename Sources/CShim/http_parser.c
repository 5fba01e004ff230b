/* Placeholder until the parser lands: everything is an error. */
#include "http_parser.h"
#include <string.h>
hp_limits hp_default_limits(void) { hp_limits l = {8192, 16384, 100, 1048576}; return l; }
void hp_init(hp_parser *p, const hp_limits *limits) { memset(p, 0, sizeof *p); p->limits = *limits; }
int hp_execute(hp_parser *p, const uint8_t *data, size_t len) { (void)data; (void)len; p->consumed = 0; return HP_E_BAD_REQUEST_LINE; }
const char *hp_error_reason(int status) { (void)status; return "malformed request"; }
int hp_span_ieq(const uint8_t *base, hp_span s, const char *lower) { (void)base; (void)s; (void)lower; return 0; }
