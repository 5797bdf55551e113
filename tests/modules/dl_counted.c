/* A library dlopened, dlclosed and dlopened again: a count, a constructor,
 * a destructor and an exit handler, so a run shows when it was unloaded
 * (its finalisers ran) and that a fresh load starts from fresh globals. */
#include <stdio.h>
#include <stdlib.h>

static const char *owner = "?";
static int count;
static int loads;

static void at_exit_handler(void) { printf("%s: counted exit handler after %d calls\n", owner, count); }

__attribute__((constructor)) static void counted_init(void) {
    loads++;
    printf("counted: constructed (loads %d, count %d)\n", loads, count);
}

__attribute__((destructor)) static void counted_fini(void) {
    printf("%s: counted destructor after %d calls\n", owner, count);
}

void counted_name(const char *name) {
    if (owner[0] == '?')
        atexit(at_exit_handler);
    owner = name;
}

int counted_bump(void) { return ++count; }
