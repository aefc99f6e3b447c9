# rdma-bond/predict.mk: included by Makefile.am (see rdma-bond/automake.mk).
