/* Fault and lock latencies as one thread sees them: the first read of
 * pages another thread wrote (every other page, so no run of pages comes
 * at once), then the first write to each page it now holds (read-only,
 * or watched by the kernel under `lrc`: see docs/dsm.md), then — after
 * eight releases, which under `lrc` send the writes home and put the
 * unwritten watched pages back to read-only — a write to each page again
 * (a fault, a twin and a protection change, the watch-less path), then
 * lock/unlock pairs. Under `weaves dsm -n 2` the thread runs on
 * node 1 and the pages are homed on node 0. Prints medians in µs. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PAGES 512
#define LOCKS 1000
static char *mem;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp);
    return v[n / 2];
}

static void *probe(void *arg) {
    (void)arg;
    static double r[PAGES / 2], w[PAGES / 2], ro[PAGES / 2], l[LOCKS];
    for (int i = 0; i < PAGES / 2; i++) {
        double t = now_us();
        volatile char c = mem[(size_t)2 * i * 4096];
        (void)c;
        r[i] = now_us() - t;
    }
    for (int i = 0; i < PAGES / 2; i++) {
        double t = now_us();
        mem[(size_t)2 * i * 4096] = 2;
        w[i] = now_us() - t;
    }
    for (int i = 0; i < 8; i++) {
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
    }
    for (int i = 0; i < PAGES / 2; i++) {
        double t = now_us();
        mem[(size_t)2 * i * 4096] = 3;
        ro[i] = now_us() - t;
    }
    for (int i = 0; i < LOCKS; i++) {
        double t = now_us();
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
        l[i] = now_us() - t;
    }
    printf("read_fault_us=%.2f write_fault_us=%.2f write_fault_readonly_us=%.2f "
           "lock_round_trip_us=%.2f\n",
           median(r, PAGES / 2), median(w, PAGES / 2), median(ro, PAGES / 2),
           median(l, LOCKS));
    return NULL;
}

int main(void) {
    char *raw = malloc((PAGES + 1) * 4096);
    mem = (char *)(((uintptr_t)raw + 4095) & ~(uintptr_t)4095);
    for (int i = 0; i < PAGES; i++)
        mem[(size_t)i * 4096] = 1;
    pthread_t t;
    pthread_create(&t, NULL, probe, NULL);
    pthread_join(t, NULL);
    return 0;
}
