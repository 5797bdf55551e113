/* pie_prog: an ordinary program, built as a default PIE executable.
 *
 * Entry: main. argv[1] = tag, argv[2] = exit status (default 0).
 * Prints:   pie <tag>: argc=<argc> global=<101> heap=<tag>-<tag> table=<sum>
 * and returns argv[2] (so tests can check status propagation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int global = 100;
static int table[8] = {1, 2, 3, 4, 5, 6, 7, 8};
char *last_heap;

int main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    int status = argc > 2 ? atoi(argv[2]) : 0;
    size_t len = 2 * strlen(tag) + 2;
    int sum = 0;

    global++;
    for (int i = 0; i < 8; i++)
        sum += table[i]++;
    last_heap = malloc(len);
    if (last_heap == NULL)
        return 100;
    snprintf(last_heap, len, "%s-%s", tag, tag);
    printf("pie %s: argc=%d global=%d heap=%s table=%d\n", tag, argc, global, last_heap, sum);
    free(last_heap);
    return status;
}
