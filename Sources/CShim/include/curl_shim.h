/* libcurl helpers: curl_easy_setopt is variadic, which Swift cannot call. */
#ifndef NEO_CURL_SHIM_H
#define NEO_CURL_SHIM_H
#include <curl/curl.h>
int cshim_curl_setopt_long(CURL *h, CURLoption opt, long value);
int cshim_curl_setopt_str(CURL *h, CURLoption opt, const char *value);
int cshim_curl_setopt_ptr(CURL *h, CURLoption opt, void *value);
int cshim_curl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value);
int cshim_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t value);
long cshim_curl_getinfo_long(CURL *h, CURLINFO info);
#endif
