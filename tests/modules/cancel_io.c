/* pthread_cancel of threads blocked in I/O waits that POSIX names as
 * cancellation points: accept, recv, recvfrom, poll, ppoll, select, pselect
 * and epoll_wait, each on a descriptor nothing ever makes ready. Each
 * thread pushes a cleanup handler; the joiner must get PTHREAD_CANCELED
 * after the handler ran. Prints one line per case, prefixed with argv[1];
 * exits 0 when every case holds. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CASES 8

static const char *names[CASES] = {"accept", "recv", "recvfrom", "poll",
                                   "ppoll", "select", "pselect", "epoll_wait"};
static volatile int ready[CASES];
static int cleaned[CASES];
static int fds[CASES];

static void cleanup(void *arg) { cleaned[(long)arg] = 1; }

static void *blocked(void *arg) {
  long c = (long)arg;
  int fd = fds[c];
  char b;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  fd_set set;
  FD_ZERO(&set);
  FD_SET(fd, &set);
  struct epoll_event ev;
  pthread_cleanup_push(cleanup, arg);
  ready[c] = 1;
  switch (c) {
  case 0: accept(fd, NULL, NULL); break;
  case 1: recv(fd, &b, 1, 0); break;
  case 2: recvfrom(fd, &b, 1, 0, NULL, NULL); break;
  case 3: poll(&p, 1, -1); break;
  case 4: ppoll(&p, 1, NULL, NULL); break;
  case 5: select(fd + 1, &set, NULL, NULL, NULL); break;
  case 6: pselect(fd + 1, &set, NULL, NULL, NULL, NULL); break;
  case 7: epoll_wait(fd, &ev, 1, -1); break;
  }
  pthread_cleanup_pop(0);
  return (void *)c;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  int failures = 0;
  /* A listening socket nobody connects to (abstract name, per run). */
  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "cancel_io_%d_%s", (int)getpid(), tag);
  if (bind(listener, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(listener, 1) != 0) {
    printf("%s cannot listen\n", tag);
    return 2;
  }
  /* Socket pairs and pipes nobody writes to; an epoll set watching one. */
  int pair[2], pair2[2], pipes[5][2];
  int ok = socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0 &&
           socketpair(AF_UNIX, SOCK_DGRAM, 0, pair2) == 0;
  for (int i = 0; i < 5; i++) ok = ok && pipe(pipes[i]) == 0;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = pipes[4][0];
  if (!ok || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, pipes[4][0], &ev) != 0) {
    printf("%s cannot make descriptors\n", tag);
    return 2;
  }
  int those[CASES] = {listener, pair[0], pair2[0], pipes[0][0], pipes[1][0], pipes[2][0], pipes[3][0], ep};
  memcpy(fds, those, sizeof fds);
  for (long c = 0; c < CASES; c++) {
    pthread_t t;
    pthread_create(&t, NULL, blocked, (void *)c);
    while (!ready[c]) usleep(1000);
    usleep(20000); /* let it reach its wait (a request before it is acted on too) */
    pthread_cancel(t);
    void *r;
    int e = pthread_join(t, &r);
    printf("%s %s join %d %s cleanup %d\n", tag, names[c], e,
           r == PTHREAD_CANCELED ? "canceled" : "returned", cleaned[c]);
    failures += e != 0 || r != PTHREAD_CANCELED || !cleaned[c];
  }
  printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
