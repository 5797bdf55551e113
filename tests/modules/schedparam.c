/* Real-time scheduling requests: sched_get_priority_max/min, a thread
 * created with an explicit SCHED_FIFO attribute, pthread_setschedparam and
 * pthread_getschedparam on a running thread, pthread_setschedprio, and bad
 * requests (EINVAL). A SCHED_FIFO request is granted or refused with EPERM
 * depending on the user's privileges, so the output says "granted or
 * refused" and checks that a granted request reads back. Lines are
 * prefixed with argv[1]; exits 0 when every check holds. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

static int policy_seen = -1, priority_seen = -1;

static void *worker(void *arg) {
  (void)arg;
  struct sched_param p;
  pthread_getschedparam(pthread_self(), &policy_seen, &p);
  priority_seen = p.sched_priority;
  return NULL;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  int failures = 0;
  printf("%s fifo priorities %d..%d rr %d..%d other %d..%d\n", tag, sched_get_priority_min(SCHED_FIFO),
         sched_get_priority_max(SCHED_FIFO), sched_get_priority_min(SCHED_RR),
         sched_get_priority_max(SCHED_RR), sched_get_priority_min(SCHED_OTHER),
         sched_get_priority_max(SCHED_OTHER));

  /* The main thread's own policy. */
  int policy;
  struct sched_param p;
  int e = pthread_getschedparam(pthread_self(), &policy, &p);
  printf("%s main policy %d priority %d (%d)\n", tag, policy, p.sched_priority, e);

  /* A thread created with an explicit SCHED_FIFO policy. */
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&a, SCHED_FIFO);
  p.sched_priority = 10;
  pthread_attr_setschedparam(&a, &p);
  pthread_t t;
  e = pthread_create(&t, &a, worker, NULL);
  if (e == 0) {
    pthread_join(t, NULL);
    failures += policy_seen != SCHED_FIFO || priority_seen != 10;
  }
  printf("%s explicit fifo create %s\n", tag, e == 0 || e == EPERM ? "granted or refused" : strerror(e));
  failures += e != 0 && e != EPERM;
  pthread_attr_destroy(&a);

  /* Changing a running thread: the calling one. */
  p.sched_priority = 5;
  e = pthread_setschedparam(pthread_self(), SCHED_RR, &p);
  if (e == 0) {
    pthread_getschedparam(pthread_self(), &policy, &p);
    failures += policy != SCHED_RR || p.sched_priority != 5;
    e = pthread_setschedprio(pthread_self(), 7);
    pthread_getschedparam(pthread_self(), &policy, &p);
    failures += e != 0 || p.sched_priority != 7;
    p.sched_priority = 0;
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &p);
  }
  printf("%s setschedparam rr %s\n", tag, e == 0 || e == EPERM ? "granted or refused" : strerror(e));
  failures += e != 0 && e != EPERM;

  /* Bad requests. */
  p.sched_priority = 1000;
  printf("%s bad priority %s\n", tag, strerror(pthread_setschedparam(pthread_self(), SCHED_FIFO, &p)));
  p.sched_priority = 0;
  printf("%s bad policy %s\n", tag, strerror(pthread_setschedparam(pthread_self(), 77, &p)));
  pthread_getschedparam(pthread_self(), &policy, &p);
  printf("%s after policy %d priority %d\n", tag, policy, p.sched_priority);

  printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
