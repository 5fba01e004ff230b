#include "curl_shim.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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

/* The curl thread's event loop: curl_multi_socket_action driven by epoll. libcurl says which sockets it
 * waits on (CURLMOPT_SOCKETFUNCTION) and when it next needs the clock (CURLMOPT_TIMERFUNCTION), so a round
 * acts only on the sockets that are ready and one epoll_wait replaces curl_multi_poll's poll(2) over every
 * socket. An eventfd wakes the loop from other threads.
 *
 * A connection going idle between two calls gets CURL_POLL_REMOVE and, when the next call reuses it,
 * CURL_POLL_IN again: done as EPOLL_CTL_DEL then _ADD that is two syscalls per call. So an idle socket is
 * only marked parked and stays registered; the next call that wants the same events costs nothing. The loop
 * learns of every close through CURLOPT_CLOSESOCKETFUNCTION (set on each easy handle, kept per connection),
 * so a parked registration never outlives its socket (close(2) drops it from epoll), and a parked socket
 * that becomes ready (the peer closed it) is deregistered then, not handed to curl. */
enum { CSHIM_WATCH_IN = 1, CSHIM_WATCH_OUT = 2, CSHIM_REGISTERED = 4, CSHIM_PARKED = 8 };
enum { CSHIM_MAX_FD = 1 << 20 };

struct cshim_curl_loop {
    CURLM *multi;
    int epfd;
    int evfd;
    long long deadline_us; /* when curl wants CURL_SOCKET_TIMEOUT; -1 for never */
    int ready;
    unsigned char *state;  /* per fd: CSHIM_* bits */
    size_t state_len;
    struct epoll_event events[64];
};

static long long cshim_now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static unsigned char *cshim_fd_state(struct cshim_curl_loop *l, curl_socket_t s) {
    if (s < 0 || s >= CSHIM_MAX_FD) return NULL;
    if ((size_t)s >= l->state_len) {
        size_t len = l->state_len ? l->state_len : 256;
        while (len <= (size_t)s) len *= 2;
        unsigned char *grown = realloc(l->state, len);
        if (!grown) return NULL;
        memset(grown + l->state_len, 0, len - l->state_len);
        l->state = grown;
        l->state_len = len;
    }
    return &l->state[s];
}

static int cshim_curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)easy;
    (void)socketp;
    struct cshim_curl_loop *l = userp;
    unsigned char *st = cshim_fd_state(l, s);
    if (!st) return -1;
    if (what == CURL_POLL_REMOVE) {
        if (!(*st & CSHIM_REGISTERED)) return 0;
        if (*st & CSHIM_WATCH_OUT) {  /* a writable socket would be ready at once: drop it */
            epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL);
            *st = 0;
        } else {
            *st |= CSHIM_PARKED;
        }
        return 0;
    }
    unsigned char want = (unsigned char)(((what & CURL_POLL_IN) ? CSHIM_WATCH_IN : 0) | ((what & CURL_POLL_OUT) ? CSHIM_WATCH_OUT : 0));
    if ((*st & CSHIM_REGISTERED) && (*st & (CSHIM_WATCH_IN | CSHIM_WATCH_OUT)) == want) {
        *st = (unsigned char)(CSHIM_REGISTERED | want);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((want & CSHIM_WATCH_IN) ? EPOLLIN : 0u) | ((want & CSHIM_WATCH_OUT) ? EPOLLOUT : 0u);
    ev.data.fd = s;
    int op = (*st & CSHIM_REGISTERED) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, s, &ev) != 0) {
        op = (errno == ENOENT) ? EPOLL_CTL_ADD : (errno == EEXIST) ? EPOLL_CTL_MOD : -1;
        if (op < 0 || epoll_ctl(l->epfd, op, s, &ev) != 0) {
            *st = 0;
            return -1;
        }
    }
    *st = (unsigned char)(CSHIM_REGISTERED | want);
    return 0;
}

static int cshim_curl_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    struct cshim_curl_loop *l = userp;
    l->deadline_us = timeout_ms < 0 ? -1 : cshim_now_us() + (long long)timeout_ms * 1000LL;
    return 0;
}

/* close(2) removes the socket from epoll; the loop forgets it first, so its fd number can be reused. */
static int cshim_curl_close_cb(void *clientp, curl_socket_t s) {
    struct cshim_curl_loop *l = clientp;
    if (s >= 0 && (size_t)s < l->state_len) l->state[s] = 0;
    return close(s);
}

cshim_curl_loop *cshim_curl_loop_new(CURLM *multi) {
    struct cshim_curl_loop *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->multi = multi;
    l->deadline_us = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = l->evfd;
    if (l->epfd < 0 || l->evfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) != 0
        || curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, cshim_curl_socket_cb) != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, l) != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, cshim_curl_timer_cb) != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_TIMERDATA, l) != CURLM_OK) {
        if (l->epfd >= 0) close(l->epfd);
        if (l->evfd >= 0) close(l->evfd);
        free(l);
        return NULL;
    }
    return l;
}

int cshim_curl_loop_attach(cshim_curl_loop *l, CURL *easy) {
    if (curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, cshim_curl_close_cb) != CURLE_OK) return -1;
    return (int)curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, l);
}

void cshim_curl_loop_free(cshim_curl_loop *l) {
    if (!l) return;
    close(l->epfd);
    close(l->evfd);
    free(l->state);
    free(l);
}

int cshim_curl_loop_wakeup(cshim_curl_loop *l) {
    uint64_t one = 1;
    return write(l->evfd, &one, sizeof one) == (ssize_t)sizeof one ? 0 : -1;
}

int cshim_curl_loop_wait(cshim_curl_loop *l, int max_ms) {
    int timeout = max_ms < 0 ? 0 : max_ms;
    if (l->deadline_us >= 0 && timeout > 0) {
        long long left = l->deadline_us - cshim_now_us();
        int due = left <= 0 ? 0 : (int)((left + 999) / 1000);
        if (due < timeout) timeout = due;
    }
    int n = epoll_wait(l->epfd, l->events, (int)(sizeof l->events / sizeof l->events[0]), timeout);
    l->ready = n < 0 ? 0 : n;
    return l->ready;
}

void cshim_curl_loop_dispatch(cshim_curl_loop *l) {
    int running = 0;
    for (int i = 0; i < l->ready; i++) {
        struct epoll_event ev = l->events[i];
        int fd = ev.data.fd;
        if (fd == l->evfd) {
            uint64_t count;
            while (read(l->evfd, &count, sizeof count) > 0) {}
            continue;
        }
        if (fd >= 0 && (size_t)fd < l->state_len && (l->state[fd] & CSHIM_PARKED)) {
            /* Idle, and the peer closed it or sent something: curl finds that out when it reuses it. */
            epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
            l->state[fd] = 0;
            continue;
        }
        int mask = ((ev.events & (EPOLLIN | EPOLLHUP)) ? CURL_CSELECT_IN : 0)
            | ((ev.events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) | ((ev.events & EPOLLERR) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(l->multi, fd, mask, &running);
    }
    l->ready = 0;
    if (l->deadline_us >= 0 && l->deadline_us <= cshim_now_us()) {
        l->deadline_us = -1;  /* a new one may be set from inside the call */
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}
