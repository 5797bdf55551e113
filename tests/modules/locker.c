/* locker: POSIX record locks between two programs.
 *   locker TAG holder FILE: write-locks FILE, locks it again (a program
 *     never conflicts with itself), holds it 300 ms, then closes the file
 *     (which drops its locks).
 *   locker TAG waiter FILE: after 100 ms, sees the holder's lock (F_GETLK),
 *     fails to take it at once (F_SETLK), waits for it (F_SETLKW), tests it
 *     with lockf (its own lock: 0), and unlocks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int lock(int fd, int cmd, short type)
{
    struct flock l = {0};
    l.l_type = type;
    l.l_whence = SEEK_SET;
    return fcntl(fd, cmd, &l);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    const char *tag = argv[1], *role = argv[2], *file = argv[3];
    if (strcmp(role, "holder") == 0) {
        int fd = open(file, O_RDWR | O_CREAT, 0644);
        if (fd < 0 || lock(fd, F_SETLK, F_WRLCK) != 0)
            return 3;
        printf("%s: holder locked\n", tag);
        fflush(stdout);
        printf("%s: holder relock %s\n", tag, lock(fd, F_SETLK, F_WRLCK) == 0 ? "ok" : strerror(errno));
        fflush(stdout);
        usleep(300000);
        printf("%s: holder closes\n", tag);
        fflush(stdout);
        close(fd);
        return 0;
    }
    usleep(100000);
    int fd = open(file, O_RDWR);
    if (fd < 0)
        return 4;
    struct flock l = {0};
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    if (fcntl(fd, F_GETLK, &l) != 0)
        return 5;
    printf("%s: waiter sees %s lock from %ld length %ld\n", tag,
           l.l_type == F_WRLCK ? "a write" : l.l_type == F_UNLCK ? "no" : "a read",
           (long)l.l_start, (long)l.l_len);
    int r = lock(fd, F_SETLK, F_WRLCK);
    printf("%s: waiter trylock %s\n", tag, r == 0 ? "ok" : (errno == EAGAIN || errno == EACCES) ? "busy" : strerror(errno));
    fflush(stdout);
    if (lock(fd, F_SETLKW, F_WRLCK) != 0)
        return 6;
    printf("%s: waiter locked\n", tag);
    printf("%s: waiter lockf test %d\n", tag, lockf(fd, F_TEST, 0));
    lock(fd, F_SETLK, F_UNLCK);
    close(fd);
    return 0;
}
