# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/perf.mk: rdma-bond-perf, the perftest-style tool over
# librdmabond's connections (verbs or emulated backend).

bin_PROGRAMS += rdma-bond/rdma-bond-perf
rdma_bond_rdma_bond_perf_SOURCES = \
	rdma-bond/rdma_bond_perf.cc \
	rdma-bond/perf_backend.cc \
	rdma-bond/perf_backend.h \
	rdma-bond/perf_net.cc \
	rdma-bond/perf_net.h \
	rdma-bond/perf_options.cc \
	rdma-bond/perf_options.h \
	rdma-bond/perf_timeline.h \
	rdma-bond/perf_session.h
rdma_bond_rdma_bond_perf_LDADD = \
	rdma-bond/librdmabond-conn.a \
	rdma-bond/librdmabond-emu.a \
	rdma-bond/librdmabond-verbs.a \
	rdma-bond/librdmabond.a \
	$(IBVERBS_LIBS) -lpthread
dist_man_MANS += rdma-bond/rdma-bond-perf.1
