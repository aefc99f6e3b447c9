/* Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 *
 * stream-gap: a TCP stream whose receiver measures the longest time
 * without data, for the VM lab's migration scenarios (the interruption a
 * host's traffic sees while ovs-rdma-bond-migrate moves its bond).
 *
 *   stream-gap recv PORT SECONDS
 *       accepts one connection, reads 8-byte sequence numbers until the
 *       sender closes (or SECONDS pass, counted from the start), and
 *       prints one JSON line:
 *       {"records": N, "longest_gap_ms": G, "gap_start_s": S,
 *        "out_of_order": 0, "eof": true}
 *       gap_start_s: when the longest gap began, in seconds since the
 *       first record.
 *   stream-gap send ADDR PORT SECONDS [INTERVAL_MS]
 *       connects (trying for 10 s while the receiver refuses) and writes the next sequence number every INTERVAL_MS
 *       (default 5) for SECONDS, then closes.  Exits 1 on any error.
 *
 * Built by tests/vmlab/build-image into the guest image.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
fail(const char *what)
{
    fprintf(stderr, "stream-gap: %s: %s\n", what, strerror(errno));
    return 1;
}

static int
do_recv(int port, double seconds)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(port) };
    int one = 1, ls, fd;
    double first = 0, last = 0, longest = 0, gap_start = 0, deadline;
    uint64_t expect = 0, records = 0, out_of_order = 0;
    unsigned char buf[8];
    size_t have = 0;
    int eof = 0;

    ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) {
        return fail("socket");
    }
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *) &sin, sizeof sin) < 0
        || listen(ls, 1) < 0) {
        return fail("bind/listen");
    }
    deadline = now() + seconds;
    {
        struct pollfd p = { .fd = ls, .events = POLLIN };

        if (poll(&p, 1, (int) (seconds * 1000)) <= 0) {
            fprintf(stderr, "stream-gap: no connection within %g s\n",
                    seconds);
            return 1;
        }
    }
    fd = accept(ls, NULL, NULL);
    if (fd < 0) {
        return fail("accept");
    }
    while (now() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int left = (int) ((deadline - now()) * 1000) + 1;
        ssize_t n;

        if (poll(&p, 1, left) <= 0) {
            continue;
        }
        n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            eof = n == 0;
            break;
        }
        have += n;
        if (have == sizeof buf) {
            uint64_t seq;
            double t = now();

            memcpy(&seq, buf, sizeof seq);
            have = 0;
            if (records == 0) {
                first = last = t;
            }
            if (seq != expect) {
                out_of_order++;
            }
            expect = seq + 1;
            if (t - last > longest) {
                longest = t - last;
                gap_start = last - first;
            }
            last = t;
            records++;
        }
    }
    printf("{\"records\": %llu, \"longest_gap_ms\": %.1f, "
           "\"gap_start_s\": %.3f, \"out_of_order\": %llu, "
           "\"eof\": %s}\n",
           (unsigned long long) records, longest * 1000, gap_start,
           (unsigned long long) out_of_order, eof ? "true" : "false");
    return 0;
}

static int
do_send(const char *addr, int port, double seconds, int interval_ms)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(port) };
    int one = 1, fd;
    uint64_t seq = 0;
    double end, next;

    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        fprintf(stderr, "stream-gap: %s is not an IPv4 address\n", addr);
        return 1;
    }
    /* The receiver may not listen yet: try for 10 s. */
    for (int tries = 0; ; tries++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            return fail("socket");
        }
        if (!connect(fd, (struct sockaddr *) &sin, sizeof sin)) {
            break;
        }
        if (errno != ECONNREFUSED || tries >= 200) {
            return fail("connect");
        }
        close(fd);
        usleep(50 * 1000);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    end = now() + seconds;
    next = now();
    while (now() < end) {
        struct timespec pause;
        double wait;

        if (write(fd, &seq, sizeof seq) != sizeof seq) {
            return fail("write");
        }
        seq++;
        next += interval_ms / 1000.0;
        wait = next - now();
        if (wait > 0) {
            pause.tv_sec = (time_t) wait;
            pause.tv_nsec = (long) ((wait - pause.tv_sec) * 1e9);
            nanosleep(&pause, NULL);
        }
    }
    if (close(fd) < 0) {
        return fail("close");
    }
    return 0;
}

int
main(int argc, char *argv[])
{
    if (argc == 4 && !strcmp(argv[1], "recv")) {
        return do_recv(atoi(argv[2]), atof(argv[3]));
    }
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "send")) {
        return do_send(argv[2], atoi(argv[3]), atof(argv[4]),
                       argc == 6 ? atoi(argv[5]) : 5);
    }
    fprintf(stderr, "usage: stream-gap recv PORT SECONDS\n"
                    "       stream-gap send ADDR PORT SECONDS [INTERVAL_MS]\n");
    return 2;
}
