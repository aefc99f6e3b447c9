/* Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 *
 * libfakeverbs.so (fake_verbs.h).  Each interposable function has its own
 * C name and is given libibverbs's symbol version with .symver, as
 * libibverbs does. */

#include "fake_verbs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MAX_CALLS 256

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static struct fake_verbs_call calls[FAKE_MAX_CALLS];
static int n_calls;

static struct ibv_device devices[3];
static char cm_device[IBV_SYSFS_NAME_MAX] = "fake0";
static int binds_to_fail;
static struct ibv_device *device_list[4];

static void
record_full(enum fake_verbs_fn fn, void *object, const struct ibv_qp_attr *attr,
            int mask, const struct sockaddr *addr,
            const struct sockaddr *src_ptr, int result)
{
    pthread_mutex_lock(&mutex);
    if (n_calls < FAKE_MAX_CALLS) {
        struct fake_verbs_call *c = &calls[n_calls++];
        memset(c, 0, sizeof *c);
        c->fn = fn;
        c->object = object;
        c->attr_ptr = attr;
        if (attr) {
            c->attr = *attr;
        }
        c->mask = mask;
        if (addr && addr->sa_family == AF_INET) {
            memcpy(&c->addr, addr, sizeof c->addr);
        }
        c->src_ptr = src_ptr;
        c->result = result;
    }
    pthread_mutex_unlock(&mutex);
}

static void
record(enum fake_verbs_fn fn, void *object, const struct ibv_qp_attr *attr,
       int mask)
{
    record_full(fn, object, attr, mask, NULL, NULL, 0);
}

int
fake_verbs_n_calls(void)
{
    pthread_mutex_lock(&mutex);
    int n = n_calls;
    pthread_mutex_unlock(&mutex);
    return n;
}

int
fake_verbs_get_call(int i, struct fake_verbs_call *call)
{
    int ret = -1;
    pthread_mutex_lock(&mutex);
    if (i >= 0 && i < n_calls) {
        *call = calls[i];
        ret = 0;
    }
    pthread_mutex_unlock(&mutex);
    return ret;
}

void
fake_verbs_reset(void)
{
    pthread_mutex_lock(&mutex);
    n_calls = 0;
    pthread_mutex_unlock(&mutex);
}

static struct ibv_device **
get_list(void)
{
    static const char *names[3] = {"fake0", "fake1", "fake2"};
    pthread_mutex_lock(&mutex);
    for (int i = 0; i < 3; i++) {
        strcpy(devices[i].name, names[i]);
        device_list[i] = &devices[i];
    }
    device_list[3] = NULL;
    pthread_mutex_unlock(&mutex);
    return device_list;
}

struct ibv_device **fake_get_device_list_1_1(int *num);
struct ibv_device **
fake_get_device_list_1_1(int *num)
{
    if (num) {
        *num = 3;
    }
    return get_list();
}
__asm__(".symver fake_get_device_list_1_1,ibv_get_device_list@@IBVERBS_1.1");

static int fake_post_send(struct ibv_qp *, struct ibv_send_wr *,
                          struct ibv_send_wr **);

struct ibv_context *fake_open_device_1_1(struct ibv_device *device);
struct ibv_context *
fake_open_device_1_1(struct ibv_device *device)
{
    record(FAKE_OPEN_DEVICE_1_1, device, NULL, 0);
    struct ibv_context *ctx = calloc(1, sizeof *ctx);
    if (ctx) {
        ctx->device = device;
        ctx->ops.post_send = fake_post_send;
    }
    return ctx;
}
__asm__(".symver fake_open_device_1_1,ibv_open_device@@IBVERBS_1.1");

int fake_modify_qp_1_1(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
int
fake_modify_qp_1_1(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
    record(FAKE_MODIFY_QP_1_1, qp, attr, mask);
    if (mask & IBV_QP_STATE) {
        qp->state = attr->qp_state;
    }
    return 0;
}
__asm__(".symver fake_modify_qp_1_1,ibv_modify_qp@@IBVERBS_1.1");

int fake_modify_qp_1_0(void *qp, struct ibv_qp_attr *attr, int mask);
int
fake_modify_qp_1_0(void *qp, struct ibv_qp_attr *attr, int mask)
{
    record(FAKE_MODIFY_QP_1_0, qp, attr, mask);
    return 0;
}
__asm__(".symver fake_modify_qp_1_0,ibv_modify_qp@IBVERBS_1.0");

int fake_destroy_qp_1_1(struct ibv_qp *qp);
int
fake_destroy_qp_1_1(struct ibv_qp *qp)
{
    record(FAKE_DESTROY_QP_1_1, qp, NULL, 0);
    return 0;
}
__asm__(".symver fake_destroy_qp_1_1,ibv_destroy_qp@@IBVERBS_1.1");

int fake_destroy_qp_1_0(void *qp);
int
fake_destroy_qp_1_0(void *qp)
{
    record(FAKE_DESTROY_QP_1_0, qp, NULL, 0);
    return 0;
}
__asm__(".symver fake_destroy_qp_1_0,ibv_destroy_qp@IBVERBS_1.0");

void *fake_devx_obj_create(struct ibv_context *context, const void *in,
                           size_t inlen, void *out, size_t outlen);
void *
fake_devx_obj_create(struct ibv_context *context, const void *in,
                     size_t inlen, void *out, size_t outlen)
{
    (void) in;
    (void) inlen;
    (void) out;
    (void) outlen;
    record(FAKE_DEVX_OBJ_CREATE, context, NULL, 0);
    static int object;
    return &object;
}
__asm__(".symver fake_devx_obj_create,mlx5dv_devx_obj_create@@MLX5_1.7");

void
fake_verbs_set_cm_device(const char *device)
{
    pthread_mutex_lock(&mutex);
    snprintf(cm_device, sizeof cm_device, "%s", device);
    pthread_mutex_unlock(&mutex);
}

void
fake_verbs_fail_binds(int n)
{
    pthread_mutex_lock(&mutex);
    binds_to_fail = n;
    pthread_mutex_unlock(&mutex);
}

int fake_create_id(struct rdma_event_channel *channel, struct rdma_cm_id **id,
                   void *context, enum rdma_port_space ps);
int
fake_create_id(struct rdma_event_channel *channel, struct rdma_cm_id **id,
               void *context, enum rdma_port_space ps)
{
    struct rdma_cm_id *i = calloc(1, sizeof *i);
    if (!i) {
        return -1;
    }
    i->channel = channel;
    i->context = context;
    i->ps = ps;
    *id = i;
    record_full(FAKE_CM_CREATE_ID, i, NULL, 0, NULL, NULL, 0);
    return 0;
}
__asm__(".symver fake_create_id,rdma_create_id@@RDMACM_1.0");

int fake_destroy_id(struct rdma_cm_id *id);
int
fake_destroy_id(struct rdma_cm_id *id)
{
    record_full(FAKE_CM_DESTROY_ID, id, NULL, 0, NULL, NULL, 0);
    free(id);
    return 0;
}
__asm__(".symver fake_destroy_id,rdma_destroy_id@@RDMACM_1.0");

int fake_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr);
int
fake_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *) addr;
    int fail = 0;
    pthread_mutex_lock(&mutex);
    if (in->sin_port != 0 && binds_to_fail > 0) {
        binds_to_fail--;
        fail = 1;
    }
    char device[IBV_SYSFS_NAME_MAX];
    memcpy(device, cm_device, sizeof device);
    pthread_mutex_unlock(&mutex);
    record_full(FAKE_CM_BIND_ADDR, id, NULL, 0, addr, NULL, fail ? -1 : 0);
    if (fail) {
        errno = EADDRINUSE;
        return -1;
    }
    struct sockaddr_in bound = *in;
    if (bound.sin_port == 0) {
        bound.sin_port = htons(40000);      /* The kernel's pick. */
    }
    memcpy(&id->route.addr.src_addr, &bound, sizeof bound);
    if (in->sin_addr.s_addr != htonl(INADDR_ANY)) {
        struct ibv_device **list = get_list();
        for (int i = 0; list[i]; i++) {
            if (!strcmp(list[i]->name, device)) {
                struct ibv_context *ctx = calloc(1, sizeof *ctx);
                if (ctx) {
                    ctx->device = list[i];
                }
                id->verbs = ctx;
                id->port_num = 1;
            }
        }
    }
    return 0;
}
__asm__(".symver fake_bind_addr,rdma_bind_addr@@RDMACM_1.0");

int fake_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
                      struct sockaddr *dst, int timeout_ms);
int
fake_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src,
                  struct sockaddr *dst, int timeout_ms)
{
    (void) timeout_ms;
    record_full(FAKE_CM_RESOLVE_ADDR, id, NULL, 0, dst, src, 0);
    return 0;
}
__asm__(".symver fake_resolve_addr,rdma_resolve_addr@@RDMACM_1.0");

static int post_send_fail_at = -1;
static int post_send_error;

void
fake_verbs_fail_post_send(int at, int error)
{
    pthread_mutex_lock(&mutex);
    post_send_fail_at = at;
    post_send_error = error;
    pthread_mutex_unlock(&mutex);
}

/* A provider's post_send: records the call; fails as told. */
static int
fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
               struct ibv_send_wr **bad_wr)
{
    pthread_mutex_lock(&mutex);
    int at = post_send_fail_at, error = post_send_error;
    post_send_fail_at = -1;
    pthread_mutex_unlock(&mutex);
    int rc = 0;
    if (at >= 0) {
        struct ibv_send_wr *w = wr;
        for (int i = 0; i < at && w; i++) {
            w = w->next;
        }
        *bad_wr = w;
        rc = error;
    }
    record_full(FAKE_POST_SEND, qp, NULL, 0, NULL, NULL, rc);
    return rc;
}

struct ibv_qp *
fake_verbs_make_qp(const char *device, enum ibv_qp_type type, uint32_t qpn)
{
    struct ibv_device **list = get_list();
    struct ibv_device *dev = NULL;
    for (int i = 0; list[i]; i++) {
        if (!strcmp(list[i]->name, device)) {
            dev = list[i];
        }
    }
    if (!dev) {
        errno = ENODEV;
        return NULL;
    }
    struct ibv_context *ctx = calloc(1, sizeof *ctx);
    struct ibv_qp *qp = calloc(1, sizeof *qp);
    if (!ctx || !qp) {
        free(ctx);
        free(qp);
        return NULL;
    }
    ctx->device = dev;
    ctx->ops.post_send = fake_post_send;
    qp->context = ctx;
    qp->qp_type = type;
    qp->qp_num = qpn;
    qp->state = IBV_QPS_INIT;
    return qp;
}

/* libibverbs's struct ibv_qp_1_0 (compat-1_0.c). */
struct fake_qp_1_0 {
    void *context;
    void *qp_context;
    void *pd;
    void *send_cq;
    void *recv_cq;
    void *srq;
    uint32_t handle;
    uint32_t qp_num;
    enum ibv_qp_state state;
    enum ibv_qp_type qp_type;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint32_t events_completed;
    struct ibv_qp *real_qp;
};

void *
fake_verbs_make_qp_1_0(struct ibv_qp *qp)
{
    struct fake_qp_1_0 *q = calloc(1, sizeof *q);
    if (q) {
        q->qp_num = qp->qp_num;
        q->qp_type = qp->qp_type;
        q->real_qp = qp;
    }
    return q;
}
