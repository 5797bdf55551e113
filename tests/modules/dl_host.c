/* A host program that dlopens a plugin which calls back into it (host_fn),
 * and that exercises dlsym(RTLD_DEFAULT), dlsym(RTLD_NEXT) (its own puts
 * wraps the next one), dlopen(NULL) and dlerror. Built as a PIE (-rdynamic)
 * and as a -fPIC shared object; run natively and as beads.
 *
 *   dl_host NAME STEPS PLUGIN [BAD-LIBRARY]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *me;

void host_fn(const char *who, int n) { printf("%s: host_fn from the plugin: %d\n", who, n); }

/* Wraps the C library's puts: RTLD_NEXT finds the next definition. */
int puts(const char *s) {
    static int (*next)(const char *);
    if (!next)
        next = (int (*)(const char *))dlsym(RTLD_NEXT, "puts");
    printf("%s: [wrapped] ", me);
    return next(s);
}

static void report(const char *what, const char *err) {
    /* Strip a directory from the message: natives and beads are compared. */
    const char *colon = err ? strstr(err, ": ") : NULL;
    const char *slash = err ? strrchr(err, '/') : NULL;
    if (slash && colon && slash < colon)
        err = slash + 1;
    printf("%s: %s: %s\n", me, what, err ? err : "(no error)");
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: dl_host NAME STEPS PLUGIN [BAD-LIBRARY]\n");
        return 2;
    }
    me = argv[1];
    int steps = atoi(argv[2]);
    void *h = dlopen(argv[3], RTLD_NOW);
    if (!h) {
        report("dlopen", dlerror());
        return 1;
    }
    void *again = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
    printf("%s: same handle: %d\n", me, again == h);
    int (*step)(const char *) = (int (*)(const char *))dlsym(h, "plugin_step");
    if (!step) {
        report("dlsym", dlerror());
        return 1;
    }
    for (int i = 0; i < steps; i++)
        printf("%s: dep count %d\n", me, step(me));

    if (!dlsym(h, "no_such_export"))
        report("dlsym of a missing symbol", dlerror());
    report("dlerror after a clear", dlerror());
    void *self = dlopen(NULL, RTLD_NOW);
    printf("%s: dlopen(NULL) finds host_fn: %d\n", me, dlsym(self, "host_fn") == (void *)host_fn);
    printf("%s: RTLD_DEFAULT finds host_fn: %d\n", me,
           dlsym(RTLD_DEFAULT, "host_fn") == (void *)host_fn);
    printf("%s: RTLD_DEFAULT finds strlen: %d\n", me, dlsym(RTLD_DEFAULT, "strlen") != NULL);
    printf("%s: RTLD_DEFAULT misses: %d\n", me, dlsym(RTLD_DEFAULT, "dl_nowhere_at_all") == NULL);
    puts("through the next puts");

    /* RTLD_LOCAL hides a library from RTLD_DEFAULT; RTLD_GLOBAL shows it. */
    printf("%s: RTLD_LOCAL plugin hidden: %d\n", me, dlsym(RTLD_DEFAULT, "plugin_step") == NULL);
    char dep[4096];
    snprintf(dep, sizeof dep, "%s", argv[3]);
    char *base = strrchr(dep, '/');
    snprintf(base ? base + 1 : dep, sizeof dep - (size_t)(base ? base + 1 - dep : 0), "libdldep.so");
    void *global = dlopen(dep, RTLD_NOW | RTLD_GLOBAL);
    printf("%s: RTLD_GLOBAL library visible: %d\n", me,
           global && dlsym(RTLD_DEFAULT, "dep_count") != NULL);

    void *libm = dlopen("libm.so.6", RTLD_NOW);
    double (*cos_fn)(double) = libm ? (double (*)(double))dlsym(libm, "cos") : NULL;
    printf("%s: libm cos(0) = %.1f\n", me, cos_fn ? cos_fn(0.0) : -1.0);

    if (!dlopen("/nonexistent/dir/libdl_missing.so", RTLD_NOW))
        report("missing file", dlerror());
    if (!dlopen("libdl_missing_nowhere.so", RTLD_NOW))
        report("missing name", dlerror());
    if (argc > 4 && !dlopen(argv[4], RTLD_NOW))
        report("missing symbol", dlerror());

    printf("%s: dlclose: %d %d\n", me, dlclose(again), dlclose(h));
    return 0;
}
