/* Every way a bead can end its own string: selected by argv[1].
 *
 *   calm        some work and a nap, then one line (the unrelated strings)
 *   abort       abort()
 *   assert      a failed assert (glibc prints, then aborts internally)
 *   trap        __builtin_trap() (ud2: SIGILL)
 *   breakpoint  int3 (SIGTRAP)
 *   divzero     integer division by zero (SIGFPE)
 *   null        a write through a null pointer (SIGSEGV)
 *   late_null   the same, after 100 ms
 *   overflow    unbounded recursion (the stack guard)
 *   double_free free(p) twice
 *   heap_overflow  memset past a 24-byte block, then free it
 *   middle_free free(p + 16)
 *   bogus_free  free() of a pointer to a local variable (the string's stack)
 *   wild_free   free() of a pointer that is no memory at all (glibc faults)
 *   libc_free   free() of memory glibc did not allocate, outside the arena
 *               (glibc says "free(): invalid pointer" and aborts)
 *   raise_segv  raise(SIGSEGV)
 *   jump        a call through a pointer to garbage
 *
 * Each prints "fm CASE: before" first, and "fm CASE: survived" if it
 * survives (it must not).
 */
/* The misuse is the point. */
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wpragmas"
#undef NDEBUG
#include <assert.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int zero = 0;
/* Counted after each misuse, so that the misusing call is no tail call and
 * its caller is on the stack when it fails. */
static volatile int after;
static void (*volatile garbage)(void) = (void (*)(void))(uintptr_t)0x10;

__attribute__((noinline)) static int calm(int n)
{
    long sum = 0;
    for (int round = 0; round < 5; round++) {
        for (int i = 1; i <= n; i++)
            sum += i;
        usleep(20000);
    }
    printf("fm calm: sum=%ld\n", sum);
    return 0;
}

__attribute__((noinline)) void do_abort(void) { abort(); }
__attribute__((noinline)) void do_assert(int argc) { assert(argc == 42); }
__attribute__((noinline)) void do_trap(void) { __builtin_trap(); }
__attribute__((noinline)) void do_breakpoint(void) { __asm__ volatile("int3"); }
__attribute__((noinline)) int do_divzero(int x) { return x / zero; }
__attribute__((noinline)) void do_null(void) { *(volatile int *)(uintptr_t)zero = 1; }

#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) int do_overflow(int depth)
{
    volatile char frame[4096];
    memset((char *)frame, depth, sizeof frame);
    return do_overflow(depth + 1) + frame[depth % 4096];
}

/* Hides a pointer from the optimiser, which would otherwise remove a
 * malloc/free pair whose memory is never used. */
__attribute__((noinline)) static void *opaque(void *p)
{
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

__attribute__((noinline)) void do_double_free(void)
{
    void *spacer = opaque(malloc(48));
    char *p = opaque(malloc(32));
    free(opaque(p));
    free(opaque(p));
    free(spacer);
}

__attribute__((noinline)) void do_heap_overflow(void)
{
    char *a = opaque(malloc(24));
    char *b = opaque(malloc(24));
    memset(opaque(a), 'x', 64);
    free(opaque(a));
    free(b);
}

__attribute__((noinline)) void do_middle_free(void)
{
    char *p = opaque(malloc(100));
    free(opaque(p + 16));
    after++;
}

__attribute__((noinline)) void do_bogus_free(void)
{
    int local = 0;
    free(opaque(&local));
    after++;
}

__attribute__((noinline)) void do_wild_free(void)
{
    free(opaque((void *)(uintptr_t)0x1234));
    after++;
}

__attribute__((noinline)) void do_libc_free(void)
{
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page != MAP_FAILED)
        free(opaque(page + 16));
    after++;
}
__attribute__((noinline)) void do_raise_segv(void)
{
    raise(SIGSEGV);
    after++;
}

__attribute__((noinline)) void do_jump(void)
{
    garbage();
    after++;
}

int fm_main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "calm";
    if (strcmp(how, "calm") == 0)
        return calm(1000);
    printf("fm %s: before\n", how);
    fflush(stdout);
    if (strcmp(how, "abort") == 0)
        do_abort();
    else if (strcmp(how, "assert") == 0)
        do_assert(argc);
    else if (strcmp(how, "trap") == 0)
        do_trap();
    else if (strcmp(how, "breakpoint") == 0)
        do_breakpoint();
    else if (strcmp(how, "divzero") == 0)
        printf("%d\n", do_divzero(argc));
    else if (strcmp(how, "null") == 0)
        do_null();
    else if (strcmp(how, "late_null") == 0) {
        usleep(100000);
        do_null();
    } else if (strcmp(how, "overflow") == 0)
        return do_overflow(0);
    else if (strcmp(how, "double_free") == 0)
        do_double_free();
    else if (strcmp(how, "heap_overflow") == 0)
        do_heap_overflow();
    else if (strcmp(how, "middle_free") == 0)
        do_middle_free();
    else if (strcmp(how, "bogus_free") == 0)
        do_bogus_free();
    else if (strcmp(how, "wild_free") == 0)
        do_wild_free();
    else if (strcmp(how, "libc_free") == 0)
        do_libc_free();
    else if (strcmp(how, "raise_segv") == 0)
        do_raise_segv();
    else if (strcmp(how, "jump") == 0)
        do_jump();
    printf("fm %s: survived\n", how);
    return 0;
}
