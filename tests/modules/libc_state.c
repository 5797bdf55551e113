/* libc_state: the C library state a program believes is its own, used the
 * way programs use it, yielding between steps so that several beads doing
 * the same at once interleave (a shared buffer or position would show).
 *
 *   libc_state NAME N
 *
 * strtok over a list of N words; localtime/gmtime/ctime/asctime results
 * kept across a yield (and glibc's shared struct tm between localtime and
 * gmtime); tmpnam(NULL)'s buffer; a full walk of the user, group and
 * host databases; getmntent over a table of N lines; atexit and on_exit
 * handlers (on_exit's is given the exit status);
 * strerror; basename/dirname. Built as a PIE and as a shared object (entry
 * libc_state_main); the exit status is N. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <mntent.h>
#include <netdb.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *me;

static void at_end(void) { printf("%s: exit handler\n", me); }

static void on_end(int status, void *arg) {
    printf("%s: on_exit handler, status %d, argument %s\n", me, status, (const char *)arg);
}

static void words(int n) {
    char list[1024] = "";
    for (int i = 0; i < n; i++) {
        char w[64];
        snprintf(w, sizeof w, "%s%s-w%d", i ? ", " : "", me, i);
        strcat(list, w);
    }
    for (char *t = strtok(list, ", "); t; t = strtok(NULL, ", ")) {
        sched_yield();
        printf("%s: token %s\n", me, t);
    }
}

static void times(int n) {
    time_t t1 = 86400L * 365 * (n + 1) + 3600L * n, t2 = t1 + 86400L * 40;
    struct tm *g = gmtime(&t1);
    sched_yield();
    printf("%s: gmtime %d-%02d-%02d %02d:%02d\n", me, g->tm_year + 1900, g->tm_mon + 1,
           g->tm_mday, g->tm_hour, g->tm_min);
    char *text = asctime(g);
    sched_yield();
    printf("%s: asctime %s", me, text);
    struct tm *l = localtime(&t1);
    int year = l->tm_year;
    struct tm *g2 = gmtime(&t2);
    /* glibc: one struct tm for both, so l now holds t2's time too. */
    printf("%s: localtime and gmtime share: %d, year %d, l day %d\n", me, l == g2, year + 1900,
           l->tm_yday);
    char *c = ctime(&t2);
    sched_yield();
    printf("%s: ctime equals asctime(localtime): %d\n", me, strcmp(c, asctime(localtime(&t2))) == 0);
    struct tm odd = {.tm_year = -1950, .tm_mon = 13, .tm_wday = -1, .tm_mday = 5, .tm_hour = -3};
    printf("%s: asctime out of range: %s", me, asctime(&odd));
}

static void temp_names(void) {
    char *name = tmpnam(NULL);
    char copy[L_tmpnam];
    snprintf(copy, sizeof copy, "%s", name);
    sched_yield();
    char mine[L_tmpnam];
    printf("%s: tmpnam kept %d, in P_tmpdir %d, tmpnam_r differs %d\n", me, strcmp(copy, name) == 0,
           strncmp(name, P_tmpdir "/", strlen(P_tmpdir) + 1) == 0,
           tmpnam_r(mine) && strcmp(mine, name) != 0);
}

static void databases(void) {
    int users = 0, groups = 0;
    unsigned long sum = 0;
    char first[64] = "", last[64] = "";
    setpwent();
    for (struct passwd *p; (p = getpwent());) {
        if (!users++)
            snprintf(first, sizeof first, "%s", p->pw_name);
        snprintf(last, sizeof last, "%s", p->pw_name);
        sum += p->pw_uid;
        sched_yield();
    }
    endpwent();
    printf("%s: users %d (uids sum %lu) from %s to %s\n", me, users, sum, first, last);
    sum = 0;
    setgrent();
    for (struct group *g; (g = getgrent());) {
        groups++;
        sum += g->gr_gid;
        sched_yield();
    }
    endgrent();
    printf("%s: groups %d (gids sum %lu)\n", me, groups, sum);
    int hosts = 0;
    size_t names = 0;
    sethostent(0);
    for (struct hostent *h; (h = gethostent());) {
        hosts++;
        names += strlen(h->h_name);
        sched_yield();
    }
    endhostent();
    printf("%s: hosts %d (names %zu bytes)\n", me, hosts, names);
    /* A walk begun again starts from the first entry. */
    setpwent();
    struct passwd *p = getpwent();
    printf("%s: first user again %s\n", me, p && strcmp(p->pw_name, first) == 0 ? "yes" : "no");
    endpwent();
}

static void mounts(int n) {
    char path[] = "/tmp/libc_state_mntXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        printf("%s: mkstemp failed\n", me);
        return;
    }
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < n; i++)
        fprintf(f, "/dev/%s%d /mnt/%s/%d ext4 rw,noatime 0 %d\n", me, i, me, i, i % 3);
    fclose(f);
    FILE *m = setmntent(path, "r");
    for (struct mntent *e; m && (e = getmntent(m));) {
        sched_yield();
        printf("%s: mount %s on %s (%s, %s, pass %d)\n", me, e->mnt_fsname, e->mnt_dir,
               e->mnt_type, e->mnt_opts, e->mnt_passno);
    }
    if (m)
        endmntent(m);
    unlink(path);
}

static void texts(void) {
    char a[] = "/usr/lib/libc_state.so", b[] = "/usr/lib/libc_state.so";
    printf("%s: dirname %s basename %s\n", me, dirname(a), basename(b));
    printf("%s: strerror %s / %s\n", me, strerror(EINVAL), strerror(9999));
}

static int run(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: libc_state NAME N\n");
        return 100;
    }
    me = argv[1];
    int n = atoi(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    atexit(at_end);
    on_exit(on_end, argv[1]);
    words(n);
    times(n);
    temp_names();
    databases();
    mounts(n);
    texts();
    return n;
}

int libc_state_main(int argc, char **argv) { return run(argc, argv); }

int main(int argc, char **argv) { return run(argc, argv); }
