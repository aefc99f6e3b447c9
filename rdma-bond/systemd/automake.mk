# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/systemd/: ovs-rdma-bond-agent's unit, its defaults and the
# setup step it runs first; the packages (debian/, rhel/) install them.

EXTRA_DIST += \
	rdma-bond/systemd/ovs-rdma-bond-agent-setup \
	rdma-bond/systemd/ovs-rdma-bond-agent.default \
	rdma-bond/systemd/ovs-rdma-bond-agent.service
