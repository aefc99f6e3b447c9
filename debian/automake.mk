# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# debian/automake.mk: "make deb" builds the Debian packages from the
# source tarball of this tree ("make dist"), unpacked and built in
# $(DEB_BUILDDIR) with dpkg-buildpackage -b -uc -us.  DEB_BUILD_OPTIONS
# passes through (for example DEB_BUILD_OPTIONS=nocheck).

EXTRA_DIST += \
	debian/automake.mk \
	debian/changelog \
	debian/control \
	debian/copyright \
	debian/librdmabond-dev.install \
	debian/librdmabond0.install \
	debian/not-installed \
	debian/ovs-rdma-bond-agent.default \
	debian/ovs-rdma-bond-agent.docs \
	debian/ovs-rdma-bond-agent.install \
	debian/ovs-rdma-bond-agent.postinst \
	debian/ovs-rdma-bond-agent.postrm \
	debian/ovs-rdma-bond-agent.service \
	debian/ovs-rdma-bond-tools.docs \
	debian/ovs-rdma-bond-tools.install \
	debian/rules \
	debian/source/format

DEB_BUILDDIR = $(abs_builddir)/_deb

deb: dist-gzip
	@command -v dpkg-buildpackage >/dev/null || { \
		echo "make deb: dpkg-buildpackage not found (apt-get install dpkg-dev debhelper)" >&2; \
		exit 1; }
	rm -rf $(DEB_BUILDDIR)
	$(MKDIR_P) $(DEB_BUILDDIR)
	tar -C $(DEB_BUILDDIR) -xzf $(distdir).tar.gz
	cd $(DEB_BUILDDIR)/$(distdir) && dpkg-checkbuilddeps
	cd $(DEB_BUILDDIR)/$(distdir) && dpkg-buildpackage -b -uc -us
	@echo
	@echo "Debian packages in $(DEB_BUILDDIR):"
	@cd $(DEB_BUILDDIR) && ls -1 *.deb
.PHONY: deb

clean-local: clean-deb
clean-deb:
	rm -rf $(DEB_BUILDDIR)
.PHONY: clean-deb
