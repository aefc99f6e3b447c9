# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rhel/automake.mk: "make rpm" builds the RPMs with rpmbuild from the source
# tarball of this tree ("make dist") and the pinned Open vSwitch tarball, in
# $(RPM_BUILDDIR) (its own _topdir).  RPMBUILD_FLAGS adds flags.

EXTRA_DIST += \
	rhel/automake.mk \
	rhel/ovs-rdma-bond.spec \
	rhel/ovs-rdma-bond.spec.in

RPM_BUILDDIR = $(abs_builddir)/_rpm
RPMBUILD_FLAGS =

rpm: dist-gzip rhel/ovs-rdma-bond.spec
	@command -v rpmbuild >/dev/null || { \
		echo "make rpm: rpmbuild not found (apt-get install rpm, or dnf install rpm-build)" >&2; \
		exit 1; }
	rm -rf $(RPM_BUILDDIR)
	$(MKDIR_P) $(RPM_BUILDDIR)/SOURCES
	cp $(distdir).tar.gz $(RPM_BUILDDIR)/SOURCES/
	cp '$(OVS_SOURCE)' $(RPM_BUILDDIR)/SOURCES/openvswitch.tar.gz
	@# On a system whose packages are not RPMs (Debian's rpm), the RPM
	@# database knows no build dependency: they are not checked there.
	nodeps=; rpm -q rpm >/dev/null 2>&1 || { nodeps=--nodeps; \
		echo "make rpm: not an RPM-based system, BuildRequires not checked"; }; \
	rpmbuild --define '_topdir $(RPM_BUILDDIR)' $$nodeps $(RPMBUILD_FLAGS) \
		-bb rhel/ovs-rdma-bond.spec
	@echo
	@echo "RPMs in $(RPM_BUILDDIR)/RPMS:"
	@cd $(RPM_BUILDDIR)/RPMS && ls -1 */*.rpm
.PHONY: rpm

clean-local: clean-rpm
clean-rpm:
	rm -rf $(RPM_BUILDDIR)
.PHONY: clean-rpm
