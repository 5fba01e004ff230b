#include "curl_shim.h"

int cshim_curl_setopt_long(CURL *h, CURLoption opt, long value) { return (int)curl_easy_setopt(h, opt, value); }
int cshim_curl_setopt_str(CURL *h, CURLoption opt, const char *value) { return (int)curl_easy_setopt(h, opt, value); }
int cshim_curl_setopt_ptr(CURL *h, CURLoption opt, void *value) { return (int)curl_easy_setopt(h, opt, value); }
int cshim_curl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value) { return (int)curl_easy_setopt(h, opt, value); }
int cshim_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t value) { return (int)curl_easy_setopt(h, opt, value); }
long cshim_curl_getinfo_long(CURL *h, CURLINFO info) {
    long v = 0;
    if (curl_easy_getinfo(h, info, &v) != CURLE_OK) return -1;
    return v;
}

int cshim_curl_set_write_callback(CURL *h, cshim_curl_data_cb cb, void *userdata) {
    if (curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb) != CURLE_OK) return -1;
    return (int)curl_easy_setopt(h, CURLOPT_WRITEDATA, userdata);
}

int cshim_curl_set_header_callback(CURL *h, cshim_curl_data_cb cb, void *userdata) {
    if (curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb) != CURLE_OK) return -1;
    return (int)curl_easy_setopt(h, CURLOPT_HEADERDATA, userdata);
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
    return (int)curl_multi_setopt(m, opt, value);
}
