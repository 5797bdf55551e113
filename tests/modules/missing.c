/* missing.so: imports two functions that no bead and no library defines.
 *
 * Entry: int missing_main(int argc, char **argv). With argv[1] = "call" it
 * calls them: with lazy binding (the default) that call fails with one
 * line and ends the string with status 127, as ld.so would; with
 * `bind = "now"` the bead never loads. Otherwise it never calls them, and
 * runs as it would natively with lazy binding. */
#include <stdio.h>
#include <string.h>

int no_such_fn_a(int);
int no_such_fn_b(int);

int missing_main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "call") == 0) {
        printf("missing: calling\n");
        fflush(stdout);
        return no_such_fn_a(argc) + no_such_fn_b(argc);
    }
    printf("missing: never called them\n");
    return 0;
}
