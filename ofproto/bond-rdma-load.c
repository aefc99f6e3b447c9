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

#include "ofproto/bond-rdma-load.h"
#include "ofproto/bond-publish.h"

#include <errno.h>
#include <string.h>

#include "dirs.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/shash.h"
#include "openvswitch/util.h"
#include "openvswitch/vlog.h"
#include "rdma-bond-table.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(bond_rdma_load);

/* How often a bond's table is read between rebalancings. */
#define POLL_MS 1000

/* More bytes per millisecond than a member can send (400 Gb/s): a table
 * that claims more is not believed. */
#define MAX_BYTES_PER_MS UINT64_C(50000000)

/* What is known of one bond's RDMA load. */
struct load_state {
    /* The counters of the last reading taken as the baseline. */
    bool have_base;
    uint64_t instance_id;        /* The agent's, of the baseline. */
    uint64_t base_ns;            /* CLOCK_MONOTONIC of the baseline. */
    uint64_t base[RDMA_BOND_BUCKETS];
    struct bond_rdma_pinned base_pinned[RDMA_BOND_MAX_MEMBERS];
    size_t n_base_pinned;

    /* Moving averages of the pinned load, per member. */
    struct bond_rdma_pinned ewma[RDMA_BOND_MAX_MEMBERS];
    size_t n_ewma;

    long long int next_poll;     /* In time_msec(). */
    bool polled;                 /* Since the last sweep. */

    /* For "rdma-bond/show". */
    uint32_t movable_qps, pinned_qps; /* Of the last good reading. */
    bool counted;                /* The last rebalancing added the load. */
    uint64_t counted_total;      /* ...that many bytes in the buckets. */
    unsigned long long int rebalancings, counted_rebalancings;
    char why[RDMA_BOND_LOAD_WHY_LEN + 64]; /* Why the last rebalancing
                                            * counted nothing. */
    char refusal[RDMA_BOND_LOAD_WHY_LEN + 64]; /* The last refused
                                                * reading, "" if none. */
    uint64_t refusal_ns;         /* CLOCK_MONOTONIC of that refusal. */
    /* The last rebalancing that counted any RDMA bytes. */
    uint64_t loaded_ns;          /* CLOCK_MONOTONIC, 0 if none yet. */
    uint64_t loaded_buckets[RDMA_BOND_BUCKETS];
};

static struct shash states = SHASH_INITIALIZER(&states);
static char *load_path;

const char *
bond_rdma_load_path(void)
{
    if (!load_path) {
        /* The agent's directory (DefaultAgentDirectory() in librdmabond):
         * "rdma-bond-agent" next to the rdma-bond table. */
        load_path = xasprintf("%s/rdma-bond-agent/%s", ovs_rundir(),
                              RDMA_BOND_LOAD_NAME);
    }
    return load_path;
}

static struct load_state *
state_for(const char *bond)
{
    struct load_state *s = shash_find_data(&states, bond);

    if (!s) {
        s = xzalloc(sizeof *s);
        s->next_poll = LLONG_MIN;
        shash_add(&states, bond, s);
    }
    return s;
}

static void
set_base(struct load_state *s, const struct rdma_bond_load_record *rec,
         uint64_t instance_id, uint64_t now)
{
    s->have_base = true;
    s->instance_id = instance_id;
    s->base_ns = now;
    memcpy(s->base, rec->bucket_bytes, sizeof s->base);
    s->n_base_pinned = MIN(rec->n_members, RDMA_BOND_MAX_MEMBERS);
    for (size_t i = 0; i < s->n_base_pinned; i++) {
        ovs_strlcpy(s->base_pinned[i].name, rec->members[i].name,
                    sizeof s->base_pinned[i].name);
        s->base_pinned[i].bytes = rec->members[i].pinned_bytes;
    }
    s->movable_qps = rec->movable_qps;
    s->pinned_qps = rec->pinned_qps;
}

/* Notes the reason in 's->why' as the last refused reading. */
static void
refuse(struct load_state *s, uint64_t now)
{
    memcpy(s->refusal, s->why, sizeof s->refusal);
    s->refusal_ns = now;
}

/* Reads 'bond''s record into 'rec'.  On failure, drops the baseline (the
 * next good reading starts a new one), says why and returns false. */
static bool
read_load(struct load_state *s, const char *bond,
          struct rdma_bond_load_record *rec, uint64_t *instance_id,
          uint64_t now)
{
    char why[RDMA_BOND_LOAD_WHY_LEN];
    int error;

    error = rdma_bond_load_read(bond_rdma_load_path(), bond, now, rec,
                                instance_id, why);
    if (error) {
        if (error == ENOENT) {
            snprintf(s->why, sizeof s->why, "no load table (is "
                     "ovs-rdma-bond-agent running?)");
        } else {
            snprintf(s->why, sizeof s->why, "%s", why);
        }
        refuse(s, now);
        if (s->have_base && error != ENOENT && error != ESRCH) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

            VLOG_WARN_RL(&rl, "bond %s: the RDMA load is not counted: %s",
                         bond, s->why);
        }
        s->have_base = false;
        return false;
    }
    return true;
}

/* The moving average of member 'name''s pinned load. */
static struct bond_rdma_pinned *
ewma_for(struct load_state *s, const char *name)
{
    for (size_t i = 0; i < s->n_ewma; i++) {
        if (!strcmp(s->ewma[i].name, name)) {
            return &s->ewma[i];
        }
    }
    if (s->n_ewma == ARRAY_SIZE(s->ewma)) {
        return NULL;
    }
    struct bond_rdma_pinned *p = &s->ewma[s->n_ewma++];
    ovs_strlcpy(p->name, name, sizeof p->name);
    p->bytes = 0;
    return p;
}

bool
bond_rdma_load_take(const char *bond, struct bond_rdma_load *load)
{
    struct load_state *s = state_for(bond);
    struct rdma_bond_load_record rec;
    uint64_t now = bond_publish_monotonic_ns();
    uint64_t instance_id;
    uint64_t elapsed_ms, limit;

    s->rebalancings++;
    s->counted = false;
    if (!read_load(s, bond, &rec, &instance_id, now)) {
        return false;
    }
    if (!s->have_base || s->instance_id != instance_id) {
        snprintf(s->why, sizeof s->why, "%s: the next rebalancing counts "
                 "the RDMA load from now on", s->have_base
                 ? "the agent restarted" : "first reading of the load table");
        set_base(s, &rec, instance_id, now);
        return false;
    }

    elapsed_ms = MAX((now - s->base_ns) / 1000000, 1000);
    limit = elapsed_ms * MAX_BYTES_PER_MS;
    for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
        uint64_t cur = rec.bucket_bytes[i];

        if (cur < s->base[i] || cur - s->base[i] > limit) {
            snprintf(s->why, sizeof s->why, "bucket %"PRIuSIZE": the "
                     "agent's count went from %"PRIu64" to %"PRIu64" in "
                     "%"PRIu64" ms: not believed", i, s->base[i], cur,
                     elapsed_ms);
            refuse(s, now);
            set_base(s, &rec, instance_id, now);
            return false;
        }
        load->buckets[i] = cur - s->base[i];
    }

    /* Members: the difference since the baseline, 0 for a member the
     * baseline did not have; then the moving average. */
    for (size_t i = 0; i < s->n_ewma; i++) {
        s->ewma[i].bytes /= 2;
    }
    for (size_t i = 0; i < rec.n_members; i++) {
        const struct rdma_bond_load_member *m = &rec.members[i];
        uint64_t delta = 0;

        for (size_t j = 0; j < s->n_base_pinned; j++) {
            if (!strcmp(s->base_pinned[j].name, m->name)) {
                if (m->pinned_bytes < s->base_pinned[j].bytes
                    || m->pinned_bytes - s->base_pinned[j].bytes > limit) {
                    snprintf(s->why, sizeof s->why, "member %s: the "
                             "agent's count went from %"PRIu64" to "
                             "%"PRIu64" in %"PRIu64" ms: not believed",
                             m->name, s->base_pinned[j].bytes,
                             m->pinned_bytes, elapsed_ms);
                    refuse(s, now);
                    set_base(s, &rec, instance_id, now);
                    return false;
                }
                delta = m->pinned_bytes - s->base_pinned[j].bytes;
            }
        }

        struct bond_rdma_pinned *e = ewma_for(s, m->name);
        if (e) {
            e->bytes += delta;
        }
    }
    load->n_pinned = s->n_ewma;
    memcpy(load->pinned, s->ewma, s->n_ewma * sizeof *s->ewma);

    set_base(s, &rec, instance_id, now);
    s->counted_total = 0;
    for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
        s->counted_total += load->buckets[i];
    }
    if (s->counted_total) {
        s->loaded_ns = now;
        memcpy(s->loaded_buckets, load->buckets, sizeof s->loaded_buckets);
    }
    s->counted = true;
    s->counted_rebalancings++;
    s->why[0] = '\0';
    return true;
}

void
bond_rdma_load_poll(const char *bond)
{
    struct load_state *s = state_for(bond);
    struct rdma_bond_load_record rec;
    uint64_t now = bond_publish_monotonic_ns();
    uint64_t instance_id;

    s->polled = true;
    if (time_msec() < s->next_poll) {
        return;
    }
    s->next_poll = time_msec() + POLL_MS;
    if (!read_load(s, bond, &rec, &instance_id, now)) {
        return;
    }
    if (!s->have_base || s->instance_id != instance_id) {
        /* Only a first baseline: the one of the last rebalancing stays. */
        set_base(s, &rec, instance_id, now);
        if (!s->rebalancings) {
            snprintf(s->why, sizeof s->why, "no rebalancing yet");
        }
    } else {
        s->movable_qps = rec.movable_qps;
        s->pinned_qps = rec.pinned_qps;
    }
}

void
bond_rdma_load_sweep(void)
{
    struct shash_node *node, *next;

    SHASH_FOR_EACH_SAFE (node, next, &states) {
        struct load_state *s = node->data;

        if (!s->polled) {
            free(s);
            shash_delete(&states, node);
        } else {
            s->polled = false;
        }
    }
}

void
bond_rdma_load_format(struct ds *ds, const struct rdma_bond_record *rec)
{
    const struct load_state *s = shash_find_data(&states, rec->name);
    uint64_t per_member[RDMA_BOND_MAX_MEMBERS + 1] = { 0 };
    uint64_t now = bond_publish_monotonic_ns();
    uint64_t total = 0;
    int top[8];
    size_t n_top = 0;

    if (!s) {
        return;
    }
    ds_put_format(ds, "rdma rebalance: on (load table %s)\n",
                  bond_rdma_load_path());
    ds_put_format(ds, "  rebalancings: %llu, %llu counted the RDMA load; "
                  "QPs: %"PRIu32" follow their bucket, %"PRIu32" cannot\n",
                  s->rebalancings, s->counted_rebalancings, s->movable_qps,
                  s->pinned_qps);
    if (s->counted) {
        ds_put_format(ds, "  last rebalancing: counted %"PRIu64" kB of "
                      "RDMA in the buckets\n", s->counted_total / 1024);
    } else {
        ds_put_format(ds, "  last rebalancing: RDMA load not counted: %s\n",
                      s->why[0] ? s->why : "no rebalancing yet");
    }
    if (s->refusal[0]) {
        ds_put_format(ds, "  last refused reading: %"PRIu64" ms ago: %s\n",
                      (now - s->refusal_ns) / 1000000, s->refusal);
    }
    if (!s->loaded_ns) {
        return;
    }

    for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
        total += s->loaded_buckets[i];
        per_member[MIN(rec->buckets[i], RDMA_BOND_MAX_MEMBERS)]
            += s->loaded_buckets[i];
    }
    ds_put_format(ds, "  last RDMA load counted: %"PRIu64" ms ago, %"PRIu64
                  " kB\n", (now - s->loaded_ns) / 1000000, total / 1024);
    ds_put_cstr(ds, "  by member (buckets as assigned now):");
    for (size_t i = 0; i < rec->n_members; i++) {
        uint64_t pinned = 0;

        for (size_t j = 0; j < s->n_ewma; j++) {
            if (!strcmp(s->ewma[j].name, rec->members[i].name)) {
                pinned = s->ewma[j].bytes;
            }
        }
        ds_put_format(ds, " %s %"PRIu64" kB + %"PRIu64" kB pinned%s",
                      rec->members[i].name, per_member[i] / 1024,
                      pinned / 1024, i + 1 < rec->n_members ? "," : "");
    }
    ds_put_char(ds, '\n');

    /* The 8 buckets that carried the most, largest first. */
    while (n_top < ARRAY_SIZE(top)) {
        int best = -1;

        for (int i = 0; i < RDMA_BOND_BUCKETS; i++) {
            bool taken = false;

            for (size_t j = 0; j < n_top; j++) {
                taken |= top[j] == i;
            }
            if (!taken && s->loaded_buckets[i]
                && (best < 0
                    || s->loaded_buckets[i] > s->loaded_buckets[best])) {
                best = i;
            }
        }
        if (best < 0) {
            break;
        }
        top[n_top++] = best;
    }
    ds_put_cstr(ds, "  busiest buckets:");
    for (size_t i = 0; i < n_top; i++) {
        uint8_t m = rec->buckets[top[i]];

        ds_put_format(ds, " %d (%s) %"PRIu64" kB%s", top[i],
                      m < rec->n_members ? rec->members[m].name : "none",
                      s->loaded_buckets[top[i]] / 1024,
                      i + 1 < n_top ? "," : "");
    }
    ds_put_char(ds, '\n');
}
