/* app.so: imports counter_next/counter_get from another bead of its weave.
 *
 * Entry: int app_main(int argc, char **argv)
 *   argv[1] = tag printed on every line, argv[2] = N (default 3).
 * Calls counter_next() N times, bumps its private `calls` (atomically: two
 * strings may run in one app bead), exercises the heap, and prints
 *   app <tag>: calls=<calls after this call> counter=<counter_get()> heap=<tag>*<N>
 * Returns 0 unless something it can check itself went wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int counter_next(void); /* provided by a counter bead, not linked here */
int counter_get(void);

static int calls; /* private to each bead, shared by the strings that run in it */

int app_main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    int n = argc > 2 ? atoi(argv[2]) : 3;
    int last = 0;

    for (int i = 0; i < n; i++) {
        int next = counter_next();
        if (next <= last) {
            printf("app %s: counter went backwards (%d after %d)\n", tag, next, last);
            return 1;
        }
        last = next;
    }
    int mine = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);

    char *name = strdup(tag);
    size_t cap = strlen(name) + 32;
    char *text = malloc(cap);
    if (name == NULL || text == NULL) {
        printf("app %s: out of memory\n", tag);
        return 1;
    }
    snprintf(text, cap, "%s*%d", name, n);
    printf("app %s: calls=%d counter=%d heap=%s\n", tag, mine, counter_get(), text);
    free(text);
    free(name);
    return 0;
}
