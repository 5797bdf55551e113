/* locales: a program's locale is its own. NAME LOCALE: sets LC_CTYPE (then
 * LC_ALL) to LOCALE, yielding between steps so that programs setting
 * different locales at once interleave, and prints what the C library
 * says: setlocale's names (glibc's composite form included), MB_CUR_MAX,
 * multibyte decoding, localeconv, and a thread locale chosen with
 * uselocale. Built as a PIE and as a shared object (entry locales_main). */
#define _GNU_SOURCE
#include <locale.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static const char *me;

static void show(const char *when) {
    sched_yield();
    const char *all = setlocale(LC_ALL, NULL);
    char copy[512];
    snprintf(copy, sizeof copy, "%s", all ? all : "(null)");
    sched_yield();
    /* "é" in UTF-8: one character in a UTF-8 locale, an error in "C". */
    int len = mblen("\xc3\xa9", 2);
    printf("%s: %s: LC_ALL %s, LC_CTYPE %s, MB_CUR_MAX %zu, mblen %d, point '%s'\n", me, when,
           copy, setlocale(LC_CTYPE, NULL), MB_CUR_MAX, len, localeconv()->decimal_point);
}

static int run(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: locales NAME LOCALE\n");
        return 2;
    }
    me = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    show("at start");
    const char *set = setlocale(LC_CTYPE, argv[2]);
    printf("%s: setlocale(LC_CTYPE, %s) -> %s\n", me, argv[2], set ? set : "(null)");
    show("after LC_CTYPE");
    printf("%s: unknown locale -> %s\n", me,
           setlocale(LC_ALL, "xx_NOWHERE.UTF-8") ? "set" : "(null)");
    show("after a refused change");

    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old = uselocale(c);
    printf("%s: uselocale: was global %d, MB_CUR_MAX %zu\n", me, old == LC_GLOBAL_LOCALE,
           MB_CUR_MAX);
    sched_yield();
    printf("%s: uselocale kept: %d, MB_CUR_MAX %zu\n", me, uselocale((locale_t)0) == c,
           MB_CUR_MAX);
    uselocale(LC_GLOBAL_LOCALE);
    freelocale(c);
    show("back on the program's locale");

    set = setlocale(LC_ALL, argv[2]);
    printf("%s: setlocale(LC_ALL, %s) -> %s\n", me, argv[2], set ? set : "(null)");
    show("after LC_ALL");
    setlocale(LC_ALL, "C");
    show("after C");
    return 0;
}

int locales_main(int argc, char **argv) { return run(argc, argv); }

int main(int argc, char **argv) { return run(argc, argv); }
