#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sys_shim.h"

#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

int cshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cshim_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        datas[i] = evs[i].data.u64;
        events[i] = evs[i].events;
    }
    return n;
}

int cshim_accept(int listen_fd) {
    return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int cshim_contains_bytes(const void *hay, size_t hay_len, const void *needle, size_t needle_len) {
    return needle_len > 0 && memmem(hay, hay_len, needle, needle_len) != NULL;
}
