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

#include "rdma-bond-load.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovs-atomic.h"

/* A reader's copies share the writer's words only if the atomics are
 * lock-free (see lib/rdma-bond-table.c). */
BUILD_ASSERT_DECL(ATOMIC_LLONG_LOCK_FREE == 2);

/* How often a record is copied again while the writer is writing it. */
#define LOAD_READ_TRIES 64

static void
say(char *why, const char *format, ...)
    OVS_PRINTF_FORMAT(2, 3);

static void
say(char *why, const char *format, ...)
{
    if (why) {
        va_list args;

        va_start(args, format);
        vsnprintf(why, RDMA_BOND_LOAD_WHY_LEN, format, args);
        va_end(args);
    }
}

static uint64_t
load64(const void *p, memory_order order)
{
    uint64_t value;

    atomic_read_explicit(CONST_CAST(ATOMIC(uint64_t) *, p), &value, order);
    return value;
}

/* Whether 's', RDMA_BOND_NAME_LEN bytes, holds its terminator. */
static bool
terminated(const char *s)
{
    return memchr(s, '\0', RDMA_BOND_NAME_LEN) != NULL;
}

/* Copies record 'src' into 'dst' under its sequence count.  Returns 0 or
 * EAGAIN. */
static int
copy_record(const struct rdma_bond_load_record *src,
            struct rdma_bond_load_record *dst)
{
    const uint64_t *from = (const uint64_t *) (const void *) src;
    uint64_t *to = (uint64_t *) (void *) dst;
    size_t n = sizeof *src / sizeof(uint64_t);

    for (int try = 0; try < LOAD_READ_TRIES; try++) {
        uint64_t seq = load64(&src->seq, memory_order_acquire);

        if (seq & 1) {
            sched_yield();
            continue;
        }
        for (size_t i = 1; i < n; i++) {
            to[i] = load64(&from[i], memory_order_relaxed);
        }
        atomic_thread_fence(memory_order_acquire);
        if (load64(&src->seq, memory_order_relaxed) == seq) {
            to[0] = seq;
            return 0;
        }
    }
    return EAGAIN;
}

static int
check_header(const struct rdma_bond_load_header *h, uint64_t now_ns,
             char *why)
{
    uint64_t heartbeat;

    if (h->magic != RDMA_BOND_LOAD_MAGIC) {
        say(why, "not a load table (magic %#"PRIx64")", h->magic);
        return EINVAL;
    }
    if (h->abi_version != RDMA_BOND_LOAD_ABI_VERSION
        || h->header_size != sizeof(struct rdma_bond_load_header)
        || h->record_size != sizeof(struct rdma_bond_load_record)
        || h->n_slots != RDMA_BOND_LOAD_MAX_BONDS
        || h->n_buckets != RDMA_BOND_BUCKETS
        || h->max_members != RDMA_BOND_MAX_MEMBERS) {
        say(why, "load table ABI %"PRIu32" with header %"PRIu32", record "
            "%"PRIu32", %"PRIu32" slots, %"PRIu32" buckets, %"PRIu32
            " members: this reader knows ABI %d (%zu, %zu, %d, %d, %d)",
            h->abi_version, h->header_size, h->record_size, h->n_slots,
            h->n_buckets, h->max_members, RDMA_BOND_LOAD_ABI_VERSION,
            sizeof(struct rdma_bond_load_header),
            sizeof(struct rdma_bond_load_record), RDMA_BOND_LOAD_MAX_BONDS,
            RDMA_BOND_BUCKETS, RDMA_BOND_MAX_MEMBERS);
        return EINVAL;
    }
    heartbeat = load64(&h->heartbeat_ns, memory_order_relaxed);
    if (heartbeat > now_ns
        || now_ns - heartbeat > RDMA_BOND_LOAD_STALE_MS * UINT64_C(1000000)) {
        say(why, "the agent's heartbeat is %s (%"PRIu64" ms old)",
            heartbeat > now_ns ? "in the future" : "stale",
            heartbeat > now_ns ? 0 : (now_ns - heartbeat) / 1000000);
        return heartbeat > now_ns ? EINVAL : ESTALE;
    }
    return 0;
}

static int
check_record(const struct rdma_bond_load_record *r, char *why)
{
    if (r->in_use > 1 || !terminated(r->bond)
        || r->n_members > RDMA_BOND_MAX_MEMBERS) {
        say(why, "a record breaks the load table's rules (in_use %"PRIu32
            ", %"PRIu32" members)", r->in_use, r->n_members);
        return EINVAL;
    }
    for (uint32_t i = 0; i < r->n_members; i++) {
        if (!terminated(r->members[i].name) || !r->members[i].name[0]) {
            say(why, "bond %s: member %"PRIu32" has no name or no "
                "terminator", r->bond, i);
            return EINVAL;
        }
    }
    return 0;
}

/* Opens 'path' for reading into '*fdp' and its status into '*st', if it is
 * a regular file (not a link) that nobody but its owner may write, owned by
 * root, by this process's user, or by the owner of the directory that holds
 * it when only that owner may write the directory: the agent's own
 * directory, where a packaged agent runs as a user of its own.  The file is
 * opened through the directory checked, so that neither can be swapped in
 * between.  Returns 0 or an errno value, saying why in 'why'. */
static int
open_trusted(const char *path, int *fdp, struct stat *st, char *why)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char dir[4096];
    struct stat dst;
    int error = 0;
    int dirfd;
    int fd = -1;

    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else if ((size_t) (slash - path) < sizeof dir) {
        memcpy(dir, path, slash - path);
        dir[slash - path] = '\0';
    } else {
        say(why, "%s: path too long", path);
        *fdp = -1;
        return ENAMETOOLONG;
    }
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || fstat(dirfd, &dst) < 0) {
        error = errno;
        say(why, "%s: %s", dir, strerror(error));
        goto out;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) < 0) {
        error = errno;
        say(why, "%s: %s", path, strerror(error));
        goto out;
    }
    if (!S_ISREG(st->st_mode) || (st->st_mode & (S_IWGRP | S_IWOTH))
        || !(st->st_uid == 0 || st->st_uid == geteuid()
             || (st->st_uid == dst.st_uid
                 && !(dst.st_mode & (S_IWGRP | S_IWOTH))))) {
        say(why, "%s: not trusted (a regular file that only its owner may "
            "write, owned by root, by uid %u or by the owner of a directory "
            "that only its owner may write, is)", path,
            (unsigned) geteuid());
        error = EPERM;
    }
out:
    if (dirfd >= 0) {
        close(dirfd);
    }
    if (error && fd >= 0) {
        close(fd);
        fd = -1;
    }
    *fdp = fd;
    return error;
}

int
rdma_bond_load_read(const char *path, const char *bond, uint64_t now_ns,
                    struct rdma_bond_load_record *rec, uint64_t *instance_id,
                    char *why)
{
    const struct rdma_bond_load_header *h;
    const struct rdma_bond_load_record *records;
    struct stat st;
    void *map;
    int error;
    int fd;

    error = open_trusted(path, &fd, &st, why);
    if (error) {
        return error;
    }
    if (st.st_size != RDMA_BOND_LOAD_SIZE) {
        say(why, "%s: %lld bytes, a load table has %zu", path,
            (long long) st.st_size, (size_t) RDMA_BOND_LOAD_SIZE);
        close(fd);
        return EINVAL;
    }
    map = mmap(NULL, RDMA_BOND_LOAD_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    error = map == MAP_FAILED ? errno : 0;
    close(fd);
    if (error) {
        say(why, "%s: mmap: %s", path, strerror(error));
        return error;
    }

    h = map;
    records = (const void *) ((const char *) map + sizeof *h);
    error = check_header(h, now_ns, why);
    if (!error) {
        /* Every record is checked, not only the bond's: a table that
         * breaks its rules anywhere is not believed at all. */
        struct rdma_bond_load_record tmp;
        bool found = false;

        for (int i = 0; i < RDMA_BOND_LOAD_MAX_BONDS && !error; i++) {
            error = copy_record(&records[i], &tmp);
            if (error) {
                say(why, "record %d never stopped changing", i);
            } else if (tmp.in_use || tmp.bond[0]) {
                error = check_record(&tmp, why);
                if (!error && tmp.in_use && !found
                    && !strcmp(tmp.bond, bond)) {
                    *rec = tmp;
                    found = true;
                }
            }
        }
        if (!error && !found) {
            say(why, "no load of bond %s", bond);
            error = ESRCH;
        } else if (!error) {
            if (rec->update_ns > now_ns
                || (now_ns - rec->update_ns
                    > RDMA_BOND_LOAD_STALE_MS * UINT64_C(1000000))) {
                say(why, "bond %s: the load was last brought up to date "
                    "%s", bond, rec->update_ns > now_ns ? "in the future"
                    : "too long ago");
                error = rec->update_ns > now_ns ? EINVAL : ESTALE;
            } else {
                *instance_id = h->instance_id;
            }
        }
    }
    munmap(map, RDMA_BOND_LOAD_SIZE);
    return error;
}
