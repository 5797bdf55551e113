/* dlclose unloads a library once its last handle goes and nothing binds to
 * it: its destructor and exit handlers run, and dlopen afterwards gives it
 * fresh globals. A library another one bound to stays until that one goes;
 * RTLD_NODELETE keeps it. Built as a PIE and as a -fPIC shared object; run
 * natively and as beads.
 *
 *   dl_reload NAME DIR     (DIR holds libdlcounted.so and libdluser.so)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static const char *me;
static char counted[4096], user[4096];

static void *open_counted(int flags) {
    void *h = dlopen(counted, flags);
    if (!h) {
        printf("%s: dlopen: %s\n", me, dlerror());
        exit(1);
    }
    void (*name)(const char *) = (void (*)(const char *))dlsym(h, "counted_name");
    if (name)
        name(me);
    return h;
}

static int bump(void *h) {
    int (*f)(void) = (int (*)(void))dlsym(h, "counted_bump");
    return f ? f() : -1;
}

static int loaded(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h)
        dlclose(h);
    return h != NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: dl_reload NAME DIR\n");
        return 2;
    }
    me = argv[1];
    snprintf(counted, sizeof counted, "%s/libdlcounted.so", argv[2]);
    snprintf(user, sizeof user, "%s/libdluser.so", argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    void *h = open_counted(RTLD_NOW);
    for (int i = 0; i < 3; i++)
        printf("%s: count %d\n", me, bump(h));
    void *again = dlopen(counted, RTLD_NOW);
    printf("%s: same handle %d, closing it: %d\n", me, again == h, dlclose(again));
    printf("%s: one handle left: count %d\n", me, bump(h));
    printf("%s: last close: %d\n", me, dlclose(h));
    printf("%s: loaded after the last close: %d\n", me, loaded(counted));

    h = open_counted(RTLD_NOW);
    printf("%s: reopened: count %d\n", me, bump(h));
    printf("%s: close: %d\n", me, dlclose(h));

    /* A library bound to by another stays until that one goes. */
    void *g = open_counted(RTLD_NOW | RTLD_GLOBAL);
    void *u = dlopen(user, RTLD_NOW);
    if (!u) {
        printf("%s: dlopen user: %s\n", me, dlerror());
        return 1;
    }
    int (*step)(const char *) = (int (*)(const char *))dlsym(u, "user_step");
    printf("%s: user step %d\n", me, step(me));
    printf("%s: close the bound one: %d\n", me, dlclose(g));
    printf("%s: bound one loaded: %d, user step %d\n", me, loaded(counted), step(me));
    printf("%s: close the user: %d\n", me, dlclose(u));
    printf("%s: bound one loaded after the user went: %d\n", me, loaded(counted));

    /* RTLD_NODELETE: closing leaves it, state and all, until the end. */
    h = open_counted(RTLD_NOW | RTLD_NODELETE);
    printf("%s: nodelete: count %d, close %d\n", me, bump(h), dlclose(h));
    h = open_counted(RTLD_NOW);
    printf("%s: nodelete kept: count %d\n", me, bump(h));
    printf("%s: close again: %d, loaded: %d\n", me, dlclose(h), loaded(counted));
    return 0;
}
