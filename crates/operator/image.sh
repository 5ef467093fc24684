#!/usr/bin/env bash
# `make image`: builds crates/operator/Dockerfile with buildah — no Docker engine, no daemon —
# then smoke-runs the image with podman/crun: `azop --version`, and `azop run` answering
# /healthz. This machine reaches no container registry, so the Dockerfile's first two stages
# (which start FROM rust and debian images) are supplied from here with --build-context, and
# buildah builds only the final stage, the same one a Docker build runs:
#   build  = target/release/azop, built by cargo on this Debian bookworm machine
#   rootfs = the same Debian packages the Dockerfile unpacks (libc6, libgcc-s1, the CA bundle)
# Output: the image localhost/azop:dev in buildah/podman's store and an OCI archive at
# $AZOP_IMAGE_DIR/azop-oci.tar (default target/image/).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
out=${AZOP_IMAGE_DIR:-$target/image}
tag=${AZOP_IMAGE:-localhost/azop:dev}
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

missing=()
for tool in buildah podman dpkg-deb apt-get; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing buildah and podman from Debian (missing: ${missing[*]})"
    [ "$(id -u)" = 0 ] || die "not root: install buildah podman crun yourself (apt-get install buildah podman crun)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman crun >/dev/null
fi

# AZOP_IMAGE_PROFILE=debug reuses a debug build (quicker on a busy machine; the image is the
# same apart from the binary's size and speed). Release is what ships.
profile=${AZOP_IMAGE_PROFILE:-release}
if [ -n "${AZOP_IMAGE_BIN:-}" ]; then
    profile=given
    log "using the binary $AZOP_IMAGE_BIN (AZOP_IMAGE_BIN)"
else
    log "building the $profile binary"
fi
case "$profile" in
    given) ;;
    release) cargo build --release --locked -q -p azop --bin azop ;;
    debug) cargo build --locked -q -p azop --bin azop ;;
    *) die "AZOP_IMAGE_PROFILE must be release or debug, not $profile" ;;
esac
bin=${AZOP_IMAGE_BIN:-$target/$profile/azop}
"$bin" --version >/dev/null

ctx="$out/contexts"
rm -rf "$ctx"; mkdir -p "$ctx/build/out/usr/local/bin" "$ctx/rootfs/rootfs" "$ctx/debs"
install -m 0755 "$bin" "$ctx/build/out/usr/local/bin/azop"

log "assembling the runtime files from Debian packages (libc6, libgcc-s1, ca-certificates)"
(cd "$ctx/debs" && { apt-get download libc6 libgcc-s1 2>/dev/null || { apt-get update -qq && apt-get download libc6 libgcc-s1; }; })
r="$ctx/rootfs/rootfs"
for deb in "$ctx"/debs/*.deb; do dpkg-deb -x "$deb" "$r"; done
rm -rf "$r/usr/share/doc" "$r/usr/share/lintian" "$r/usr/share/locale" "$r/usr/share/man"
[ -f /etc/ssl/certs/ca-certificates.crt ] || die "no /etc/ssl/certs/ca-certificates.crt: apt-get install ca-certificates"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$r/etc/group"
install -d -m 0755 -o 65532 -g 65532 "$r/home/nonroot"
install -d -m 1777 "$r/tmp"
# Every library the binary needs must be in the image (it would fail at exec otherwise).
for lib in $(ldd "$bin" | awk '/=>/ {print $1} /ld-linux/ && !/=>/ {print $1}'); do
    name=$(basename "$lib")
    find "$r" -name "$name" | grep -q . || die "the image would lack $name, which $bin links"
done

log "buildah bud -f crates/operator/Dockerfile -t $tag"
# An empty main context: the final stage copies only from the two supplied ones.
mkdir -p "$ctx/empty"
buildah bud --quiet --layers=false --format oci \
    --build-context build="$ctx/build" --build-context rootfs="$ctx/rootfs" \
    -f crates/operator/Dockerfile -t "$tag" "$ctx/empty" >/dev/null
mkdir -p "$out"; rm -f "$out/azop-oci.tar"
buildah push --quiet "$tag" "oci-archive:$out/azop-oci.tar:$tag"
user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")
entry=$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$tag")
[ "$user" = "65532:65532" ] || die "image user is $user, not 65532:65532"
log "image $tag: user $user, entrypoint $entry, $(du -h "$out/azop-oci.tar" | cut -f1) ($out/azop-oci.tar)"

[ "${AZOP_IMAGE_SMOKE:-1}" = 1 ] || exit 0
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# `azop run` needs a kubeconfig before it serves /healthz; one naming a closed port is enough:
# the health server answers while leader election retries.
mkdir -p "$ctx/home"
cat > "$ctx/home/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
KC
chmod 0644 "$ctx/home/kubeconfig"
want_version=$("$bin" --version)

run=(podman run --rm --read-only --cap-drop ALL --security-opt no-new-privileges --network host)
log "smoke run: podman run --read-only --cap-drop ALL $tag --version"
if version=$("${run[@]}" "$tag" --version 2>"$ctx/podman.err"); then
    [ "$version" = "$want_version" ] || die "image says '$version', the binary '$want_version'"
    log "  $version"
    name=azop-smoke-$$
    "${run[@]}" -d --name "$name" -v "$ctx/home/kubeconfig:/home/nonroot/kubeconfig:ro" \
        -e KUBECONFIG=/home/nonroot/kubeconfig "$tag" run --metrics-addr="127.0.0.1:$port" >/dev/null
    trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT
    exec_in=(podman exec "$name")
    stop() { podman rm -f "$name" >/dev/null; }
    uid_of() { podman top "$name" huser | tail -1 | tr -d ' '; }
else
    # Podman needs to set rlimits and cgroups; a sandbox without those privileges refuses
    # (seen here: "crun: setrlimit RLIMIT_NOFILE: Operation not permitted"). Then run the
    # image's own filesystem, unpacked from the OCI archive, the way a runtime would:
    # read-only root, user 65532, private mount and PID namespaces (host network).
    log "  podman cannot start containers here: $(grep -m1 -i error "$ctx/podman.err" || tail -1 "$ctx/podman.err")"
    command -v umoci >/dev/null && command -v skopeo >/dev/null || die "need umoci and skopeo for the fallback smoke run"
    log "  instead: the unpacked image under unshare + chroot, read-only, as 65532 (no container runtime)"
    rm -rf "$ctx/oci" "$ctx/bundle"
    skopeo copy -q "oci-archive:$out/azop-oci.tar:$tag" "oci:$ctx/oci:dev"
    umoci unpack --image "$ctx/oci:dev" "$ctx/bundle" >/dev/null
    rootfs=$ctx/bundle/rootfs
    user=$(python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["process"]["user"]; print("%d:%d" % (u["uid"], u["gid"]))' "$ctx/bundle/config.json")
    [ "$user" = "65532:65532" ] || die "unpacked image user is $user"
    jail() { # jail CMD...: run CMD in the image's root, read-only, as the image's user
        unshare --mount --pid --fork --kill-child sh -c '
            r=$1; h=$2; shift 2
            mount --bind "$r" "$r" && mount --bind "$h" "$r/home/nonroot" && mount -o remount,bind,ro "$r" || exit 97
            export KUBECONFIG=/home/nonroot/kubeconfig
            exec chroot --userspec=65532:65532 "$r" "$@"' jail "$rootfs" "$ctx/home" "$@"
    }
    version=$(jail /usr/local/bin/azop --version) || die "the image's azop did not run"
    [ "$version" = "$want_version" ] || die "image says '$version', the binary '$want_version'"
    log "  $version"
    jail /usr/local/bin/azop run --metrics-addr="127.0.0.1:$port" >"$ctx/run.log" 2>&1 &
    jail_pid=$!
    trap 'kill "$jail_pid" 2>/dev/null || true' EXIT
    exec_in=(jail)
    stop() { kill "$jail_pid" 2>/dev/null || true; wait "$jail_pid" 2>/dev/null || true; }
    uid_of() { ps -o uid= --ppid "$(pgrep -P "$jail_pid" | head -1)" 2>/dev/null | head -1 | tr -d ' '; }
    if jail /bin/sh -c true >/dev/null 2>&1; then die "the image has a shell"; fi
    log "  no /bin/sh in the image"
fi
healthy=
for _ in $(seq 60); do
    if "${exec_in[@]}" /usr/local/bin/azop probe "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then healthy=1; break; fi
    sleep 0.25
done
[ -n "$healthy" ] || { cat "$ctx/run.log" 2>/dev/null >&2; die "/healthz did not answer"; }
log "  /healthz: $("${exec_in[@]}" /usr/local/bin/azop probe "http://127.0.0.1:$port/healthz")"
uid=$(uid_of)
[ "$uid" = 65532 ] || die "azop run runs as uid '$uid', not 65532"
log "  azop run runs as uid $uid"
stop
log "image ok: $tag ($out/azop-oci.tar)"
