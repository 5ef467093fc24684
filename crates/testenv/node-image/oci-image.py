#!/usr/bin/env python3
"""Writes a container image archive without a registry or a container engine.

    oci-image.py --name registry.k8s.io/pause:3.10.2 --out pause.tar \
        [--entrypoint /pause] [--user 65535:65535] [--env K=V]... \
        --add SRC:DEST [--add SRC:DEST]... [--link TARGET:DEST]... [--cap DEST:CAPABILITY]...

One uncompressed layer holds the added files (SRC a file, or a directory copied whole; DEST
the absolute path in the image), owned by root, mtime 0, sorted: the same inputs give the same
bytes, so the image digest is stable. The archive is an OCI image layout (oci-layout,
index.json, blobs/sha256/...) that also carries Docker's manifest.json, which is what
`ctr images import` reads the image name from (RepoTags); index.json names it too
(io.containerd.image.name, org.opencontainers.image.ref.name).

`--cap /coredns:net_bind_service` gives a file the capability as `setcap
cap_net_bind_service=+ep` would (the security.capability xattr, in the layer's PAX header):
CoreDNS's own image does this so that, running as a non-root user with only
NET_BIND_SERVICE (kubeadm's Deployment), it may bind port 53.
"""

import argparse
import hashlib
import io
import json
import os
import stat
import sys
import tarfile


def _info(name, mode, kind=tarfile.REGTYPE, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.size = size
    ti.linkname = linkname
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = 0
    return ti


# Linux capability numbers (include/uapi/linux/capability.h) of the capabilities used here.
CAPABILITIES = {"net_bind_service": 10, "net_raw": 13, "net_admin": 12}


def file_capability(names):
    """The security.capability xattr of `setcap <names>=+ep`: struct vfs_cap_data, revision 2,
    effective flag set, the capabilities permitted, none inheritable (little-endian u32s)."""
    bits = 0
    for n in names:
        bits |= 1 << CAPABILITIES[n]
    words = [0x02000000 | 0x000001, bits & 0xFFFFFFFF, 0, bits >> 32, 0]
    return b"".join(w.to_bytes(4, "little") for w in words)


def collect(adds, links):
    """Maps each path in the image (no leading /) to ("file", src) | ("dir",) | ("link", target)."""
    entries = {}

    def parents(dest):
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]), ("dir",))

    for src, dest in adds:
        dest = dest.strip("/")
        if os.path.isdir(src) and not os.path.islink(src):
            parents(dest + "/x")
            for root, dirs, files in os.walk(src):
                rel = os.path.relpath(root, src)
                base = dest if rel == "." else f"{dest}/{rel}"
                entries.setdefault(base, ("dir",))
                for d in dirs:
                    p = os.path.join(root, d)
                    if os.path.islink(p):
                        entries[f"{base}/{d}"] = ("link", os.readlink(p))
                for f in files:
                    p = os.path.join(root, f)
                    if os.path.islink(p):
                        entries[f"{base}/{f}"] = ("link", os.readlink(p))
                    else:
                        entries[f"{base}/{f}"] = ("file", p)
        else:
            parents(dest)
            if os.path.islink(src):
                entries[dest] = ("link", os.readlink(src))
            else:
                entries[dest] = ("file", src)
    for target, dest in links:
        dest = dest.strip("/")
        parents(dest)
        entries[dest] = ("link", target)
    return entries


def layer_bytes(entries, caps=None):
    caps = caps or {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            kind = entries[name]
            if kind[0] == "dir":
                tar.addfile(_info(name, 0o755, tarfile.DIRTYPE))
            elif kind[0] == "link":
                tar.addfile(_info(name, 0o777, tarfile.SYMTYPE, linkname=kind[1]))
            else:
                st = os.stat(kind[1])
                mode = stat.S_IMODE(st.st_mode)
                ti = _info(name, mode, size=st.st_size)
                if name in caps:
                    # Every byte is below 0x80, so the UTF-8 tarfile writes is the bytes.
                    ti.pax_headers = {"SCHILY.xattr.security.capability": caps[name].decode("latin-1")}
                with open(kind[1], "rb") as f:
                    tar.addfile(ti, f)
    return buf.getvalue()


def blob(tar, data):
    digest = hashlib.sha256(data).hexdigest()
    tar.addfile(_info(f"blobs/sha256/{digest}", 0o644, size=len(data)), io.BytesIO(data))
    return digest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True, help="image name with tag")
    ap.add_argument("--out", required=True)
    ap.add_argument("--entrypoint", action="append", default=[])
    ap.add_argument("--cmd", action="append", default=[])
    ap.add_argument("--user", default="")
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--add", action="append", default=[], help="SRC:DEST")
    ap.add_argument("--link", action="append", default=[], help="TARGET:DEST (a symlink)")
    ap.add_argument("--cap", action="append", default=[], help="DEST:CAPABILITY[,CAPABILITY]")
    a = ap.parse_args()

    name = a.name
    repo, _, tag = name.rpartition(":")
    if not repo or "/" in tag:
        sys.exit(f"oci-image.py: --name {name!r} needs a tag (repository:tag)")
    adds = [tuple(x.split(":", 1)) for x in a.add]
    links = [tuple(x.split(":", 1)) for x in a.link]
    for src, _ in adds:
        if not os.path.exists(src):
            sys.exit(f"oci-image.py: {src} does not exist")

    caps = {}
    for x in a.cap:
        dest, _, names = x.partition(":")
        unknown = [n for n in names.split(",") if n not in CAPABILITIES]
        if unknown:
            sys.exit(f"oci-image.py: --cap {x!r}: unknown capability {unknown[0]!r}")
        caps[dest.strip("/")] = file_capability(names.split(","))
    entries = collect(adds, links)
    for dest in caps:
        if entries.get(dest, ("",))[0] != "file":
            sys.exit(f"oci-image.py: --cap {dest}: no such file added")
    layer = layer_bytes(entries, caps)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": env, "WorkingDir": a.workdir},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "azop node-image"}],
    }
    if a.entrypoint:
        config["config"]["Entrypoint"] = a.entrypoint
    if a.cmd:
        config["config"]["Cmd"] = a.cmd
    if a.user:
        config["config"]["User"] = a.user
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        layer_digest = blob(tar, layer)
        config_digest = blob(tar, config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{layer_digest}",
                    "size": len(layer),
                }
            ],
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        manifest_digest = blob(tar, manifest_bytes)
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{manifest_digest}",
                    "size": len(manifest_bytes),
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        docker = [
            {
                "Config": f"blobs/sha256/{config_digest}",
                "RepoTags": [name],
                "Layers": [f"blobs/sha256/{layer_digest}"],
            }
        ]
        for fname, obj in (
            ("oci-layout", {"imageLayoutVersion": "1.0.0"}),
            ("index.json", index),
            ("manifest.json", docker),
        ):
            data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
            tar.addfile(_info(fname, 0o644, size=len(data)), io.BytesIO(data))
    os.replace(tmp, a.out)
    print(f"{name}: {len(layer) / 1e6:.1f} MB, manifest sha256:{manifest_digest}")


if __name__ == "__main__":
    main()
