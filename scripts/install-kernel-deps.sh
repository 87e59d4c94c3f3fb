#!/bin/sh
# Install the Debian packages that scripts/ipvs-vm/run needs to boot a QEMU
# guest with a real ip_vs kernel, if any is missing, and make sure the apt
# lists know linux-image-amd64 (the runner fetches it with `apt-get download`;
# it is never installed). Idempotent and quiet when everything is there; run
# as root (CI and developers are root).
set -eu
# qemu-system-x86: the emulator (TCG; KVM is not usable on these machines)
# busybox-static:  the guest's /init, shell and modprobe (must be static)
# cpio:            builds the initramfs
# kmod:            depmod for the unpacked kernel's modules.dep
# xz-utils:        unpacks vmlinuz into a vmlinux that QEMU boots directly
# ipvsadm:         the guest sees the host's /usr/sbin; tests read tables with it
PACKAGES="qemu-system-x86 busybox-static cpio kmod xz-utils ipvsadm"

have_kernel_candidate() {
	apt-cache policy linux-image-amd64 2>/dev/null | grep -q 'Candidate: [0-9]'
}

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
lists_ok=1
have_kernel_candidate || lists_ok=0
[ -z "$missing" ] && [ "$lists_ok" = 1 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	if [ -n "$missing" ]; then
		echo "install-kernel-deps: missing Debian packages:$missing (run as root, or: apt-get install$missing)" >&2
	else
		echo "install-kernel-deps: apt lists do not know linux-image-amd64 (run as root: apt-get update)" >&2
	fi
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Other sessions on this machine may hold the dpkg lock for a while.
APT_OPTS="-q -o DPkg::Lock::Timeout=600"
if [ -n "$missing" ] || [ "$lists_ok" = 0 ]; then
	echo "install-kernel-deps: apt-get update"
	# shellcheck disable=SC2086
	apt-get $APT_OPTS update >/dev/null
fi
if [ -n "$missing" ]; then
	echo "install-kernel-deps: installing$missing"
	# shellcheck disable=SC2086
	apt-get $APT_OPTS install -y --no-install-recommends $missing >/dev/null
fi
if ! have_kernel_candidate; then
	echo "install-kernel-deps: apt lists still do not offer linux-image-amd64" >&2
	exit 1
fi
