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

#include <config.h>

#include "rdma-bond-table-writer.h"

#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ovs-atomic.h"

/* Readers in other processes share the table's words only if the atomics
 * are lock-free: the lock of a non-lock-free fallback would be private to
 * this process. */
BUILD_ASSERT_DECL(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2);

/* Views of a 64-bit and a 32-bit word of the shared table as atomics.  The
 * table is plain memory shared with other processes; every access to it
 * that can race with a reader goes through these. */
static ATOMIC(uint64_t) *
word64(void *p)
{
    return (ATOMIC(uint64_t) *) p;
}

static ATOMIC(uint32_t) *
word32(void *p)
{
    return (ATOMIC(uint32_t) *) p;
}

void
rdma_bond_record_store(struct rdma_bond_record *dst,
                       const struct rdma_bond_record *src)
{
    rdma_bond_record_store_locations(dst, src, NULL, NULL);
}

void
rdma_bond_record_store_locations(
    struct rdma_bond_record *dst, const struct rdma_bond_record *src,
    struct rdma_bond_member_location *dst_locs,
    const struct rdma_bond_member_location *src_locs)
{
    BUILD_ASSERT_DECL(sizeof *src_locs % sizeof(uint64_t) == 0);
    /* The area is 8-byte aligned (RDMA_BOND_LOCATIONS_OFFSET) and holds
     * whole words per slot. */
    const uint64_t *from_locs = (const uint64_t *) (const void *) src_locs;
    uint64_t *to_locs = (uint64_t *) (void *) dst_locs;
    size_t n_locs = (dst_locs && src_locs
                     ? RDMA_BOND_MAX_MEMBERS * sizeof *src_locs
                       / sizeof(uint64_t)
                     : 0);
    BUILD_ASSERT_DECL(offsetof(struct rdma_bond_record, seq) == 0);
    BUILD_ASSERT_DECL(sizeof *src % sizeof(uint64_t) == 0);
    const uint64_t *from = (const uint64_t *) src;
    uint64_t *to = (uint64_t *) dst;
    size_t n = sizeof *src / sizeof(uint64_t);
    uint64_t seq;

    atomic_read_relaxed(word64(&dst->seq), &seq);

    /* Make the count odd.  The release fence orders this store before the
     * field stores below: it synchronizes with the reader's acquire fence
     * after its copy, so a reader that saw any new field also sees an odd
     * or changed count on its second load and retries. */
    atomic_store_relaxed(word64(&dst->seq), seq + 1);
    atomic_thread_fence(memory_order_release);

    /* Copy every word but the count. */
    for (size_t i = 1; i < n; i++) {
        atomic_store_relaxed(word64(&to[i]), from[i]);
    }
    /* The member locations, under the same count. */
    for (size_t i = 0; i < n_locs; i++) {
        atomic_store_relaxed(word64(&to_locs[i]), from_locs[i]);
    }

    /* Make the count even again.  The release store synchronizes with the
     * reader's acquire load of the count before its copy: a reader that
     * sees this value sees every field stored above. */
    atomic_store_explicit(word64(&dst->seq), seq + 2, memory_order_release);
}

void
rdma_bond_table_set_heartbeat(struct rdma_bond_table_header *hdr,
                              uint64_t now_ns)
{
    /* Relaxed: the heartbeat orders nothing; readers only compare it with
     * their own clock. */
    atomic_store_relaxed(word64(&hdr->heartbeat_ns), now_ns);
}

void
rdma_bond_table_set_n_used(struct rdma_bond_table_header *hdr,
                           uint32_t n_used)
{
    /* Relaxed: a count for display; the records carry their own state. */
    atomic_store_relaxed(word32(&hdr->n_used), n_used);
}

void
rdma_bond_table_set_flags(struct rdma_bond_table_header *hdr, uint32_t flags)
{
    /* Release: synchronizes with a reader's acquire load of 'flags', so a
     * reader that sees WRITER_EXITED also sees the final records. */
    atomic_store_explicit(word32(&hdr->flags), flags, memory_order_release);
}

void
rdma_bond_table_notify(struct rdma_bond_table_header *hdr)
{
    uint32_t *change_word = &hdr->change_word;
    uint32_t orig;

    /* Release: synchronizes with the acquire load of 'change_word' by a
     * reader that woke up, so that it sees the records written before this
     * call.  The records themselves are still read under their seqlocks. */
    atomic_add_explicit(word32(change_word), 1, &orig, memory_order_release);
    syscall(SYS_futex, change_word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}
