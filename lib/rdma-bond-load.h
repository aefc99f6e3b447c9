/*
 * Copyright (c) 2026 The ovs-rdma-bond authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at:
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

#ifndef RDMA_BOND_LOAD_H
#define RDMA_BOND_LOAD_H 1

/* The rdma-bond load table: ABI version 1.
 * ========================================
 *
 * Motivation
 * ----------
 *
 * A balance-tcp bond moves hash buckets between its members to even out
 * the load it measures, but it measures only what passes through the
 * datapath.  RDMA traffic leaves the RNIC straight for the wire, so a
 * member that carries 90 Gb/s of RDMA looks idle to OVS.  The agent
 * (ovs-rdma-bond-agent) knows the 5-tuple, and so the bucket, of every
 * queue pair the applications register, and how many bytes each one sent.
 * It publishes those bytes per bond and per bucket in this table; with
 * other_config:rdma-bond-rebalance=true, ovs-vswitchd adds them to the
 * load of each bucket when it rebalances the bond.
 *
 * This is the second shared-memory table of ovs-rdma-bond, and it runs the
 * other way: the agent writes, ovs-vswitchd reads.  It follows the rules of
 * the first one (lib/rdma-bond-table.h): fixed layout, versioned header,
 * one seqlock per record, everything validated, read-only on the reader's
 * side, ignored when stale.
 *
 * Layout
 * ------
 *
 * The file, normally /var/run/openvswitch/rdma-bond-agent/load.shm (the
 * agent's directory next to the rdma-bond table), is one "struct
 * rdma_bond_load_header" followed by RDMA_BOND_LOAD_MAX_BONDS copies of
 * "struct rdma_bond_load_record".  Host byte order, no pointers.  Readers
 * check 'magic', 'abi_version', 'header_size', 'record_size', 'n_slots',
 * 'n_buckets' and 'max_members' and refuse a file that does not match
 * exactly, or that group or others may write, or whose owner is neither
 * root, nor the reader's user, nor the owner of the directory that holds
 * it when only that owner may write the directory (the packaged agent runs
 * as a user of its own, ovs-vswitchd as root).
 *
 * Counters
 * --------
 *
 * Every byte count is cumulative since the writer started ('instance_id'
 * is new for every start) and never decreases within one instance.  A
 * reader keeps the values it saw last and uses the differences; a new
 * 'instance_id', or a count lower than before, restarts its baseline.
 * The bytes are those the applications handed their QPs to send (message
 * payloads and RDMA writes, without headers), added up when the
 * applications report them, normally every second.
 *
 * - bucket_bytes[b]: bytes of QPs that can follow a bucket move, by the
 *   bucket of their 5-tuple when they sent them.  Such a QP belongs to a
 *   librdmabond connection that holds a path on every member: when OVS
 *   moves the bucket to another member, the connection moves that traffic
 *   onto its path there (docs/rebalance.md).
 * - members[m].pinned_bytes: bytes of QPs that cannot follow a move (a
 *   program with one QP per connection, on one RNIC), by the member they
 *   leave on.  They count toward that member's load, but moving a bucket
 *   would not move them.
 *
 * Writer protocol
 * ---------------
 *
 * The only writer is the agent.  It creates the file under a temporary
 * name (mode 0644), initializes the header and zeroes the records, and
 * renames it into place.  Each record is written under its own sequence
 * count exactly as in lib/rdma-bond-table.h (seq++ odd, release fence,
 * relaxed 64-bit stores of the fields, seq++ even with release).
 * 'heartbeat_ns' (CLOCK_MONOTONIC) is refreshed at least every
 * RDMA_BOND_LOAD_HEARTBEAT_MS.  The agent removes the file when it exits.
 *
 * Reader protocol
 * ---------------
 *
 * Open O_RDONLY, check the file's owner and mode, map it PROT_READ, check
 * the header, then copy a record as in lib/rdma-bond-table.h (acquire-load
 * 'seq', retry while odd, relaxed 64-bit loads, acquire fence, reload
 * 'seq', retry if it moved).  A heartbeat older than
 * RDMA_BOND_LOAD_STALE_MS, or a record whose 'update_ns' is, is stale and
 * must be ignored.  ovs-vswitchd's reader is lib/rdma-bond-load.c.
 *
 * Thread-safety
 * -------------
 *
 * One writer, any number of readers in any processes. */

#include <stddef.h>
#include <stdint.h>

#include "rdma-bond-table.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "RDMALOD1" read as a little-endian 64-bit number. */
#define RDMA_BOND_LOAD_MAGIC UINT64_C(0x31444f4c414d4452)

/* Version of the layout below.  Any incompatible change bumps it. */
#define RDMA_BOND_LOAD_ABI_VERSION 1

/* Name of the file in the agent's directory. */
#define RDMA_BOND_LOAD_NAME "load.shm"

/* Record slots: one per bond, as many as the rdma-bond table has. */
#define RDMA_BOND_LOAD_MAX_BONDS RDMA_BOND_MAX_BONDS

/* The writer refreshes 'heartbeat_ns' at least this often. */
#define RDMA_BOND_LOAD_HEARTBEAT_MS 1000

/* Readers ignore a heartbeat, or a record's 'update_ns', older than this. */
#define RDMA_BOND_LOAD_STALE_MS 5000

RDMA_BOND_STATIC_ASSERT(RDMA_BOND_LOAD_STALE_MS
                        > 2 * RDMA_BOND_LOAD_HEARTBEAT_MS,
                        "a stale heartbeat must span several periods");

/* The header.  Only 'heartbeat_ns' changes after the rename. */
struct rdma_bond_load_header {
    uint64_t magic;              /* RDMA_BOND_LOAD_MAGIC. */
    uint32_t abi_version;        /* RDMA_BOND_LOAD_ABI_VERSION. */
    uint32_t header_size;        /* sizeof(struct rdma_bond_load_header). */
    uint32_t record_size;        /* sizeof(struct rdma_bond_load_record). */
    uint32_t n_slots;            /* RDMA_BOND_LOAD_MAX_BONDS. */
    uint32_t n_buckets;          /* RDMA_BOND_BUCKETS. */
    uint32_t max_members;        /* RDMA_BOND_MAX_MEMBERS. */
    uint64_t instance_id;        /* Random, new for every writer start: the
                                  * counters start again from zero. */
    uint64_t start_ns;           /* CLOCK_MONOTONIC at writer start. */
    uint32_t writer_pid;         /* Process id of the agent. */
    uint32_t pad0;               /* Zero. */
    uint64_t heartbeat_ns;       /* Atomic: CLOCK_MONOTONIC, refreshed at
                                  * least every
                                  * RDMA_BOND_LOAD_HEARTBEAT_MS. */
    uint64_t reserved[6];        /* Zero. */
};

/* The load of one member that no bucket move can shift. */
struct rdma_bond_load_member {
    char name[RDMA_BOND_NAME_LEN]; /* Member (interface) name, as in the
                                    * rdma-bond table; "" if unused. */
    uint64_t pinned_bytes;       /* Cumulative bytes of QPs that cannot
                                  * follow a bucket move, sent on it. */
};

/* The RDMA load of one bond.  Protected by 'seq'. */
struct rdma_bond_load_record {
    uint64_t seq;                /* Sequence count: odd while written. */
    uint64_t update_ns;          /* CLOCK_MONOTONIC when the counters were
                                  * last brought up to date. */
    uint32_t in_use;             /* 1 if this slot holds a bond, else 0. */
    uint32_t n_members;          /* Entries used in 'members'. */
    uint32_t movable_qps;        /* QPs counted in 'bucket_bytes' now. */
    uint32_t pinned_qps;         /* QPs counted in 'members' now. */
    char bond[RDMA_BOND_NAME_LEN]; /* Bond (port) name. */
    uint64_t bucket_bytes[RDMA_BOND_BUCKETS]; /* Cumulative bytes of QPs
                                               * that follow their bucket,
                                               * by bucket. */
    struct rdma_bond_load_member members[RDMA_BOND_MAX_MEMBERS];
};

RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_load_header) == 112,
                        "header layout is part of load ABI v1");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_load_member) == 72,
                        "member layout is part of load ABI v1");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_load_record) == 3296,
                        "record layout is part of load ABI v1");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_load_record) % 8 == 0,
                        "records are copied as 64-bit words");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_load_header) % 8 == 0,
                        "records must stay 64-bit aligned");

/* Size of the file. */
#define RDMA_BOND_LOAD_SIZE                                     \
    (sizeof(struct rdma_bond_load_header)                       \
     + RDMA_BOND_LOAD_MAX_BONDS * sizeof(struct rdma_bond_load_record))

/* Reader (lib/rdma-bond-load.c, compiled into ovs-vswitchd and the tests).
 *
 * Copies the record of 'bond' from the load table at 'path' into '*rec',
 * and the writer's instance id into '*instance_id'.  'now_ns' is the
 * caller's CLOCK_MONOTONIC.  Returns 0, or:
 *
 *   ENOENT   no file (no agent, or it exited);
 *   EPERM    the file's owner or mode is not trusted;
 *   EINVAL   not a valid load table of this ABI, or a record that breaks
 *            its rules (a name without its terminator, too many members);
 *   ESTALE   the heartbeat or the record's update_ns is older than
 *            RDMA_BOND_LOAD_STALE_MS;
 *   ESRCH    the table has no record of 'bond';
 *   EAGAIN   the record changed during every try (a writer that never
 *            stops writing);
 *   another errno from open(), fstat() or mmap().
 *
 * On error, 'why' (RDMA_BOND_LOAD_WHY_LEN bytes, if not null) says what
 * was wrong in words. */
#define RDMA_BOND_LOAD_WHY_LEN 160
int rdma_bond_load_read(const char *path, const char *bond, uint64_t now_ns,
                        struct rdma_bond_load_record *rec,
                        uint64_t *instance_id, char *why);

#ifdef __cplusplus
}
#endif

#endif /* rdma-bond-load.h */
