/* tsd: thread-specific data as POSIX defines it, and the EDEADLK cases.
 * Three threads each store their own value under two keys and end through
 * pthread_exit or by returning; the destructors run with each thread's own
 * values (one re-arms a value, which gets a second round). A deleted key's
 * slot reused by a new key shows no old value. The main thread joining
 * itself gets EDEADLK, and so does a thread locking a rwlock it holds for
 * writing. argv[1] tags every line. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_key_t name_key, count_key;
static const char *tag = "?";

static void drop_name(void *v)
{
    printf("%s destructor name %s\n", tag, (char *)v);
    free(v);
}

static void drop_count(void *v)
{
    long n = (long)v;
    printf("%s destructor count %ld\n", tag, n);
    if (n > 1)
        pthread_setspecific(count_key, (void *)(n - 1)); /* a second round */
}

static void *worker(void *arg)
{
    long i = (long)arg;
    char *name = malloc(16);
    snprintf(name, 16, "thread%ld", i);
    pthread_setspecific(name_key, name);
    pthread_setspecific(count_key, (void *)(i + 1));
    usleep(1000 * (3 - i)); /* the others run meanwhile */
    printf("%s %s sees %s count %ld\n", tag, name, (char *)pthread_getspecific(name_key),
           (long)pthread_getspecific(count_key));
    if (i == 1)
        pthread_exit(NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    tag = argc > 1 ? argv[1] : "?";
    pthread_key_create(&name_key, drop_name);
    pthread_key_create(&count_key, drop_count);
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("%s main sees %p\n", tag, pthread_getspecific(name_key));

    pthread_key_t old = count_key, fresh;
    pthread_setspecific(old, (void *)7);
    pthread_key_delete(old);
    pthread_key_create(&fresh, NULL);
    printf("%s reused slot %s, value %p\n", tag, fresh == old ? "yes" : "no", pthread_getspecific(fresh));
    printf("%s join self: %s\n", tag, strerror(pthread_join(pthread_self(), NULL)));

    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    pthread_rwlock_wrlock(&rw);
    printf("%s wrlock again: %s\n", tag, strerror(pthread_rwlock_wrlock(&rw)));
    printf("%s rdlock while writing: %s\n", tag, strerror(pthread_rwlock_rdlock(&rw)));
    printf("%s trywrlock while writing: %s\n", tag, strerror(pthread_rwlock_trywrlock(&rw)));
    pthread_rwlock_unlock(&rw);
    printf("%s wrlock after unlock: %s\n", tag, strerror(pthread_rwlock_wrlock(&rw)));
    pthread_rwlock_unlock(&rw);
    return 0;
}
