/* A program that recovers from its own faults, as some real programs do:
 * handlers that siglongjmp back, for SIGSEGV (sigaction, SA_SIGINFO), SIGFPE
 * (signal) and SIGABRT (sysv_signal: reset once delivered), and a SIGSEGV
 * handler that unprotects a page and returns (a write barrier, as garbage
 * collectors have), after which the faulting store runs again. Its output
 * must be the same natively and as a bead.
 *
 *   sigrecover [linger]   with "linger", naps 300 ms after installing its
 *                         handler (while other beads fault) and reports
 *                         whether any foreign fault reached it.
 */
#define _GNU_SOURCE /* sysv_signal */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile sig_atomic_t caught, calls;
static void *volatile fault_addr;
static volatile int zero = 0;
static char *guarded; /* a page the handler unprotects */

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    calls++;
    if (guarded && (char *)si->si_addr >= guarded && (char *)si->si_addr < guarded + 4096) {
        volatile double scratch = 2.0; /* the interrupted FPU state must survive */
        scratch = scratch * 7.0;
        mprotect(guarded, 4096, PROT_READ | PROT_WRITE);
        return;
    }
    caught = sig;
    fault_addr = si->si_addr;
    siglongjmp(env, 1);
}

static void on_fpe(int sig)
{
    calls++;
    caught = sig;
    siglongjmp(env, 2);
}

static void on_abrt(int sig)
{
    calls++;
    caught = sig;
    siglongjmp(env, 3);
}

__attribute__((noinline)) static void poke(volatile int *where) { *where = 7; }

int main(int argc, char **argv)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old) != 0)
        return 1;
    printf("previous SIGSEGV action: %s\n", old.sa_handler == SIG_DFL ? "default" : "other");
    if (argc > 1 && strcmp(argv[1], "linger") == 0) {
        usleep(300000);
        printf("handler calls while lingering: %d\n", (int)calls);
    }
    for (int round = 0; round < 3; round++) {
        if (sigsetjmp(env, 1) == 0) {
            poke((volatile int *)(uintptr_t)(16 * round));
            printf("round %d: not reached\n", round);
        } else {
            printf("round %d: recovered from signal %d at %p\n", round, (int)caught, fault_addr);
        }
    }
    guarded = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guarded == MAP_FAILED)
        return 1;
    volatile double d = 1.5;
    double x = d * 3.0;
    guarded[100] = 42;
    printf("write barrier: handler returned, value=%d, x=%.2f\n", guarded[100], x + 1.0);

    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("SIGSEGV blocked after siglongjmp: %s\n", sigismember(&now, SIGSEGV) ? "yes" : "no");
    sigaction(SIGSEGV, NULL, &old);
    printf("current SIGSEGV handler is ours: %s\n",
           old.sa_sigaction == on_segv && (old.sa_flags & SA_SIGINFO) ? "yes" : "no");

    void (*previous)(int) = signal(SIGFPE, on_fpe);
    printf("previous SIGFPE handler: %s\n", previous == SIG_DFL ? "default" : "other");
    if (sigsetjmp(env, 1) == 0)
        printf("quotient %d\n", 7 / zero);
    else
        printf("recovered from signal %d (division by zero)\n", (int)caught);
    previous = signal(SIGFPE, SIG_DFL);
    printf("signal() handed back our SIGFPE handler: %s\n", previous == on_fpe ? "yes" : "no");
    sysv_signal(SIGABRT, on_abrt);
    if (sigsetjmp(env, 1) == 0)
        abort();
    else
        printf("recovered from signal %d (abort)\n", (int)caught);
    previous = signal(SIGABRT, SIG_DFL);
    printf("the SIGABRT handler was reset on delivery: %s\n", previous == SIG_DFL ? "yes" : "no");
    printf("handler calls: %d\n", (int)calls);
    return 0;
}
