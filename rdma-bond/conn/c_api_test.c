/* Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 *
 * Compiled as C: proves that rdma_bond/rdmabond.h is a C header, and
 * drives one end of a connection through the C API only.  The other end
 * (connection_test.cc, CApiSmoke) echoes every message back. */

#include "rdma_bond/rdmabond.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int rdma_bond_c_api_smoke(int sock, struct rdma_bond_rnic *const *rnics,
                          size_t n_rnics, const char *local_ip,
                          const char *remote_ip, int n_messages);

struct smoke_state {
    int received;       /* Echoes received. */
    int out_of_order;   /* An echo that was not the next one. */
};

static void
on_echo(void *arg, const void *data, size_t length)
{
    struct smoke_state *state = arg;
    char expected[32];

    snprintf(expected, sizeof expected, "message %d", state->received);
    if (length != strlen(expected) || memcmp(data, expected, length)) {
        state->out_of_order++;
    }
    state->received++;
}

/* Returns 0 on success, or the line that failed. */
int
rdma_bond_c_api_smoke(int sock, struct rdma_bond_rnic *const *rnics,
                      size_t n_rnics, const char *local_ip,
                      const char *remote_ip, int n_messages)
{
    struct rdma_bond_conn_options options;
    struct rdma_bond_conn *conn = NULL;
    struct smoke_state state = {0, 0};
    int sent = 0;
    time_t deadline = time(NULL) + 20;

    rdma_bond_conn_options_init(&options);
    options.local_ip = local_ip;
    options.remote_ip = remote_ip;
    options.max_message_size = 256;
    options.send_window = 16;
    options.recv_buffers = 64;
    options.write_region_size = 4096;
    options.spread_key = 3;
    if (rdma_bond_conn_create(sock, 1, rnics, n_rnics, &options, &conn)) {
        return __LINE__;
    }
    rdma_bond_conn_set_message_cb(conn, on_echo, &state);
    while (state.received < n_messages) {
        if (sent < n_messages) {
            char text[32];
            int n = snprintf(text, sizeof text, "message %d", sent);
            int error = rdma_bond_conn_send(conn, text, (size_t) n);
            if (!error) {
                sent++;
            } else if (error != -EAGAIN) {
                rdma_bond_conn_destroy(conn);
                return __LINE__;
            }
        }
        if (rdma_bond_conn_progress(conn)) {
            rdma_bond_conn_destroy(conn);
            return __LINE__;
        }
        rdma_bond_conn_wait(conn, 1);
        if (time(NULL) > deadline) {
            rdma_bond_conn_destroy(conn);
            return __LINE__;
        }
    }
    if (state.out_of_order || rdma_bond_conn_close(conn, 3000)
        || rdma_bond_conn_in_flight(conn) != 0) {
        rdma_bond_conn_destroy(conn);
        return __LINE__;
    }
    rdma_bond_conn_destroy(conn);
    return 0;
}
