#!/usr/bin/env bash
# Builds the test environment's Go tools from their Go modules, once, and caches them under
# $CACHE/go-tools-<kubernetes version>-<hash of go.mod and go.sum>/:
#   kube-apiserver, kube-controller-manager, kubeadm, kubectl  (k8s.io/kubernetes)
#   etcd                                                       (go.etcd.io/etcd/server/v3)
#   helm                                                       (helm.sh/helm/v3)
# and, with --node (only the node image needs them: `make test` never pays for them), under
# $CACHE/go-node-tools-<kubernetes version>-<same hash>/:
#   kubelet, kube-scheduler, kube-proxy                        (k8s.io/kubernetes)
# The versions are pinned in crates/testenv/go/kube/go.mod (one module, so both builds share
# every compiled package through the Go build cache). The Go module and build caches live
# under $CACHE/go/.
#
#   go-tools.sh                 build (or find cached) and print BIN_DIR=<dir> on the last line
#   go-tools.sh --node          the same for the node's tools
#   go-tools.sh --bump v1.N.M   rewrite go.mod for another Kubernetes release (then commit it)
set -Eeuo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
MOD_DIR="$(cd "$HERE/../go/kube" && pwd)"
CACHE="${AZOP_CACHE_DIR:-${AZOP_CACHE:-$HOME/.cache/azop}}"
# Bump when the build recipe (flags below) changes, so cached binaries are rebuilt.
RECIPE=1

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS="-modcacherw -mod=readonly"
export CGO_ENABLED=0

log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The version the wrapper module requires of a module, e.g. `mod_version k8s.io/kubernetes`.
mod_version() { (cd "$MOD_DIR" && go list -m -f '{{.Version}}' "$1"); }

bump() {
    local v="$1" staging
    [[ "$v" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "usage: $0 --bump v1.N.M" >&2; exit 2; }
    local minor="${BASH_REMATCH[1]}"
    cd "$MOD_DIR"
    local gomod; gomod=$(GOFLAGS=-modcacherw go mod download -json "k8s.io/kubernetes@$v" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    staging=$(awk '/=> \.\/staging\/src\// {print $1}' "$gomod")
    python3 - "$v" "v0.$minor.${BASH_REMATCH[2]}" $staging <<'EOF'
import re, sys
version, twin, staging = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open("go.mod").read()
header = text[: text.index("module ")]
tools = re.search(r"tool \((.*?)\)", text, re.S).group(1)
body = header + "module azop.dev/testenv/kube\n\ngo 1.26.0\n\n"
body += f"require k8s.io/kubernetes {version}\n\nreplace (\n"
body += "".join(f"\t{m} => {m} {twin}\n" for m in staging) + ")\n\ntool (" + tools + ")\n"
open("go.mod", "w").write(body)
EOF
    rm -f go.sum
    GOFLAGS=-modcacherw go mod tidy
    log "go.mod now builds Kubernetes $v; run $0 to build it, then commit go.mod and go.sum"
}

if [ "${1:-}" = "--bump" ]; then bump "${2:-}"; exit 0; fi
NODE=0
if [ "${1:-}" = "--node" ]; then NODE=1; fi

command -v go >/dev/null || { echo "ERROR: go is not installed (Go >= 1.26 is needed)" >&2; exit 1; }
KUBE_VERSION=$(mod_version k8s.io/kubernetes)
HELM_VERSION=$(mod_version helm.sh/helm/v3)
ETCD_VERSION=$(mod_version go.etcd.io/etcd/server/v3)
KEY=$( (cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum"; echo "recipe=$RECIPE"; go env GOVERSION) | sha256sum | cut -c1-12)
if [ "$NODE" = 1 ]; then
    BIN_DIR="$CACHE/go-node-tools-$KUBE_VERSION-$KEY"
    TOOLS=(kubelet kube-scheduler kube-proxy)
    PKGS=(k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler
        k8s.io/kubernetes/cmd/kube-proxy)
    WHAT="Kubernetes $KUBE_VERSION node tools (kubelet, kube-scheduler, kube-proxy)"
else
    BIN_DIR="$CACHE/go-tools-$KUBE_VERSION-$KEY"
    TOOLS=(kube-apiserver kube-controller-manager kubeadm kubectl etcd helm)
    PKGS=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
        k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3
        helm.sh/helm/v3/cmd/helm)
    WHAT="Kubernetes $KUBE_VERSION (kube-apiserver, kube-controller-manager, kubeadm, kubectl), etcd $ETCD_VERSION and helm $HELM_VERSION"
fi

cached=1
for t in "${TOOLS[@]}"; do [ -x "$BIN_DIR/$t" ] || cached=0; done
if [ "$cached" = 1 ]; then
    log "Go tools: cached ($BIN_DIR: $WHAT)"
    echo "BIN_DIR=$BIN_DIR"
    exit 0
fi

t0=$(date +%s)
log "building $WHAT from their Go modules"
log "the first build takes about 30 minutes on 2 cores (the node tools about 10 more); later runs use the cache in $BIN_DIR"
cd "$MOD_DIR"
log "downloading Go modules into $GOMODCACHE"
go mod download

kmin=$(echo "$KUBE_VERSION" | cut -d. -f2)
hmaj=$(echo "$HELM_VERSION" | cut -d. -f1 | tr -d v)
k8s_x() { # the -X flags upstream's hack/lib/version.sh sets
    local pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
            "$pkg" "$KUBE_VERSION" "$pkg" "$pkg" "$kmin" "$pkg"
    done
}
helm_x() { # what helm's Makefile sets; without the k8s ones helm assumes Kubernetes v1.20
    local p=helm.sh/helm/v$hmaj
    printf -- '-X %s/internal/version.version=%s -X %s/internal/version.gitTreeState=clean ' "$p" "$HELM_VERSION" "$p"
    printf -- '-X %s/pkg/chartutil.k8sVersionMajor=1 -X %s/pkg/chartutil.k8sVersionMinor=%s ' "$p" "$p" "$kmin"
    printf -- '-X %s/pkg/lint/rules.k8sVersionMajor=1 -X %s/pkg/lint/rules.k8sVersionMinor=%s ' "$p" "$p" "$kmin"
}
LDFLAGS="-s -w $(k8s_x)$(helm_x)"

# Progress: `go build -v` names each package as it is compiled; print a line every 5 %.
total=$(go list -deps -tags selinux,notest "${PKGS[@]}" | wc -l)
log "compiling up to $total packages (already compiled ones come from $GOCACHE)"
out="$BIN_DIR.partial"
rm -rf "$out"; mkdir -p "$out"
go build -v -trimpath -tags selinux,notest -ldflags "$LDFLAGS" -o "$out/" "${PKGS[@]}" 2>&1 | {
    n=0 next_pct=0
    while IFS= read -r line; do
        case "$line" in
            '#'* | *.go:[0-9]* | go:*) printf '    %s\n' "$line"; continue ;;
        esac
        n=$((n + 1)); pct=$((100 * n / total))
        if [ "$pct" -ge "$next_pct" ]; then
            printf '    %3d%%  %d/%d packages  (%ds)\n' "$pct" "$n" "$total" "$(( $(date +%s) - t0 ))"
            next_pct=$((pct + 5))
        fi
    done
}
[ "${PIPESTATUS[0]}" -eq 0 ]
# `go build` names the etcd binary after its module path (.../server/v3 -> server).
if [ "$NODE" = 0 ]; then mv "$out/server" "$out/etcd"; fi
for t in "${TOOLS[@]}"; do [ -x "$out/$t" ] || { echo "ERROR: $t was not built" >&2; exit 1; }; done
rm -rf "$BIN_DIR"; mv "$out" "$BIN_DIR"
if [ "$NODE" = 1 ]; then
    "$BIN_DIR/kubelet" --version >&2
else
    "$BIN_DIR/kube-apiserver" --version >&2
    # sed, not head: head exits after one line and etcd, still writing, dies of SIGPIPE (141 under pipefail)
    "$BIN_DIR/etcd" --version | sed -n 1p >&2
    "$BIN_DIR/helm" version --short >&2
fi
log "Go tools built in $(( $(date +%s) - t0 ))s"
echo "BIN_DIR=$BIN_DIR"
