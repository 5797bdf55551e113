/* ckpt_ledger.so: a bead shared by several strings, for checkpoint tests.
 * Its state (a running sum and count) is guarded by a mutex that
 * ledger_hold keeps for a while, so that other strings park in the mutex
 * wait. */
#include <pthread.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long long sum;
static long count;

void ledger_add(long v)
{
    pthread_mutex_lock(&lock);
    sum = sum * 3 + v; /* order-sensitive only within one string's adds */
    sum %= 1000000007LL;
    count++;
    pthread_mutex_unlock(&lock);
}

/* Holds the lock for `us` microseconds (sleeping), then adds `v`. */
void ledger_hold(long us, long v)
{
    pthread_mutex_lock(&lock);
    usleep((useconds_t)us);
    count++;
    sum = (sum + v) % 1000000007LL;
    pthread_mutex_unlock(&lock);
}

long ledger_count(void)
{
    pthread_mutex_lock(&lock);
    long c = count;
    pthread_mutex_unlock(&lock);
    return c;
}
