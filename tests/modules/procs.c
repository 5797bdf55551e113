/* procs: an ordinary program that uses process-wide calls, built as a PIE
 * executable so that it runs natively and as a bead alike.
 *
 *   procs TAG STEP...
 *
 * Each STEP prints lines starting with TAG, so that the output of several
 * copies running at once can be compared with native runs line by line.
 * stdout is flushed before every fork, system and popen, as a program must
 * for its output not to depend on how stdout is buffered.
 *
 *   fork_exit    fork; the child prints and _exits 3; the parent waits
 *   fork_atexit  an atexit handler, fork; the child exits 4 (the handler
 *                runs in the child, and at the parent's own exit)
 *   fork_exec    fork; the child execs /bin/echo; the parent waits
 *   fork_wait    two children, reaped with wait() (any child)
 *   vfork_exec   vfork; the child execs /bin/echo; the parent waits
 *   atfork       fork handlers that lock a mutex and allocate; fork
 *   spawn        posix_spawn of /bin/echo, waitpid
 *   system       system("echo ...; exit 5")
 *   popen        popen(..., "r") read line by line; popen("cat", "w")
 *   all          every step above, in that order
 *   slow_system  system("sleep 1"), then a line
 *   slow_fork    a child that sleeps 1 s; waitpid, then a line
 *   tick         five 20 ms sleeps, then a line
 *   execve       execve("/bin/echo") and report what happened
 *   nofile       setrlimit(RLIMIT_NOFILE, 3) and report; open a file after
 *   close_stdout close(1) and report on stderr; print after
 *   fail         return 7
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *tag = "?";
static const char *role = "parent";

static void report(const char *what, int st)
{
    if (WIFEXITED(st))
        printf("%s %s: exited %d\n", tag, what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s %s: killed by signal %d\n", tag, what, WTERMSIG(st));
    else
        printf("%s %s: status %#x\n", tag, what, st);
}

static int wait_for(pid_t pid, const char *what)
{
    int st;
    if (waitpid(pid, &st, 0) != pid) {
        printf("%s %s: waitpid failed: %s\n", tag, what, strerror(errno));
        return 1;
    }
    report(what, st);
    return 0;
}

static int fork_exit(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return printf("%s fork failed: %s\n", tag, strerror(errno)), 1;
    if (pid == 0) {
        printf("%s fork_exit: hello from the child\n", tag);
        fflush(stdout);
        _exit(3);
    }
    return wait_for(pid, "fork_exit");
}

static void goodbye(void)
{
    printf("%s atexit handler ran in the %s\n", tag, role);
}

static int fork_atexit(void)
{
    static int registered;
    if (!registered++)
        atexit(goodbye);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return printf("%s fork failed: %s\n", tag, strerror(errno)), 1;
    if (pid == 0) {
        role = "child";
        printf("%s fork_atexit: the child calls exit(4)\n", tag);
        exit(4);
    }
    return wait_for(pid, "fork_atexit");
}

static int fork_exec(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return printf("%s fork failed: %s\n", tag, strerror(errno)), 1;
    if (pid == 0) {
        execl("/bin/echo", "echo", tag, "fork_exec: echo ran in the child", (char *)NULL);
        _exit(127);
    }
    return wait_for(pid, "fork_exec");
}

static int fork_wait(void)
{
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return printf("%s fork failed: %s\n", tag, strerror(errno)), 1;
        if (pid == 0) {
            usleep(1000 * (10 + 10 * i));
            _exit(20 + i);
        }
    }
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        int st;
        if (wait(&st) < 0)
            return printf("%s fork_wait: wait failed: %s\n", tag, strerror(errno)), 1;
        seen |= 1 << (WEXITSTATUS(st) - 20);
    }
    int st;
    pid_t none = wait(&st);
    printf("%s fork_wait: reaped both=%d, then wait()=%d (%s)\n", tag, seen == 3, (int)none,
           none < 0 ? strerror(errno) : "?");
    return 0;
}

static int vfork_exec(void)
{
    fflush(stdout);
    pid_t pid = vfork();
    if (pid < 0)
        return printf("%s vfork failed: %s\n", tag, strerror(errno)), 1;
    if (pid == 0) {
        execl("/bin/echo", "echo", tag, "vfork_exec: echo ran in the child", (char *)NULL);
        _exit(127);
    }
    return wait_for(pid, "vfork_exec");
}

static pthread_mutex_t forking = PTHREAD_MUTEX_INITIALIZER;
static char *note;

/* The usual shape of fork handlers: hold a lock across the fork, release
 * it on both sides, and fix up state (allocating) in the child. */
static void before_fork(void)
{
    pthread_mutex_lock(&forking);
    free(note);
    note = strdup("prepared");
}

static void in_parent(void)
{
    pthread_mutex_unlock(&forking);
}

static void in_child(void)
{
    pthread_mutex_unlock(&forking);
    char *p = malloc(64);
    snprintf(p, 64, "%s, then child", note);
    free(note);
    note = p;
}

static int atfork(void)
{
    static int registered;
    if (!registered++)
        pthread_atfork(before_fork, in_parent, in_child);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return printf("%s fork failed: %s\n", tag, strerror(errno)), 1;
    if (pid == 0) {
        pthread_mutex_lock(&forking);
        printf("%s atfork: child sees %s\n", tag, note);
        pthread_mutex_unlock(&forking);
        fflush(stdout);
        _exit(0);
    }
    int r = wait_for(pid, "atfork");
    pthread_mutex_lock(&forking);
    printf("%s atfork: parent sees %s\n", tag, note);
    pthread_mutex_unlock(&forking);
    return r;
}

static int spawn(void)
{
    char *argv[] = {"echo", (char *)tag, "spawn: echo started by posix_spawn", NULL};
    pid_t pid;
    fflush(stdout);
    int r = posix_spawn(&pid, "/bin/echo", NULL, NULL, argv, environ);
    if (r != 0)
        return printf("%s posix_spawn failed: %s\n", tag, strerror(r)), 1;
    return wait_for(pid, "spawn");
}

static int run_system(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "echo %s system: echo ran in sh; exit 5", tag);
    fflush(stdout);
    report("system", system(cmd));
    return 0;
}

static int run_popen(void)
{
    char cmd[256], line[256];
    snprintf(cmd, sizeof cmd, "echo one; echo two; exit 6");
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p)
        return printf("%s popen failed: %s\n", tag, strerror(errno)), 1;
    while (fgets(line, sizeof line, p))
        printf("%s popen read: %s", tag, line);
    report("popen r", pclose(p));

    fflush(stdout);
    p = popen("cat", "w");
    if (!p)
        return printf("%s popen failed: %s\n", tag, strerror(errno)), 1;
    fprintf(p, "%s popen w: through cat\n", tag);
    report("popen w", pclose(p));
    return 0;
}

static int slow_system(void)
{
    fflush(stdout);
    int st = system("sleep 1");
    printf("%s slow_system returned %d\n", tag, WEXITSTATUS(st));
    return 0;
}

static int slow_fork(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        sleep(1);
        _exit(0);
    }
    wait_for(pid, "slow_fork");
    return 0;
}

static int tick(void)
{
    for (int i = 0; i < 5; i++)
        usleep(20000);
    printf("%s ticked\n", tag);
    return 0;
}

static int try_execve(void)
{
    char *argv[] = {"echo", "replaced", NULL};
    fflush(stdout);
    execve("/bin/echo", argv, environ);
    printf("%s execve failed: %s\n", tag, strerror(errno));
    return 0;
}

static int nofile(void)
{
    struct rlimit now, low;
    getrlimit(RLIMIT_NOFILE, &now);
    low = now;
    low.rlim_cur = 3;
    int r = setrlimit(RLIMIT_NOFILE, &low);
    printf("%s setrlimit(RLIMIT_NOFILE, 3): %d (%s)\n", tag, r, r ? strerror(errno) : "ok");
    FILE *f = fopen("/proc/self/status", "r");
    printf("%s a file opens after: %s\n", tag, f ? "yes" : "no");
    if (f)
        fclose(f);
    return 0;
}

static int close_stdout(void)
{
    fflush(stdout);
    int r = close(1);
    fprintf(stderr, "%s close(1): %d (%s)\n", tag, r, r ? strerror(errno) : "ok");
    printf("%s printed after close(1)\n", tag);
    return 0;
}

static int step(const char *s)
{
    if (!strcmp(s, "fork_exit"))
        return fork_exit();
    if (!strcmp(s, "fork_atexit"))
        return fork_atexit();
    if (!strcmp(s, "fork_exec"))
        return fork_exec();
    if (!strcmp(s, "fork_wait"))
        return fork_wait();
    if (!strcmp(s, "vfork_exec"))
        return vfork_exec();
    if (!strcmp(s, "atfork"))
        return atfork();
    if (!strcmp(s, "spawn"))
        return spawn();
    if (!strcmp(s, "system"))
        return run_system();
    if (!strcmp(s, "popen"))
        return run_popen();
    if (!strcmp(s, "all")) {
        static const char *every[] = {"fork_exit", "fork_atexit", "fork_exec", "fork_wait",
                                      "vfork_exec", "atfork", "spawn", "system", "popen"};
        int bad = 0;
        for (size_t i = 0; i < sizeof every / sizeof every[0]; i++)
            bad |= step(every[i]);
        return bad;
    }
    if (!strcmp(s, "slow_system"))
        return slow_system();
    if (!strcmp(s, "slow_fork"))
        return slow_fork();
    if (!strcmp(s, "tick"))
        return tick();
    if (!strcmp(s, "execve"))
        return try_execve();
    if (!strcmp(s, "nofile"))
        return nofile();
    if (!strcmp(s, "close_stdout"))
        return close_stdout();
    if (!strcmp(s, "fail"))
        return 7;
    printf("%s unknown step %s\n", tag, s);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        tag = argv[1];
    int bad = 0;
    for (int i = 2; i < argc; i++)
        bad |= step(argv[i]);
    printf("%s done\n", tag);
    return bad;
}
