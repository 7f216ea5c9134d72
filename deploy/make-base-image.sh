#!/usr/bin/env bash
# Makes a Debian 12 (bookworm) base image without an image registry: debootstrap --variant=minbase, then
# `podman import`. The result stands in for debian:bookworm-slim (same apt sources, no docs or man pages),
# so deploy/Dockerfile builds the same way on either. Needs root, debootstrap and podman; reaches only a
# Debian mirror.
#
#   deploy/make-base-image.sh [IMAGE]     IMAGE defaults to localhost/devicehub-bookworm:latest
#
# Environment: MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

image=${1:-localhost/devicehub-bookworm:latest}
mirror=${MIRROR:-http://deb.debian.org/debian}

if podman image exists "$image"; then
  echo "base image: $image exists; keeping it (podman rmi $image to rebuild)"
  exit 0
fi
rootfs=$(mktemp -d /tmp/devicehub-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "base image: debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
  { tail -20 "$rootfs.log"; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# The same apt sources as debian:bookworm-slim: the release, its updates and the security archive.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# Like the slim images: no package caches, lists, docs (copyright files stay), man pages or locales, and
# dpkg told not to install them again.
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/man/* \
       "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG

tar -C "$rootfs" --numeric-owner -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
echo "base image: $image made"
