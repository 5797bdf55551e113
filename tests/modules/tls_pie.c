/* A PIE whose own thread-local variables are reached at fixed offsets from
 * the thread pointer (local-exec TLS): scalars, arrays indexed at run time,
 * a C11 _Thread_local, and the address of one handed to another thread.
 * Prints the same lines natively and as beads. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

__thread int counter = 5;
__thread char name[32] = "init";
static __thread long table[100];
static _Thread_local double scale = 1.5;

struct job { long id; int *peer; };

static void *work(void *arg) {
    struct job *job = arg;
    for (int i = 0; i < 1000; i++) {
        counter++;
        table[(i * 7) % 100] += job->id;
    }
    scale *= (double)job->id;
    snprintf(name, sizeof name, "t%ld", job->id);
    *job->peer += 1; /* main's counter, through its address */
    long sum = 0;
    for (int i = 0; i < 100; i++) sum += table[i];
    printf("thread %ld: counter=%d name=%s table_sum=%ld scale=%.1f\n", job->id, counter, name,
           sum, scale);
    return (void *)(long)counter;
}

int main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    pthread_t t[3];
    struct job jobs[3];
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    for (long i = 0; i < 3; i++) {
        jobs[i] = (struct job){i + 1, &counter};
        pthread_create(&t[i], 0, work, &jobs[i]);
    }
    pthread_mutex_unlock(&lock);
    long sum = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    counter += 10;
    printf("%s: main counter=%d name=%s sum=%ld scale=%.1f table0=%ld\n", tag, counter, name, sum,
           scale, table[0]);
    printf("%s failures 0\n", tag);
    return counter == 18 ? 0 : 1;
}
