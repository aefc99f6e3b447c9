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

#include "bond-publish.h"
#include "bond-rdma-load.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dirs.h"
#include "dpif-netdev.h"
#include "openvswitch/hmap.h"
#include "flow.h"
#include "hash.h"
#include "netdev.h"
#include "netdev-provider.h"
#include "ofproto/ofproto-dpif.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/ofp-parse.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "random.h"
#include "rdma-bond-table-writer.h"
#include "smap.h"
#include "sset.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

#ifdef DPDK_NETDEV
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include "netdev-dpdk.h"
#endif

VLOG_DEFINE_THIS_MODULE(bond_publish);

/* The heartbeat is refreshed every half of the period that the table's
 * contract promises, so that a main loop woken a little late still keeps
 * the promise. */
#define BOND_PUBLISH_HEARTBEAT_MS (RDMA_BOND_HEARTBEAT_MS / 2)
BUILD_ASSERT_DECL(BOND_PUBLISH_HEARTBEAT_MS > 0);

/* After failing to create the table, wait this long before trying again, so
 * that a read-only run directory does not fill the log. */
#define BOND_PUBLISH_RETRY_MS 5000

/* RoCEv2's UDP destination port. */
#define BOND_PUBLISH_ROCE_PORT 4791

/* A slot of the table as the publisher last wrote it. */
struct bond_publish_slot {
    struct rdma_bond_record rec; /* Last content stored into the table. */
    struct rdma_bond_member_location locs[RDMA_BOND_MAX_MEMBERS];
                                 /* ...and its members' locations. */
    bool matched;                /* Claimed by a bond in this pass. */
};

/* The locations of one record's members. */
typedef struct rdma_bond_member_location
    bond_publish_locs[RDMA_BOND_MAX_MEMBERS];

/* The bonds seen by one bond_publish_collect() pass. */
struct bond_publish_pass {
    struct rdma_bond_record *recs; /* Records built for published bonds. */
    bond_publish_locs *locs;       /* Their members' locations. */
    size_t n_recs;                 /* Number of records in 'recs'. */
    size_t n_dropped;              /* Published bonds that did not fit. */
    struct sset unpublished;       /* Names of bonds with the key off. */
};

/* The table file, its mapping and what the publisher last wrote to it. */
static char *table_path;        /* $OVS_RUNDIR/rdma-bond.shm. */
static struct rdma_bond_table_header *table_hdr; /* Mapping, or NULL. */
static struct rdma_bond_record *table_recs;      /* Records in the mapping. */
static bond_publish_locs *table_locs;  /* Location area in the mapping. */
static struct bond_publish_slot slots[RDMA_BOND_MAX_BONDS];
static long long int next_heartbeat = LLONG_MIN; /* In time_msec(). */
static long long int next_create_retry = LLONG_MIN; /* In time_msec(). */

/* Names of the bonds that exist with other_config:rdma-bond unset, as of the
 * last run, so that the commands can tell "not published" from "no such
 * bond". */
static struct sset unpublished_bonds = SSET_INITIALIZER(&unpublished_bonds);

/* Self-test tuples (lib/rdma-bond-table.h): IPv4 and IPv6 RoCEv2 flows
 * whose hashes every reader recomputes on attach to prove that it hashes
 * exactly as this ovs-vswitchd does. */
static const struct rdma_bond_self_test_tuple
self_test_tuples[RDMA_BOND_N_VECTORS] = RDMA_BOND_SELF_TEST_TUPLES;

static void bond_publish_unixctl_show(struct unixctl_conn *, int argc,
                                      const char *argv[], void *aux);
static void bond_publish_unixctl_lookup(struct unixctl_conn *, int argc,
                                        const char *argv[], void *aux);

/* Returns CLOCK_MONOTONIC in nanoseconds: the clock of the table's time
 * fields, shared with readers in other processes (unlike time_msec(), which
 * tests may warp). */
uint64_t
bond_publish_monotonic_ns(void)
{
    struct timespec ts;

    xclock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns the hash_add()/hash_finish() implementation that lib/hash.h
 * selected for this build, by the same test that lib/hash.h uses. */
static enum rdma_bond_hash_impl
compiled_hash_impl(void)
{
#if defined(__ARM_FEATURE_CRC32) && defined(__aarch64__)
    return RDMA_BOND_HASH_ARM64_CRC32;
#elif defined(__SSE4_2__) && defined(__x86_64__)
    return RDMA_BOND_HASH_X86_CRC32;
#else
    return RDMA_BOND_HASH_MHASH;
#endif
}

static const char *
hash_impl_name(enum rdma_bond_hash_impl impl)
{
    switch (impl) {
    case RDMA_BOND_HASH_MHASH:
        return "mhash";
    case RDMA_BOND_HASH_X86_CRC32:
        return "x86-crc32";
    case RDMA_BOND_HASH_ARM64_CRC32:
        return "arm64-crc32";
    }
    return "unknown";
}

static const char *
mode_name(uint8_t mode)
{
    switch (mode) {
    case RDMA_BOND_MODE_ACTIVE_BACKUP:
        return "active-backup";
    case RDMA_BOND_MODE_BALANCE_TCP:
        return "balance-tcp";
    case RDMA_BOND_MODE_BALANCE_SLB:
        return "balance-slb";
    }
    return "unknown";
}

static const char *
lacp_name(uint8_t lacp)
{
    switch (lacp) {
    case RDMA_BOND_LACP_OFF:
        return "off";
    case RDMA_BOND_LACP_NEGOTIATED:
        return "negotiated";
    case RDMA_BOND_LACP_FAILED:
        return "failed";
    }
    return "unknown";
}

static const char *
regime_name(uint8_t regime)
{
    switch (regime) {
    case RDMA_BOND_REGIME_NONE:
        return "none";
    case RDMA_BOND_REGIME_RECIRC:
        return "recirc";
    case RDMA_BOND_REGIME_LB_OUTPUT:
        return "lb-output";
    case RDMA_BOND_REGIME_XLATE:
        return "xlate";
    case RDMA_BOND_REGIME_KERNEL:
        return "kernel";
    case RDMA_BOND_REGIME_SLB:
        return "slb";
    }
    return "unknown";
}

/* Returns a sentence saying how 'regime' computes a flow's bucket. */
static const char *
regime_description(uint8_t regime)
{
    switch (regime) {
    case RDMA_BOND_REGIME_NONE:
        return "no hash: one member (or none) carries every flow";
    case RDMA_BOND_REGIME_RECIRC:
        return "userspace datapath, recirculation: "
               "hash_int(flow_hash_5tuple(flow, 0), basis)";
    case RDMA_BOND_REGIME_LB_OUTPUT:
        return "userspace datapath, lb_output action: "
               "flow_hash_5tuple(flow, 0), basis ignored";
    case RDMA_BOND_REGIME_XLATE:
        return "datapath without recirculation, hashed at translation: "
               "flow_hash_5tuple(flow, basis)";
    case RDMA_BOND_REGIME_KERNEL:
        return "kernel datapath: the kernel hashes the skb hash (random "
               "seed, per socket); this regime cannot be reproduced outside "
               "the datapath, so readers pin by flow_hash_5tuple(flow, 0) "
               "and must confirm paths by probing";
    case RDMA_BOND_REGIME_SLB:
        return "source MAC: hash_mac(eth_src, vlan, basis)";
    }
    return "unknown";
}

static const char *const reason_names[] = {
    "added", "active-member", "member-state", "lacp", "rebalance",
    "reconfigure", "deleted", "key-off",
};

static void
format_reasons(struct ds *ds, uint32_t reasons)
{
    bool first = true;

    for (size_t i = 0; i < ARRAY_SIZE(reason_names); i++) {
        if (reasons & (1u << i)) {
            ds_put_format(ds, "%s%s", first ? "" : ",", reason_names[i]);
            first = false;
        }
    }
    if (first) {
        ds_put_cstr(ds, "none");
    }
}

/* Copies 'src' into 'dst' of 'size' bytes, flagging truncation in
 * '*flags'. */
static void
copy_name(char *dst, size_t size, const char *src, uint32_t *flags)
{
    if (strlen(src) >= size) {
        *flags |= RDMA_BOND_F_NAME_TRUNCATED;
    }
    ovs_strlcpy(dst, src, size);
}

static uint8_t
mode_to_abi(enum bond_mode mode)
{
    switch (mode) {
    case BM_TCP:
        return RDMA_BOND_MODE_BALANCE_TCP;
    case BM_SLB:
        return RDMA_BOND_MODE_BALANCE_SLB;
    case BM_AB:
        return RDMA_BOND_MODE_ACTIVE_BACKUP;
    }
    OVS_NOT_REACHED();
}

static uint8_t
lacp_to_abi(enum lacp_status status)
{
    switch (status) {
    case LACP_NEGOTIATED:
        return RDMA_BOND_LACP_NEGOTIATED;
    case LACP_CONFIGURED:
        return RDMA_BOND_LACP_FAILED;
    case LACP_DISABLED:
        return RDMA_BOND_LACP_OFF;
    }
    OVS_NOT_REACHED();
}

/* Returns the regime that decides the member of a flow on the bond that
 * 'rec' describes, following choose_output_member() in ofproto/bond.c and
 * the way the datapath executes the bond's actions. */
static uint8_t
regime_of(const struct rdma_bond_record *rec)
{
    if (rec->lacp_status == RDMA_BOND_LACP_FAILED) {
        /* Dropped, or active-backup with lacp-fallback-ab. */
        return RDMA_BOND_REGIME_NONE;
    }
    switch (rec->mode) {
    case RDMA_BOND_MODE_ACTIVE_BACKUP:
        return RDMA_BOND_REGIME_NONE;
    case RDMA_BOND_MODE_BALANCE_SLB:
        return RDMA_BOND_REGIME_SLB;
    case RDMA_BOND_MODE_BALANCE_TCP:
        if (rec->lacp_status != RDMA_BOND_LACP_NEGOTIATED) {
            return RDMA_BOND_REGIME_NONE;   /* Dropped. */
        }
        if (!(rec->flags & RDMA_BOND_F_DP_RECIRC)
            || !(rec->flags & RDMA_BOND_F_MAY_RECIRC)) {
            return RDMA_BOND_REGIME_XLATE;
        }
        if (!(rec->flags & RDMA_BOND_F_USERSPACE_DP)) {
            return RDMA_BOND_REGIME_KERNEL;
        }
        return (rec->flags & RDMA_BOND_F_LB_OUTPUT_ACTIVE
                ? RDMA_BOND_REGIME_LB_OUTPUT
                : RDMA_BOND_REGIME_RECIRC);
    }
    return RDMA_BOND_REGIME_NONE;
}

/* Returns the bucket hash of 'flow' on the bond 'rec' under its regime, as
 * the datapath computes it.  For the kernel regime, which cannot be
 * reproduced, returns the canonical flow_hash_5tuple(flow, 0). */
static uint32_t
regime_hash(const struct rdma_bond_record *rec, const struct flow *flow)
{
    switch (rec->regime) {
    case RDMA_BOND_REGIME_RECIRC:
        return hash_int(flow_hash_5tuple(flow, 0), rec->basis);
    case RDMA_BOND_REGIME_LB_OUTPUT:
    case RDMA_BOND_REGIME_KERNEL:
        return flow_hash_5tuple(flow, 0);
    case RDMA_BOND_REGIME_XLATE:
        return flow_hash_5tuple(flow, rec->basis);
    case RDMA_BOND_REGIME_SLB:
        return hash_mac(flow->dl_src, vlan_tci_to_vid(flow->vlans[0].tci),
                        rec->basis);
    case RDMA_BOND_REGIME_NONE:
    default:
        return 0;
    }
}

/* Fills 'flow' with the UDP 5-tuple of self-test tuple 'i'. */
static void
self_test_flow(size_t i, struct flow *flow)
{
    memset(flow, 0, sizeof *flow);
    if (strchr(self_test_tuples[i].src, ':')) {
        flow->dl_type = htons(ETH_TYPE_IPV6);
        ovs_assert(ipv6_parse(self_test_tuples[i].src, &flow->ipv6_src));
        ovs_assert(ipv6_parse(self_test_tuples[i].dst, &flow->ipv6_dst));
    } else {
        flow->dl_type = htons(ETH_TYPE_IP);
        ovs_assert(ip_parse(self_test_tuples[i].src, &flow->nw_src));
        ovs_assert(ip_parse(self_test_tuples[i].dst, &flow->nw_dst));
    }
    flow->nw_proto = IPPROTO_UDP;
    flow->tp_src = htons(self_test_tuples[i].sport);
    flow->tp_dst = htons(BOND_PUBLISH_ROCE_PORT);
}

/* Fills the self-test vectors of 'rec', whose basis and regime are set. */
static void
fill_vectors(struct rdma_bond_record *rec)
{
    rec->n_vectors = RDMA_BOND_N_VECTORS;
    for (size_t i = 0; i < RDMA_BOND_N_VECTORS; i++) {
        struct rdma_bond_hash_vector *v = &rec->vectors[i];
        struct flow flow;

        self_test_flow(i, &flow);
        if (flow.dl_type == htons(ETH_TYPE_IPV6)) {
            v->ip_version = 6;
            memcpy(v->src, &flow.ipv6_src, 16);
            memcpy(v->dst, &flow.ipv6_dst, 16);
        } else {
            v->ip_version = 4;
            memcpy(v->src, &flow.nw_src, 4);
            memcpy(v->dst, &flow.nw_dst, 4);
        }
        v->sport_be = flow.tp_src;
        v->dport_be = flow.tp_dst;
        v->nw_proto = flow.nw_proto;
        v->hash_basis0 = flow_hash_5tuple(&flow, 0);
        v->hash_basis = flow_hash_5tuple(&flow, rec->basis);
        v->hash_regime = (rec->regime == RDMA_BOND_REGIME_KERNEL
                          || rec->regime == RDMA_BOND_REGIME_SLB
                          ? 0 : regime_hash(rec, &flow));
    }
}

static int
compare_members_by_name(const void *a_, const void *b_)
{
    const struct bond_publish_member *const *a = a_;
    const struct bond_publish_member *const *b = b_;

    return strcmp((*a)->name, (*b)->name);
}

/* Returns the index in 'rec''s members of the member of 'view' with 'id',
 * or RDMA_BOND_NO_MEMBER. */
static uint8_t
member_index(const struct bond_publish_member *sorted[], size_t n,
             const void *id)
{
    for (size_t i = 0; id && i < n; i++) {
        if (sorted[i]->id == id) {
            return i;
        }
    }
    return RDMA_BOND_NO_MEMBER;
}

/* A member's location as last computed, kept between passes because it
 * costs system calls: computed again when the member's netdev or its
 * change sequence changes (a new dpdk-devargs reconfigures the port). */
struct location_entry {
    struct hmap_node node;       /* In 'locations', by hash of 'name'. */
    char *name;                  /* Member name. */
    const struct netdev *netdev; /* The netdev it was computed for. */
    uint64_t change_seq;         /* netdev_get_change_seq() then. */
    uint64_t pass;               /* Last pass that used it. */
    struct rdma_bond_member_location loc;
};
static struct hmap locations = HMAP_INITIALIZER(&locations);
static uint64_t location_pass;

/* Whether 's' is a PCI address as the kernel and DPDK write it,
 * "0000:03:00.0". */
static bool
is_pci_address(const char *s)
{
    static const char form[] = "xxxx:xx:xx.x";

    if (strlen(s) != sizeof form - 1) {
        return false;
    }
    for (size_t i = 0; i < sizeof form - 1; i++) {
        if (form[i] == 'x' ? !isxdigit((unsigned char) s[i])
                             || isupper((unsigned char) s[i])
                           : s[i] != form[i]) {
            return false;
        }
    }
    return true;
}

/* Copies 'src' into 'dst' if it fits, else leaves 'dst' empty: a cut PCI
 * address or netdev name would name another device. */
static void
copy_if_fits(char *dst, size_t size, const char *src)
{
    if (src && strlen(src) < size) {
        ovs_strlcpy(dst, src, size);
    }
}

/* Stores in 'loc->pci' the PCI function that sysfs link 'link' (a netdev's
 * "device") points to, if it is one. */
static void
pci_of_device_link(const char *link, struct rdma_bond_member_location *loc)
{
    char target[PATH_MAX];
    ssize_t n = readlink(link, target, sizeof target - 1);

    if (n > 0) {
        const char *base;

        target[n] = '\0';
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (is_pci_address(base)) {
            ovs_strlcpy(loc->pci, base, sizeof loc->pci);
        }
    }
}

#ifdef DPDK_NETDEV
/* The only netdev of PCI function 'pci' (a bifurcated driver's, mlx5's),
 * or NULL if it has none or several.  Returns a string to free. */
static char *
pci_only_netdev(const char *pci)
{
    char *dir = xasprintf("/sys/bus/pci/devices/%s/net", pci);
    DIR *d = opendir(dir);
    char *found = NULL;
    int n = 0;

    free(dir);
    if (!d) {
        return NULL;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL; ) {
        if (de->d_name[0] != '.') {
            n++;
            free(found);
            found = xstrdup(de->d_name);
        }
    }
    closedir(d);
    if (n != 1) {
        free(found);
        found = NULL;
    }
    return found;
}

/* Fills 'loc' for DPDK port 'netdev'. */
static void
dpdk_location(struct netdev *netdev, struct rdma_bond_member_location *loc)
{
    struct rte_eth_dev_info info;
    const struct rte_devargs *da;
    const char *bus, *iface;
    int port = netdev_dpdk_get_port_id(netdev);

    if (port < 0 || !rte_eth_dev_is_valid_port(port)
        || rte_eth_dev_info_get(port, &info) || !info.device) {
        return;                 /* Not attached (yet): no devargs. */
    }
    loc->dpdk_port = port;
    bus = rte_bus_name(rte_dev_bus(info.device));
    if (bus && !strcmp(bus, "pci")
        && is_pci_address(rte_dev_name(info.device))) {
        ovs_strlcpy(loc->pci, rte_dev_name(info.device), sizeof loc->pci);
    }
    da = rte_dev_devargs(info.device);
    if (da) {
        /* As given to dpdk-devargs: the device's name, then its
         * arguments. */
        char *text = (da->args && da->args[0]
                      ? xasprintf("%s,%s", da->name, da->args)
                      : xstrdup(da->name));

        if (strlen(text) >= sizeof loc->devargs) {
            loc->flags |= RDMA_BOND_L_DEVARGS_TRUNCATED;
        }
        ovs_strlcpy(loc->devargs, text, sizeof loc->devargs);
        free(text);
    }
    /* The kernel netdev: the one named by "iface=" (net_af_packet,
     * net_af_xdp), else the PCI function's only one. */
    iface = da && da->args ? strstr(da->args, "iface=") : NULL;
    if (iface && (iface == da->args || iface[-1] == ',')) {
        char *name = xstrdup(iface + strlen("iface="));

        name[strcspn(name, ",")] = '\0';
        copy_if_fits(loc->kernel_netdev, sizeof loc->kernel_netdev, name);
        free(name);
    } else if (loc->pci[0]) {
        char *name = pci_only_netdev(loc->pci);

        copy_if_fits(loc->kernel_netdev, sizeof loc->kernel_netdev, name);
        free(name);
    }
    /* netdev-dpdk turns RSS on whenever the NIC hashes IP, UDP or TCP
     * (dpdk_eth_dev_port_config()); received packets then carry the NIC's
     * hash, which the datapath uses as theirs. */
    if (info.flow_type_rss_offloads
        & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP)) {
        loc->flags |= RDMA_BOND_L_RX_RSS;
    }
}
#endif

/* Computes the location of member 'name' with netdev 'netdev'. */
static void
compute_location(const char *name, struct netdev *netdev,
                 struct rdma_bond_member_location *loc)
{
    const char *type = netdev_get_type(netdev);

    memset(loc, 0, sizeof *loc);
    loc->dpdk_port = UINT32_MAX;
    copy_if_fits(loc->netdev_type, sizeof loc->netdev_type, type);
    if (!strcmp(type, "system") || !strcmp(type, "internal")
        || !strcmp(type, "tap") || !strncmp(type, "afxdp", 5)) {
        char *link;

        loc->kind = RDMA_BOND_KIND_KERNEL;
        copy_if_fits(loc->kernel_netdev, sizeof loc->kernel_netdev, name);
        link = xasprintf("/sys/class/net/%s/device", name);
        if (!strchr(name, '/')) {
            pci_of_device_link(link, loc);
        }
        free(link);
    } else if (!strcmp(type, "dpdk")) {
        loc->kind = RDMA_BOND_KIND_DPDK;
#ifdef DPDK_NETDEV
        dpdk_location(netdev, loc);
#endif
    }
}

/* Stores in 'loc' the location of member 'name' with netdev 'netdev',
 * from the cache when it is still good. */
static void
member_location(const char *name, struct netdev *netdev,
                struct rdma_bond_member_location *loc)
{
    uint32_t hash = hash_string(name, 0);
    uint64_t seq = netdev_get_change_seq(netdev);
    struct location_entry *e;

    HMAP_FOR_EACH_WITH_HASH (e, node, hash, &locations) {
        if (!strcmp(e->name, name)) {
            break;
        }
    }
    if (!e) {
        e = xzalloc(sizeof *e);
        e->name = xstrdup(name);
        hmap_insert(&locations, &e->node, hash);
    }
    if (e->netdev != netdev || e->change_seq != seq || !e->pass) {
        e->netdev = netdev;
        e->change_seq = seq;
        compute_location(name, netdev, &e->loc);
    }
    e->pass = location_pass;
    *loc = e->loc;
}

/* Forgets the locations of members that no pass used since
 * location_pass began. */
static void
locations_sweep(void)
{
    struct location_entry *e;

    HMAP_FOR_EACH_SAFE (e, node, &locations) {
        if (e->pass != location_pass) {
            hmap_remove(&locations, &e->node);
            free(e->name);
            free(e);
        }
    }
}

/* Builds in 'rec' the record that publishes 'view'.  The bookkeeping fields
 * (seq, generation, change time, reasons) and the vectors are left zero. */
static void
record_from_view(const struct bond_publish_view *view,
                 struct rdma_bond_record *rec, bond_publish_locs locs)
{
    const struct bond_publish_member *sorted[ARRAY_SIZE(view->members)];
    const struct dpif_backer *backer = view->ofproto->backer;
    size_t n_stored = MIN(view->n_members, ARRAY_SIZE(view->members));
    size_t n;

    memset(rec, 0, sizeof *rec);
    memset(locs, 0, sizeof(bond_publish_locs));
    for (size_t i = 0; i < RDMA_BOND_MAX_MEMBERS; i++) {
        locs[i].dpdk_port = UINT32_MAX;
    }
    rec->in_use = 1;
    copy_name(rec->name, sizeof rec->name, view->name, &rec->flags);
    copy_name(rec->dp_type, sizeof rec->dp_type, view->ofproto->up.type,
              &rec->flags);
    rec->mode = mode_to_abi(view->balance);
    rec->lacp_status = lacp_to_abi(view->lacp_status);
    rec->lacp_fallback_ab = view->lacp_fallback_ab;
    rec->basis = view->basis;
    rec->recirc_id = view->recirc_id;
    if (view->lb_output_configured) {
        rec->flags |= RDMA_BOND_F_LB_OUTPUT_CONFIGURED;
    }
    if (view->lb_output_active) {
        rec->flags |= RDMA_BOND_F_LB_OUTPUT_ACTIVE;
    }
    if (view->may_recirc) {
        rec->flags |= RDMA_BOND_F_MAY_RECIRC;
    }
    if (backer->rt_support.odp.recirc) {
        rec->flags |= RDMA_BOND_F_DP_RECIRC;
    }
    if (dpif_is_netdev(backer->dpif)) {
        rec->flags |= RDMA_BOND_F_USERSPACE_DP;
    }
    if (view->rdma_rebalance) {
        rec->flags |= RDMA_BOND_F_RDMA_REBALANCE;
    }

    /* Members, by name, so that indexes are stable across runs. */
    for (size_t i = 0; i < n_stored; i++) {
        sorted[i] = &view->members[i];
    }
    qsort(sorted, n_stored, sizeof *sorted, compare_members_by_name);
    n = MIN(n_stored, RDMA_BOND_MAX_MEMBERS);
    if (view->n_members > n) {
        rec->flags |= RDMA_BOND_F_TOO_MANY_MEMBERS;
    }
    rec->n_members = n;
    for (size_t i = 0; i < n; i++) {
        const struct bond_publish_member *m = sorted[i];
        struct rdma_bond_member *rm = &rec->members[i];
        struct eth_addr mac;
        int ifindex;

        copy_name(rm->name, sizeof rm->name, m->name, &rec->flags);
        member_location(m->name, m->netdev, &locs[i]);
        /* A DPDK port's "ifindex" is a hash of its name (netdev-dpdk.c),
         * which no kernel knows: the ABI's "0 if none". */
        ifindex = (locs[i].kind == RDMA_BOND_KIND_DPDK ? 0
                   : netdev_get_ifindex(m->netdev));
        rm->ifindex = ifindex > 0 ? ifindex : 0;
        rm->ofport = ofp_to_u16(m->ofp_port);
        if (!netdev_get_etheraddr(m->netdev, &mac)) {
            memcpy(rm->mac, mac.ea, sizeof rm->mac);
        }
        rm->flags = ((m->enabled ? RDMA_BOND_M_ENABLED : 0)
                     | (m->may_enable ? RDMA_BOND_M_MAY_ENABLE : 0)
                     | (netdev_get_carrier(m->netdev) ? RDMA_BOND_M_CARRIER
                        : 0)
                     | (m->is_primary ? RDMA_BOND_M_PRIMARY : 0));
    }

    rec->active_member = member_index(sorted, n, view->active);
    for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
        rec->buckets[i] = member_index(sorted, n, view->buckets[i]);
    }

    rec->regime = regime_of(rec);
    /* The vectors depend only on the basis and the regime: publish_pass()
     * computes them when those change. */
}

/* Returns the index of 'name' among 'rec''s members, or -1. */
static int
find_member(const struct rdma_bond_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->n_members; i++) {
        if (!strcmp(rec->members[i].name, name)) {
            return i;
        }
    }
    return -1;
}

static const char *
member_name(const struct rdma_bond_record *rec, uint8_t idx)
{
    return idx < rec->n_members ? rec->members[idx].name : NULL;
}

/* Returns the reasons (enum rdma_bond_reason) for which the published
 * record 'old' differs from the new one 'new', or 0 if they publish the
 * same decisions. */
static uint32_t
record_diff(const struct rdma_bond_record *old,
            const struct rdma_bond_record *new)
{
    bool same_members = old->n_members == new->n_members;
    uint32_t reasons = 0;

    for (size_t i = 0; same_members && i < new->n_members; i++) {
        same_members = (!strcmp(old->members[i].name, new->members[i].name)
                        && old->members[i].ofport == new->members[i].ofport);
    }

    if (!same_members || old->mode != new->mode
        || old->lacp_fallback_ab != new->lacp_fallback_ab
        || old->basis != new->basis || old->flags != new->flags
        || old->recirc_id != new->recirc_id
        || strcmp(old->dp_type, new->dp_type)) {
        reasons |= RDMA_BOND_REASON_RECONFIGURE;
    }
    if (old->lacp_status != new->lacp_status) {
        reasons |= RDMA_BOND_REASON_LACP;
    }
    if (!nullable_string_is_equal(member_name(old, old->active_member),
                                  member_name(new, new->active_member))) {
        reasons |= RDMA_BOND_REASON_ACTIVE_MEMBER;
    }
    for (size_t i = 0; i < new->n_members; i++) {
        int j = find_member(old, new->members[i].name);

        if (j >= 0 && (old->members[j].flags != new->members[i].flags
                       || old->members[j].ifindex != new->members[i].ifindex
                       || memcmp(old->members[j].mac, new->members[i].mac,
                                 sizeof new->members[i].mac))) {
            reasons |= RDMA_BOND_REASON_MEMBER_STATE;
        }
    }
    for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
        if (!nullable_string_is_equal(member_name(old, old->buckets[i]),
                                      member_name(new, new->buckets[i]))) {
            reasons |= RDMA_BOND_REASON_REBALANCE;
            break;
        }
    }
    if (!reasons) {
        /* Something else published may have changed, e.g. the regime or the
         * vectors as a consequence of the datapath's features.  Compare all
         * but the bookkeeping fields, which 'new' does not have yet. */
        struct rdma_bond_record tmp = *old;

        tmp.seq = new->seq;
        tmp.generation = new->generation;
        tmp.change_ns = new->change_ns;
        tmp.reasons = new->reasons;
        if (memcmp(&tmp, new, sizeof *new)) {
            reasons |= RDMA_BOND_REASON_RECONFIGURE;
        }
    }
    return reasons;
}

/* Creates the table file under a temporary name, maps it and renames it
 * into place.  Returns 0 or a positive errno value. */
static int
table_create(void)
{
    struct rdma_bond_table_header *hdr;
    char *tmp = NULL;
    int error = 0;
    void *map;
    int fd = -1;

    /* A new file under an unpredictable name, O_EXCL|O_NOFOLLOW: whatever
     * somebody planted in the directory (a link to a file of root's, a
     * file of their own) is never opened, let alone truncated
     * (docs/security.md). */
    for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
        free(tmp);
        tmp = xasprintf("%s.tmp.%08"PRIx32"%08"PRIx32, table_path,
                        random_uint32(), random_uint32());
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0640);
        error = fd < 0 ? errno : 0;
        if (error != EEXIST) {
            break;
        }
    }
    if (fd < 0) {
        VLOG_ERR("%s: create failed (%s)", tmp, ovs_strerror(error));
        free(tmp);
        return error;
    }
    if (fchmod(fd, 0640) || ftruncate(fd, RDMA_BOND_TABLE_FILE_SIZE)) {
        error = errno;
        VLOG_ERR("%s: sizing failed (%s)", tmp, ovs_strerror(error));
        goto error;
    }
    map = mmap(NULL, RDMA_BOND_TABLE_FILE_SIZE, PROT_READ | PROT_WRITE,
               MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        error = errno;
        VLOG_ERR("%s: mmap failed (%s)", tmp, ovs_strerror(error));
        goto error;
    }

    /* Nobody can see the file yet, so plain stores are fine here. */
    hdr = map;
    hdr->magic = RDMA_BOND_TABLE_MAGIC;
    hdr->abi_version = RDMA_BOND_ABI_VERSION;
    hdr->header_size = sizeof *hdr;
    hdr->record_size = sizeof(struct rdma_bond_record);
    hdr->n_slots = RDMA_BOND_MAX_BONDS;
    hdr->max_members = RDMA_BOND_MAX_MEMBERS;
    hdr->n_buckets = RDMA_BOND_BUCKETS;
    hdr->instance_id = random_uint64();
    hdr->start_ns = bond_publish_monotonic_ns();
    hdr->writer_pid = getpid();
    hdr->hash_impl = compiled_hash_impl();
    ovs_strlcpy(hdr->ovs_version, VERSION, sizeof hdr->ovs_version);
    hdr->heartbeat_ns = hdr->start_ns;
    hdr->minor_version = RDMA_BOND_ABI_MINOR;
    hdr->features = RDMA_BOND_FEATURE_LOCATIONS;
    hdr->locations_offset = RDMA_BOND_LOCATIONS_OFFSET;
    hdr->location_size = sizeof(struct rdma_bond_member_location);

    if (rename(tmp, table_path)) {
        error = errno;
        VLOG_ERR("%s: rename to %s failed (%s)", tmp, table_path,
                 ovs_strerror(error));
        munmap(map, RDMA_BOND_TABLE_FILE_SIZE);
        goto error;
    }
    close(fd);
    free(tmp);

    table_hdr = hdr;
    table_recs = (struct rdma_bond_record *) (hdr + 1);
    table_locs = (void *) ((char *) map + RDMA_BOND_LOCATIONS_OFFSET);
    memset(slots, 0, sizeof slots);
    VLOG_INFO("%s: publishing rdma-bond table (instance %#"PRIx64")",
              table_path, hdr->instance_id);
    return 0;

error:
    close(fd);
    unlink(tmp);
    free(tmp);
    return error;
}

/* Collects the view of one bond into the pass '*pass_'. */
static void
collect_cb(const struct bond_publish_view *view, void *pass_)
{
    struct bond_publish_pass *pass = pass_;

    if (view->rdma_rebalance) {
        if (view->publish) {
            bond_rdma_load_poll(view->name);
        } else {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 60);

            VLOG_WARN_RL(&rl, "bond %s: rdma-bond-rebalance=true counts "
                         "nothing without rdma-bond=true (the agent "
                         "measures only published bonds)", view->name);
        }
    }
    if (!view->publish) {
        sset_add(&pass->unpublished, view->name);
    } else if (pass->n_recs >= RDMA_BOND_MAX_BONDS) {
        pass->n_dropped++;
    } else {
        record_from_view(view, &pass->recs[pass->n_recs],
                         pass->locs[pass->n_recs]);
        pass->n_recs++;
    }
}

/* Returns the slot that publishes bond 'name', or NULL. */
static struct bond_publish_slot *
find_slot(const char *name)
{
    for (size_t i = 0; i < RDMA_BOND_MAX_BONDS; i++) {
        if (slots[i].rec.in_use && !strcmp(slots[i].rec.name, name)) {
            return &slots[i];
        }
    }
    return NULL;
}

/* Stores 'slot''s record in the table as a change for 'reasons'. */
static void
slot_store(struct bond_publish_slot *slot, uint32_t reasons, uint64_t now)
{
    slot->rec.generation++;
    slot->rec.change_ns = now;
    slot->rec.reasons = reasons;
    rdma_bond_record_store_locations(&table_recs[slot - slots], &slot->rec,
                                     table_locs[slot - slots], slot->locs);
}

/* Publishes the bonds of 'pass'.  Returns true if any record changed. */
static bool
publish_pass(struct bond_publish_pass *pass)
{
    struct bond_publish_slot *claimed[RDMA_BOND_MAX_BONDS];
    uint64_t now = bond_publish_monotonic_ns();
    size_t n_used = 0;
    bool changed = false;

    for (size_t i = 0; i < RDMA_BOND_MAX_BONDS; i++) {
        slots[i].matched = false;
    }
    for (size_t i = 0; i < pass->n_recs; i++) {
        struct rdma_bond_record *new = &pass->recs[i];

        claimed[i] = find_slot(new->name);
        if (claimed[i]) {
            claimed[i]->matched = true;
        }

        /* Hashing the self-test tuples is the costliest part of a record:
         * do it only when the basis or the regime changed. */
        if (claimed[i] && claimed[i]->rec.basis == new->basis
            && claimed[i]->rec.regime == new->regime) {
            new->n_vectors = claimed[i]->rec.n_vectors;
            memcpy(new->vectors, claimed[i]->rec.vectors,
                   sizeof new->vectors);
        } else {
            fill_vectors(new);
        }
    }

    /* Bonds that went away first, so that their slots can be reused.  The
     * name stays so that readers can tell which bond left. */
    for (size_t i = 0; i < RDMA_BOND_MAX_BONDS; i++) {
        struct bond_publish_slot *slot = &slots[i];

        if (slot->rec.in_use && !slot->matched) {
            uint32_t reasons = (sset_contains(&pass->unpublished,
                                              slot->rec.name)
                                ? RDMA_BOND_REASON_KEY_OFF
                                : RDMA_BOND_REASON_DELETED);

            VLOG_INFO("bond %s: no longer published (%s)", slot->rec.name,
                      reasons == RDMA_BOND_REASON_KEY_OFF
                      ? "rdma-bond key off" : "bond deleted");
            slot->rec.in_use = 0;
            slot_store(slot, reasons, now);
            changed = true;
        }
    }

    /* Bonds that stay or appear. */
    for (size_t i = 0; i < pass->n_recs; i++) {
        const struct rdma_bond_record *new = &pass->recs[i];
        struct bond_publish_slot *slot = claimed[i];
        uint32_t reasons;

        if (slot) {
            reasons = record_diff(&slot->rec, new);
            if (memcmp(slot->locs, pass->locs[i], sizeof slot->locs)) {
                reasons |= RDMA_BOND_REASON_RECONFIGURE;
            }
        } else {
            for (size_t j = 0; j < RDMA_BOND_MAX_BONDS && !slot; j++) {
                if (!slots[j].rec.in_use) {
                    slot = &slots[j];
                }
            }
            ovs_assert(slot);   /* pass->n_recs <= RDMA_BOND_MAX_BONDS. */
            reasons = RDMA_BOND_REASON_ADDED;
        }
        if (reasons) {
            uint64_t generation = slot->rec.generation;

            slot->rec = *new;
            memcpy(slot->locs, pass->locs[i], sizeof slot->locs);
            slot->rec.generation = generation;
            slot_store(slot, reasons, now);
            changed = true;
        }
    }

    for (size_t i = 0; i < RDMA_BOND_MAX_BONDS; i++) {
        n_used += slots[i].rec.in_use;
    }
    if (changed) {
        rdma_bond_table_set_n_used(table_hdr, n_used);
    }
    return changed;
}

/* Registers the commands.  Called once at startup. */
void
bond_publish_init(void)
{
    unixctl_command_register("rdma-bond/show", "[bond]", 0, 1,
                             bond_publish_unixctl_show, NULL);
    unixctl_command_register("rdma-bond/lookup", "bond flow", 2, 2,
                             bond_publish_unixctl_lookup, NULL);
}

/* Publishes every change of every published bond since the last call and
 * refreshes the heartbeat when it is due. */
void
bond_publish_run(void)
{
    struct bond_publish_pass pass;
    bool any_published;

    pass.recs = xmalloc(RDMA_BOND_MAX_BONDS * sizeof *pass.recs);
    pass.locs = xmalloc(RDMA_BOND_MAX_BONDS * sizeof *pass.locs);
    location_pass++;
    pass.n_recs = 0;
    pass.n_dropped = 0;
    sset_init(&pass.unpublished);
    bond_publish_collect(collect_cb, &pass);

    if (pass.n_dropped) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 1);

        VLOG_WARN_RL(&rl, "%"PRIuSIZE" bonds with rdma-bond=true are not "
                     "published: the table has only %d slots",
                     pass.n_dropped, RDMA_BOND_MAX_BONDS);
    }

    any_published = pass.n_recs > 0;
    for (size_t i = 0; i < RDMA_BOND_MAX_BONDS && !any_published; i++) {
        any_published = slots[i].rec.in_use;
    }

    /* The table is created when the first bond is published, so that an
     * ovs-vswitchd without rdma-bond=true behaves exactly as upstream. */
    if (!table_hdr && pass.n_recs && time_msec() >= next_create_retry) {
        if (!table_path) {
            table_path = xasprintf("%s/%s", ovs_rundir(),
                                   RDMA_BOND_TABLE_NAME);
        }
        if (table_create()) {
            next_create_retry = time_msec() + BOND_PUBLISH_RETRY_MS;
        }
    }

    if (table_hdr) {
        bool changed = any_published && publish_pass(&pass);

        if (changed || time_msec() >= next_heartbeat) {
            rdma_bond_table_set_heartbeat(table_hdr,
                                          bond_publish_monotonic_ns());
            next_heartbeat = time_msec() + BOND_PUBLISH_HEARTBEAT_MS;
        }
        if (changed) {
            rdma_bond_table_notify(table_hdr);
        }
    }

    /* Kept for the commands, to tell "not published" from "no such bond". */
    sset_swap(&unpublished_bonds, &pass.unpublished);
    sset_destroy(&pass.unpublished);
    free(pass.recs);
    free(pass.locs);
    locations_sweep();
    bond_rdma_load_sweep();
}

/* Arranges for the main loop to wake up when the heartbeat is due. */
void
bond_publish_wait(void)
{
    if (table_hdr) {
        poll_timer_wait_until(next_heartbeat);
    } else if (next_create_retry != LLONG_MIN) {
        poll_timer_wait_until(next_create_retry);
    }
}

/* Marks the table final: the writer is exiting.  The file stays so that
 * readers learn that the writer exited rather than died. */
void
bond_publish_exit(void)
{
    if (table_hdr) {
        rdma_bond_table_set_heartbeat(table_hdr, bond_publish_monotonic_ns());
        rdma_bond_table_set_flags(table_hdr, RDMA_BOND_TABLE_WRITER_EXITED);
        rdma_bond_table_notify(table_hdr);
        munmap(table_hdr, RDMA_BOND_TABLE_FILE_SIZE);
        table_hdr = NULL;
        table_recs = NULL;
        table_locs = NULL;
    }
}

/* Commands. */

/* Replies to 'conn' with the error for a 'name' that is not published. */
static void
reply_not_published(struct unixctl_conn *conn, const char *name)
{
    char *msg;

    if (sset_contains(&unpublished_bonds, name)) {
        msg = xasprintf("rdma-bond: bond \"%s\" is not published (set "
                        "other_config:rdma-bond=true on port %s)",
                        name, name);
    } else {
        struct netdev *netdev = netdev_from_name(name);

        if (netdev) {
            netdev_close(netdev);
            msg = xasprintf("rdma-bond: \"%s\" is not a bond port", name);
        } else {
            msg = xasprintf("rdma-bond: no bond named \"%s\"", name);
        }
    }
    unixctl_command_reply_error(conn, msg);
    free(msg);
}

static void
format_location(struct ds *ds, const struct rdma_bond_member_location *loc)
{
    ds_put_format(ds, "    type %s", loc->netdev_type[0]
                  ? loc->netdev_type : "?");
    if (loc->kind == RDMA_BOND_KIND_DPDK) {
        if (loc->dpdk_port != UINT32_MAX) {
            ds_put_format(ds, ", dpdk port %"PRIu32, loc->dpdk_port);
        } else {
            ds_put_cstr(ds, ", not attached");
        }
        if (loc->devargs[0]) {
            ds_put_format(ds, ", devargs \"%s%s\"", loc->devargs,
                          loc->flags & RDMA_BOND_L_DEVARGS_TRUNCATED
                          ? "..." : "");
        }
    }
    ds_put_format(ds, ", pci %s, kernel netdev %s",
                  loc->pci[0] ? loc->pci : "none",
                  loc->kernel_netdev[0] ? loc->kernel_netdev : "none");
    if (loc->flags & RDMA_BOND_L_RX_RSS) {
        ds_put_cstr(ds, ", rx RSS hash");
    }
    ds_put_char(ds, '\n');
}

static void
format_member(struct ds *ds, const struct rdma_bond_member *m)
{
    ds_put_format(ds, "  member %s: %s", m->name,
                  m->flags & RDMA_BOND_M_ENABLED ? "enabled" : "disabled");
    if (m->flags & RDMA_BOND_M_MAY_ENABLE) {
        ds_put_cstr(ds, ", may-enable");
    }
    ds_put_format(ds, ", %s", (m->flags & RDMA_BOND_M_CARRIER
                               ? "carrier" : "no carrier"));
    if (m->flags & RDMA_BOND_M_PRIMARY) {
        ds_put_cstr(ds, ", primary");
    }
    ds_put_format(ds, ", ofport %"PRIu32", ifindex %"PRIu32", mac "
                  ETH_ADDR_FMT"\n", m->ofport, m->ifindex,
                  ETH_ADDR_BYTES_ARGS(m->mac));
}

/* With DPDK members in a regime that hashes in the datapath, says which
 * traffic the regime's hash predicts: the datapath takes a packet's RSS
 * hash when its NIC supplied one and computes miniflow_hash_5tuple(t, 0)
 * in software otherwise (dpif-netdev.c). */
static void
format_dpdk_hash(struct ds *ds, const struct rdma_bond_record *rec,
                 const struct rdma_bond_member_location *locs)
{
    struct ds rss = DS_EMPTY_INITIALIZER;
    bool dpdk = false;

    for (size_t i = 0; i < rec->n_members; i++) {
        if (locs[i].kind == RDMA_BOND_KIND_DPDK) {
            dpdk = true;
            if (locs[i].flags & RDMA_BOND_L_RX_RSS) {
                ds_put_format(&rss, "%s%s", rss.length ? ", " : "",
                              rec->members[i].name);
            }
        }
    }
    if (dpdk && (rec->regime == RDMA_BOND_REGIME_RECIRC
                 || rec->regime == RDMA_BOND_REGIME_LB_OUTPUT)) {
        ds_put_cstr(ds, "hash on dpdk: the host's own traffic (internal, "
                    "tap and vhost ports) is hashed in software as above "
                    "(predicted); ");
        if (rss.length) {
            ds_put_format(ds, "traffic received on a NIC with RSS (%s) "
                          "carries the NIC's hash (not reproducible)\n",
                          ds_cstr(&rss));
        } else {
            ds_put_cstr(ds, "no member's NIC supplies an RSS hash\n");
        }
    }
    ds_destroy(&rss);
}

static void
format_record(struct ds *ds, const struct rdma_bond_record *rec,
              const struct rdma_bond_member_location *locs, uint64_t now)
{
    const char *active = member_name(rec, rec->active_member);

    ds_put_format(ds, "---- %s ----\n", rec->name);
    ds_put_format(ds, "mode: %s\n", mode_name(rec->mode));
    ds_put_format(ds, "generation: %"PRIu64"\n", rec->generation);
    ds_put_format(ds, "last change: %"PRIu64" ms ago (",
                  (now - rec->change_ns) / 1000000);
    format_reasons(ds, rec->reasons);
    ds_put_cstr(ds, ")\n");
    ds_put_format(ds, "lacp: %s\n", lacp_name(rec->lacp_status));
    ds_put_format(ds, "lacp-fallback-ab: %s\n",
                  rec->lacp_fallback_ab ? "true" : "false");
    ds_put_format(ds, "hash regime: %s (%s)\n", regime_name(rec->regime),
                  regime_description(rec->regime));
    format_dpdk_hash(ds, rec, locs);
    ds_put_format(ds, "hash basis: %"PRIu32"\n", rec->basis);
    ds_put_format(ds, "datapath: %s (%s, %s recirculation)\n", rec->dp_type,
                  rec->flags & RDMA_BOND_F_USERSPACE_DP ? "userspace"
                  : "kernel",
                  rec->flags & RDMA_BOND_F_DP_RECIRC ? "with" : "without");
    ds_put_format(ds, "lb-output-action: %s\n",
                  rec->flags & RDMA_BOND_F_LB_OUTPUT_ACTIVE ? "active"
                  : rec->flags & RDMA_BOND_F_LB_OUTPUT_CONFIGURED
                  ? "configured, not in use" : "off");
    ds_put_format(ds, "recirc id: %"PRIu32"\n", rec->recirc_id);
    ds_put_format(ds, "active member: %s\n", active ? active : "none");
    for (size_t i = 0; i < rec->n_members; i++) {
        format_member(ds, &rec->members[i]);
        format_location(ds, &locs[i]);
    }
    if (rec->flags & RDMA_BOND_F_TOO_MANY_MEMBERS) {
        ds_put_format(ds, "  (more than %d members: the rest are not "
                      "published)\n", RDMA_BOND_MAX_MEMBERS);
    }
    if (rec->mode != RDMA_BOND_MODE_ACTIVE_BACKUP) {
        int counts[RDMA_BOND_MAX_MEMBERS + 1] = { 0 };

        for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
            counts[MIN(rec->buckets[i], RDMA_BOND_MAX_MEMBERS)]++;
        }
        ds_put_cstr(ds, "buckets:");
        for (size_t i = 0; i < rec->n_members; i++) {
            ds_put_format(ds, " %s %d,", rec->members[i].name, counts[i]);
        }
        ds_put_format(ds, " unassigned %d\n", counts[RDMA_BOND_MAX_MEMBERS]);
    }
    bond_rdma_load_format(ds, rec);
}

/* Appends to 'ds' the processes other than this one that map the table:
 * the readers attached to it.  Scans /proc, so it is for commands only. */
static void
format_readers(struct ds *ds)
{
    size_t n = 0, shown = 0;
    struct ds pids = DS_EMPTY_INITIALIZER;
    struct dirent *de;
    DIR *proc;

    proc = opendir("/proc");
    if (!proc) {
        ds_put_cstr(ds, "readers attached: unknown (cannot read /proc)\n");
        return;
    }
    while ((de = readdir(proc)) != NULL) {
        char *maps_name, line[4096];
        bool found = false;
        long int pid;
        FILE *maps;

        if (!str_to_long(de->d_name, 10, &pid) || pid == getpid()) {
            continue;
        }
        maps_name = xasprintf("/proc/%ld/maps", pid);
        maps = fopen(maps_name, "r");
        free(maps_name);
        if (!maps) {
            continue;
        }
        while (!found && fgets(line, sizeof line, maps)) {
            char *path = strchr(line, '/');

            if (path) {
                path[strcspn(path, "\n")] = '\0';
                found = !strcmp(path, table_path);
            }
        }
        fclose(maps);
        if (found) {
            n++;
            if (shown++ < 8) {
                ds_put_format(&pids, "%s%ld", shown > 1 ? " " : "", pid);
            }
        }
    }
    closedir(proc);

    ds_put_format(ds, "readers attached: %"PRIuSIZE, n);
    if (n) {
        ds_put_format(ds, " (pid %s%s)", ds_cstr(&pids),
                      n > shown ? " ..." : "");
    }
    ds_put_char(ds, '\n');
    ds_destroy(&pids);
}

/* The file, in the agent's directory next to the table, in which
 * ovs-rdma-bond-agent keeps its summary for this command (docs/agent.md):
 * "key=value" lines. */
#define AGENT_SUMMARY_NAME "rdma-bond-agent/summary"

/* Opens the agent's summary 'path' for reading, or returns NULL.  Only a
 * regular file (never a link) owned by root, by this process's user or by
 * the owner of the agent's directory, and writable by nobody else, is
 * read: it is shown to whoever runs "rdma-bond/show" (docs/security.md).
 * An untrusted file is logged, at most once a minute. */
static FILE *
agent_summary_open(const char *path)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 1);
    struct stat st, dir_st;
    char *dir;
    int fd;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP) {
            VLOG_WARN_RL(&rl, "%s: is a symbolic link; not reading it",
                         path);
        }
        return NULL;
    }
    dir = dir_name(path);
    if (fstat(fd, &st) || stat(dir, &dir_st)) {
        goto refuse;
    }
    if (!S_ISREG(st.st_mode)) {
        VLOG_WARN_RL(&rl, "%s: not a regular file; not reading it", path);
        goto refuse;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()
        && st.st_uid != dir_st.st_uid) {
        VLOG_WARN_RL(&rl, "%s: owned by uid %ld, not by root, uid %ld or "
                     "the directory's owner uid %ld; not reading it", path,
                     (long int) st.st_uid, (long int) geteuid(),
                     (long int) dir_st.st_uid);
        goto refuse;
    }
    if ((st.st_mode | dir_st.st_mode) & (S_IWGRP | S_IWOTH)) {
        VLOG_WARN_RL(&rl, "%s: it or its directory is writable by group or "
                     "others (modes %04o, %04o); not reading it", path,
                     (unsigned int) (st.st_mode & 07777),
                     (unsigned int) (dir_st.st_mode & 07777));
        goto refuse;
    }
    free(dir);
    return fdopen(fd, "r");

refuse:
    free(dir);
    close(fd);
    return NULL;
}

/* Appends to 'ds' the summary of ovs-rdma-bond-agent: whether it runs,
 * follows this vswitchd's table, and how the QPs it watches are pinned.
 * Reads the agent's summary file, so it is for commands only. */
static void
format_agent(struct ds *ds)
{
    const char *slash = strrchr(table_path, '/');
    char *path = xasprintf("%.*s%s", slash ? (int) (slash - table_path + 1)
                           : 0, table_path, AGENT_SUMMARY_NAME);
    struct smap summary = SMAP_INITIALIZER(&summary);
    const char *attached, *instance, *repin;
    char line[256];
    int pid;
    FILE *file;

    file = agent_summary_open(path);
    free(path);
    if (!file) {
        ds_put_cstr(ds, "agent: not running\n");
        return;
    }
    while (fgets(line, sizeof line, file)) {
        char *eq = strchr(line, '=');

        if (eq) {
            line[strcspn(line, "\n")] = '\0';
            *eq = '\0';
            smap_replace(&summary, line, eq + 1);
        }
    }
    fclose(file);

    pid = smap_get_int(&summary, "pid", 0);
    if (pid <= 0 || (kill(pid, 0) && errno == ESRCH)) {
        ds_put_format(ds, "agent: not running (pid %d exited)\n", pid);
        smap_destroy(&summary);
        return;
    }

    attached = smap_get_def(&summary, "attached", "no");
    instance = smap_get_def(&summary, "instance", "");
    ds_put_format(ds, "agent: pid %d, ", pid);
    if (strcmp(attached, "yes")) {
        ds_put_cstr(ds, "not attached");
    } else if (strtoull(instance, NULL, 0) != table_hdr->instance_id) {
        ds_put_cstr(ds, "attached to an older table (reattaching)");
    } else {
        ds_put_cstr(ds, "attached");
    }
    repin = smap_get(&summary, "last_repin_us");
    ds_put_format(ds, ", QPs pinned %s, mispinned %s, last re-pin delay ",
                  smap_get_def(&summary, "qps_pinned", "?"),
                  smap_get_def(&summary, "qps_mispinned", "?"));
    if (repin) {
        ds_put_format(ds, "%s us\n", repin);
    } else {
        ds_put_cstr(ds, "none\n");
    }
    smap_destroy(&summary);
}

static int
compare_slots_by_name(const void *a_, const void *b_)
{
    const struct bond_publish_slot *const *a = a_;
    const struct bond_publish_slot *const *b = b_;

    return strcmp((*a)->rec.name, (*b)->rec.name);
}

static void
bond_publish_unixctl_show(struct unixctl_conn *conn, int argc,
                          const char *argv[], void *aux OVS_UNUSED)
{
    const struct bond_publish_slot *sorted[RDMA_BOND_MAX_BONDS];
    struct ds ds = DS_EMPTY_INITIALIZER;
    uint64_t now = bond_publish_monotonic_ns();
    size_t n_used = 0;
    size_t n = 0;

    for (size_t i = 0; i < RDMA_BOND_MAX_BONDS; i++) {
        n_used += slots[i].rec.in_use;
    }
    if (argc > 1) {
        const struct bond_publish_slot *slot = find_slot(argv[1]);

        if (!slot) {
            reply_not_published(conn, argv[1]);
            return;
        }
        sorted[n++] = slot;
    } else {
        for (size_t i = 0; i < RDMA_BOND_MAX_BONDS; i++) {
            if (slots[i].rec.in_use) {
                sorted[n++] = &slots[i];
            }
        }
        qsort(sorted, n, sizeof *sorted, compare_slots_by_name);
    }

    if (table_hdr) {
        ds_put_format(&ds, "table: %s (ABI %d.%d)\n", table_path,
                      RDMA_BOND_ABI_VERSION, RDMA_BOND_ABI_MINOR);
        ds_put_format(&ds, "instance: %#"PRIx64", hash implementation: "
                      "%s\n", table_hdr->instance_id,
                      hash_impl_name(table_hdr->hash_impl));
        ds_put_format(&ds, "published bonds: %"PRIuSIZE" of %d slots\n",
                      n_used, RDMA_BOND_MAX_BONDS);
        format_readers(&ds);
        format_agent(&ds);
    } else {
        ds_put_cstr(&ds, "table: none (no bond has "
                    "other_config:rdma-bond=true)\n");
    }
    for (size_t i = 0; i < n; i++) {
        ds_put_char(&ds, '\n');
        format_record(&ds, &sorted[i]->rec, sorted[i]->locs, now);
    }
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}

/* Parses 's', a flow written as ovs-ofctl writes flows (for example
 * "udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=49152,tp_dst=4791"), into
 * 'flow'; fields not given are zero.  Returns NULL or a malloc()'d error. */
static char * OVS_WARN_UNUSED_RESULT
parse_flow(const char *s, struct flow *flow)
{
    enum ofputil_protocol usable = OFPUTIL_P_ANY;
    struct match match = MATCH_CATCHALL_INITIALIZER;
    char *copy = xstrdup(s);
    char *pos = copy;
    char *error = NULL;
    char *name, *value;

    while (!error && ofputil_parse_key_value(&pos, &name, &value)) {
        const struct ofp_protocol *p;
        const struct mf_field *mf;

        if (ofp_parse_protocol(name, &p)) {
            match_set_dl_type(&match, htons(p->dl_type));
            if (p->nw_proto) {
                match_set_nw_proto(&match, p->nw_proto);
            }
        } else if ((mf = mf_from_name(name)) != NULL) {
            error = (*value
                     ? ofp_parse_field(mf, value, NULL, &match, &usable)
                     : xasprintf("field %s needs a value", name));
        } else {
            error = xasprintf("unknown field %s", name);
        }
    }
    free(copy);
    *flow = match.flow;
    return error;
}

static void
bond_publish_unixctl_lookup(struct unixctl_conn *conn, int argc OVS_UNUSED,
                            const char *argv[], void *aux OVS_UNUSED)
{
    const struct bond_publish_slot *slot = find_slot(argv[1]);
    const struct rdma_bond_record *rec;
    struct ds ds = DS_EMPTY_INITIALIZER;
    const char *member = NULL;
    const char *why = NULL;
    struct flow flow;
    char *error;

    if (!slot) {
        reply_not_published(conn, argv[1]);
        return;
    }
    rec = &slot->rec;

    error = parse_flow(argv[2], &flow);
    if (error) {
        char *msg = xasprintf("rdma-bond: cannot parse flow \"%s\": %s",
                              argv[2], error);
        unixctl_command_reply_error(conn, msg);
        free(msg);
        free(error);
        return;
    }

    ds_put_format(&ds, "bond: %s\n", rec->name);
    ds_put_format(&ds, "mode: %s\n", mode_name(rec->mode));
    ds_put_format(&ds, "hash regime: %s\n", regime_name(rec->regime));

    if (rec->lacp_status == RDMA_BOND_LACP_FAILED && !rec->lacp_fallback_ab) {
        why = "LACP negotiation failed and lacp-fallback-ab is false: "
              "every flow is dropped";
    } else if (rec->lacp_status == RDMA_BOND_LACP_FAILED
               || rec->mode == RDMA_BOND_MODE_ACTIVE_BACKUP) {
        member = member_name(rec, rec->active_member);
        if (!member) {
            why = "no active member: every flow is dropped";
        }
    } else if (rec->mode == RDMA_BOND_MODE_BALANCE_TCP
               && rec->lacp_status != RDMA_BOND_LACP_NEGOTIATED) {
        why = "balance-tcp without negotiated LACP drops every flow";
    } else {
        uint32_t hash = regime_hash(rec, &flow);
        uint8_t bucket = hash & (RDMA_BOND_BUCKETS - 1);

        ds_put_format(&ds, "hash: %#010"PRIx32"\n", hash);
        ds_put_format(&ds, "bucket: %"PRIu8"\n", bucket);
        member = member_name(rec, rec->buckets[bucket]);
        if (!member) {
            why = "bucket unassigned: OVS assigns an enabled member to it "
                  "when the first flow uses it";
        }
        if (rec->regime == RDMA_BOND_REGIME_KERNEL) {
            ds_put_cstr(&ds, "warning: kernel datapath: the real hash "
                        "comes from the skb hash and cannot be reproduced "
                        "outside the datapath; this answer uses "
                        "flow_hash_5tuple(flow, 0)\n");
        }
    }
    if (member) {
        ds_put_format(&ds, "member: %s\n", member);
    } else {
        ds_put_format(&ds, "member: none (%s)\n", why);
    }
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}
