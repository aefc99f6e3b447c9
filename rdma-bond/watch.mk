# rdma-bond/watch.mk: included by Makefile.am (see rdma-bond/automake.mk).
