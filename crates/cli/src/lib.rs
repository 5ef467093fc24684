//! azop's client side, for people and pipelines rather than for the cluster:
//!
//! - [`plan`]: `azop plan -f <manifests>` (and `kubectl azop plan`): what applying the
//!   manifests would do in Azure — create, update (paths, old → new), replace (in rollout
//!   order), delete, untouched — and what azop or the API server would refuse, read from
//!   Azure with a read-only session and decided by the operator's own code
//!   ([`azop_controllers::engine::preview`]). Exit code 0 no changes, 2 changes, 1 error.
//! - the `kubectl azop` plugin (`src/bin/kubectl-azop.rs`): [`status`], [`plan`], [`drift`],
//!   [`kubeconfig`], [`why`], with kubectl's `-n`, `-A`, `--context`, `--kubeconfig` and
//!   `-o json|yaml`.
//!
//! Everything here reads the cluster and Azure, except `kubeconfig` (which writes a local
//! file) and the server-side dry runs of `plan` (which the API server never persists).

pub mod drift;
pub mod kube_args;
pub mod kubeconfig;
pub mod manifests;
pub mod objects;
pub mod output;
pub mod plan;
pub mod status;
pub mod why;

pub use kube_args::KubeArgs;
pub use output::Format;
