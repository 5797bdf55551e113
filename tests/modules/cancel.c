/* pthread_cancel: deferred cancellation at cancellation points (a sleep, a
 * condition wait, pthread_testcancel, a join), with cancellation disabled
 * for a while, and asynchronous cancellation asked for by the thread; the
 * cleanup handlers run and the joiner gets PTHREAD_CANCELED. Each thread
 * logs into its own buffer; main prints them in a fixed order, each line
 * prefixed with argv[1], and exits 0 when all match. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CASES 5
static char logs[CASES][128];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static volatile int ready[CASES];

static void note(int t, const char *what) {
  strncat(logs[t], what, sizeof logs[t] - strlen(logs[t]) - 1);
  strncat(logs[t], " ", sizeof logs[t] - strlen(logs[t]) - 1);
}

static void cleanup(void *arg) { note((int)(long)arg, "cleanup"); }

static void unlock(void *arg) {
  note((int)(long)arg, "unlock");
  pthread_mutex_unlock(&m);
}

/* 0: cancelled in a long sleep. */
static void *sleeper(void *arg) {
  pthread_cleanup_push(cleanup, arg);
  ready[0] = 1;
  sleep(30);
  note(0, "woke");
  pthread_cleanup_pop(0);
  return NULL;
}

/* 1: cancelled in a condition wait: holds the mutex again in its handler. */
static void *waiter(void *arg) {
  pthread_mutex_lock(&m);
  pthread_cleanup_push(unlock, arg);
  ready[1] = 1;
  for (;;) pthread_cond_wait(&never, &m);
  pthread_cleanup_pop(1);
  return NULL;
}

/* 2: cancellation disabled while it works; acts at pthread_testcancel. */
static void *busy(void *arg) {
  int old;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  pthread_cleanup_push(cleanup, arg);
  ready[2] = 1;
  while (ready[2] != 2) usleep(1000); /* not cancelled here: disabled */
  note(2, "enabling");
  pthread_setcancelstate(old, NULL);
  pthread_testcancel();
  note(2, "not cancelled");
  pthread_cleanup_pop(0);
  return NULL;
}

/* 3: asks for asynchronous cancellation, then waits in a sleep loop. */
static void *async(void *arg) {
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
  pthread_cleanup_push(cleanup, arg);
  ready[3] = 1;
  for (;;) usleep(1000);
  pthread_cleanup_pop(0);
  return NULL;
}

/* 4: never reaches a cancellation point while the request is pending,
 * then returns normally: not cancelled at all (the request is dropped
 * with it). */
static void *quick(void *arg) {
  (void)arg;
  note(4, "returning");
  return (void *)4;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  int failures = 0;
  void *(*fns[CASES - 1])(void *) = {sleeper, waiter, busy, async};
  pthread_t th[CASES];
  for (long t = 0; t < CASES - 1; t++) {
    pthread_create(&th[t], NULL, fns[t], (void *)t);
    while (!ready[t]) usleep(1000);
  }
  for (int t = 0; t < CASES - 1; t++) pthread_cancel(th[t]);
  ready[2] = 2;
  for (int t = 0; t < CASES - 1; t++) {
    void *r;
    int e = pthread_join(th[t], &r);
    printf("%s case %d join %d %s: %s\n", tag, t, e, r == PTHREAD_CANCELED ? "canceled" : "returned",
           logs[t]);
    failures += e != 0 || r != PTHREAD_CANCELED;
  }
  void *r;
  pthread_create(&th[4], NULL, quick, (void *)4);
  pthread_join(th[4], &r);
  printf("%s case 4 returned %ld: %s\n", tag, (long)r, logs[4]);
  failures += r != (void *)4;
  int old = -1;
  printf("%s setcancelstate bad %d\n", tag, pthread_setcancelstate(7, &old) != 0);
  printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
