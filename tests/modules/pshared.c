/* Process-shared mutexes, condition variables, read-write locks and
 * semaphores (PTHREAD_PROCESS_SHARED, sem_init with pshared = 1) in a
 * MAP_SHARED mapping, used by a parent and the child it forks: the two take
 * turns through the condition variable (under the mutex) and through two
 * semaphores, so each must be woken by the other process; then the child
 * holds the write lock while the parent waits to read. Prints one line
 * per check, prefixed with argv[1]; exits 0 when every check holds. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 50

struct shared {
  pthread_mutex_t m;
  pthread_cond_t c;
  int turn;    /* 0: the parent's, 1: the child's */
  int handoffs;
  sem_t to_child, to_parent;
  int sem_rounds;
  pthread_rwlock_t rw;
  int written;
};

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) {
    printf("%s mmap failed\n", tag);
    return 2;
  }
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&s->m, &ma);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_cond_init(&s->c, &ca);
  int pshared = -1;
  pthread_mutexattr_getpshared(&ma, &pshared);
  printf("%s mutexattr pshared %d\n", tag, pshared == PTHREAD_PROCESS_SHARED);
  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
  pthread_rwlock_init(&s->rw, &ra);
  sem_init(&s->to_child, 1, 0);
  sem_init(&s->to_parent, 1, 0);
  fflush(stdout);

  pid_t pid = fork();
  if (pid < 0) {
    printf("%s fork failed\n", tag);
    return 2;
  }
  int me = pid == 0; /* 1 in the child */
  for (int i = 0; i < ROUNDS; i++) {
    pthread_mutex_lock(&s->m);
    while (s->turn != me) pthread_cond_wait(&s->c, &s->m);
    s->handoffs++;
    s->turn = !me;
    pthread_cond_broadcast(&s->c);
    pthread_mutex_unlock(&s->m);
  }
  for (int i = 0; i < ROUNDS; i++) {
    if (me) {
      sem_wait(&s->to_child);
      s->sem_rounds++;
      sem_post(&s->to_parent);
    } else {
      sem_post(&s->to_child);
      sem_wait(&s->to_parent);
    }
  }
  /* The child takes the write lock, then lets the parent try to read. */
  if (me) {
    pthread_rwlock_wrlock(&s->rw);
    sem_post(&s->to_parent);
    usleep(20000);
    s->written = 1;
    pthread_rwlock_unlock(&s->rw);
    _exit(0);
  }
  sem_wait(&s->to_parent);
  pthread_rwlock_rdlock(&s->rw);
  int seen = s->written;
  pthread_rwlock_unlock(&s->rw);
  int status = -1;
  waitpid(pid, &status, 0);
  printf("%s child exited %d\n", tag, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  printf("%s condvar handoffs %d\n", tag, s->handoffs);
  printf("%s semaphore rounds %d\n", tag, s->sem_rounds);
  printf("%s read after the write %d\n", tag, seen);
  int failures = s->handoffs != 2 * ROUNDS || s->sem_rounds != ROUNDS || !seen || status != 0;
  printf("%s failures %d\n", tag, failures);
  return failures;
}
