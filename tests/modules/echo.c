/* A TCP echo server and client over loopback, with plain blocking socket
 * calls. The server publishes its port in `echo_port`, which a tuple space
 * shares with the client bead. With both strings on one worker, this only
 * works if blocking calls park the fiber. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int echo_port = 0;

int echo_server(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4) != 0)
        return 2;
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    echo_port = ntohs(a.sin_port);
    int c = accept(s, NULL, NULL);
    if (c < 0)
        return 3;
    char buf[512];
    long total = 0;
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(c, buf + off, n - off);
            if (w <= 0)
                return 4;
            off += w;
        }
        total += n;
    }
    close(c);
    close(s);
    printf("echo server: echoed %ld bytes\n", total);
    return 0;
}

int echo_client(int argc, char **argv)
{
    int messages = argc > 1 ? atoi(argv[1]) : 100;
    while (echo_port == 0)
        usleep(1000);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(echo_port)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0)
        return 2;
    int ok = 0;
    for (int i = 0; i < messages; i++) {
        char out[64], in[64];
        int len = snprintf(out, sizeof out, "message %d", i);
        if (send(s, out, len, 0) != len)
            return 3;
        int got = 0;
        while (got < len) {
            ssize_t n = recv(s, in + got, len - got, 0);
            if (n <= 0)
                return 4;
            got += n;
        }
        ok += memcmp(in, out, len) == 0;
    }
    close(s);
    printf("echo client: %d of %d messages came back\n", ok, messages);
    return ok == messages ? 0 : 1;
}
