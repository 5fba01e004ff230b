/* Linux system calls whose flags or structs Swift imports awkwardly. */
#ifndef NEO_SYS_SHIM_H
#define NEO_SYS_SHIM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>

/* epoll_event is packed on x86_64; these keep Swift away from its layout. */
int cshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/* Wait; fills fds/events arrays of `max` entries. Returns epoll_wait's result. */
int cshim_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);
/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC (Swift's Glibc module lacks accept4). */
int cshim_accept(int listen_fd);
/* memmem(3), a GNU extension Swift's Glibc module does not show: 1 when `needle` occurs in `hay`. */
int cshim_contains_bytes(const void *hay, size_t hay_len, const void *needle, size_t needle_len);
#endif
