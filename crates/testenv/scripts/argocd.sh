#!/usr/bin/env bash
# Builds the real Argo CD for the GitOps end-to-end test, once, and caches it under
# $CACHE/argocd-<version>-<hash of go.mod, go.sum and the recipe>/:
#   argocd                             the multi-call binary (github.com/argoproj/argo-cd/v3/cmd)
#   argocd-application-controller      symlinks to it: argv[0] picks the component
#   argocd-repo-server
#   git-verify-wrapper.sh              repo-server 3.6 execs it on every fetch, even with GPG
#                                      off (from the module's hack/); the test puts it on PATH
#   crds/application-crd.yaml          the CRDs the controller needs (manifests/crds/)
#   crds/appproject-crd.yaml
# The version is pinned in crates/testenv/go/argocd/go.mod. Argo CD 3.6 needs Go >= 1.27,
# which this script alone asks for (GOTOOLCHAIN; the approved toolchain comes through the
# module proxy); everything else stays on the machine's Go. Module and build caches are
# shared with go-tools.sh under $CACHE/go/.
#
#   argocd.sh    build (or find cached) and print BIN_DIR=<dir> on the last line
set -Eeuo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
MOD_DIR="$(cd "$HERE/../go/argocd" && pwd)"
CACHE="${AZOP_CACHE_DIR:-${AZOP_CACHE:-$HOME/.cache/azop}}"
# Bump when the build recipe (flags, files copied below) changes, so the cache is rebuilt.
RECIPE=1
TOOLCHAIN=go1.27.3

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS="-modcacherw -mod=readonly"
export GOTOOLCHAIN="$TOOLCHAIN" CGO_ENABLED=0

log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v go >/dev/null || { echo "ERROR: go is not installed (Go >= 1.21 is needed to fetch $TOOLCHAIN)" >&2; exit 1; }
cd "$MOD_DIR"
VERSION=$(go list -m -f '{{.Version}}' github.com/argoproj/argo-cd/v3)
KEY=$( (cat go.mod go.sum; echo "recipe=$RECIPE toolchain=$TOOLCHAIN") | sha256sum | cut -c1-12)
BIN_DIR="$CACHE/argocd-$VERSION-$KEY"
FILES=(argocd argocd-application-controller argocd-repo-server git-verify-wrapper.sh
    crds/application-crd.yaml crds/appproject-crd.yaml)

cached=1
for f in "${FILES[@]}"; do [ -e "$BIN_DIR/$f" ] || cached=0; done
if [ "$cached" = 1 ]; then
    log "Argo CD: cached ($BIN_DIR: $VERSION)"
    echo "BIN_DIR=$BIN_DIR"
    exit 0
fi

t0=$(date +%s)
log "building Argo CD $VERSION from its Go module with $TOOLCHAIN"
log "the first build takes about 9 CPU-minutes (2.3 GB RAM at its peak); later runs use the cache in $BIN_DIR"
go mod download
SRC=$(go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
PKG=github.com/argoproj/argo-cd/v3/cmd

total=$(go list -deps "$PKG" | wc -l)
log "compiling up to $total packages (already compiled ones come from $GOCACHE)"
out="$CACHE/argocd.partial"
rm -rf "$out"; mkdir -p "$out/crds"
# Progress: `go build -v` names each package as it is compiled; print a line every 10 %.
go build -v -trimpath -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${VERSION#v}" \
    -o "$out/argocd" "$PKG" 2>&1 | {
    n=0 next_pct=0
    while IFS= read -r line; do
        case "$line" in
            '#'* | *.go:[0-9]* | go:*) printf '    %s\n' "$line"; continue ;;
        esac
        n=$((n + 1)); pct=$((100 * n / total))
        if [ "$pct" -ge "$next_pct" ]; then
            printf '    %3d%%  %d/%d packages  (%ds)\n' "$pct" "$n" "$total" "$(( $(date +%s) - t0 ))" >&2
            next_pct=$((pct + 10))
        fi
    done
}
[ "${PIPESTATUS[0]}" -eq 0 ]
ln -s argocd "$out/argocd-application-controller"
ln -s argocd "$out/argocd-repo-server"
install -m 0755 "$SRC/hack/git-verify-wrapper.sh" "$out/git-verify-wrapper.sh"
install -m 0644 "$SRC/manifests/crds/application-crd.yaml" "$SRC/manifests/crds/appproject-crd.yaml" "$out/crds/"
"$out/argocd" version --client --short >&2
rm -rf "$BIN_DIR"; mv "$out" "$BIN_DIR"
log "Argo CD built in $(( $(date +%s) - t0 ))s"
echo "BIN_DIR=$BIN_DIR"
