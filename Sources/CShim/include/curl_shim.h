/* libcurl helpers: curl_easy_setopt/getinfo are variadic, which Swift cannot call, and CURLMsg
 * hides its result in a union. libcurl is not linked: the shim loads libcurl.so.4 (or the file NEO_LIBCURL names)
 * with dlopen on first use, runs curl_global_init once, and forwards the curl_* functions declared by curl.h that the
 * server calls (the list is in curl_shim.c). Before a successful load they fail (NULL, CURLM_BAD_HANDLE, ...). */
#ifndef NEO_CURL_SHIM_H
#define NEO_CURL_SHIM_H
#include <curl/curl.h>
/* Loads libcurl once (a second caller waits for the first); NULL when it is there, else why not (the library, the
 * file tried and dlerror()). */
const char *cshim_curl_load(void);
int cshim_curl_setopt_long(CURL *h, CURLoption opt, long value);
int cshim_curl_setopt_str(CURL *h, CURLoption opt, const char *value);
int cshim_curl_setopt_ptr(CURL *h, CURLoption opt, void *value);
int cshim_curl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value);
int cshim_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t value);
long cshim_curl_getinfo_long(CURL *h, CURLINFO info);

/* Body and header callbacks share curl's write-callback signature. */
typedef size_t (*cshim_curl_data_cb)(char *data, size_t size, size_t nmemb, void *userdata);
int cshim_curl_set_write_callback(CURL *h, cshim_curl_data_cb cb, void *userdata);
int cshim_curl_set_header_callback(CURL *h, cshim_curl_data_cb cb, void *userdata);

/* The next finished transfer of `m`: returns 1 and fills `easy` and `result` (a CURLcode), or 0
 * when no finished transfer is left. */
int cshim_curl_multi_next_done(CURLM *m, CURL **easy, int *result);

/* curl_multi_setopt with a long value (variadic too). */
int cshim_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long value);
#endif
