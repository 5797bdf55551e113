/* exit_mod.so: ends its string with exit() from a nested call.
 *
 * Entry: int exit_main(int argc, char **argv)
 *   argv[1] = exit status. Prints "exit <status>: before exit", calls down a few
 *   frames and calls exit(status). The line after it must never appear. */
#include <stdio.h>
#include <stdlib.h>

static __attribute__((noinline)) void innermost(int status) { exit(status); }

static __attribute__((noinline)) int middle(int status) {
    innermost(status);
    return status + 1;
}

static __attribute__((noinline)) int outer(int status) { return middle(status) * 2; }

int exit_main(int argc, char **argv) {
    int status = argc > 1 ? atoi(argv[1]) : 0;
    printf("exit %d: before exit\n", status);
    outer(status);
    printf("exit %d: AFTER EXIT (exit returned)\n", status);
    return 99;
}
