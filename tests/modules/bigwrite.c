/* bigwrite: one thread writes 1 MiB in a single blocking write()/send()
 * into a pipe and into a stream socket pair while another reads it. The
 * pipe holds only 64 KiB, so the writer must wait for the reader: as
 * strings on one worker, that works only if the write parks instead of
 * blocking the worker.
 *
 *   bigwrite [TAG] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIZE (1 << 20)

struct reader {
    int fd;
    long total;
    unsigned long sum;
};

static void *read_all(void *arg)
{
    struct reader *r = arg;
    unsigned char buf[8192];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            r->sum = r->sum * 31 + buf[i];
        r->total += n;
    }
    return NULL;
}

static unsigned long expected(const unsigned char *data)
{
    unsigned long sum = 0;
    for (long i = 0; i < SIZE; i++)
        sum = sum * 31 + data[i];
    return sum;
}

static int through(const char *tag, const char *what, int wfd, int rfd, int use_send,
                   const unsigned char *data)
{
    struct reader r = {rfd, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, read_all, &r);
    ssize_t w = use_send ? send(wfd, data, SIZE, 0) : write(wfd, data, SIZE);
    close(wfd);
    pthread_join(t, NULL);
    close(rfd);
    int ok = w == SIZE && r.total == SIZE && r.sum == expected(data);
    printf("bigwrite %s: %s wrote %ld read %ld %s\n", tag, what, (long)w, r.total,
           ok ? "intact" : "DAMAGED");
    return ok;
}

int main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "-";
    unsigned char *data = malloc(SIZE);
    for (long i = 0; i < SIZE; i++)
        data[i] = (unsigned char)(i * 7 + i / 4096);
    int p[2], s[2];
    if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
        return 2;
    int ok = through(tag, "pipe", p[1], p[0], 0, data);
    ok &= through(tag, "socket", s[0], s[1], 1, data);
    free(data);
    return ok ? 0 : 1;
}
