/* Asynchronous signals, run natively and as a bead: argv[1] picks the case,
 * argv[2] names the run in its output.
 *
 *   alarm     SIGALRM handler, alarm(1), sleep(5) interrupted: seconds left
 *   nanosleep SIGALRM handler, alarm(1), nanosleep(5 s): EINTR, time left
 *   kill      kill(getpid(), SIGUSR1) and raise(SIGUSR2) run the handlers
 *   jump      a SIGALRM handler that siglongjmps out, three times: the
 *             signal is not left blocked
 *   read      an alarm interrupts read and poll on an empty pipe (EINTR);
 *             with SA_RESTART the read goes on and gets the data
 *   killgroup kill(0, SIGUSR1): the process group, which holds the program
 *   mask      SIGUSR1 blocked, raised, pending; unblocked: delivered
 *   pthread   pthread_kill interrupts a thread's pause(); handler in it
 *   timer     timer_create(SIGEV_SIGNAL) with a value, SA_SIGINFO handler
 *   chld      SIGCHLD blocked, fork, sigsuspend: the handler runs when the
 *             child exits
 *   defaultthread  the same with a thread waiting in pause(): it ends too
 *   default   raise(SIGUSR1) with no handler: the program ends by it
 *   calm      prints and returns
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <sys/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *who = "?";
static volatile sig_atomic_t handled;
static pthread_t handled_in;

static void on_signal(int sig) {
    handled++;
    handled_in = pthread_self();
    char line[96];
    int n = snprintf(line, sizeof line, "%s: handler for %s\n", who,
                     sig == SIGALRM   ? "SIGALRM"
                     : sig == SIGUSR1 ? "SIGUSR1"
                     : sig == SIGCHLD ? "SIGCHLD"
                                      : "SIGUSR2");
    write(1, line, n);
}

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    handled++;
    printf("%s: timer signal %d value %d code_is_timer %d\n", who, sig, si->si_value.sival_int,
           si->si_code == SI_TIMER);
}

static sigjmp_buf out;

static void on_jump(int sig) {
    (void)sig;
    handled++;
    siglongjmp(out, 1);
}

static int pipe_fds[2];

static void *late_writer(void *arg) {
    (void)arg;
    usleep(300000);
    write(pipe_fds[1], "x", 1);
    return NULL;
}

static void after_100ms(void) {
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void *pauser(void *arg) {
    (void)arg;
    int r = pause();
    int e = errno;
    printf("%s: thread pause returned %d %s, handled in thread %d\n", who, r,
           e == EINTR ? "EINTR" : strerror(e), pthread_equal(handled_in, pthread_self()));
    return NULL;
}

int main(int argc, char **argv) {
    const char *c = argc > 1 ? argv[1] : "calm";
    who = argc > 2 ? argv[2] : c;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(c, "alarm")) {
        signal(SIGALRM, on_signal);
        alarm(1);
        unsigned left = sleep(5);
        /* 4 s left, give or take the rounding of a second. */
        printf("%s: sleep(5) left 3 or 4 s: %d, handled %d\n", who, left == 3 || left == 4,
               (int)handled);
    } else if (!strcmp(c, "nanosleep")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGALRM, &sa, NULL);
        alarm(1);
        struct timespec req = {5, 0}, rem = {0, 0};
        int r = nanosleep(&req, &rem);
        /* About 4 s left: rounded to the nearest second, as the alarm may
         * come a little early or late. */
        printf("%s: nanosleep %d %s, remaining about %ld s, handled %d\n", who, r,
               errno == EINTR ? "EINTR" : "?", (long)rem.tv_sec + (rem.tv_nsec >= 500000000),
               (int)handled);
    } else if (!strcmp(c, "kill")) {
        signal(SIGUSR1, on_signal);
        signal(SIGUSR2, on_signal);
        kill(getpid(), SIGUSR1);
        printf("%s: after kill, handled %d\n", who, (int)handled);
        raise(SIGUSR2);
        printf("%s: after raise, handled %d\n", who, (int)handled);
    } else if (!strcmp(c, "jump")) {
        signal(SIGALRM, on_jump);
        for (volatile int round = 1; round <= 3; round++) {
            if (sigsetjmp(out, 1) == 0) {
                struct itimerval it = {{0, 0}, {0, 50000}};
                setitimer(ITIMER_REAL, &it, NULL);
                pause();
                printf("%s: round %d: pause returned\n", who, round);
            } else {
                printf("%s: round %d: jumped out of the handler, handled %d\n", who, round,
                       (int)handled);
            }
        }
    } else if (!strcmp(c, "read")) {
        pipe(pipe_fds);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGALRM, &sa, NULL);
        after_100ms();
        char b;
        ssize_t r = read(pipe_fds[0], &b, 1);
        printf("%s: read without SA_RESTART %zd %s\n", who, r, errno == EINTR ? "EINTR" : "?");
        after_100ms();
        struct pollfd pf = {pipe_fds[0], POLLIN, 0};
        int pr = poll(&pf, 1, 5000);
        printf("%s: poll %d %s\n", who, pr, errno == EINTR ? "EINTR" : "?");
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        after_100ms();
        pthread_t t;
        pthread_create(&t, NULL, late_writer, NULL);
        r = read(pipe_fds[0], &b, 1);
        pthread_join(t, NULL);
        printf("%s: read with SA_RESTART %zd, handled %d\n", who, r, (int)handled);
    } else if (!strcmp(c, "killgroup")) {
        signal(SIGUSR1, on_signal);
        kill(0, SIGUSR1);
        printf("%s: after kill(0), handled %d\n", who, (int)handled);
    } else if (!strcmp(c, "mask")) {
        signal(SIGUSR1, on_signal);
        sigset_t set, pending;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        raise(SIGUSR1);
        sigpending(&pending);
        printf("%s: blocked, handled %d, pending %d\n", who, (int)handled,
               sigismember(&pending, SIGUSR1));
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        printf("%s: unblocked, handled %d\n", who, (int)handled);
    } else if (!strcmp(c, "pthread")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGUSR1, &sa, NULL);
        pthread_t t;
        pthread_create(&t, NULL, pauser, NULL);
        usleep(200000);
        int r = pthread_kill(t, SIGUSR1);
        pthread_join(t, NULL);
        printf("%s: pthread_kill %d, handled %d\n", who, r, (int)handled);
    } else if (!strcmp(c, "timer")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_info;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR2, &sa, NULL);
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGUSR2;
        ev.sigev_value.sival_int = 42;
        timer_t t;
        timer_create(CLOCK_MONOTONIC, &ev, &t);
        struct itimerspec its = {{0, 0}, {0, 200000000}};
        timer_settime(t, 0, &its, NULL);
        int r = pause();
        printf("%s: pause %d %s, handled %d\n", who, r, errno == EINTR ? "EINTR" : "?",
               (int)handled);
        timer_delete(t);
    } else if (!strcmp(c, "chld")) {
        signal(SIGCHLD, on_signal);
        sigset_t set, none;
        sigemptyset(&set);
        sigemptyset(&none);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(7);
        int r = sigsuspend(&none);
        int e = errno;
        int st = 0;
        waitpid(pid, &st, 0);
        printf("%s: sigsuspend %d %s, handled %d, child status %d\n", who, r,
               e == EINTR ? "EINTR" : "?", (int)handled, WEXITSTATUS(st));
    } else if (!strcmp(c, "defaultthread")) {
        pthread_t t;
        pthread_create(&t, NULL, pauser, NULL);
        usleep(100000);
        printf("%s: raising SIGUSR1 with no handler, a thread in pause\n", who);
        raise(SIGUSR1);
        pthread_join(t, NULL);
        printf("%s: still here\n", who);
    } else if (!strcmp(c, "default")) {
        printf("%s: raising SIGUSR1 with no handler\n", who);
        raise(SIGUSR1);
        printf("%s: still here\n", who);
    } else {
        printf("%s: calm\n", who);
    }
    return 0;
}
