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

log "building the release binary"
cargo build --release --locked -q -p azop --bin azop
bin="$target/release/azop"
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
log "smoke run: podman run --read-only --user 65532 --cap-drop ALL $tag --version"
run=(podman run --rm --read-only --cap-drop ALL --security-opt no-new-privileges --network host)
version=$("${run[@]}" "$tag" --version) || die "podman could not run the image (see above)"
[ "$version" = "$("$bin" --version)" ] || die "image says '$version', the binary '$("$bin" --version)'"
log "  $version"
# /healthz: `azop run` in the image, as the chart runs it (read-only root, no capabilities,
# user 65532). No API server is needed for the health endpoint: a kubeconfig naming a closed
# port lets the client be built, and /healthz answers while leader election retries.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$ctx/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
KC
chmod 0644 "$ctx/kubeconfig"
name=azop-smoke-$$
log "smoke run: podman run ... $tag run --metrics-addr=127.0.0.1:$port"
"${run[@]}" -d --name "$name" -v "$ctx/kubeconfig:/etc/azop/kubeconfig:ro" -e KUBECONFIG=/etc/azop/kubeconfig \
    "$tag" run --metrics-addr="127.0.0.1:$port" --log-format=json >/dev/null
trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT
healthy=
for _ in $(seq 40); do
    if podman exec "$name" /usr/local/bin/azop probe "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then healthy=1; break; fi
    [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] || break
    sleep 0.25
done
if [ -z "$healthy" ]; then podman logs "$name" >&2 || true; die "/healthz did not answer inside the container"; fi
log "  /healthz answers inside the container ($(podman exec "$name" /usr/local/bin/azop probe "http://127.0.0.1:$port/healthz"))"
uid=$(podman top "$name" huser | tail -1 | tr -d ' ')
[ "$uid" = 65532 ] || die "the process runs as $uid, not 65532"
if podman exec "$name" /bin/sh -c true >/dev/null 2>&1; then die "the image has a shell"; fi
log "  runs as uid $uid; no /bin/sh in the image"
podman rm -f "$name" >/dev/null
log "image ok: $tag"
