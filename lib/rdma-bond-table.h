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

#ifndef RDMA_BOND_TABLE_H
#define RDMA_BOND_TABLE_H 1

/* The rdma-bond table: ABI version 1.
 * ===================================
 *
 * Motivation
 * ----------
 *
 * RDMA queue pairs bypass Open vSwitch, so an RDMA library cannot follow an
 * OVS bond unless OVS tells it which member the bond uses for which flow.
 * ovs-vswitchd publishes every decision of every bond configured with
 * other_config:rdma-bond=true into a fixed-size shared-memory file, normally
 * /var/run/openvswitch/rdma-bond.shm.  This header is the whole contract
 * between that writer (C, inside ovs-vswitchd) and its readers (librdmabond,
 * rdma-bondctl, the agent; C++).  Both sides compile this very file.
 *
 * Layout
 * ------
 *
 * The file is one "struct rdma_bond_table_header" followed by
 * RDMA_BOND_MAX_BONDS copies of "struct rdma_bond_record".  There are no
 * pointers.  Every multi-byte field is in host byte order, except those
 * whose names end in "_be" (network byte order, as on the wire).  Sizes and
 * offsets are fixed for an ABI version; readers must check 'magic',
 * 'abi_version', 'header_size', 'record_size', 'n_slots', 'max_members' and
 * 'n_buckets' and refuse a file that does not match exactly.  Fields that
 * hold 0 or 1 ('in_use', 'lacp_fallback_ab') hold nothing else.
 *
 * Writer protocol
 * ---------------
 *
 * The only writer is ovs-vswitchd's main thread.  It creates the file under
 * a temporary name, initializes the header (including 'writer_pid' and a
 * first 'heartbeat_ns') and zeroes all records, and renames it into place,
 * so that a reader never sees a half-initialized header.  A restarted
 * ovs-vswitchd creates a new file (new inode) with a new random
 * 'instance_id'.  The writer creates the file when it first publishes a
 * bond; when it exits cleanly it sets RDMA_BOND_TABLE_WRITER_EXITED and
 * leaves the file in place.
 *
 * A bond with more than RDMA_BOND_MAX_MEMBERS members publishes the first
 * RDMA_BOND_MAX_MEMBERS by name and sets RDMA_BOND_F_TOO_MANY_MEMBERS; its
 * buckets that belong to the others read RDMA_BOND_NO_MEMBER.  A name
 * longer than RDMA_BOND_NAME_LEN - 1 is truncated and sets
 * RDMA_BOND_F_NAME_TRUNCATED: such names may collide and must not be used
 * to look members up.
 *
 * Each record is guarded by its own sequence count ('seq'), as in DPDK's
 * rte_seqcount.h and Linux's seqlock:
 *
 *     seq++ (odd), release fence, store the fields, seq++ (even, release).
 *
 * All record fields are stored as aligned 64-bit words with relaxed atomic
 * stores, so that a reader's relaxed atomic loads never form a data race.
 * After writing one or more records, the writer increments 'change_word'
 * and calls FUTEX_WAKE on it.
 *
 * Reader protocol
 * ---------------
 *
 * A reader opens the file O_RDONLY and maps it PROT_READ.  To copy a
 * record: acquire-load 'seq', retry if odd; copy the record with relaxed
 * atomic 64-bit loads; acquire fence; reload 'seq' and retry if it changed.
 * To wait for a change, read 'change_word' and FUTEX_WAIT on that value.
 * 'heartbeat_ns' (CLOCK_MONOTONIC) is refreshed at least every
 * RDMA_BOND_HEARTBEAT_MS milliseconds; a reader that sees it older than
 * RDMA_BOND_STALE_MS considers the writer hung or dead.
 *
 * Additions
 * ---------
 *
 * ABI v1 grows only compatibly: a new field takes the place of reserved
 * zeros or goes after everything that exists, and a header feature bit
 * says it is there.  Old readers map RDMA_BOND_TABLE_SIZE bytes, accept a
 * longer file and ignore the rest; new readers use an addition only when
 * its feature bit is set and the file is long enough, so an old writer's
 * table still reads (without the addition).  v1.1 (RDMA_BOND_ABI_MINOR 1)
 * adds each member's location: its OVS type, PCI function, kernel netdev,
 * DPDK port and devargs, which a reader needs to find the RDMA device of a
 * member that is not a kernel netdev (a DPDK port).  v1.2 adds the record
 * flag RDMA_BOND_F_RDMA_REBALANCE.
 *
 * Thread-safety
 * -------------
 *
 * Any number of readers in any number of processes, one writer.  The header
 * fields marked "atomic" below may change at any time and must be accessed
 * atomically; the other header fields are written once before the file is
 * renamed into place. */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define RDMA_BOND_STATIC_ASSERT(COND, MSG) static_assert(COND, MSG)
#else
#define RDMA_BOND_STATIC_ASSERT(COND, MSG) _Static_assert(COND, MSG)
#endif

/* "RDMABND1" read as a little-endian 64-bit number. */
#define RDMA_BOND_TABLE_MAGIC UINT64_C(0x31444e42414d4452)

/* Version of the layout below.  Any incompatible change bumps it. */
#define RDMA_BOND_ABI_VERSION 1

/* Compatible additions to ABI v1 ('minor_version'): 0, the original;
 * 1, the member locations (RDMA_BOND_FEATURE_LOCATIONS); 2, the record
 * flag RDMA_BOND_F_RDMA_REBALANCE (old readers ignore a flag they do not
 * know). */
#define RDMA_BOND_ABI_MINOR 2

/* Header feature bits ('features'): what this writer adds to ABI v1. */
enum rdma_bond_table_feature {
    RDMA_BOND_FEATURE_LOCATIONS = 1 << 0, /* The location area. */
};

/* Name of the table file in $OVS_RUNDIR. */
#define RDMA_BOND_TABLE_NAME "rdma-bond.shm"

/* Number of record slots: one per published bond, far above the handful of
 * bonds a host has. */
#define RDMA_BOND_MAX_BONDS 64

/* Members per bond: OVS has no limit, real bonds have 2 to 8 members. */
#define RDMA_BOND_MAX_MEMBERS 16

/* Buckets of a balance-tcp or balance-slb bond, as BOND_BUCKETS in
 * ofproto/bond.h. */
#define RDMA_BOND_BUCKETS 256

/* Names of bonds and members, including the null terminator.  OVS port and
 * interface names are not bounded by IFNAMSIZ, but longer names are not
 * used in practice; a longer name is truncated and flagged. */
#define RDMA_BOND_NAME_LEN 64

/* Self-test hash vectors per bond record. */
#define RDMA_BOND_N_VECTORS 8

/* Bucket value for "no member assigned yet". */
#define RDMA_BOND_NO_MEMBER 0xff

/* The writer refreshes 'heartbeat_ns' at least this often. */
#define RDMA_BOND_HEARTBEAT_MS 500

/* Readers consider a heartbeat older than this stale (writer hung or
 * dead): several heartbeat periods, so that a busy main loop is not taken
 * for a dead one. */
#define RDMA_BOND_STALE_MS 3000

RDMA_BOND_STATIC_ASSERT(RDMA_BOND_MAX_MEMBERS < RDMA_BOND_NO_MEMBER,
                        "member indexes must not collide with NO_MEMBER");
RDMA_BOND_STATIC_ASSERT(RDMA_BOND_STALE_MS > 2 * RDMA_BOND_HEARTBEAT_MS,
                        "a stale heartbeat must span several periods");

/* Bond balancing mode, as enum bond_mode in ofproto/bond.h but with stable
 * values. */
enum rdma_bond_mode {
    RDMA_BOND_MODE_ACTIVE_BACKUP = 1,
    RDMA_BOND_MODE_BALANCE_TCP = 2,
    RDMA_BOND_MODE_BALANCE_SLB = 3,
};

/* LACP status, as enum lacp_status in lib/lacp.h but with stable values. */
enum rdma_bond_lacp_status {
    RDMA_BOND_LACP_OFF = 1,         /* LACP is not configured. */
    RDMA_BOND_LACP_NEGOTIATED = 2,  /* LACP is configured and negotiated. */
    RDMA_BOND_LACP_FAILED = 3,      /* Configured, but negotiation failed. */
};

/* Where the bucket hash of a flow is computed, which decides how it is
 * computed.  't' is the flow's 5-tuple, flow_hash_5tuple() is the function
 * of that name in lib/flow.c and hash_int() the one in lib/hash.h. */
enum rdma_bond_hash_regime {
    /* The hash does not choose the member: active-backup, a balance-tcp
     * bond that falls back to active-backup, or a balance-tcp bond without
     * negotiated LACP (which drops). */
    RDMA_BOND_REGIME_NONE = 1,

    /* Userspace datapath with recirculation: the datapath hashes
     * H = hash_int(flow_hash_5tuple(t, 0), basis). */
    RDMA_BOND_REGIME_RECIRC = 2,

    /* Userspace datapath with the lb_output action: the datapath indexes
     * the buckets with the packet's RSS hash, H = flow_hash_5tuple(t, 0);
     * the basis is ignored. */
    RDMA_BOND_REGIME_LB_OUTPUT = 3,

    /* No recirculation in the datapath: the bond hashes at translation
     * time, H = flow_hash_5tuple(t, basis). */
    RDMA_BOND_REGIME_XLATE = 4,

    /* Kernel datapath with recirculation: the kernel hashes the skb hash
     * (random seed, per-socket) with the basis.  Not reproducible outside
     * the kernel; readers may use the canonical flow_hash_5tuple(t, 0)
     * and must confirm paths by probing. */
    RDMA_BOND_REGIME_KERNEL = 5,

    /* balance-slb: H = hash_mac(eth_src, vlan, basis). */
    RDMA_BOND_REGIME_SLB = 6,
};

/* Implementation of hash_add()/hash_finish() compiled into the writer. */
enum rdma_bond_hash_impl {
    RDMA_BOND_HASH_MHASH = 1,       /* Portable murmur-style, lib/hash.h. */
    RDMA_BOND_HASH_X86_CRC32 = 2,   /* x86-64 SSE4.2 crc32. */
    RDMA_BOND_HASH_ARM64_CRC32 = 3, /* aarch64 crc32. */
};

/* Reason bits of a record's last change ('reasons'). */
enum rdma_bond_reason {
    RDMA_BOND_REASON_ADDED = 1 << 0,         /* First published. */
    RDMA_BOND_REASON_ACTIVE_MEMBER = 1 << 1, /* Active member changed. */
    RDMA_BOND_REASON_MEMBER_STATE = 1 << 2,  /* Enabled/may_enable/carrier. */
    RDMA_BOND_REASON_LACP = 1 << 3,          /* LACP status changed. */
    RDMA_BOND_REASON_REBALANCE = 1 << 4,     /* Buckets moved. */
    RDMA_BOND_REASON_RECONFIGURE = 1 << 5,   /* Mode, basis, members,
                                              * fallback or lb-output. */
    RDMA_BOND_REASON_DELETED = 1 << 6,       /* Bond deleted: slot free. */
    RDMA_BOND_REASON_KEY_OFF = 1 << 7,       /* rdma-bond key removed:
                                              * slot free. */
};

/* Header flags ('flags'). */
enum rdma_bond_table_flag {
    RDMA_BOND_TABLE_WRITER_EXITED = 1 << 0, /* ovs-vswitchd exited cleanly;
                                             * the table will not change. */
};

/* Record flags ('flags' in struct rdma_bond_record). */
enum rdma_bond_record_flag {
    RDMA_BOND_F_LB_OUTPUT_CONFIGURED = 1 << 0, /* lb-output-action=true. */
    RDMA_BOND_F_LB_OUTPUT_ACTIVE = 1 << 1,     /* ...and in use. */
    RDMA_BOND_F_MAY_RECIRC = 1 << 2,           /* Bond may recirculate. */
    RDMA_BOND_F_DP_RECIRC = 1 << 3,            /* Datapath recirculates. */
    RDMA_BOND_F_USERSPACE_DP = 1 << 4,         /* Userspace datapath. */
    RDMA_BOND_F_NAME_TRUNCATED = 1 << 5,       /* A name was truncated. */
    RDMA_BOND_F_TOO_MANY_MEMBERS = 1 << 6,     /* Members beyond
                                                * RDMA_BOND_MAX_MEMBERS
                                                * are not shown. */
    RDMA_BOND_F_RDMA_REBALANCE = 1 << 7,       /* v1.2: the bond counts
                                                * the agent's RDMA load
                                                * when it rebalances
                                                * (rdma-bond-rebalance=
                                                * true): a connection
                                                * should move the
                                                * traffic of a bucket
                                                * that moves. */
};

/* Member flags ('flags' in struct rdma_bond_member). */
enum rdma_bond_member_flag {
    RDMA_BOND_M_ENABLED = 1 << 0,    /* Bond may send on this member. */
    RDMA_BOND_M_MAY_ENABLE = 1 << 1, /* LACP/CFM allow it. */
    RDMA_BOND_M_CARRIER = 1 << 2,    /* Link has carrier. */
    RDMA_BOND_M_PRIMARY = 1 << 3,    /* Configured bond-primary. */
};

/* The table header.  Fields marked "atomic" change while readers look. */
struct rdma_bond_table_header {
    uint64_t magic;              /* RDMA_BOND_TABLE_MAGIC. */
    uint32_t abi_version;        /* RDMA_BOND_ABI_VERSION. */
    uint32_t header_size;        /* sizeof(struct rdma_bond_table_header). */
    uint32_t record_size;        /* sizeof(struct rdma_bond_record). */
    uint32_t n_slots;            /* RDMA_BOND_MAX_BONDS. */
    uint32_t max_members;        /* RDMA_BOND_MAX_MEMBERS. */
    uint32_t n_buckets;          /* RDMA_BOND_BUCKETS. */
    uint64_t instance_id;        /* Random, new for every writer start. */
    uint64_t start_ns;           /* CLOCK_MONOTONIC at writer start. */
    uint32_t writer_pid;         /* Process id of ovs-vswitchd. */
    uint32_t hash_impl;          /* enum rdma_bond_hash_impl. */
    char ovs_version[32];        /* Writer's OVS version, e.g. "3.1.0". */

    /* Atomic fields. */
    uint64_t heartbeat_ns;       /* Atomic: CLOCK_MONOTONIC, refreshed at
                                  * least every RDMA_BOND_HEARTBEAT_MS. */
    uint32_t change_word;        /* Atomic: incremented on every publish;
                                  * futex word for FUTEX_WAIT/WAKE. */
    uint32_t n_used;             /* Atomic: number of slots in use. */
    uint32_t flags;              /* Atomic: enum rdma_bond_table_flag. */
    uint32_t pad0;               /* Zero. */

    /* ABI v1 additions (see "Additions" above).  Zero in a writer that
     * predates them; old readers ignore them. */
    uint32_t minor_version;      /* RDMA_BOND_ABI_MINOR of the writer. */
    uint32_t features;           /* enum rdma_bond_table_feature. */
    uint64_t locations_offset;   /* RDMA_BOND_FEATURE_LOCATIONS: offset of
                                  * the location area from the start of
                                  * the file (RDMA_BOND_LOCATIONS_OFFSET). */
    uint32_t location_size;      /* sizeof(struct
                                  * rdma_bond_member_location). */
    uint32_t pad1;               /* Zero. */
    uint64_t reserved[3];        /* Zero: room for more. */
};

/* One member of a published bond. */
struct rdma_bond_member {
    char name[RDMA_BOND_NAME_LEN]; /* Interface name, null-terminated. */
    uint32_t ifindex;            /* Kernel ifindex, 0 if none (dummy). */
    uint32_t ofport;             /* OpenFlow port number. */
    uint8_t mac[6];              /* Ethernet address. */
    uint16_t flags;              /* enum rdma_bond_member_flag. */
    uint32_t pad0[2];            /* Zero. */
};

/* Where a member's traffic really goes ('kind' in struct
 * rdma_bond_member_location). */
enum rdma_bond_member_kind {
    RDMA_BOND_KIND_UNKNOWN = 0,     /* The writer could not tell. */
    RDMA_BOND_KIND_KERNEL = 1,      /* A kernel network device ("system" and
                                     * the other netdev-linux types): the
                                     * member's name is its netdev. */
    RDMA_BOND_KIND_DPDK = 2,        /* A DPDK port (type "dpdk"). */
};

/* Location flags ('flags' in struct rdma_bond_member_location). */
enum rdma_bond_location_flag {
    RDMA_BOND_L_DEVARGS_TRUNCATED = 1 << 0, /* 'devargs' was cut short. */
    RDMA_BOND_L_RX_RSS = 1 << 1,    /* DPDK port with RSS on: packets it
                                     * receives carry the NIC's RSS hash,
                                     * which the userspace datapath uses as
                                     * their bucket hash in the RECIRC and
                                     * LB_OUTPUT regimes (not reproducible
                                     * from the 5-tuple).  Traffic the host
                                     * sends (internal, tap and vhost ports)
                                     * is hashed in software as the regime
                                     * says. */
};

/* How to find a member's device, for a reader that needs its RDMA device
 * (RDMA_BOND_FEATURE_LOCATIONS).  Strings are null-terminated, "" when
 * unknown; a PCI address is in the kernel's form "0000:03:00.0". */
struct rdma_bond_member_location {
    uint32_t kind;               /* enum rdma_bond_member_kind. */
    uint32_t flags;              /* enum rdma_bond_location_flag. */
    char netdev_type[16];        /* The interface's OVS type: "system",
                                  * "dpdk", "afxdp"... */
    char pci[16];                /* The PCI function: the kernel netdev's
                                  * device, or the DPDK port's PCI device
                                  * (dpdk-devargs "0000:03:00.0"). */
    char kernel_netdev[16];      /* The kernel netdev of the port: the
                                  * member for KERNEL; for DPDK, the one of
                                  * its PCI function (bifurcated drivers
                                  * such as mlx5) or the one named by
                                  * "iface=" (net_af_packet, net_af_xdp). */
    uint32_t dpdk_port;          /* DPDK port id, or UINT32_MAX. */
    uint32_t pad0;               /* Zero. */
    char devargs[96];            /* dpdk-devargs as the port was attached
                                  * (DPDK's device name and arguments). */
};

/* One self-test vector: a 5-tuple and the hashes this very ovs-vswitchd
 * computed for it.  IPv4 addresses are in the first 4 bytes of 'src' and
 * 'dst' (the rest zero). */
struct rdma_bond_hash_vector {
    uint8_t src[16];             /* Source address, network byte order. */
    uint8_t dst[16];             /* Destination address. */
    uint16_t sport_be;           /* UDP source port, network byte order. */
    uint16_t dport_be;           /* UDP destination port. */
    uint8_t ip_version;          /* 4 or 6. */
    uint8_t nw_proto;            /* IPPROTO_UDP. */
    uint16_t pad0;               /* Zero. */
    uint32_t hash_basis0;        /* flow_hash_5tuple(t, 0). */
    uint32_t hash_basis;         /* flow_hash_5tuple(t, basis). */
    uint32_t hash_regime;        /* The bond's regime hash H(t), or 0 when
                                  * the regime is NONE, KERNEL or SLB. */
    uint32_t pad1;               /* Zero. */
};

/* The flows of the self-test vectors, in vector order: IPv4 and IPv6
 * RoCEv2 flows (UDP to port 4791) whose hashes the publisher stores in every
 * record and every reader recomputes on attach, to prove that it hashes
 * exactly as this ovs-vswitchd does.  The one list: the publisher, the
 * golden-value generator and the tests all read it.  Use as
 *
 *     static const struct rdma_bond_self_test_tuple tuples[]
 *         = RDMA_BOND_SELF_TEST_TUPLES;
 *
 * Part of the table's contract: a reader may check that a record's vectors
 * hold these flows. */
struct rdma_bond_self_test_tuple {
    const char *src;             /* Source address, text. */
    const char *dst;             /* Destination address, text. */
    uint16_t sport;              /* UDP source port. */
};
#define RDMA_BOND_SELF_TEST_TUPLES {                    \
    { "10.0.0.1", "10.0.0.2", 0xc000 },                 \
    { "10.0.0.2", "10.0.0.1", 0xc001 },                 \
    { "192.168.10.11", "192.168.20.22", 0xd5a3 },       \
    { "172.16.255.254", "172.16.0.1", 0xffff },         \
    { "fd00::1", "fd00::2", 0xc000 },                   \
    { "fd00::2", "fd00::1", 0xe123 },                   \
    { "2001:db8:1::10", "2001:db8:2::20", 0xf00d },     \
    { "fe80::1", "fe80::abcd:ef01:2345:6789", 0xffff }, \
}

/* One published bond.  Protected by 'seq' (see the writer and reader
 * protocols above). */
struct rdma_bond_record {
    uint64_t seq;                /* Sequence count: odd while written. */
    uint64_t generation;         /* Incremented on every change of this
                                  * slot, including its release. */
    uint64_t change_ns;          /* CLOCK_MONOTONIC of the last change. */
    uint32_t reasons;            /* enum rdma_bond_reason of last change. */
    uint32_t in_use;             /* 1 if this slot holds a bond, else 0. */
    char name[RDMA_BOND_NAME_LEN]; /* Bond (port) name. */
    char dp_type[16];            /* Datapath type, e.g. "netdev". */
    uint8_t mode;                /* enum rdma_bond_mode. */
    uint8_t lacp_status;         /* enum rdma_bond_lacp_status. */
    uint8_t lacp_fallback_ab;    /* 1 if lacp-fallback-ab=true. */
    uint8_t regime;              /* enum rdma_bond_hash_regime. */
    uint8_t n_members;           /* Entries used in 'members'. */
    uint8_t active_member;       /* Index into 'members' or
                                  * RDMA_BOND_NO_MEMBER. */
    uint8_t n_vectors;           /* Entries used in 'vectors'. */
    uint8_t pad0;                /* Zero. */
    uint32_t basis;              /* bond-hash-basis. */
    uint32_t flags;              /* enum rdma_bond_record_flag. */
    uint32_t recirc_id;          /* Recirculation id (also the lb_output
                                  * bond id), 0 if none. */
    uint32_t pad1;               /* Zero. */
    struct rdma_bond_member members[RDMA_BOND_MAX_MEMBERS]; /* By name. */
    uint8_t buckets[RDMA_BOND_BUCKETS]; /* Member index per bucket, or
                                         * RDMA_BOND_NO_MEMBER. */
    struct rdma_bond_hash_vector vectors[RDMA_BOND_N_VECTORS];
};

RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_table_header) == 160,
                        "header layout is part of ABI v1");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_member) == 88,
                        "member layout is part of ABI v1");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_hash_vector) == 56,
                        "vector layout is part of ABI v1");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_record) == 2248,
                        "record layout is part of ABI v1");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_member_location) == 160,
                        "location layout is part of ABI v1.1");
RDMA_BOND_STATIC_ASSERT(offsetof(struct rdma_bond_table_header,
                                 minor_version) == 112,
                        "v1.1 fields take the place of v1.0's reserved");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_record) % 8 == 0,
                        "records are copied as 64-bit words");
RDMA_BOND_STATIC_ASSERT(sizeof(struct rdma_bond_table_header) % 8 == 0,
                        "records must stay 64-bit aligned");
RDMA_BOND_STATIC_ASSERT(offsetof(struct rdma_bond_table_header,
                                 change_word) % 4 == 0,
                        "the futex word must be 4-byte aligned");

/* Size of the header and the records: the whole file of ABI v1.0, and
 * what every reader maps. */
#define RDMA_BOND_TABLE_SIZE                                    \
    (sizeof(struct rdma_bond_table_header)                      \
     + RDMA_BOND_MAX_BONDS * sizeof(struct rdma_bond_record))

/* The location area (RDMA_BOND_FEATURE_LOCATIONS): right after the
 * records, RDMA_BOND_MAX_MEMBERS locations per slot, slot after slot.
 * Location i of slot s describes members[i] of record s and is written
 * under that record's 'seq'. */
#define RDMA_BOND_LOCATIONS_OFFSET RDMA_BOND_TABLE_SIZE
#define RDMA_BOND_LOCATIONS_SIZE                                \
    (RDMA_BOND_MAX_BONDS * RDMA_BOND_MAX_MEMBERS                \
     * sizeof(struct rdma_bond_member_location))

/* Size of the file this writer creates. */
#define RDMA_BOND_TABLE_FILE_SIZE                               \
    (RDMA_BOND_LOCATIONS_OFFSET + RDMA_BOND_LOCATIONS_SIZE)

#ifdef __cplusplus
}
#endif

#endif /* rdma-bond-table.h */
