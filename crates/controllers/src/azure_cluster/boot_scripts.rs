//! The scripts a machine's customData runs around kubeadm (pure): kubeadm itself, retried
//! after a reset, and the pod network an image carries (azop's node image: offline).
//!
//! - [`KUBEADM_SCRIPT_PATH`] `init|join`: runs `kubeadm init|join` with azop's configuration;
//!   a failed attempt is followed by `kubeadm reset -f` and another, three in all. A first
//!   boot can time a step out (kubeadm waits minutes at most for the control plane, an API
//!   call 10 s; a slow disk, a restarting API server): the retry is bounded and logged. The
//!   cluster's CAs azop wrote under `/etc/kubernetes/pki` are kept across the reset, which
//!   would delete them. Before `init`, an image that declares the Kubernetes version whose
//!   images it preloads (`/etc/azop/node-image.env`) must match the configuration's version:
//!   otherwise kubeadm would try to pull, and fail only after minutes when there is no
//!   registry.
//! - [`POD_NETWORK_SCRIPT_PATH`]: the image's pod network when it carries one
//!   (`AZOP_CNI_APPLY` in `/etc/azop/node-image.env`, run with the pod CIDR), else Calico
//!   (the CNI script). For `clusterNetwork.cni` unset on an image that is not from the
//!   marketplace (docs/node-image.md).

use std::time::Duration;

use azop_api::v1alpha1::azure_cluster::Cni;

use super::kubeadm;

/// The pod network a cluster's first control-plane machine installs: the spec's choice, or
/// when unset, Calico on a marketplace image (installed at boot, downloaded) and the image's
/// own on any other image, Calico when it carries none. Pure.
pub fn pod_network(spec: Option<Cni>, marketplace_image: bool) -> kubeadm::Cni {
    match (spec, marketplace_image) {
        (Some(Cni::Calico), _) | (None, true) => kubeadm::Cni::Calico,
        (Some(Cni::None), _) => kubeadm::Cni::None,
        (None, false) => kubeadm::Cni::ImageDefault,
    }
}

/// kubeadm's timeouts (`timeouts` of InitConfiguration and JoinConfiguration, v1beta4), set
/// above its defaults: a first boot on a small or busy VM, an API server reached through the
/// load balancer only once its probe passes, and workers created with their control plane
/// (whose join waits for it) take longer than kubeadm's defaults allow (4 min for the control
/// plane to be healthy, 1 min per API call, 5 min for discovery). A longer timeout only costs
/// time when something is really broken; a too short one costs a reset and a whole new attempt
/// (docs/bootstrap.md).
pub const KUBEADM_TIMEOUTS: [(&str, Duration); 6] = [
    (
        "controlPlaneComponentHealthCheck",
        Duration::from_secs(10 * 60),
    ),
    ("kubeletHealthCheck", Duration::from_secs(10 * 60)),
    ("kubernetesAPICall", Duration::from_secs(5 * 60)),
    ("etcdAPICall", Duration::from_secs(5 * 60)),
    ("tlsBootstrap", Duration::from_secs(15 * 60)),
    ("discovery", Duration::from_secs(15 * 60)),
];

/// Leader election of kube-controller-manager and kube-scheduler (`extraArgs` of kubeadm's
/// ClusterConfiguration): a 60 s lease renewed within 40 s, tried every 10 s, instead of
/// 15/10/2 s. A renewal's API call may then take 20 s (half the renew deadline) instead of
/// 5 s: on a busy or slow control-plane machine (measured under software emulation) the
/// controller manager otherwise loses its lease while its caches sync, exits, and starts over
/// — minutes without DaemonSet or Deployment pods. The cost is a slower handover when a
/// control-plane machine dies (up to a minute); OpenShift runs these components with longer
/// leases still, for the same reason.
pub const LEADER_ELECTION: [(&str, &str); 3] = [
    ("leader-elect-lease-duration", "60s"),
    ("leader-elect-renew-deadline", "40s"),
    ("leader-elect-retry-period", "10s"),
];

/// kubeadm, retried.
pub const KUBEADM_SCRIPT_PATH: &str = "/usr/local/sbin/azop-kubeadm.sh";
/// The image's pod network, or Calico.
pub const POD_NETWORK_SCRIPT_PATH: &str = "/usr/local/sbin/azop-apply-pod-network.sh";
/// What azop's node image declares about itself.
pub const NODE_IMAGE_ENV: &str = "/etc/azop/node-image.env";
/// Attempts of `kubeadm init|join`.
pub const KUBEADM_ATTEMPTS: u32 = 3;

/// [`KUBEADM_SCRIPT_PATH`], for the configuration at `config` and containerd at
/// `cri_socket`; the CAs are kept in `stamp_dir`.
pub fn kubeadm_script(config: &str, cri_socket: &str, stamp_dir: &str) -> String {
    format!(
        r#"#!/bin/bash
# Written by azop: kubeadm init|join with azop's configuration, retried after a reset (a
# first boot can time a step out). Usage: azop-kubeadm.sh init|join
set -uo pipefail
MODE="${{1:-}}"
CONFIG="{config}"
ATTEMPTS={KUBEADM_ATTEMPTS}
fail() {{ echo "azop: $*" >&2; exit 1; }}
case "$MODE" in init|join) ;; *) fail "usage: $0 init|join" ;; esac
# An image that preloads one Kubernetes version's images (no registry needed) must get that
# version: kubeadm would otherwise try to pull, and fail only after minutes offline.
if [ "$MODE" = init ] && [ -r {NODE_IMAGE_ENV} ]; then
  . {NODE_IMAGE_ENV}
  WANT="$(sed -n 's/^kubernetesVersion:[[:space:]]*//p' "$CONFIG" | tr -d '" ')"
  if [ -n "${{AZOP_KUBERNETES_VERSION:-}}" ] && [ -n "$WANT" ] && [ "$WANT" != "$AZOP_KUBERNETES_VERSION" ]; then
    fail "this image preloads Kubernetes $AZOP_KUBERNETES_VERSION; the cluster asks for $WANT: set spec.kubernetesVersion to ${{AZOP_KUBERNETES_VERSION#v}} (or its minor), or boot from an image built for $WANT"
  fi
fi
# kubeadm reset deletes /etc/kubernetes/pki: keep the cluster's CAs azop wrote there.
KEEP="{stamp_dir}/pki.orig"
if [ -d /etc/kubernetes/pki ] && [ ! -e "$KEEP" ]; then
  mkdir -p "{stamp_dir}" && cp -a /etc/kubernetes/pki "$KEEP"
fi
n=1
while true; do
  if kubeadm "$MODE" --config "$CONFIG"; then
    exit 0
  fi
  echo "azop: kubeadm $MODE failed (attempt $n of $ATTEMPTS)" >&2
  [ "$n" -lt "$ATTEMPTS" ] || fail "kubeadm $MODE failed $ATTEMPTS times (see above, and /var/log/cloud-init-output.log)"
  kubeadm reset -f --cri-socket "{cri_socket}" || true
  if [ -d "$KEEP" ]; then
    mkdir -p /etc/kubernetes/pki && cp -a "$KEEP"/. /etc/kubernetes/pki/
  fi
  n=$((n + 1))
  sleep 10
done
"#
    )
}

/// [`POD_NETWORK_SCRIPT_PATH`]: the image's pod network for `pod_cidr`, else `calico_script`.
pub fn pod_network_script(pod_cidr: &str, calico_script: &str) -> String {
    format!(
        r#"#!/bin/bash
# Written by azop: the pod network the image carries (azop's node image: no download),
# else Calico.
set -euo pipefail
if [ -r {NODE_IMAGE_ENV} ]; then . {NODE_IMAGE_ENV}; fi
if [ -n "${{AZOP_CNI_APPLY:-}}" ] && [ -x "$AZOP_CNI_APPLY" ]; then
  echo "azop: the image's pod network (${{AZOP_CNI:-unnamed}}) for {pod_cidr}"
  exec "$AZOP_CNI_APPLY" "{pod_cidr}"
fi
echo "azop: the image carries no pod network: Calico"
exec {calico_script}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_cni_is_calico_on_marketplace_images_and_the_images_own_elsewhere() {
        assert_eq!(pod_network(None, true), kubeadm::Cni::Calico);
        assert_eq!(pod_network(None, false), kubeadm::Cni::ImageDefault);
        assert_eq!(pod_network(Some(Cni::Calico), false), kubeadm::Cni::Calico);
        assert_eq!(pod_network(Some(Cni::None), false), kubeadm::Cni::None);
        assert_eq!(pod_network(Some(Cni::None), true), kubeadm::Cni::None);
    }
}
