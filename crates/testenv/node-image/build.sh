#!/usr/bin/env bash
# `make node-image`: builds azop's node image offline from Debian packages and the Kubernetes
# binaries built from their Go modules, and caches it under $CACHE/node-image/ keyed by its
# inputs. What is in it and how to use it on Azure: docs/node-image.md.
#
#   build.sh            build (or find cached) and print NODE_IMAGE_DIR=<dir> on the last line
#   build.sh --check    exit 0 when the image of the current inputs is cached, 1 otherwise
#                       (without building anything: CI asks this before running the boot test)
#
# Output, in $CACHE/node-image/azop-node-<kubernetes version>-<key>/:
#   azop-node.vhd       the Azure image: a fixed VHD, whole MiB (what a StorageBinding copies)
#   azop-node.qcow2     the same disk for local QEMU runs
#   manifest.json       versions, images, sizes, the key's inputs
# and $CACHE/node-image.env (AZOP_NODE_IMAGE_VHD=..., AZOP_NODE_IMAGE_QCOW2=..., ...).
#
# Overridable: AZOP_CACHE_DIR / AZOP_CACHE, AZOP_DEBIAN_MIRROR, AZOP_NODE_IMAGE_SMOKE=0 (skip
# the boot check at the end).
set -Eeuo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SCRIPTS="$(cd "$HERE/../scripts" && pwd)"
CACHE="${AZOP_CACHE_DIR:-${AZOP_CACHE:-$HOME/.cache/azop}}"
export AZOP_CACHE_DIR="$CACHE"
OUT_ROOT="$CACHE/node-image"
ENV_FILE="$CACHE/node-image.env"

# Bump when the recipe below changes in a way the hashed inputs do not show.
RECIPE=1
SUITE=bookworm
MIRROR="${AZOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${AZOP_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# CoreDNS at the version kubeadm deploys (checked against `kubeadm config images list`);
# flannel, the image's pod network (VXLAN: Azure's network carries it, it needs no route
# tables). v0.27.4, not the newest v0.28.x: the module proxy here refuses the Tencent Cloud
# SDK versions v0.28.x require (flannel links every backend into flanneld).
COREDNS_VERSION=v1.14.6
FLANNEL_VERSION=v0.27.4
# Debian packages of the node. The cloud kernel has Hyper-V's and virtio's drivers;
# isc-dhcp-client is what cloud-init's Azure datasource reaches the wire server with before
# networking is configured; hyperv-daemons for Azure's KVP; busybox-static for the debugging
# image and the CNI config sidecar (both offline).
PACKAGES=(linux-image-cloud-amd64 initramfs-tools systemd-sysv systemd-resolved dbus udev kmod
    cloud-init cloud-guest-utils isc-dhcp-client hyperv-daemons openssh-server sudo
    ca-certificates curl procps netbase iproute2 iptables conntrack ethtool socat ebtables
    containerd runc containernetworking-plugins busybox-static)

STEP="start"
START_TS=$(date +%s)
log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
step() { STEP="$1"; log "$1"; }
on_error() {
    local rc=$?
    printf '\nERROR: node-image build failed during step: %s (exit code %s)\n' "$STEP" "$rc" >&2
    exit "$rc"
}
trap on_error ERR

WORK=""
CONTAINERD_PID=""
cleanup() {
    if [ -n "$CONTAINERD_PID" ]; then kill "$CONTAINERD_PID" 2>/dev/null || true; wait "$CONTAINERD_PID" 2>/dev/null || true; fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        # A mount left by a failed step must not make rm walk into the host.
        grep -q " $WORK/" /proc/mounts && awk -v w="$WORK/" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "ERROR: the node image is built as root (mmdebstrap, a chroot, containerd)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# ---- inputs and the cache key ---------------------------------------------------------------
go_env() {
    export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS="-modcacherw"
    export CGO_ENABLED=0
}
MOD_DIR="$(cd "$HERE/../go/kube" && pwd)"
kube_version() { (cd "$MOD_DIR" && go list -m -f '{{.Version}}' k8s.io/kubernetes); }

input_key() {
    # Everything the image is made of: this directory (scripts, files), the Go tools' pins,
    # the Go version, the Debian suite and package list, the pinned versions.
    (
        cd "$HERE" && find . -type f -print0 | sort -z | xargs -0 sha256sum
        cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum"
        go env GOVERSION
        echo "recipe=$RECIPE suite=$SUITE coredns=$COREDNS_VERSION flannel=$FLANNEL_VERSION"
        echo "${PACKAGES[*]}"
    ) | sha256sum | cut -c1-12
}

command -v go >/dev/null || { echo "ERROR: go is not installed (Go >= 1.26 is needed)" >&2; exit 1; }
go_env
KUBE_VERSION=$(kube_version)
KEY=$(input_key)
IMAGE_DIR="$OUT_ROOT/azop-node-$KUBE_VERSION-$KEY"

if [ "${1:-}" = "--check" ]; then
    if [ -s "$IMAGE_DIR/azop-node.vhd" ] && [ -s "$IMAGE_DIR/manifest.json" ]; then
        echo "node image cached: $IMAGE_DIR"; exit 0
    fi
    echo "node image not cached for the current inputs (would be $IMAGE_DIR): run make node-image"
    exit 1
fi

write_env() {
    cat >"$ENV_FILE.tmp" <<EOF
AZOP_NODE_IMAGE_DIR=$IMAGE_DIR
AZOP_NODE_IMAGE_VHD=$IMAGE_DIR/azop-node.vhd
AZOP_NODE_IMAGE_QCOW2=$IMAGE_DIR/azop-node.qcow2
AZOP_NODE_IMAGE_KUBERNETES_VERSION=$KUBE_VERSION
AZOP_QEMU=$(command -v qemu-system-x86_64)
AZOP_QEMU_IMG=$(command -v qemu-img)
AZOP_GENISOIMAGE=$(command -v genisoimage)
AZOP_OVMF=/usr/share/ovmf/OVMF.fd
AZOP_SOCAT=$(command -v socat)
EOF
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

APT_UPDATED=0
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    if [ "$APT_UPDATED" = 0 ]; then apt-get -q -o DPkg::Lock::Timeout=600 update; APT_UPDATED=1; fi
    step "apt-get install ${missing[*]}"
    apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
}

# What running the image needs (azop-armsim --machines qemu, make test-machines) is installed
# even when the image is cached.
step "host packages"
apt_install qemu-system-x86 qemu-utils genisoimage ovmf socat mmdebstrap grub-pc-bin \
    mtools dosfstools fdisk e2fsprogs containerd gcc libc6-dev

if [ -s "$IMAGE_DIR/azop-node.vhd" ] && [ -s "$IMAGE_DIR/manifest.json" ]; then
    log "node image: cached ($IMAGE_DIR)"
    write_env
    echo "NODE_IMAGE_DIR=$IMAGE_DIR"
    exit 0
fi
log "building azop's node image for Kubernetes $KUBE_VERSION (key $KEY); about 10 minutes, plus the Go builds on a cold cache"
mkdir -p "$OUT_ROOT"
WORK=$(mktemp -d "$OUT_ROOT/work.XXXXXX")

# ---- binaries --------------------------------------------------------------------------------
step "Go tools (kube-apiserver, kube-controller-manager, kubeadm, kubectl, etcd)"
out=$(bash "$SCRIPTS/go-tools.sh" | tail -n1); TOOLS_DIR="${out#BIN_DIR=}"
step "Go node tools (kubelet, kube-scheduler, kube-proxy)"
out=$(bash "$SCRIPTS/go-tools.sh" --node | tail -n1); NODE_TOOLS_DIR="${out#BIN_DIR=}"

# A Go command built from its own module at a version (go.sum checked against the checksum
# database), static; cached by name, version and Go version. `cgo=1` for a command whose
# amd64 build needs cgo (flanneld's UDP backend), linked statically against glibc.
go_install() {
    local name="$1" pkg="$2" version="$3" ldflags="$4" cgo="${5:-0}"
    local dir
    dir="$OUT_ROOT/go-$name-$version-$(go env GOVERSION)"
    if [ ! -x "$dir/$name" ]; then
        step "build $name $version from its Go module"
        rm -rf "$dir.partial"; mkdir -p "$dir.partial"
        if [ "$cgo" = 1 ]; then
            (cd "$WORK" && CGO_ENABLED=1 GOBIN="$dir.partial" go install -trimpath -tags netgo,osusergo \
                -ldflags "-s -w $ldflags -extldflags -static" "$pkg@$version")
        else
            (cd "$WORK" && GOBIN="$dir.partial" go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version")
        fi
        [ -x "$dir.partial/$name" ] || mv "$dir.partial/$(basename "${pkg%%/v[0-9]*}")" "$dir.partial/$name"
        rm -rf "$dir"; mv "$dir.partial" "$dir"
    fi
    echo "$dir/$name"
}
COREDNS_BIN=$(go_install coredns github.com/coredns/coredns "$COREDNS_VERSION" "")
FLANNEL_BIN=$(go_install flanneld github.com/flannel-io/flannel "$FLANNEL_VERSION" \
    "-X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" 1)

step "pause (from the Kubernetes module's build/pause/linux/pause.c)"
KUBEADM="$TOOLS_DIR/kubeadm"
PAUSE_TAG=$("$KUBEADM" config images list --kubernetes-version "$KUBE_VERSION" | sed -n 's#^registry.k8s.io/pause:##p')
PAUSE_DIR="$OUT_ROOT/pause-$PAUSE_TAG"
if [ ! -x "$PAUSE_DIR/pause" ]; then
    mkdir -p "$PAUSE_DIR"
    # upstream's build/pause/Makefile: CFLAGS = -Os -Wall -Werror -static -DVERSION=...
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_TAG-azop" -o "$PAUSE_DIR/pause.tmp" \
        "$GOMODCACHE/k8s.io/kubernetes@$KUBE_VERSION/build/pause/linux/pause.c"
    mv "$PAUSE_DIR/pause.tmp" "$PAUSE_DIR/pause"
fi

# The images kubeadm will ask for, exactly.
mapfile -t KUBEADM_IMAGES < <("$KUBEADM" config images list --kubernetes-version "$KUBE_VERSION")
# Whole outputs captured, then matched: `producer | grep -q` ends grep at the first match and
# the producer, still writing, dies of SIGPIPE (141 under pipefail; seen with etcd).
IMAGE_LIST=$(printf '%s\n' "${KUBEADM_IMAGES[@]}")
grep -qx "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" <<<"$IMAGE_LIST" || {
    echo "ERROR: kubeadm $KUBE_VERSION deploys $(printf '%s\n' "${KUBEADM_IMAGES[@]}" | grep coredns); set COREDNS_VERSION in $0 to its tag" >&2
    false
}
ETCD_TAG=$(printf '%s\n' "${KUBEADM_IMAGES[@]}" | sed -n 's#^registry.k8s.io/etcd:##p')
ETCD_VERSION_OUT=$("$TOOLS_DIR/etcd" --version)
grep -q "etcd Version: ${ETCD_TAG%%-*}" <<<"$ETCD_VERSION_OUT" || {
    echo "ERROR: kubeadm wants etcd $ETCD_TAG, the Go tools built $(sed -n 1p <<<"$ETCD_VERSION_OUT")" >&2
    false
}

# ---- the Debian root file system --------------------------------------------------------------
BASE_KEY=$( (echo "$SUITE $MIRROR $RECIPE"; echo "${PACKAGES[*]}") | sha256sum | cut -c1-12)
BASE_TAR="$OUT_ROOT/debian-$SUITE-$BASE_KEY.tar"
if [ ! -s "$BASE_TAR" ]; then
    step "Debian $SUITE root file system (mmdebstrap, about 4 minutes)"
    # Azure boots from Hyper-V's disk and network drivers, QEMU from virtio's: both in the
    # initramfs (MODULES=most may not pull in hv_vmbus).
    mmdebstrap --variant=apt --format=tar --include="$(IFS=,; echo "${PACKAGES[*]}")" \
        --customize-hook='printf "%s\n" hv_vmbus hv_storvsc hv_netvsc virtio_pci virtio_blk virtio_net virtio_scsi >> "$1/etc/initramfs-tools/modules"' \
        --customize-hook='chroot "$1" update-initramfs -u -k all' \
        "$SUITE" "$BASE_TAR.partial" \
        "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main"
    mv "$BASE_TAR.partial" "$BASE_TAR"
    # Older bases of other package lists are not needed any more.
    find "$OUT_ROOT" -maxdepth 1 -name "debian-*.tar" ! -name "$(basename "$BASE_TAR")" -delete
fi

step "assemble the root file system"
R="$WORK/rootfs"
mkdir -p "$R"
tar -C "$R" -xf "$BASE_TAR"
cp -a "$HERE/rootfs/." "$R/"
install -m 0755 "$NODE_TOOLS_DIR/kubelet" "$R/usr/bin/kubelet"
install -m 0755 "$KUBEADM" "$R/usr/bin/kubeadm"
install -m 0755 "$TOOLS_DIR/kubectl" "$R/usr/bin/kubectl"
# Every VM makes its own SSH host keys (cloud-init) and machine id (systemd).
rm -f "$R"/etc/ssh/ssh_host_*
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
# containerd: the CRI plugin with the systemd cgroup driver (as kubeadm configures kubelet),
# the pause image kubeadm expects, Debian's CNI plugins.
PAUSE_IMAGE="registry.k8s.io/pause:$PAUSE_TAG"
chroot "$R" containerd config default >"$R/etc/containerd/config.toml"
sed -i -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
    -e "s#sandbox_image = \".*\"#sandbox_image = \"$PAUSE_IMAGE\"#" \
    -e 's#bin_dir = "/opt/cni/bin"#bin_dir = "/usr/lib/cni"#' "$R/etc/containerd/config.toml"
for want in 'SystemdCgroup = true' "sandbox_image = \"$PAUSE_IMAGE\"" 'bin_dir = "/usr/lib/cni"'; do
    grep -qF "$want" "$R/etc/containerd/config.toml" || { echo "ERROR: could not set '$want' in containerd's config" >&2; false; }
done
chroot "$R" systemctl enable kubelet.service systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
chroot "$R" systemctl enable containerd.service ssh.service >/dev/null 2>&1

# ---- container images ---------------------------------------------------------------------------
step "container images"
IMG="$WORK/images"
mkdir -p "$IMG"
oci() { python3 "$HERE/oci-image.py" "$@" >&2; }
CERTS="$R/etc/ssl/certs/ca-certificates.crt"
tag_of() { printf '%s\n' "${KUBEADM_IMAGES[@]}" | sed -n "s#^registry.k8s.io/$1:##p"; }
for c in kube-apiserver kube-controller-manager kube-scheduler; do
    bin="$TOOLS_DIR/$c"; [ -x "$bin" ] || bin="$NODE_TOOLS_DIR/$c"
    oci --name "registry.k8s.io/$c:$(tag_of "$c")" --out "$IMG/$c.tar" --entrypoint "/usr/local/bin/$c" \
        --add "$bin:/usr/local/bin/$c" --add "$CERTS:/etc/ssl/certs/ca-certificates.crt"
done
oci --name "registry.k8s.io/etcd:$ETCD_TAG" --out "$IMG/etcd.tar" --entrypoint /usr/local/bin/etcd \
    --add "$TOOLS_DIR/etcd:/usr/local/bin/etcd"
oci --name "$PAUSE_IMAGE" --out "$IMG/pause.tar" --entrypoint /pause --user 65535:65535 \
    --add "$PAUSE_DIR/pause:/pause"
oci --name "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" --out "$IMG/coredns.tar" \
    --entrypoint /coredns --user 65532:65532 --add "$COREDNS_BIN:/coredns" --cap /coredns:net_bind_service \
    --add "$CERTS:/etc/ssl/certs/ca-certificates.crt"

# kube-proxy and flanneld program iptables: they get Debian's iptables (nft back end, as on
# the node itself) with its libraries and extensions.
userland_args() {
    local f
    local pkgs=(iptables libxtables12 libip4tc2 libip6tc2 libnftnl11 libmnl0 libnetfilter-conntrack3 libnfnetlink0 libc6)
    for f in $(chroot "$R" dpkg -L "${pkgs[@]}" | grep -Ev '^/usr/share/|/gconv/|^/etc/|^/\.$' | sort -u); do
        if [ -L "$R$f" ] || [ -f "$R$f" ]; then printf -- '--add\n%s:%s\n' "$R$f" "$f"; fi
    done
    local t
    for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
        printf -- '--link\nxtables-nft-multi:/usr/sbin/%s\n' "$t"
    done
    # /lib64 and /lib are symlinks into /usr on Debian (merged /usr).
    printf -- '--link\nusr/lib64:/lib64\n--link\nusr/lib:/lib\n--link\nusr/sbin:/sbin\n--link\nusr/bin:/bin\n'
}
mapfile -t USERLAND < <(userland_args)
oci --name "registry.k8s.io/kube-proxy:$(tag_of kube-proxy)" --out "$IMG/kube-proxy.tar" \
    --entrypoint /usr/local/bin/kube-proxy --add "$NODE_TOOLS_DIR/kube-proxy:/usr/local/bin/kube-proxy" "${USERLAND[@]}"
FLANNEL_IMAGE="azop.dev/node-image/flannel:$FLANNEL_VERSION"
oci --name "$FLANNEL_IMAGE" --out "$IMG/flannel.tar" --entrypoint /opt/bin/flanneld \
    --add "$FLANNEL_BIN:/opt/bin/flanneld" --add "$R/bin/busybox:/usr/local/bin/busybox" \
    --add "$HERE/flannel/azop-cni-config:/usr/local/bin/azop-cni-config" "${USERLAND[@]}"
BUSYBOX_VERSION=$(chroot "$R" dpkg-query -W -f='${Version}' busybox-static | sed -E 's/^[0-9]+://; s/[-+~].*//')
BUSYBOX_IMAGE="azop.dev/node-image/busybox:$BUSYBOX_VERSION"
oci --name "$BUSYBOX_IMAGE" --out "$IMG/busybox.tar" --entrypoint /bin/sh \
    --add "$R/bin/busybox:/bin/busybox" --link busybox:/bin/sh

# Imported with containerd itself into the image's content store, unpacked for the overlayfs
# snapshotter (no import at first boot: under software emulation that costs minutes). The
# host's containerd is Debian's, the same version as the image's.
step "import the images into the image's containerd"
CTR_STATE="$WORK/containerd"
mkdir -p "$CTR_STATE"
cat >"$CTR_STATE/config.toml" <<EOF
version = 2
root = "$R/var/lib/containerd"
state = "$CTR_STATE/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTR_STATE/containerd.sock"
EOF
containerd --config "$CTR_STATE/config.toml" >"$CTR_STATE/log" 2>&1 &
CONTAINERD_PID=$!
for _ in $(seq 1 100); do [ -S "$CTR_STATE/containerd.sock" ] && break; sleep 0.1; done
[ -S "$CTR_STATE/containerd.sock" ] || { cat "$CTR_STATE/log" >&2; echo "ERROR: containerd did not start" >&2; false; }
ctr_() { ctr --address "$CTR_STATE/containerd.sock" --namespace k8s.io "$@"; }
for t in "$IMG"/*.tar; do ctr_ images import --snapshotter overlayfs "$t" >&2; done
IMPORTED=$(ctr_ images ls -q)
for want in "${KUBEADM_IMAGES[@]}" "$FLANNEL_IMAGE" "$BUSYBOX_IMAGE"; do
    grep -qx "$want" <<<"$IMPORTED" || { echo "ERROR: $want was not imported" >&2; false; }
done
kill "$CONTAINERD_PID"; wait "$CONTAINERD_PID" 2>/dev/null || true; CONTAINERD_PID=""

# What azop's bootstrap reads: the versions and the pod network this image carries.
mkdir -p "$R/etc/azop"
cat >"$R/etc/azop/node-image.env" <<EOF
# azop's node image (docs/node-image.md). Read by azop's bootstrap (customData).
AZOP_NODE_IMAGE_KEY=$KEY
AZOP_KUBERNETES_VERSION=$KUBE_VERSION
AZOP_IMAGES="$(printf '%s ' "${KUBEADM_IMAGES[@]}" "$FLANNEL_IMAGE" "$BUSYBOX_IMAGE" | sed 's/ $//')"
AZOP_CNI=flannel
AZOP_CNI_APPLY=/usr/local/sbin/azop-apply-cni
AZOP_FLANNEL_IMAGE=$FLANNEL_IMAGE
AZOP_BUSYBOX_IMAGE=$BUSYBOX_IMAGE
EOF
rm -rf "$IMG"

# ---- the disk ------------------------------------------------------------------------------------
step "boot loaders (Debian's signed shim and GRUB for UEFI)"
EFI_DIR="$WORK/efi"
mkdir -p "$EFI_DIR/debs"
(cd "$EFI_DIR/debs" && apt-get download -q -o APT::Sandbox::User=root shim-signed grub-efi-amd64-signed >&2)
for d in "$EFI_DIR"/debs/*.deb; do dpkg -x "$d" "$EFI_DIR"; done
step "disk (GPT: BIOS boot, EFI system, root)"
bash "$HERE/make-disk.sh" "$R" "$WORK/disk.raw" "$EFI_DIR/usr/lib/shim/shimx64.efi.signed" \
    "$EFI_DIR/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
rm -rf "$R"

step "VHD (fixed) and qcow2"
mkdir -p "$IMAGE_DIR.partial"
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$WORK/disk.raw" "$IMAGE_DIR.partial/azop-node.vhd"
qemu-img convert -f raw -O qcow2 -c "$WORK/disk.raw" "$IMAGE_DIR.partial/azop-node.qcow2"
RAW_BYTES=$(stat -c %s "$WORK/disk.raw")
rm -f "$WORK/disk.raw"
VHD_BYTES=$(stat -c %s "$IMAGE_DIR.partial/azop-node.vhd")
# Azure: a fixed VHD whose virtual size is a whole number of MiB (plus the 512-byte footer).
[ $(( (VHD_BYTES - 512) % 1048576 )) -eq 0 ] || { echo "ERROR: the VHD's size $VHD_BYTES is not N MiB + 512" >&2; false; }

python3 - "$IMAGE_DIR.partial/manifest.json" <<EOF
import json, sys
json.dump({
    "key": "$KEY",
    "kubernetesVersion": "$KUBE_VERSION",
    "debian": "$SUITE",
    "coredns": "$COREDNS_VERSION",
    "flannel": "$FLANNEL_VERSION",
    "images": "$(printf '%s ' "${KUBEADM_IMAGES[@]}" "$FLANNEL_IMAGE" "$BUSYBOX_IMAGE")".split(),
    "diskBytes": $RAW_BYTES,
    "vhdBytes": $VHD_BYTES,
    "hyperVGenerations": ["V1", "V2"],
    "buildSeconds": $(( $(date +%s) - START_TS )),
}, open(sys.argv[1], "w"), indent=2)
EOF

if [ "${AZOP_NODE_IMAGE_SMOKE:-1}" = 1 ]; then
    step "smoke boot (UEFI, the V2 path; the boot test uses BIOS, the V1 path)"
    bash "$HERE/smoke-boot.sh" "$IMAGE_DIR.partial/azop-node.qcow2" "$WORK/smoke"
fi

rm -rf "$IMAGE_DIR"; mv "$IMAGE_DIR.partial" "$IMAGE_DIR"
# One image at a time: an older key's image is ~3 GB.
find "$OUT_ROOT" -maxdepth 1 -type d -name "azop-node-*" ! -name "$(basename "$IMAGE_DIR")" -exec rm -rf {} +
write_env
log "node image ready in $(( $(date +%s) - START_TS ))s: $IMAGE_DIR"
du -sh --apparent-size "$IMAGE_DIR"/* >&2
echo "NODE_IMAGE_DIR=$IMAGE_DIR"
