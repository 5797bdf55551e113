/* spawner.so: a weave-aware module that starts strings itself.
 *
 * Entry: int spawner_main(int argc, char **argv): starts N (argv[1]) strings
 * of `worker_main` in its own weave, then tries an unknown weave and an
 * unknown entry, and prints what it got.
 * Entry: int worker_main(int argc, char **argv): prints its arguments and
 * its string id. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "weaves.h"

int worker_main(int argc, char **argv)
{
    printf("worker %s: string %d in weave %s, argc %d\n", argc > 1 ? argv[1] : "-", wv_string_id(),
           wv_weave_name(), argc);
    return 0;
}

int spawner_main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "w%d", i);
        char *args[] = {"worker", tag, NULL};
        int id = wv_spawn(wv_weave_name(), "worker_main", args);
        if (id <= wv_string_id())
            bad++;
    }
    int e1 = wv_spawn("no_such_weave", "worker_main", NULL) == -1 && errno == ENOENT;
    int e2 = wv_spawn(wv_weave_name(), "no_such_entry", NULL) == -1 && errno == ENOENT;
    printf("spawner: started %d, bad ids %d, unknown weave refused %s, unknown entry refused %s\n", n,
           bad, e1 ? "yes" : "no", e2 ? "yes" : "no");
    return bad == 0 && e1 && e2 ? 0 : 1;
}
