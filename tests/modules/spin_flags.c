/* Threads that wait for each other by spinning on shared flags, with no
 * call in the loops: they rely on preemptive scheduling, as threads may.
 * Four threads take turns in the reverse of the order they were made (each
 * spins until the turn counter names it), and the main thread spins until
 * every thread says it is ready before it starts the turns. Then four
 * threads add to a counter under a pthread spin lock held for a while, so
 * that a thread is often preempted holding it. Prints one line per check,
 * prefixed with argv[1]; exits 0 when every check holds. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define THREADS 4

static atomic_int ready;
static atomic_int turn = -1;
static int order[THREADS];
static atomic_int taken;

static void *take_turn(void *arg) {
  int me = (int)(intptr_t)arg;
  atomic_fetch_add(&ready, 1);
  while (atomic_load_explicit(&turn, memory_order_acquire) != THREADS - 1 - me) {
  }
  order[atomic_fetch_add(&taken, 1)] = me;
  atomic_store_explicit(&turn, THREADS - me, memory_order_release);
  return (void *)(intptr_t)(me * 10);
}

#define ADDS 20000

static pthread_spinlock_t spin;
static long counter;

static void *add_under_spin_lock(void *arg) {
  (void)arg;
  for (int i = 0; i < ADDS; i++) {
    pthread_spin_lock(&spin);
    long c = counter;
    for (volatile int k = 0; k < 2000; k++) {
    }
    counter = c + 1;
    pthread_spin_unlock(&spin);
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  int failures = 0;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    if (pthread_create(&t[i], NULL, take_turn, (void *)(intptr_t)i) != 0) {
      printf("%s pthread_create failed\n", tag);
      return 2;
    }
  }
  while (atomic_load(&ready) != THREADS) {
  }
  atomic_store_explicit(&turn, 0, memory_order_release);
  long results = 0;
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(t[i], &r);
    results += (intptr_t)r;
  }
  printf("%s order %d %d %d %d\n", tag, order[0], order[1], order[2], order[3]);
  failures += order[0] != 3 || order[1] != 2 || order[2] != 1 || order[3] != 0;
  printf("%s results %ld\n", tag, results);
  failures += results != 60;

  pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, add_under_spin_lock, NULL);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  pthread_spin_destroy(&spin);
  printf("%s spin-locked adds %ld\n", tag, counter);
  failures += counter != THREADS * ADDS;
  printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
