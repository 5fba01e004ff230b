/* The baseline for bench/executor.sh: plain libcurl with the executor's options (protocols
 * http,https, no redirects, TLS verify, timeout, pinned resolve, no proxy, capped body), one fresh
 * easy handle per request as the executor does, `inflight` transfers at once on one multi handle.
 * usage: curl_loop URL RESOLVE TOTAL INFLIGHT   prints "calls_per_second N" */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t capped_write(char *data, size_t size, size_t nmemb, void *userdata) {
    (void)data;
    size_t *seen = userdata;
    *seen += size * nmemb;
    return size * nmemb;
}

static size_t body_bytes;

static CURL *new_transfer(const char *url, struct curl_slist *resolve, struct curl_slist *headers) {
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, capped_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body_bytes);
    return h;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s URL RESOLVE TOTAL INFLIGHT\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long total = atol(argv[3]), inflight = atol(argv[4]), started = 0, done = 0, failed = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *resolve = curl_slist_append(NULL, argv[2]);
    struct curl_slist *headers = curl_slist_append(NULL, "Authorization: Bearer bench-token");
    headers = curl_slist_append(headers, "Expect:");
    CURLM *multi = curl_multi_init();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (; started < inflight && started < total; started++) curl_multi_add_handle(multi, new_transfer(url, resolve, headers));
    while (done < total) {
        int running = 0, queued = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(multi, &queued)) != NULL) {
            if (msg->msg != CURLMSG_DONE) continue;
            if (msg->data.result != CURLE_OK) failed++;
            CURL *h = msg->easy_handle;
            curl_multi_remove_handle(multi, h);
            curl_easy_cleanup(h);
            done++;
            if (started < total) {
                curl_multi_add_handle(multi, new_transfer(url, resolve, headers));
                started++;
            }
        }
        if (done < total) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("calls_per_second %.0f\nfailed %ld\n", (double)total / seconds, failed);
    curl_multi_cleanup(multi);
    curl_slist_free_all(resolve);
    curl_slist_free_all(headers);
    return failed ? 1 : 0;
}
