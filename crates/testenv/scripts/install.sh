#!/usr/bin/env bash
# Installs what azop's test environment needs, caching everything under ~/.cache/azop/ keyed by
# version, so a second run only checks that the cached files are there:
#   - kube-apiserver, kube-controller-manager, kubeadm, kubectl, etcd and helm, built from
#     their Go modules at the versions pinned in crates/testenv/go/kube/go.mod (go-tools.sh)
#   - Azurite         (npm, pinned to 3.35.0: 3.36+ needs Node >= 21)
#   - Debian's cloud-init (its `cloud-init schema` checks the nodes' customData azop writes)
#     and tinyproxy (the forward proxy the operator's egress test runs its own instance of,
#     with its own config and port; Debian's tinyproxy service, where systemd starts it, is
#     never used)
#   - qemu-img        (Debian's qemu-utils: the StorageBinding tests make real fixed and
#                     dynamic VHDs with it, armsim's machines make OS disks with it)
#   - genisoimage     (armsim's machines write each guest's NoCloud seed with it)
#   - Argo CD         (application-controller, repo-server and the argocd CLI: one binary built
#                     from its Go module at the version pinned in crates/testenv/go/argocd/go.mod,
#                     by argocd.sh) with Debian's redis-server and git, for the GitOps tests
# Writes ~/.cache/azop/testenv.env with one AZOP_<TOOL>=path line per tool, which azop-testenv
# reads when those variables are not set in the environment.
#
# Overridable: AZOP_CACHE_DIR (or AZOP_CACHE, as the Makefile exports it), AZOP_AZURITE_VERSION.
set -Eeuo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
AZURITE_VERSION="${AZOP_AZURITE_VERSION:-3.35.0}"
CACHE="${AZOP_CACHE_DIR:-${AZOP_CACHE:-$HOME/.cache/azop}}"

AZURITE_DIR="$CACHE/azurite-$AZURITE_VERSION"
AZURITE_BIN="$AZURITE_DIR/node_modules/.bin/azurite-blob"
ENV_FILE="$CACHE/testenv.env"

STEP="start"
START_TS=$(date +%s)

log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
step() { STEP="$1"; log "$1"; }
on_error() {
    local rc=$?
    printf '\nERROR: install.sh failed during step: %s (exit code %s)\n' "$STEP" "$rc" >&2
    printf 'Fix the problem above and run the script again; finished steps are cached.\n' >&2
    exit "$rc"
}
trap on_error ERR

# Run as root directly, or through sudo when available.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "ERROR: install.sh needs root (or sudo) to install Debian packages" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$CACHE"

APT_UPDATED=0
apt_update() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        step "apt-get update"
        # Other builds on this machine may hold apt's locks: wait for them.
        $SUDO apt-get update -q -o DPkg::Lock::Timeout=600
        APT_UPDATED=1
    fi
}

# Installs the named Debian packages that are missing; runs apt-get update only when needed.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_update
        step "apt-get install ${missing[*]}"
        $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
    fi
}

build_go_tools() {
    # Go >= 1.21 fetches the toolchain go.mod asks for (1.26) from the module proxy by itself;
    # Debian bookworm's golang-go (1.19) cannot, so it is no fallback.
    if ! command -v go >/dev/null 2>&1; then
        printf 'ERROR: go is not on PATH: install Go >= 1.21 (the machines have 1.26 in /usr/local/go/bin)\n' >&2
        false
    fi
    step "Go tools (Kubernetes, etcd, helm)"
    local out
    out=$(bash "$HERE/go-tools.sh" | tail -n1)
    GO_BIN_DIR="${out#BIN_DIR=}"
    [ -d "$GO_BIN_DIR" ]
}

install_azurite() {
    if [ -x "$AZURITE_BIN" ]; then
        log "azurite: cached ($AZURITE_BIN)"
        return
    fi
    command -v npm >/dev/null 2>&1 || apt_install npm
    step "npm install azurite@$AZURITE_VERSION"
    mkdir -p "$AZURITE_DIR"
    [ -f "$AZURITE_DIR/package.json" ] || echo '{"name":"azop-azurite","private":true}' >"$AZURITE_DIR/package.json"
    npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION"
    [ -x "$AZURITE_BIN" ]
}

build_argocd() {
    step "Argo CD"
    local out
    out=$(bash "$HERE/argocd.sh" | tail -n1)
    ARGOCD_DIR="${out#BIN_DIR=}"
    [ -x "$ARGOCD_DIR/argocd" ]
}

install_qemu_img() {
    if command -v qemu-img >/dev/null 2>&1; then
        log "qemu-img: installed ($(command -v qemu-img))"
        return
    fi
    apt_install qemu-utils
    command -v qemu-img >/dev/null 2>&1
}

build_go_tools
build_argocd
install_azurite
# redis-server: Argo CD's cache (the GitOps tests run their own instance on a loopback port;
# Debian's service, where systemd starts it, is never used). git: Argo CD's repo-server.
apt_install cloud-init tinyproxy genisoimage redis-server git
install_qemu_img

step "write $ENV_FILE"
cat >"$ENV_FILE.tmp" <<EOF
AZOP_ETCD=$GO_BIN_DIR/etcd
AZOP_KUBE_APISERVER=$GO_BIN_DIR/kube-apiserver
AZOP_KUBE_CONTROLLER_MANAGER=$GO_BIN_DIR/kube-controller-manager
AZOP_KUBEADM=$GO_BIN_DIR/kubeadm
AZOP_KUBECTL=$GO_BIN_DIR/kubectl
AZOP_HELM=$GO_BIN_DIR/helm
AZOP_AZURITE=$AZURITE_BIN
AZOP_CLOUD_INIT=$(command -v cloud-init)
AZOP_TINYPROXY=$(command -v tinyproxy)
AZOP_QEMU_IMG=$(command -v qemu-img)
AZOP_ARGOCD=$ARGOCD_DIR/argocd
AZOP_REDIS_SERVER=$(command -v redis-server)
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
cat "$ENV_FILE"
log "test environment ready in $(( $(date +%s) - START_TS ))s"
