/* Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 *
 * rdmabond.h: the C API of librdmabond's multipath connections.
 *
 * A C program (or any language with a C FFI) gets the same connection as
 * the C++ API (rdma_bond/connection.h): one logical, reliable, in-order
 * message stream between two bonded hosts, carried by a full mesh of queue
 * pairs over the RNICs of the bond members, that survives a member
 * failure without losing or duplicating a message.
 *
 * Handles are opaque.  Every function that can fail returns 0 or a
 * negative errno value:
 *
 *   -EAGAIN      the send buffers are full: call rdma_bond_conn_progress()
 *                and retry;
 *   -EINVAL      a bad argument (too long a message, a closed connection);
 *   -ENOSYS      the requested backend is not part of this build;
 *   -ETIMEDOUT   no path came up, or close timed out;
 *   -EPROTO      the peer speaks another protocol version, or sent
 *                something malformed;
 *   -ECONNRESET  the connection is lost;
 *   -EIO         anything else;
 *
 * and rdma_bond_last_error() returns one line that says what failed and
 * why (per thread, valid until the next call that fails on this thread).
 *
 * Usage:
 *   struct rdma_bond_rnic *rnics[2];
 *   rdma_bond_rnic_open_emulated("eth1", "10.0.0.1", &rnics[0]);  ...
 *   struct rdma_bond_conn_options o;
 *   rdma_bond_conn_options_init(&o);
 *   o.local_ip = "10.0.0.1"; o.remote_ip = "10.0.0.2";
 *   struct rdma_bond_conn *c;
 *   if (rdma_bond_conn_create(sock, 1, rnics, 2, &o, &c))
 *       fprintf(stderr, "%s\n", rdma_bond_last_error());
 *   rdma_bond_conn_set_message_cb(c, on_message, state);
 *   while (rdma_bond_conn_send(c, buf, len) == -EAGAIN) {
 *       rdma_bond_conn_progress(c);
 *       rdma_bond_conn_wait(c, 10);
 *   }
 *   rdma_bond_conn_close(c, 5000);
 *   rdma_bond_conn_destroy(c);
 *
 * With options.bond (or options.follow_bond, which finds the bond of
 * local_ip the way rdma-bond-perf does), the connection follows the table
 * that the patched ovs-vswitchd publishes: which paths carry, and the
 * source ports, follow every change, applied by rdma_bond_conn_progress().
 * Without either, it runs without a bond (every path may carry, source
 * ports spread by the key).
 *
 * Thread-safety: a connection and its RNICs are used from one thread at a
 * time; the message callback runs inside rdma_bond_conn_progress() and
 * rdma_bond_conn_close() and may call rdma_bond_conn_send().
 */

#ifndef RDMA_BOND_RDMABOND_H_
#define RDMA_BOND_RDMABOND_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One RDMA device port behind one bond member. */
struct rdma_bond_rnic;

/* One multipath connection. */
struct rdma_bond_conn;

/* Connection parameters; a 0 field means "the default" (see
 * rdma_bond/connection.h: ConnectionOptions). */
struct rdma_bond_conn_options {
    const char *local_ip;          /* This host's RoCEv2 address. */
    const char *remote_ip;         /* The peer's RoCEv2 address. */
    uint32_t max_message_size;     /* Payload bytes per message. */
    uint32_t send_window;          /* Messages in flight per path. */
    uint32_t recv_buffers;         /* Receives posted per QP. */
    uint64_t write_region_size;    /* Bytes of the peer-writable region. */
    uint32_t probe_timeout_ms;     /* Before asking the peer to re-pick. */
    uint32_t establish_timeout_ms; /* Setup and path recovery limit. */
    uint64_t spread_key;           /* Spreads source ports. */
    const char *bond;              /* Follow this published bond. */
    const char *shm_path;          /* Its table (NULL: $OVS_RUNDIR/
                                    * rdma-bond.shm). */
    int follow_bond;               /* Non-zero without 'bond': find the
                                    * bond of local_ip (its interface's
                                    * bridge, via ovs-vsctl). */
};

/* Counters of a connection (see ConnectionStats). */
struct rdma_bond_conn_stats {
    uint64_t messages_sent;
    uint64_t messages_delivered;
    uint64_t duplicates_dropped;   /* Arrived twice, delivered once. */
    uint64_t resent;               /* Moved from a failed path. */
    uint64_t repins;
    uint64_t path_failures;
    uint64_t bond_changes;         /* Table changes applied. */
    uint32_t paths;                /* QP pairs. */
    uint32_t paths_up;
    uint32_t paths_carrying;       /* Up and allowed to carry traffic. */
};

/* Called once per RDMA write notice, in order with the messages: the
 * peer wrote 'length' bytes at 'offset' of this side's write region. */
typedef void rdma_bond_write_cb(void *arg, uint64_t offset, size_t length);

/* Called once per message, in order; 'data' is valid during the call. */
typedef void rdma_bond_message_cb(void *arg, const void *data,
                                  size_t length);

/* Sets every field of 'options' to 0 (defaults) and the addresses to
 * NULL. */
void rdma_bond_conn_options_init(struct rdma_bond_conn_options *options);

/* Opens the emulated RNIC (AF_PACKET RoCEv2 engine: an emulation, not
 * RDMA) on bond member netdev 'member' with RoCEv2 address 'ip'; its
 * frames carry the MAC of the interface that holds 'ip'.  Needs
 * CAP_NET_RAW.  Defined in librdmabond-emu.a. */
int rdma_bond_rnic_open_emulated(const char *member, const char *ip,
                                 struct rdma_bond_rnic **rnicp);

/* Opens the RDMA device behind bond member netdev 'member' (rdma-core;
 * found through sysfs) with the RoCEv2 GID of 'ip'.  -ENOENT with a clear
 * error when there is no device or GID; -ENOSYS when librdmabond was built
 * without libibverbs.  Defined in librdmabond-verbs.a. */
int rdma_bond_rnic_open_verbs(const char *member, const char *ip,
                              struct rdma_bond_rnic **rnicp);

/* Closes an RNIC opened here.  REQUIRES: no connection uses it. */
void rdma_bond_rnic_close(struct rdma_bond_rnic *rnic);

/* Establishes a connection over 'sock', a connected stream socket to the
 * peer (taken: the connection closes it, also on failure).  'initiator'
 * is non-zero on exactly one side.  'rnics': one per bond member, in the
 * same order on every call; they must outlive the connection.  Blocks
 * until a path is up or establish_timeout_ms passed. */
int rdma_bond_conn_create(int sock, int initiator,
                          struct rdma_bond_rnic *const *rnics,
                          size_t n_rnics,
                          const struct rdma_bond_conn_options *options,
                          struct rdma_bond_conn **connp);

/* Sets the callback for received messages (NULL: they are held until one
 * is set). */
void rdma_bond_conn_set_message_cb(struct rdma_bond_conn *conn,
                                   rdma_bond_message_cb *cb, void *arg);

/* Queues one message (copied).  -EAGAIN when the buffers are full. */
int rdma_bond_conn_send(struct rdma_bond_conn *conn, const void *data,
                        size_t length);

/* Makes progress without blocking; runs the message callback.
 * -ECONNRESET (or -EPROTO) when the connection is lost. */
int rdma_bond_conn_progress(struct rdma_bond_conn *conn);

/* Sleeps until the connection may have work (an RNIC event, a side
 * channel message, a timer), at most 'timeout_ms'.  Call it between
 * rdma_bond_conn_progress() calls instead of spinning. */
void rdma_bond_conn_wait(const struct rdma_bond_conn *conn, int timeout_ms);

/* RDMA write of 'length' bytes to 'remote_offset' of the peer's write
 * region, then a notice delivered once to the peer's write callback.
 * -EAGAIN when the buffers are full, -EINVAL outside the region. */
int rdma_bond_conn_write(struct rdma_bond_conn *conn, const void *data,
                         size_t length, uint64_t remote_offset);

/* Sets the callback for write notices (NULL: they are held). */
void rdma_bond_conn_set_write_cb(struct rdma_bond_conn *conn,
                                 rdma_bond_write_cb *cb, void *arg);

/* This side's write region (the peer writes into it); '*length' gets its
 * size. */
void *rdma_bond_conn_write_region(struct rdma_bond_conn *conn,
                                  size_t *length);

/* Fills '*stats'. */
void rdma_bond_conn_get_stats(const struct rdma_bond_conn *conn,
                              struct rdma_bond_conn_stats *stats);

/* Messages sent and not yet acknowledged by the peer. */
size_t rdma_bond_conn_in_flight(const struct rdma_bond_conn *conn);

/* Waits up to 'timeout_ms' until everything sent is acknowledged, then
 * says goodbye to the peer.  -ETIMEDOUT if something stayed
 * unacknowledged. */
int rdma_bond_conn_close(struct rdma_bond_conn *conn, int timeout_ms);

/* Frees the connection (its QPs and memory).  NULL is ignored. */
void rdma_bond_conn_destroy(struct rdma_bond_conn *conn);

/* The last failure on this thread, one line ("" if none). */
const char *rdma_bond_last_error(void);

#ifdef __cplusplus
}  /* extern "C" */

namespace rdma_bond {
class Rnic;
}  /* namespace rdma_bond */

/* C++ only: a handle for an RNIC created by C++ code (any backend, or a
 * test double), not owned: rdma_bond_rnic_close() frees the handle only.
 * Returns NULL if 'rnic' is NULL. */
struct rdma_bond_rnic *rdma_bond_rnic_wrap(rdma_bond::Rnic *rnic);

/* C++ only, for backends' C bindings: a handle that owns 'rnic' (closed
 * by rdma_bond_rnic_close()), and recording 'status' as the thread's last
 * error, returning its negative errno. */
#include <memory>
struct rdma_bond_rnic *rdma_bond_rnic_adopt(
    std::unique_ptr<rdma_bond::Rnic> rnic);
namespace rdma_bond {
class Status;
}  /* namespace rdma_bond */
int rdma_bond_c_api_fail(const rdma_bond::Status &status);
#endif

#endif  /* RDMA_BOND_RDMABOND_H_ */
