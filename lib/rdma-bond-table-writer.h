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

#ifndef RDMA_BOND_TABLE_WRITER_H
#define RDMA_BOND_TABLE_WRITER_H 1

/* Writer side of the rdma-bond table.
 * ===================================
 *
 * Motivation
 * ----------
 *
 * The table's protocol (lib/rdma-bond-table.h) is easy to get subtly
 * wrong: a missing fence or a plain store racing with a reader's atomic
 * load.  These few functions are the only code that stores into a mapped
 * table, so that the protocol lives in one place and can be tested on its
 * own (the seqlock test runs them against the C++ reader under TSan).
 *
 * Usage
 * -----
 *
 * Build the new content of a record in private memory, then copy it into the
 * table with rdma_bond_record_store().  After storing one or more records,
 * call rdma_bond_table_notify() once to wake readers.
 *
 * Thread-safety
 * -------------
 *
 * One writer thread per table; any number of concurrent readers in any
 * process. */

#include "rdma-bond-table.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Copies 'src' into the shared record 'dst' under 'dst''s sequence count.
 * 'src->seq' is ignored; 'dst->seq' ends two higher than it was. */
void rdma_bond_record_store(struct rdma_bond_record *dst,
                            const struct rdma_bond_record *src);

/* Likewise, and copies the RDMA_BOND_MAX_MEMBERS member locations
 * 'src_locs' into the slot's locations 'dst_locs' under the same count
 * (both null: none). */
void rdma_bond_record_store_locations(
    struct rdma_bond_record *dst, const struct rdma_bond_record *src,
    struct rdma_bond_member_location *dst_locs,
    const struct rdma_bond_member_location *src_locs);

/* Stores 'now_ns' (CLOCK_MONOTONIC) as the table's heartbeat. */
void rdma_bond_table_set_heartbeat(struct rdma_bond_table_header *,
                                   uint64_t now_ns);

/* Stores the number of slots in use. */
void rdma_bond_table_set_n_used(struct rdma_bond_table_header *,
                                uint32_t n_used);

/* Stores the header flags (enum rdma_bond_table_flag). */
void rdma_bond_table_set_flags(struct rdma_bond_table_header *,
                               uint32_t flags);

/* Increments the change word and wakes every reader waiting on it. */
void rdma_bond_table_notify(struct rdma_bond_table_header *);

#ifdef __cplusplus
}
#endif

#endif /* rdma-bond-table-writer.h */
