/* pthread_exit runs the thread's cleanup handlers (newest first), then its
 * thread-specific data destructors; pthread_cleanup_pop(1) runs a handler,
 * pop(0) does not; a key deleted and created again starts empty; a key
 * made by an initialiser (before main) works in main. Each
 * thread logs what ran into its own buffer; main prints the logs in a fixed
 * order, each line prefixed with argv[1], and exits 0 when all match. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 3
static char logs[THREADS][256];
static pthread_key_t k1, k2, made_early;

__attribute__((constructor)) static void make_key_early(void) {
  pthread_key_create(&made_early, NULL);
}

static void note(int t, const char *what) {
  strncat(logs[t], what, sizeof logs[t] - strlen(logs[t]) - 1);
  strncat(logs[t], " ", sizeof logs[t] - strlen(logs[t]) - 1);
}

struct ctx {
  int t;
  const char *name;
};

static void handler(void *arg) {
  struct ctx *c = arg;
  note(c->t, c->name);
}

static void destructor1(void *v) { note((int)(long)v - 1, "tsd1"); }
static void destructor2(void *v) { note((int)(long)v - 1, "tsd2"); }

/* Exits from a frame below the one that pushed the handlers. */
static void deeper(int t) {
  note(t, "exiting");
  pthread_exit((void *)(long)(100 + t));
}

static void *worker(void *arg) {
  int t = (int)(long)arg;
  pthread_setspecific(k1, (void *)(long)(t + 1));
  pthread_setspecific(k2, (void *)(long)(t + 1));
  struct ctx outer = {t, "outer"}, middle = {t, "middle"}, inner = {t, "inner"}, popped = {t, "popped"};
  pthread_cleanup_push(handler, &outer);
  pthread_cleanup_push(handler, &popped);
  note(t, "pushed");
  pthread_cleanup_pop(1); /* runs "popped" */
  pthread_cleanup_push(handler, &middle);
  pthread_cleanup_push(handler, &inner);
  pthread_cleanup_pop(0); /* "inner" does not run */
  usleep(1000 * (THREADS - t)); /* the others register and exit meanwhile */
  if (t != 1) deeper(t);
  pthread_cleanup_pop(0);
  pthread_cleanup_pop(0);
  note(t, "returning");
  return (void *)(long)(200 + t);
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  int failures = 0;
  pthread_key_create(&k1, destructor1);
  pthread_key_create(&k2, destructor2);
  pthread_t th[THREADS];
  for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
  for (int t = 0; t < THREADS; t++) {
    void *r;
    pthread_join(th[t], &r);
    printf("%s thread %d returned %ld: %s\n", tag, t, (long)r, logs[t]);
    failures += (long)r != (t == 1 ? 201 : 100 + t);
  }
  const char *want = "pushed popped exiting middle outer ";
  failures += strncmp(logs[0], want, strlen(want)) != 0;

  /* A key deleted and created again: no old value shows. */
  pthread_setspecific(k1, (void *)7L);
  pthread_key_delete(k1);
  pthread_key_t k3;
  pthread_key_create(&k3, NULL);
  void *v = pthread_getspecific(k3);
  printf("%s recreated key value %p\n", tag, v);
  failures += v != NULL;

  /* A key an initialiser made. */
  int e = pthread_setspecific(made_early, (void *)5L);
  v = pthread_getspecific(made_early);
  printf("%s initialiser's key %d %ld\n", tag, e, (long)v);
  failures += e != 0 || v != (void *)5L;

  printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
