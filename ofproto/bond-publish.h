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

#ifndef BOND_PUBLISH_H
#define BOND_PUBLISH_H 1

/* Bond publisher.
 * ===============
 *
 * Motivation
 * ----------
 *
 * RDMA queue pairs bypass Open vSwitch: each one lives on one RDMA NIC and
 * sends straight out of that NIC's port.  When two ports of two NICs form an
 * OVS bond, an RDMA library must know which member OVS uses for which flow
 * to place its queue pairs on the same member, or the switches see the
 * host's MAC flap between ports (active-backup) or return traffic lands on
 * the wrong NIC (balance-tcp).  The bond publisher exports every decision of
 * every bond configured with other_config:rdma-bond=true into the rdma-bond
 * table, a shared-memory file described in lib/rdma-bond-table.h, and
 * answers "ovs-appctl rdma-bond/show" and "rdma-bond/lookup".
 *
 * The publisher is control plane only: it reads what ofproto/bond.c decided
 * and never changes a decision or the datapath.
 *
 * Usage
 * -----
 *
 * bridge.c calls bond_publish_init() once, bond_publish_run() at the end of
 * every bridge_run(), bond_publish_wait() from bridge_wait() and
 * bond_publish_exit() on exit.  bond_publish_run() asks ofproto/bond.c for a
 * view of every bond (bond_publish_collect()), compares it with what was
 * published last and rewrites the records that changed, so a decision is
 * visible to readers within the main-loop iteration that made it.  When
 * nothing changes, the only periodic work is the heartbeat.
 *
 * Thread-safety
 * -------------
 *
 * Main thread only, like the rest of the bridge. */

#include <stdbool.h>
#include <stdint.h>

#include "bond.h"
#include "lacp.h"
#include "rdma-bond-table.h"

struct netdev;
struct ofproto_dpif;

/* One member of a bond, as ofproto/bond.c reports it to the publisher.  The
 * pointers are owned by the bond and valid only during the callback of
 * bond_publish_collect(). */
struct bond_publish_member {
    const void *id;             /* Identifies the member in 'buckets'. */
    const char *name;           /* Interface name. */
    struct netdev *netdev;      /* The member's network device. */
    ofp_port_t ofp_port;        /* OpenFlow port number. */
    bool enabled;               /* May be chosen for flows. */
    bool may_enable;            /* LACP/CFM consider it bondable. */
    bool is_primary;            /* Configured as bond-primary. */
};

/* A bond's decisions, as ofproto/bond.c reports them to the publisher
 * through bond_publish_collect().  Valid only during the callback. */
struct bond_publish_view {
    const char *name;           /* Bond (port) name. */
    bool publish;               /* other_config:rdma-bond=true. */
    bool rdma_rebalance;        /* other_config:rdma-bond-rebalance=true. */
    struct ofproto_dpif *ofproto; /* Bridge, for the datapath's features. */
    enum bond_mode balance;     /* Balancing mode. */
    enum lacp_status lacp_status; /* Status of LACP negotiations. */
    bool lacp_fallback_ab;      /* lacp-fallback-ab=true. */
    uint32_t basis;             /* bond-hash-basis. */
    uint32_t recirc_id;         /* Recirculation id, 0 if none. */
    bool may_recirc;            /* bond_may_recirc(). */
    bool lb_output_configured;  /* lb-output-action=true was accepted. */
    bool lb_output_active;      /* bond_use_lb_output_action(). */
    const void *active;         /* 'id' of the active member or NULL. */

    /* Members, in no particular order.  'n_members' counts them all, even
     * beyond the RDMA_BOND_MAX_MEMBERS + 1 that fit in 'members'. */
    struct bond_publish_member members[RDMA_BOND_MAX_MEMBERS + 1];
    size_t n_members;

    /* 'id' of the member assigned to each bucket, NULL if none (or if the
     * bond has no buckets, as in active-backup). */
    const void *buckets[RDMA_BOND_BUCKETS];
};

void bond_publish_init(void);

/* CLOCK_MONOTONIC in nanoseconds: the clock of the tables' time fields,
 * shared with other processes (unlike time_msec(), which tests warp). */
uint64_t bond_publish_monotonic_ns(void);
void bond_publish_run(void);
void bond_publish_wait(void);
void bond_publish_exit(void);

#endif /* bond-publish.h */
