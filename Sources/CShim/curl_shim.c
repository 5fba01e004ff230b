#include "curl_shim.h"
#include "lazy_library.h"

/* Every libcurl function the server calls (see lazy_library.h for the entry forms). */
#define CURL_FUNCTIONS(F, V, P)                                                                                       \
    F(CURL *, curl_easy_init, (void), (), NULL)                                                                      \
    V(void, curl_easy_cleanup, (CURL *h), (h))                                                                       \
    V(void, curl_easy_reset, (CURL *h), (h))                                                                         \
    F(const char *, curl_easy_strerror, (CURLcode code), (code), "libcurl is not loaded")                            \
    F(CURLM *, curl_multi_init, (void), (), NULL)                                                                    \
    F(CURLMcode, curl_multi_cleanup, (CURLM *m), (m), CURLM_BAD_HANDLE)                                              \
    F(CURLMcode, curl_multi_add_handle, (CURLM *m, CURL *h), (m, h), CURLM_BAD_HANDLE)                               \
    F(CURLMcode, curl_multi_remove_handle, (CURLM *m, CURL *h), (m, h), CURLM_BAD_HANDLE)                            \
    F(CURLMcode, curl_multi_perform, (CURLM *m, int *running), (m, running), CURLM_BAD_HANDLE)                       \
    F(CURLMcode, curl_multi_poll, (CURLM *m, struct curl_waitfd extra[], unsigned int count, int ms, int *ret),      \
      (m, extra, count, ms, ret), CURLM_BAD_HANDLE)                                                                  \
    F(CURLMcode, curl_multi_wakeup, (CURLM *m), (m), CURLM_BAD_HANDLE)                                               \
    F(CURLMsg *, curl_multi_info_read, (CURLM *m, int *queued), (m, queued), NULL)                                   \
    F(struct curl_slist *, curl_slist_append, (struct curl_slist *list, const char *line), (list, line), NULL)       \
    V(void, curl_slist_free_all, (struct curl_slist *list), (list))                                                  \
    P(CURLcode, curl_global_init, (long flags))                                                                      \
    P(CURLcode, curl_easy_setopt, (CURL *h, CURLoption opt, ...))                                                    \
    P(CURLcode, curl_easy_getinfo, (CURL *h, CURLINFO info, ...))                                                    \
    P(CURLMcode, curl_multi_setopt, (CURLM *m, CURLMoption opt, ...))

static struct { CURL_FUNCTIONS(CSHIM_SLOT, CSHIM_SLOT, CSHIM_SLOT) } curl;
static struct cshim_lazy_library libcurl =
    CSHIM_LAZY_LIBRARY("libcurl.so.4", "NEO_LIBCURL", "calling external APIs and model providers");

/* dlopen, every symbol, then curl_global_init: once, before any other libcurl call (they all come through here). */
static void curl_load(void) {
    if (!cshim_lazy_open(&libcurl)) return;
#define RESOLVE(ret, name, ...) CSHIM_RESOLVE(libcurl, curl, name)
    CURL_FUNCTIONS(RESOLVE, RESOLVE, RESOLVE)
#undef RESOLVE
    CURLcode rc = curl.p_curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        cshim_lazy_fail(&libcurl, "curl_global_init failed (CURLcode %d)", (int)rc);
        return;
    }
    libcurl.loaded = 1;
}

static int curl_ready(void) {
    pthread_once(&libcurl.once, curl_load);
    return libcurl.loaded;
}

const char *cshim_curl_load(void) { return curl_ready() ? NULL : libcurl.error; }

#define FORWARD(ret, name, params, args, missing) CSHIM_FORWARD(curl_ready, curl, ret, name, params, args, missing)
#define FORWARD_VOID(ret, name, params, args) CSHIM_FORWARD_VOID(curl_ready, curl, name, params, args)
CURL_FUNCTIONS(FORWARD, FORWARD_VOID, CSHIM_NO_FORWARD)

/* The variadic calls, through their pointers once libcurl is there. */
#define SETOPT(h, opt, value) (curl_ready() ? (int)curl.p_curl_easy_setopt(h, opt, value) : (int)CURLE_FAILED_INIT)

int cshim_curl_setopt_long(CURL *h, CURLoption opt, long value) { return SETOPT(h, opt, value); }
int cshim_curl_setopt_str(CURL *h, CURLoption opt, const char *value) { return SETOPT(h, opt, value); }
int cshim_curl_setopt_ptr(CURL *h, CURLoption opt, void *value) { return SETOPT(h, opt, value); }
int cshim_curl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value) { return SETOPT(h, opt, value); }
int cshim_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t value) { return SETOPT(h, opt, value); }
long cshim_curl_getinfo_long(CURL *h, CURLINFO info) {
    long v = 0;
    if (!curl_ready() || curl.p_curl_easy_getinfo(h, info, &v) != CURLE_OK) return -1;
    return v;
}

int cshim_curl_set_write_callback(CURL *h, cshim_curl_data_cb cb, void *userdata) {
    if (SETOPT(h, CURLOPT_WRITEFUNCTION, cb) != CURLE_OK) return -1;
    return SETOPT(h, CURLOPT_WRITEDATA, userdata);
}

int cshim_curl_set_header_callback(CURL *h, cshim_curl_data_cb cb, void *userdata) {
    if (SETOPT(h, CURLOPT_HEADERFUNCTION, cb) != CURLE_OK) return -1;
    return SETOPT(h, CURLOPT_HEADERDATA, userdata);
}

int cshim_curl_multi_next_done(CURLM *m, CURL **easy, int *result) {
    int queued = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &queued)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        *easy = msg->easy_handle;
        *result = (int)msg->data.result;
        return 1;
    }
    return 0;
}

int cshim_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long value) {
    return curl_ready() ? (int)curl.p_curl_multi_setopt(m, opt, value) : (int)CURLM_BAD_HANDLE;
}
