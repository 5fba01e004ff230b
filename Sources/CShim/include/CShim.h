/* Umbrella header of the C shim: the HTTP parser, SQLite, libpq, libcrypto and libcurl helpers. */
#ifndef NEO_CSHIM_H
#define NEO_CSHIM_H
#include "http_parser.h"
#include "crypto_shim.h"
#include "sqlite_shim.h"
#include "pq_shim.h"
#include "curl_shim.h"
#include "sys_shim.h"
#endif
