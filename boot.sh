#! /bin/sh
# Generates configure and Makefile.in, as Open vSwitch's own boot.sh does.
# The patched Open vSwitch tree gets its own boot.sh run by configure.
autoreconf --install --force
