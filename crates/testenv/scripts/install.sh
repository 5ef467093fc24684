#!/usr/bin/env bash
# Installs what azop's test environment needs, caching everything under ~/.cache/azop/ keyed by
# version, so a second run only checks that the cached files are there:
#   - etcd            (Debian package etcd-server, /usr/bin/etcd)
#   - kube-apiserver  (built from Debian bookworm's `kubernetes` source package, v1.20.2, with the
#                      reflect2 fix; see docs/testing.md for why)
#   - Azurite         (npm, pinned to 3.35.0: 3.36+ needs Node >= 21)
# Writes ~/.cache/azop/testenv.env with AZOP_ETCD, AZOP_KUBE_APISERVER and AZOP_AZURITE, which
# azop-testenv reads when those variables are not set in the environment.
#
# Overridable: AZOP_CACHE_DIR (or AZOP_CACHE, as the Makefile exports it), AZOP_KUBE_DEB_VERSION, AZOP_AZURITE_VERSION.
set -Eeuo pipefail

KUBE_DEB_VERSION="${AZOP_KUBE_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
KUBE_VERSION="1.20.2"
AZURITE_VERSION="${AZOP_AZURITE_VERSION:-3.35.0}"
CACHE="${AZOP_CACHE_DIR:-${AZOP_CACHE:-$HOME/.cache/azop}}"

KUBE_DIR="$CACHE/kube-apiserver-$KUBE_VERSION-$KUBE_DEB_VERSION"
KUBE_BIN="$KUBE_DIR/kube-apiserver"
AZURITE_DIR="$CACHE/azurite-$AZURITE_VERSION"
AZURITE_BIN="$AZURITE_DIR/node_modules/.bin/azurite-blob"
ETCD_BIN="/usr/bin/etcd"
ENV_FILE="$CACHE/testenv.env"
SRC_LIST="/etc/apt/sources.list.d/azop-debian-src.sources"

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
        $SUDO apt-get update -q
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
        $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

# A deb-src entry for bookworm, same mirrors and keyring as the machine's deb822 sources.
ensure_deb_src() {
    if [ -f "$SRC_LIST" ]; then return; fi
    step "add deb-src sources ($SRC_LIST)"
    local mirror="http://deb.debian.org/debian" secmirror="http://deb.debian.org/debian-security"
    local found
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        found=$(awk '/^URIs:/ && $2 ~ /debian$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
        [ -n "$found" ] && mirror="$found"
        found=$(awk '/^URIs:/ && $2 ~ /debian-security$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
        [ -n "$found" ] && secmirror="$found"
    fi
    $SUDO tee "$SRC_LIST" >/dev/null <<EOF
# Added by azop crates/testenv/scripts/install.sh: kube-apiserver is built from the kubernetes source package.
Types: deb-src
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $secmirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    APT_UPDATED=0
}

install_etcd() {
    if [ -x "$ETCD_BIN" ]; then
        log "etcd: cached ($ETCD_BIN)"
        return
    fi
    apt_install etcd-server
    [ -x "$ETCD_BIN" ] || { STEP="install etcd-server"; false; }
}

build_kube_apiserver() {
    if [ -x "$KUBE_BIN" ]; then
        log "kube-apiserver: cached ($KUBE_BIN)"
        return
    fi
    local t0; t0=$(date +%s)
    ensure_deb_src
    apt_update
    apt_install golang-go rsync make dpkg-dev golang-github-modern-go-reflect2-dev

    local build="$CACHE/build/kubernetes-$KUBE_DEB_VERSION"
    step "download kubernetes source package $KUBE_DEB_VERSION"
    mkdir -p "$build/dl"
    (cd "$build/dl" && ls kubernetes_*.orig.tar.* >/dev/null 2>&1 ||
        apt-get source --download-only "kubernetes=$KUBE_DEB_VERSION")

    step "unpack kubernetes source"
    local orig; orig=$(ls "$build"/dl/kubernetes_*.orig.tar.* | head -n1)
    local tree="$build/src"
    if [ ! -f "$tree/.azop-unpacked" ]; then
        rm -rf "$tree"; mkdir -p "$tree"
        tar -xf "$orig" -C "$tree" --strip-components=1
        touch "$tree/.azop-unpacked"
    fi

    # v1.20 vendors reflect2 v1.0.1, which faults at run time under Go >= 1.18 (mapiternext).
    step "replace vendored reflect2 with Debian's v1.0.2"
    local r2="/usr/share/gocode/src/github.com/modern-go/reflect2"
    [ -d "$r2" ]
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -r "$r2" "$tree/vendor/github.com/modern-go/reflect2"
    rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"
    find "$tree/vendor/github.com/modern-go/reflect2" -name '*_test.go' -delete

    step "build kube-apiserver (several minutes the first time)"
    mkdir -p "$tree/.go/src/k8s.io"
    [ -e "$tree/.go/src/k8s.io/kubernetes" ] || ln -s ../../.. "$tree/.go/src/k8s.io/kubernetes"
    # Generators written before rsync was installed are empty files; start from a clean _output.
    if [ -d "$tree/_output/bin" ] && find "$tree/_output/bin" -type f -empty | grep -q .; then
        rm -rf "$tree/_output"
    fi
    (cd "$tree/.go/src/k8s.io/kubernetes" &&
        GOPATH="$tree/.go" CGO_ENABLED=0 \
        KUBE_GIT_VERSION="v$KUBE_VERSION" KUBE_GIT_TREE_STATE=clean \
        make WHAT=cmd/kube-apiserver) 2>&1 | sed -u 's/^/    /'
    [ -x "$tree/_output/bin/kube-apiserver" ]

    step "cache kube-apiserver"
    mkdir -p "$KUBE_DIR"
    cp "$tree/_output/bin/kube-apiserver" "$KUBE_BIN.tmp"
    mv "$KUBE_BIN.tmp" "$KUBE_BIN"
    "$KUBE_BIN" --version
    # The source tree and Go build cache are large; the binary is all later runs need.
    rm -rf "$build"
    rmdir "$CACHE/build" 2>/dev/null || true
    log "kube-apiserver built in $(( $(date +%s) - t0 ))s"
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

install_etcd
build_kube_apiserver
install_azurite

step "write $ENV_FILE"
cat >"$ENV_FILE.tmp" <<EOF
AZOP_ETCD=$ETCD_BIN
AZOP_KUBE_APISERVER=$KUBE_BIN
AZOP_AZURITE=$AZURITE_BIN
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
cat "$ENV_FILE"
log "test environment ready in $(( $(date +%s) - START_TS ))s"
