/* A server that does no work: it answers every HTTP request with the same 101-byte query answer
 * and Narthex's header lines, as soon as it has read the request. Connections are taken the way
 * Narthex's acceptor takes them (TCP_DEFER_ACCEPT; after each answer it looks for the next
 * connection with poll(0) and sched_yield for 300 us, then sleeps in poll), so that it measures
 * what a client pays for a query that costs nothing. Used with scripts/absent-cycles.py; see
 * BENCHMARKS.md, session 18.
 *
 *   cc -O2 -o /tmp/constant-server scripts/constant-server.c && /tmp/constant-server 18201
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static long micros(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(listener, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons(atoi(argv[1]));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 128)) {
        perror("listen");
        return 1;
    }
    fcntl(listener, F_SETFL, O_NONBLOCK);
    const char *body = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
                       "[{\"metric\":{},\"value\":[1795812660,\"1\"]}]}}";
    char answer[512], request[16384];
    int length = snprintf(answer, sizeof answer,
                          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
                          "vary: Origin\r\nconnection: close\r\ndate: Fri, 27 Nov 2026 17:24:20 GMT\r\n\r\n%s",
                          strlen(body), body);
    struct pollfd wait = {listener, POLLIN, 0};
    for (;;) {
        long spin_until = micros() + 300;
        while (poll(&wait, 1, 0) <= 0 && micros() < spin_until)
            sched_yield();
        int connection;
        while ((connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
            poll(&wait, 1, -1);
        if (recv(connection, request, sizeof request, MSG_DONTWAIT) <= 0) {
            struct pollfd readable = {connection, POLLIN, 0};
            poll(&readable, 1, 5);
            recv(connection, request, sizeof request, 0);
        }
        send(connection, answer, length, MSG_NOSIGNAL);
        shutdown(connection, SHUT_WR);
        close(connection);
    }
}
