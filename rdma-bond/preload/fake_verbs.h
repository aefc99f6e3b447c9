/* Copyright (c) 2026 The ovs-rdma-bond authors.
 * Licensed under the Apache License, Version 2.0.
 *
 * libfakeverbs.so: a stand-in for libibverbs (and libmlx5's
 * mlx5dv_devx_obj_create) for the preload's tests.  It exports the
 * functions librdmabond-preload.so interposes, with libibverbs's symbol
 * versions, and records every call so that a test sees what reached "the
 * real function": which version, and the attributes it was given.
 *
 * Its devices are "fake0", "fake1" and "fake2"; a context or QP is
 * whatever the test makes (fake_verbs_make_qp()). */

#ifndef RDMA_BOND_PRELOAD_FAKE_VERBS_H_
#define RDMA_BOND_PRELOAD_FAKE_VERBS_H_

#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <rdma/rdma_cma.h>

#ifdef __cplusplus
extern "C" {
#endif

enum fake_verbs_fn {
    FAKE_MODIFY_QP_1_1,
    FAKE_MODIFY_QP_1_0,
    FAKE_DESTROY_QP_1_1,
    FAKE_DESTROY_QP_1_0,
    FAKE_OPEN_DEVICE_1_1,
    FAKE_DEVX_OBJ_CREATE,
    FAKE_CM_CREATE_ID,
    FAKE_CM_DESTROY_ID,
    FAKE_CM_BIND_ADDR,
    FAKE_CM_RESOLVE_ADDR,
    FAKE_POST_SEND,             /* The context's ops.post_send. */
};

struct fake_verbs_call {
    enum fake_verbs_fn fn;
    void *object;               /* The QP (1.0: the 1.0 QP) or device. */
    struct ibv_qp_attr attr;    /* modify_qp: a copy of what it got. */
    const struct ibv_qp_attr *attr_ptr;
    int mask;
    struct sockaddr_in addr;    /* rdma_bind_addr: the address given;
                                 * rdma_resolve_addr: the destination. */
    const struct sockaddr *src_ptr;  /* rdma_resolve_addr's source. */
    int result;                 /* What the fake returned. */
};

/* Calls recorded so far (at most 256 are kept, the first ones). */
int fake_verbs_n_calls(void);
/* Copies call 'i'; 0 on success, -1 if there is none. */
int fake_verbs_get_call(int i, struct fake_verbs_call *call);
void fake_verbs_reset(void);

/* A QP of 'type' and number 'qpn' on a new context of device 'device'
 * (by name), as libibverbs would have made it. */
struct ibv_qp *fake_verbs_make_qp(const char *device, enum ibv_qp_type type,
                                  uint32_t qpn);
/* The fake librdmacm: an ID bound to a specific address gets a context of
 * device 'device' (what the kernel's address lookup would pick), port 1.
 * The next 'n' binds with a non-zero port fail with EADDRINUSE. */
void fake_verbs_set_cm_device(const char *device);
void fake_verbs_fail_binds(int n);
/* The next post_send (a fake_verbs_make_qp() context's ops.post_send)
 * fails with 'error' at its work request number 'at' (0 = the first),
 * which it names in *bad_wr. */
void fake_verbs_fail_post_send(int at, int error);

/* The IBVERBS_1.0 QP wrapping 'qp' (layout of libibverbs's compat-1_0.c). */
void *fake_verbs_make_qp_1_0(struct ibv_qp *qp);

#ifdef __cplusplus
}
#endif

#endif
