/* weaves bench parallel: CPU-bound threads with a barrier between phases.
 *
 *   parallel_main(argc, argv): argv = {"parallel", THREADS, UNITS, PHASES}
 *
 * UNITS steps of a linear congruential generator are split evenly over the
 * phases and, in each phase, over the threads; every thread waits at a
 * barrier at the end of each phase. The loop makes no call, so how well
 * the threads share the CPUs is up to the scheduler (and its preemption). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static pthread_barrier_t barrier;
static unsigned long steps_per_phase;
static int phases;
volatile unsigned long parallel_sink[64];

static void *parallel_thread(void *arg)
{
    unsigned long me = (unsigned long)(uintptr_t)arg;
    unsigned long x = me + 1;
    for (int p = 0; p < phases; p++) {
        for (unsigned long i = 0; i < steps_per_phase; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
        pthread_barrier_wait(&barrier);
    }
    /* One cache line per thread: the threads share no line while they run. */
    parallel_sink[(me * 8) % 64] = x;
    return 0;
}

int parallel_main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int threads = atoi(argv[1]);
    unsigned long units = strtoul(argv[2], 0, 10);
    phases = atoi(argv[3]);
    if (threads < 1 || threads > 8 || phases < 1)
        return 2;
    steps_per_phase = units / (unsigned long)phases / (unsigned long)threads;
    pthread_t t[8];
    if (pthread_barrier_init(&barrier, 0, (unsigned)threads) != 0)
        return 3;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], 0, parallel_thread, (void *)(uintptr_t)i) != 0)
            return 4;
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], 0);
    pthread_barrier_destroy(&barrier);
    return 0;
}
