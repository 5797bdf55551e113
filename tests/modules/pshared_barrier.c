/* A process-shared barrier (pthread_barrierattr_setpshared with
 * PTHREAD_PROCESS_SHARED) in a MAP_SHARED mapping, waited on by three
 * parties: the parent's main thread, a thread it starts, and the child it
 * forks. In each round every party writes its slot, waits, checks that
 * every slot holds the round, and waits again; exactly one wait per
 * barrier returns PTHREAD_BARRIER_SERIAL_THREAD. Prints one line per check,
 * prefixed with argv[1]; exits 0 when every check holds. */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 100
#define PARTIES 3

struct shared {
  pthread_barrier_t barrier;
  int slot[PARTIES];
  int serial;
  int mismatches;
};

static struct shared *s;

static void rounds(int me) {
  for (int r = 1; r <= ROUNDS; r++) {
    s->slot[me] = r;
    if (pthread_barrier_wait(&s->barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
      __atomic_fetch_add(&s->serial, 1, __ATOMIC_SEQ_CST);
    for (int p = 0; p < PARTIES; p++)
      if (s->slot[p] != r) __atomic_fetch_add(&s->mismatches, 1, __ATOMIC_SEQ_CST);
    if (pthread_barrier_wait(&s->barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
      __atomic_fetch_add(&s->serial, 1, __ATOMIC_SEQ_CST);
  }
}

static void *second(void *arg) {
  (void)arg;
  rounds(1);
  return NULL;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) {
    printf("%s mmap failed\n", tag);
    return 2;
  }
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  int pshared = -1;
  pthread_barrierattr_getpshared(&attr, &pshared);
  printf("%s barrierattr pshared %d\n", tag, pshared == PTHREAD_PROCESS_SHARED);
  printf("%s init %d\n", tag, pthread_barrier_init(&s->barrier, &attr, PARTIES));
  pthread_barrierattr_destroy(&attr);
  fflush(stdout);

  pid_t pid = fork();
  if (pid < 0) {
    printf("%s fork failed\n", tag);
    return 2;
  }
  if (pid == 0) {
    rounds(2);
    _exit(0);
  }
  pthread_t t;
  pthread_create(&t, NULL, second, NULL);
  rounds(0);
  pthread_join(t, NULL);
  int status = -1;
  waitpid(pid, &status, 0);
  printf("%s child exited %d status %d\n", tag, WIFEXITED(status), WEXITSTATUS(status));
  printf("%s serial %d of %d mismatches %d\n", tag, s->serial, 2 * ROUNDS, s->mismatches);
  printf("%s destroy %d\n", tag, pthread_barrier_destroy(&s->barrier));
  int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && s->serial == 2 * ROUNDS &&
           s->mismatches == 0;
  printf("%s failures %d\n", tag, !ok);
  return ok ? 0 : 1;
}
