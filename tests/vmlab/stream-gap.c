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
 *       (default 5) for SECONDS (or until SIGTERM), then closes.  Exits 1
 *       on any error.
 *
 *   stream-gap ping ADDR SECONDS [INTERVAL_MS]
 *       sends an ICMP echo request every INTERVAL_MS (default 50) for
 *       SECONDS (or until SIGINT or SIGTERM) and prints one JSON line: {"sent": N, "send_errors": E,
 *       "answered": A, "longest_gap_ms": G, "last_answer_s": L} (an answer
 *       counts once, whichever way it came twice), the gap
 *       being the longest time between two answers (or from the start to
 *       the first).  Unlike ping(8) it goes on when sending fails (no route
 *       while an address moves): that time is part of the gap.
 *
 * Built by tests/vmlab/build-image into the guest image.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

/* SIGINT or SIGTERM: stop, and report. */
static volatile sig_atomic_t stop;

static void
on_signal(int signo)
{
    (void) signo;
    stop = 1;
}

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
    while (now() < end && !stop) {
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

static uint16_t
icmp_checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return htons(~sum & 0xffff);
}

static int
do_ping(const char *addr, double seconds, int interval_ms)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    uint16_t id = getpid() & 0xffff;
    uint64_t sent = 0, errors = 0, answered = 0;
    double start, end, next, last, longest = 0;
    static uint8_t seen[65536];     /* Answers counted once. */
    int fd;

    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        fprintf(stderr, "stream-gap: %s is not an IPv4 address\n", addr);
        return 1;
    }
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (fd < 0) {
        return fail("socket(ICMP)");
    }
    start = last = next = now();
    end = start + seconds;
    while (now() < end && !stop) {
        if (now() >= next) {
            struct icmphdr h = { .type = ICMP_ECHO };

            h.un.echo.id = id;
            h.un.echo.sequence = htons(sent & 0xffff);
            h.checksum = icmp_checksum(&h, sizeof h);
            if (sendto(fd, &h, sizeof h, 0, (struct sockaddr *) &sin,
                       sizeof sin) < 0) {
                errors++;
            }
            sent++;
            next += interval_ms / 1000.0;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int wait = (int) ((next - now()) * 1000);

        if (poll(&p, 1, wait > 0 ? wait : 0) > 0) {
            uint8_t buf[1500];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            const struct iphdr *ip = (const void *) buf;

            if (n >= (ssize_t) sizeof *ip
                && n >= ip->ihl * 4 + (ssize_t) sizeof(struct icmphdr)) {
                const struct icmphdr *r = (const void *) (buf + ip->ihl * 4);

                if (r->type == ICMP_ECHOREPLY && r->un.echo.id == id
                    && ip->saddr == sin.sin_addr.s_addr
                    && !seen[ntohs(r->un.echo.sequence)]++) {
                    double t = now();

                    if (t - last > longest) {
                        longest = t - last;
                    }
                    last = t;
                    answered++;
                }
            }
        }
    }
    if (now() - last > longest) {
        longest = now() - last;     /* Silence up to the end counts. */
    }
    printf("{\"sent\": %llu, \"send_errors\": %llu, \"answered\": %llu, "
           "\"longest_gap_ms\": %.1f, \"last_answer_s\": %.3f}\n",
           (unsigned long long) sent, (unsigned long long) errors,
           (unsigned long long) answered, longest * 1000,
           answered ? last - start : -1.0);
    return 0;
}

int
main(int argc, char *argv[])
{
    struct sigaction sa = { .sa_handler = on_signal };

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (argc == 4 && !strcmp(argv[1], "recv")) {
        return do_recv(atoi(argv[2]), atof(argv[3]));
    }
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "send")) {
        return do_send(argv[2], atoi(argv[3]), atof(argv[4]),
                       argc == 6 ? atoi(argv[5]) : 5);
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "ping")) {
        return do_ping(argv[2], atof(argv[3]), argc == 5 ? atoi(argv[4]) : 50);
    }
    fprintf(stderr, "usage: stream-gap recv PORT SECONDS\n"
                    "       stream-gap ping ADDR SECONDS [INTERVAL_MS]\n"
                    "       stream-gap send ADDR PORT SECONDS [INTERVAL_MS]\n");
    return 2;
}
