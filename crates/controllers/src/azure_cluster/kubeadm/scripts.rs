//! The files a machine's bootstrap writes besides the kubeadm configuration: the install (or
//! check) script, the Calico installation and the script that applies it (pure).

use serde_yaml::Value;

use super::config::map;
use super::{
    API_SERVER_PORT, CALICO_INSTALLATION_PATH, CALICO_VERSION, ClusterBootstrap,
    KUBEADM_CONFIG_PATH, KubeVersion, STAMP_DIR,
};
use crate::node_bootstrap::WriteFile;
use crate::proxy_config::inherit::CONTAINERD_DROP_IN;

/// The pinned Calico manifests, applied in this order: the operator's CRDs (a separate file
/// since Calico 3.30), then the Tigera operator.
pub fn calico_manifest_urls() -> [String; 2] {
    ["operator-crds.yaml", "tigera-operator.yaml"].map(|f| {
        format!(
            "https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests/{f}"
        )
    })
}

/// Root's, mode 0600: keys and the kubeadm config (it holds the token).
pub(super) fn secret(path: &str, content: String) -> WriteFile {
    WriteFile {
        permissions: "0600".into(),
        ..WriteFile::root(path, content)
    }
}

/// Root's, mode 0755: the scripts.
pub(super) fn executable(path: &str, content: String) -> WriteFile {
    WriteFile {
        permissions: "0755".into(),
        ..WriteFile::root(path, content)
    }
}

pub(super) fn calico_installation(c: &ClusterBootstrap) -> Result<String, String> {
    let doc = serde_yaml::to_string(&map([
        ("apiVersion", Value::from("operator.tigera.io/v1")),
        ("kind", Value::from("Installation")),
        ("metadata", map([("name", Value::from("default"))])),
        (
            "spec",
            map([(
                "calicoNetwork",
                map([
                    ("bgp", Value::from("Disabled")),
                    (
                        "ipPools",
                        Value::Sequence(vec![map([
                            ("name", Value::from("default-ipv4-ippool")),
                            ("cidr", Value::from(c.pod_cidr.as_str())),
                            ("blockSize", Value::from(26)),
                            ("encapsulation", Value::from("VXLAN")),
                            ("natOutgoing", Value::from("Enabled")),
                            ("nodeSelector", Value::from("all()")),
                        ])]),
                    ),
                ]),
            )]),
        ),
    ]))
    .map_err(|e| format!("cannot render Calico's Installation: {e}"))?;
    Ok(format!(
        "# Written by azop: Calico {CALICO_VERSION}, VXLAN (Azure does not carry IP-in-IP), no BGP.\n{doc}"
    ))
}

/// Exports the ProxyConfig's variables from its containerd drop-in, when azop wrote one
/// (`Environment="K=V"` lines; systemd's `%%` is turned back into `%`).
fn proxy_prelude() -> String {
    format!(
        r#"# The ProxyConfig's environment, from its containerd drop-in when azop wrote one: apt,
# curl and kubectl then go through the proxy.
if [ -r {CONTAINERD_DROP_IN} ]; then
  while IFS= read -r line; do
    case "$line" in
      Environment=\"*\")
        kv="${{line#Environment=\"}}"
        kv="${{kv%\"}}"
        kv="$(printf '%s' "$kv" | sed 's/%%/%/g')"
        export "$kv"
        ;;
    esac
  done < {CONTAINERD_DROP_IN}
fi
"#
    )
}

pub(super) fn install_script(c: &ClusterBootstrap, v: &KubeVersion) -> String {
    let minor = v.minor_string();
    let patch = v.patch.map(|p| p.to_string()).unwrap_or_default();
    let install = if c.install_at_boot { "1" } else { "0" };
    let prelude = proxy_prelude();
    format!(
        r#"#!/bin/bash
# Written by azop: containerd, kubeadm, kubelet and kubectl for Kubernetes {minor}, then the
# kernel settings kubeadm's preflight checks. INSTALL=1 installs them from pkgs.k8s.io;
# INSTALL=0 checks the image has them.
set -euo pipefail
MINOR="{minor}"
PATCH="{patch}"
INSTALL={install}
CONFIG="{KUBEADM_CONFIG_PATH}"
fail() {{ echo "azop: $*" >&2; exit 1; }}
# Network steps are retried (the first boot's network, the proxy, a mirror may be slow).
retry() {{
  local n
  for n in 1 2 3 4 5 6; do
    "$@" && return 0
    echo "azop: attempt $n of '$*' failed; retrying in 10s" >&2
    sleep 10
  done
  fail "giving up on '$*'"
}}
{prelude}
# Swap off (kubelet refuses swap by default), now and after a reboot.
swapoff -a
sed -i -E 's@^([^#].*[[:space:]]swap[[:space:]].*)$@#\1@' /etc/fstab
# Bridged traffic through iptables, IP forwarding.
printf 'overlay\nbr_netfilter\n' > /etc/modules-load.d/azop-kubernetes.conf
modprobe overlay
modprobe br_netfilter
printf 'net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n' > /etc/sysctl.d/99-azop-kubernetes.conf
sysctl --system >/dev/null || true  # an unrelated bad entry must not stop us: ours are checked
for k in net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward; do
  [ "$(sysctl -n "$k")" = 1 ] || fail "sysctl $k is not 1"
done

if [ "$INSTALL" = 1 ]; then
  command -v apt-get >/dev/null || fail "installing Kubernetes at boot needs a Debian or Ubuntu image (apt-get not found)"
  export DEBIAN_FRONTEND=noninteractive
  # The first boot's unattended-upgrades may hold dpkg's lock: wait for it.
  APT="apt-get -q -o DPkg::Lock::Timeout=600"
  retry $APT update
  retry $APT install -y apt-transport-https ca-certificates curl gpg containerd
  mkdir -p -m 755 /etc/apt/keyrings
  retry curl -fsSL -o /etc/apt/keyrings/kubernetes-apt-keyring.asc "https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/Release.key"
  gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg /etc/apt/keyrings/kubernetes-apt-keyring.asc
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/ /" > /etc/apt/sources.list.d/kubernetes.list
  retry $APT update
  if [ -n "$PATCH" ]; then
    PKG="$(apt-cache madison kubeadm | awk '{{print $3}}' | grep -m1 "^$MINOR\.$PATCH-" || true)"
    [ -n "$PKG" ] || fail "Kubernetes $MINOR.$PATCH is not in https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/"
    retry $APT install -y "kubelet=$PKG" "kubeadm=$PKG" "kubectl=$PKG"
  else
    retry $APT install -y kubelet kubeadm kubectl
  fi
  apt-mark hold kubelet kubeadm kubectl
  mkdir -p /etc/containerd
  containerd config default > /etc/containerd/config.toml
  sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
  grep -q 'SystemdCgroup = true' /etc/containerd/config.toml || fail "could not set SystemdCgroup = true in /etc/containerd/config.toml"
  systemctl restart containerd
else
  for b in containerd kubeadm kubelet kubectl; do
    command -v "$b" >/dev/null || fail "the image has no $b: use an image with containerd and Kubernetes $MINOR installed, or a marketplace image (azop then installs them at boot)"
  done
fi
HAVE="$(kubeadm version -o short)"
case "$HAVE" in
  "v$MINOR".*) ;;
  *) fail "kubeadm is $HAVE, the cluster wants Kubernetes $MINOR" ;;
esac
case "$(kubelet --version)" in
  *" v$MINOR".*) ;;
  *) fail "kubelet is $(kubelet --version), the cluster wants Kubernetes $MINOR" ;;
esac
# A minor-only version: the config names vX.Y.0 until the installed patch is known.
if [ -z "$PATCH" ] && grep -q '^kubernetesVersion:' "$CONFIG"; then
  sed -i "s/^kubernetesVersion:.*/kubernetesVersion: $HAVE/" "$CONFIG"
fi
systemctl enable --now containerd
systemctl enable kubelet
mkdir -p {STAMP_DIR}
touch {STAMP_DIR}/install.ok
"#
    )
}

pub(super) fn calico_script() -> String {
    let prelude = proxy_prelude();
    let [crds, operator] = calico_manifest_urls();
    format!(
        r#"#!/bin/bash
# Written by azop: Calico {CALICO_VERSION} (the operator's CRDs and the Tigera operator, downloaded
# from their pinned URLs, then the Installation) with the admin kubeconfig, through the local API server (no
# round-trip through the load balancer).
set -euo pipefail
{prelude}
export KUBECONFIG=/etc/kubernetes/admin.conf
kc() {{ kubectl --server=https://127.0.0.1:{API_SERVER_PORT} "$@"; }}
retry() {{
  local n
  for n in $(seq 1 30); do
    "$@" && return 0
    echo "azop: attempt $n of '$*' failed; retrying in 10s" >&2
    sleep 10
  done
  echo "azop: giving up on '$*'" >&2
  return 1
}}
retry kc get --raw=/readyz
retry kc apply --server-side --force-conflicts -f {crds}
retry kc apply --server-side --force-conflicts -f {operator}
retry kc wait --for=condition=Established --timeout=60s crd/installations.operator.tigera.io
retry kc apply --server-side --force-conflicts -f {CALICO_INSTALLATION_PATH}
"#
    )
}
