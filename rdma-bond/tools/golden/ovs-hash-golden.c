/*
 * Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 */

/* ovs-hash-golden: hash values computed by Open vSwitch's own code.
 *
 * rdma-bond/predict/ovs_hash.cc reimplements OVS's hash functions; its
 * tests must not compare it with a second reimplementation, but with OVS.
 * This
 * program is linked against the patched tree's lib/.libs/libopenvswitch.a
 * and prints, for seeded pseudo-random inputs (the same on every run):
 *
 *   - hash_add(), hash_add64(), hash_finish() and hash_int() of lib/hash.h,
 *     and hash_mac() of lib/packets.h: static inline functions, compiled
 *     here with this program's flags;
 *   - flow_hash_5tuple(flow, 0), flow_hash_5tuple(flow, basis) and
 *     hash_int(flow_hash_5tuple(flow, 0), basis) for IPv4 and IPv6 flows
 *     (lib/flow.c);
 *   - for TCP and UDP flows, miniflow_hash_5tuple(mf, 0) of the miniflow
 *     that miniflow_extract() builds from the packet flow_compose() makes:
 *     what dpif-netdev stores as a packet's RSS hash, on which the recirc
 *     and lb-output regimes build.
 *
 * Which implementation of hash_add()/hash_finish() these are is decided
 * when the code is compiled, by the same preprocessor test as lib/hash.h
 * (and ofproto/bond-publish.c): rdma-bond/tools/golden/automake.mk builds
 * this once against the library as it is (lib/flow.c as OVS compiled it) and
 * once per implementation with lib/flow.c recompiled from OVS's own source
 * with the flags that select it (-msse4.2 for x86-crc32).
 *
 * Output, one record per line, numbers in hexadecimal:
 *
 *   impl NAME
 *   add HASH DATA RESULT
 *   add64 HASH DATA64 RESULT
 *   finish HASH FINAL RESULT
 *   int X BASIS RESULT
 *   mac MAC VLAN BASIS RESULT
 *   tuple VERSION SRC DST PROTO SPORT DPORT BASIS H0 HBASIS HINT MF0
 *   end N
 *
 * where H0 = flow_hash_5tuple(t, 0), HBASIS = flow_hash_5tuple(t, BASIS),
 * HINT = hash_int(H0, BASIS), MF0 = miniflow_hash_5tuple() or "-", and N
 * the number of records before "end" (a truncated file is detected).  If
 * this CPU cannot run the implementation compiled in, the only line is
 * "unavailable REASON".
 *
 * Usage: ovs-hash-golden [N] prints N tuples of each IP version (default
 * 2000) and N/2 records of each other kind. */

#include <config.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "dp-packet.h"
#include "flow.h"
#include "hash.h"
#include "packets.h"
#include "rdma-bond-table.h"

/* Seed of the pseudo-random inputs: any fixed value. */
#define GOLDEN_SEED UINT64_C(0x5eed0f0b5ba5e5)

/* Tuples of each IP version printed without an argument. */
#define GOLDEN_DEFAULT_TUPLES 2000

/* The RoCEv2 UDP destination port and first source port. */
#define GOLDEN_ROCE_PORT 4791
#define GOLDEN_ROCE_SPORT_MIN 0xc000

/* The publisher's self-test tuples (lib/rdma-bond-table.h), so that the
 * tests also see the exact flows the publisher's vectors use. */
static const struct rdma_bond_self_test_tuple publisher_tuples[]
    = RDMA_BOND_SELF_TEST_TUPLES;

/* IP protocols other than UDP that the tuples use: those whose ports
 * flow_hash_5tuple() adds, and some whose ports it ignores. */
static const uint8_t other_protos[] = { 6, 132, 1, 58, 47, 0, 255 };

/* Bases that the publisher tuples are hashed with. */
static const uint32_t publisher_bases[] = { 0, 1, 7, 0xffffffff };

/* Number of records printed so far (before "end"). */
static unsigned long n_records;

/* State of the pseudo-random generator (xorshift64*). */
static uint64_t rng_state = GOLDEN_SEED;

static uint64_t
rng64(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(0x2545f4914f6cdd1d);
}

static uint32_t
rng32(void)
{
    return rng64() >> 32;
}

/* A basis: 0 and all-ones often, as edge cases, otherwise random. */
static uint32_t
random_basis(void)
{
    uint32_t r = rng32();

    return (r % 8 == 0 ? 0
            : r % 16 == 1 ? UINT32_MAX
            : rng32());
}

/* A 32-bit value with some runs of zero bytes, since mhash_add__()
 * treats zero specially. */
static uint32_t
random_data32(void)
{
    uint32_t r = rng32();

    return (r % 8 == 0 ? 0 : r % 8 == 1 ? r & 0xff : rng32());
}

static const char *
impl_name(void)
{
#if defined(__ARM_FEATURE_CRC32) && defined(__aarch64__)
    return "arm64-crc32";
#elif defined(__SSE4_2__) && defined(__x86_64__)
    return "x86-crc32";
#else
    return "mhash";
#endif
}

/* Returns NULL if this CPU can run the implementation compiled in,
 * otherwise why not. */
static const char *
impl_unavailable(void)
{
#if defined(__SSE4_2__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse4.2")) {
        return "this CPU lacks SSE4.2";
    }
#elif defined(__ARM_FEATURE_CRC32) && defined(__aarch64__)
    if (!(getauxval(AT_HWCAP) & HWCAP_CRC32)) {
        return "this CPU lacks the ARMv8 CRC32 extension";
    }
#endif
    return NULL;
}

static void
print_primitives(int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t hash = random_data32();
        uint32_t data = random_data32();
        uint64_t data64 = ((uint64_t) random_data32() << 32) | random_data32();
        uint32_t final = rng32() % 4 ? rng32() % 64 : rng32();

        printf("add 0x%08"PRIx32" 0x%08"PRIx32" 0x%08"PRIx32"\n",
               hash, data, hash_add(hash, data));
        printf("add64 0x%08"PRIx32" 0x%016"PRIx64" 0x%08"PRIx32"\n",
               hash, data64, hash_add64(hash, data64));
        printf("finish 0x%08"PRIx32" 0x%08"PRIx32" 0x%08"PRIx32"\n",
               hash, final, hash_finish(hash, final));
        printf("int 0x%08"PRIx32" 0x%08"PRIx32" 0x%08"PRIx32"\n",
               data, hash, hash_int(data, hash));
        n_records += 4;
    }
}

static void
print_macs(int n)
{
    for (int i = 0; i < n; i++) {
        struct eth_addr ea;
        uint64_t bits = rng64();
        uint16_t vlan = (i % 4 == 0 ? 0 : rng32() & VLAN_VID_MASK);
        uint32_t basis = random_basis();

        for (int j = 0; j < ETH_ADDR_LEN; j++) {
            ea.ea[j] = bits >> (8 * j);
        }
        printf("mac "ETH_ADDR_FMT" 0x%04"PRIx16" 0x%08"PRIx32
               " 0x%08"PRIx32"\n", ETH_ADDR_ARGS(ea), vlan, basis,
               hash_mac(ea, vlan, basis));
        n_records++;
    }
}

/* Returns miniflow_hash_5tuple(mf, 0) of the miniflow extracted from the
 * packet that carries 'flow'. */
static uint32_t
packet_hash(const struct flow *flow)
{
    struct {
        struct miniflow mf;
        uint64_t buf[FLOW_U64S];
    } m;
    struct dp_packet *packet = dp_packet_new(256);
    uint32_t hash;

    flow_compose(packet, flow, NULL, 64);
    miniflow_extract(packet, &m.mf);
    hash = miniflow_hash_5tuple(&m.mf, 0);
    dp_packet_delete(packet);
    return hash;
}

/* Prints the record of 'flow' hashed with 'basis'. */
static void
print_tuple(const struct flow *flow, uint32_t basis)
{
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    bool ipv6 = flow->dl_type == htons(ETH_TYPE_IPV6);
    uint32_t h0 = flow_hash_5tuple(flow, 0);
    char mf0[16] = "-";

    if (ipv6) {
        inet_ntop(AF_INET6, &flow->ipv6_src, src, sizeof src);
        inet_ntop(AF_INET6, &flow->ipv6_dst, dst, sizeof dst);
    } else {
        inet_ntop(AF_INET, &flow->nw_src, src, sizeof src);
        inet_ntop(AF_INET, &flow->nw_dst, dst, sizeof dst);
    }
    if (flow->nw_proto == IPPROTO_UDP || flow->nw_proto == IPPROTO_TCP) {
        snprintf(mf0, sizeof mf0, "0x%08"PRIx32, packet_hash(flow));
    }
    printf("tuple %d %s %s %"PRIu8" %"PRIu16" %"PRIu16" 0x%08"PRIx32
           " 0x%08"PRIx32" 0x%08"PRIx32" 0x%08"PRIx32" %s\n",
           ipv6 ? 6 : 4, src, dst, flow->nw_proto, ntohs(flow->tp_src),
           ntohs(flow->tp_dst), basis, h0, flow_hash_5tuple(flow, basis),
           hash_int(h0, basis), mf0);
    n_records++;
}

/* Initializes 'flow' as a flow of 'proto' from 'sport' to 'dport' with
 * no addresses. */
static void
init_flow(struct flow *flow, bool ipv6, uint8_t proto, uint16_t sport,
          uint16_t dport)
{
    static const struct eth_addr src_mac = ETH_ADDR_C(aa,55,aa,55,00,01);
    static const struct eth_addr dst_mac = ETH_ADDR_C(aa,55,aa,55,00,02);

    memset(flow, 0, sizeof *flow);
    flow->dl_src = src_mac;
    flow->dl_dst = dst_mac;
    flow->dl_type = htons(ipv6 ? ETH_TYPE_IPV6 : ETH_TYPE_IP);
    flow->nw_proto = proto;
    flow->nw_ttl = 64;
    flow->tp_src = htons(sport);
    flow->tp_dst = htons(dport);
}

static void
print_publisher_tuples(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(publisher_tuples); i++) {
        bool ipv6 = strchr(publisher_tuples[i].src, ':') != NULL;
        struct flow flow;

        init_flow(&flow, ipv6, IPPROTO_UDP, publisher_tuples[i].sport,
                  GOLDEN_ROCE_PORT);
        if (ipv6) {
            ovs_assert(ipv6_parse(publisher_tuples[i].src, &flow.ipv6_src));
            ovs_assert(ipv6_parse(publisher_tuples[i].dst, &flow.ipv6_dst));
        } else {
            ovs_assert(ip_parse(publisher_tuples[i].src, &flow.nw_src));
            ovs_assert(ip_parse(publisher_tuples[i].dst, &flow.nw_dst));
        }
        for (size_t j = 0; j < ARRAY_SIZE(publisher_bases); j++) {
            print_tuple(&flow, publisher_bases[j]);
        }
    }
}

/* Fills the 'n' bytes at 'p' at random, sometimes leaving words of zeros
 * (as in fd00::1) or of ones. */
static void
random_address(void *p, size_t n)
{
    uint8_t *bytes = p;
    uint32_t style = rng32() % 8;

    for (size_t i = 0; i < n; i++) {
        bytes[i] = rng64() >> 56;
    }
    if (style == 0) {
        memset(bytes + n / 4, 0, n / 2);
    } else if (style == 1) {
        memset(bytes, 0xff, n);
    } else if (style == 2) {
        memset(bytes, 0, n);
    }
}

static void
print_random_tuples(bool ipv6, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t r = rng32();
        uint8_t proto = (r % 5 ? IPPROTO_UDP
                         : other_protos[rng32() % ARRAY_SIZE(other_protos)]);
        uint16_t sport = (r & 0x100 ? GOLDEN_ROCE_SPORT_MIN + rng32() % 0x4000
                          : rng32());
        uint16_t dport = (r & 0x600 ? GOLDEN_ROCE_PORT : rng32());
        struct flow flow;

        init_flow(&flow, ipv6, proto, sport, dport);
        if (ipv6) {
            random_address(&flow.ipv6_src, sizeof flow.ipv6_src);
            random_address(&flow.ipv6_dst, sizeof flow.ipv6_dst);
        } else {
            random_address(&flow.nw_src, sizeof flow.nw_src);
            random_address(&flow.nw_dst, sizeof flow.nw_dst);
        }
        print_tuple(&flow, random_basis());
    }
}

int
main(int argc, char *argv[])
{
    const char *unavailable = impl_unavailable();
    int n = argc > 1 ? atoi(argv[1]) : GOLDEN_DEFAULT_TUPLES;

    if (unavailable) {
        printf("unavailable %s (%s)\n", impl_name(), unavailable);
        return 0;
    }
    if (n < 1) {
        fprintf(stderr, "ovs-hash-golden: bad count \"%s\"\n", argv[1]);
        return 2;
    }

    printf("impl %s\n", impl_name());
    print_primitives(n / 2);
    print_macs(n / 2);
    print_publisher_tuples();
    print_random_tuples(false, n);
    print_random_tuples(true, n);
    printf("end %lu\n", n_records);
    return fflush(stdout) || ferror(stdout) ? 1 : 0;
}
