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

#ifndef BOND_RDMA_LOAD_H
#define BOND_RDMA_LOAD_H 1

/* RDMA load for a bond's rebalancing.
 * ===================================
 *
 * Motivation
 * ----------
 *
 * bond_rebalance() moves buckets between members by the bytes each bucket
 * carried through the datapath.  RDMA traffic never passes through it: an
 * RDMA NIC sends straight to the wire.  ovs-rdma-bond-agent measures that
 * traffic per bucket (the 5-tuples of the queue pairs it registers) and
 * writes it to its load table (lib/rdma-bond-load.h).  For a bond with
 * other_config:rdma-bond-rebalance=true, bond_rebalance() adds what this
 * module reads from that table.
 *
 * What is added, per rebalancing
 * ------------------------------
 *
 *   - to each bucket, the RDMA bytes sent in it since the previous
 *     rebalancing (the table's counters are cumulative; this module keeps
 *     the values it saw last), on the same scale as the datapath's bytes,
 *     which bond_rebalance() then halves like its own;
 *   - to each member, the RDMA bytes sent on it that no bucket move can
 *     shift, as a moving average that decays like the buckets' load.
 *
 * Nothing is added, and the bond rebalances exactly as upstream, when the
 * table is missing, stale, invalid or untrusted, has no record of the
 * bond, restarted (a new instance), went backwards, or claims more bytes
 * than a member could have sent in the time: the next reading then starts
 * a new baseline.  The reason is kept for "rdma-bond/show".
 *
 * Thread-safety
 * -------------
 *
 * Main thread only, like bond_rebalance() and the publisher. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rdma-bond-load.h"

struct ds;
struct rdma_bond_record;

/* The load of one member that no bucket move shifts. */
struct bond_rdma_pinned {
    char name[RDMA_BOND_NAME_LEN];  /* Member name. */
    uint64_t bytes;                 /* Moving average of its bytes. */
};

/* What one rebalancing of a bond adds. */
struct bond_rdma_load {
    uint64_t buckets[RDMA_BOND_BUCKETS]; /* Bytes since the previous
                                          * rebalancing, by bucket. */
    struct bond_rdma_pinned pinned[RDMA_BOND_MAX_MEMBERS];
    size_t n_pinned;
};

/* For bond_rebalance() of bond 'bond' with rdma-bond-rebalance=true: fills
 * 'load' and returns true, or returns false when there is nothing to add
 * (why is kept for "rdma-bond/show"). */
bool bond_rdma_load_take(const char *bond, struct bond_rdma_load *load);

/* For the publisher, on every bond with rdma-bond-rebalance=true, every
 * main-loop pass: reads the table about once a second, so that the first
 * rebalancing after the key is set already has a baseline, and so that
 * "rdma-bond/show" tells whether the table is usable. */
void bond_rdma_load_poll(const char *bond);

/* Forgets the bonds that were not polled since the previous call. */
void bond_rdma_load_sweep(void);

/* Appends to 'ds' the RDMA load lines of the bond of 'rec' (members named
 * by 'rec'), if it has rdma-bond-rebalance=true. */
void bond_rdma_load_format(struct ds *ds, const struct rdma_bond_record *rec);

/* The load table's path: rdma-bond-agent/load.shm in the run directory. */
const char *bond_rdma_load_path(void);

#endif /* bond-rdma-load.h */
