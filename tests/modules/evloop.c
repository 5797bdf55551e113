/* evloop: an event loop's waits, woken by another thread of the program.
 * For each of epoll_wait, epoll_pwait, select, pselect, poll and ppoll: a
 * thread waits up to 3 s on a pipe that a second thread writes to after
 * 50 ms; then the same wait with nothing to come times out after 100 ms.
 * Prints what each returned and whether it returned "soon" (well before
 * its timeout) or "on time" (not before it): the same natively and in a
 * tapestry, where both threads may share one worker. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void *writer(void *arg)
{
    usleep(50000);
    if (write(*(int *)arg, "x", 1) != 1)
        perror("write");
    return NULL;
}

static int wait_on(const char *how, int fd, int ms)
{
    if (strcmp(how, "epoll_wait") == 0 || strcmp(how, "epoll_pwait") == 0) {
        int ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}, out;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        sigset_t none;
        sigemptyset(&none);
        int r = how[6] == 'w' ? epoll_wait(ep, &out, 1, ms) : epoll_pwait(ep, &out, 1, ms, &none);
        close(ep);
        return r;
    }
    if (strcmp(how, "select") == 0 || strcmp(how, "pselect") == 0) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(fd, &r);
        if (how[0] == 's') {
            struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
            return select(fd + 1, &r, NULL, NULL, &tv);
        }
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        return pselect(fd + 1, &r, NULL, NULL, &ts, NULL);
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (strcmp(how, "poll") == 0)
        return poll(&p, 1, ms);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return ppoll(&p, 1, &ts, NULL);
}

int main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    const char *ways[] = {"epoll_wait", "epoll_pwait", "select", "pselect", "poll", "ppoll"};
    for (unsigned i = 0; i < sizeof ways / sizeof *ways; i++) {
        int p[2];
        if (pipe(p) != 0)
            return 1;
        pthread_t t;
        pthread_create(&t, NULL, writer, &p[1]);
        long t0 = now_ms();
        int r = wait_on(ways[i], p[0], 3000);
        long took = now_ms() - t0;
        pthread_join(t, NULL);
        printf("%s %s: woken with %d %s\n", tag, ways[i], r, took < 2000 ? "soon" : "late");
        t0 = now_ms();
        char c;
        if (read(p[0], &c, 1) != 1)
            return 2;
        r = wait_on(ways[i], p[0], 100);
        took = now_ms() - t0;
        printf("%s %s: timed out with %d %s\n", tag, ways[i], r, took >= 95 ? "on time" : "early");
        close(p[0]);
        close(p[1]);
    }
    return 0;
}
