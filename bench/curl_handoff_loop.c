/* The floor of the executor's design for bench/executor.sh: the plain loop of bench/curl_loop.c
 * (same options, one fresh easy handle per request, one multi handle), but split across two threads
 * as the executor is: the caller's thread sets up each easy handle and hands it over through a
 * locked queue, waking the curl thread with curl_multi_wakeup only when it sleeps; the curl thread
 * adds, drives and removes the transfers and signals a counting semaphore per completion, which
 * the caller waits on for a free slot (`inflight` at once), as the bench's caller does. No work of
 * the executor's own is done, so what this costs over curl_loop is what any executor pays whose
 * callers run on other threads than the one driving libcurl.
 * usage: curl_handoff_loop URL RESOLVE TOTAL INFLIGHT   prints "calls_per_second N" */
#include <curl/curl.h>
#include <pthread.h>
#include <semaphore.h>
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

#define QUEUE_CAP 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static CURL *queue[QUEUE_CAP];
static int queued_count;
static int sleeping;
static CURLM *multi;
static sem_t slots;
static long total, done, failed;

static void *curl_thread(void *unused) {
    (void)unused;
    CURL *incoming[QUEUE_CAP];
    while (done < total) {
        pthread_mutex_lock(&lock);
        int n = queued_count;
        for (int i = 0; i < n; i++) incoming[i] = queue[i];
        queued_count = 0;
        sleeping = 0;
        pthread_mutex_unlock(&lock);
        for (int i = 0; i < n; i++) curl_multi_add_handle(multi, incoming[i]);
        int running = 0, left = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) continue;
            if (msg->data.result != CURLE_OK) failed++;
            CURL *h = msg->easy_handle;
            curl_multi_remove_handle(multi, h);
            curl_easy_cleanup(h);
            done++;
            sem_post(&slots);
        }
        if (done >= total) break;
        pthread_mutex_lock(&lock);
        int sleep = queued_count == 0;
        if (sleep) sleeping = 1;
        pthread_mutex_unlock(&lock);
        if (sleep) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s URL RESOLVE TOTAL INFLIGHT\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    total = atol(argv[3]);
    long inflight = atol(argv[4]);
    if (inflight < 1 || inflight > QUEUE_CAP) return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *resolve = curl_slist_append(NULL, argv[2]);
    struct curl_slist *headers = curl_slist_append(NULL, "Authorization: Bearer bench-token");
    headers = curl_slist_append(headers, "Expect:");
    multi = curl_multi_init();
    sem_init(&slots, 0, (unsigned)inflight);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t thread;
    pthread_create(&thread, NULL, curl_thread, NULL);
    for (long started = 0; started < total; started++) {
        sem_wait(&slots);
        CURL *h = new_transfer(url, resolve, headers);
        pthread_mutex_lock(&lock);
        queue[queued_count++] = h;
        if (sleeping) {
            sleeping = 0;
            curl_multi_wakeup(multi);
        }
        pthread_mutex_unlock(&lock);
    }
    pthread_join(thread, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("calls_per_second %.0f\nfailed %ld\n", (double)total / seconds, failed);
    curl_multi_cleanup(multi);
    curl_slist_free_all(resolve);
    curl_slist_free_all(headers);
    return failed ? 1 : 0;
}
