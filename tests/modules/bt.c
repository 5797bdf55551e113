/* Backtraces through bead code: backtrace() walks the frames (the unwinder
 * must find the bead's .eh_frame), backtrace_symbols() and dladdr() must name
 * the bead's functions. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static int deep3(const char *tag)
{
    void *frames[32];
    int n = backtrace(frames, 32);
    char **names = backtrace_symbols(frames, n);
    if (!names)
        return 1;
    for (int i = 0; i < n; i++)
        printf("bt %s: frame %s\n", tag, names[i]);
    free(names);
    Dl_info info;
    if (dladdr((void *)deep3, &info) && info.dli_sname)
        printf("bt %s: dladdr %s\n", tag, info.dli_sname);
    return 0;
}

__attribute__((noinline)) int deep2(const char *tag) { int r = deep3(tag); __asm__ volatile("" ::: "memory"); return r; }
__attribute__((noinline)) int deep1(const char *tag) { int r = deep2(tag); __asm__ volatile("" ::: "memory"); return r; }

int bt_main(int argc, char **argv)
{
    int r = deep1(argc > 1 ? argv[1] : "?");
    __asm__ volatile("" ::: "memory");
    return r;
}
