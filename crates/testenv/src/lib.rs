//! A real etcd + kube-apiserver + kube-controller-manager (and Azurite, and Argo CD) on
//! loopback, for azop's tests and demo.
//!
//! Binaries come from `crates/testenv/scripts/install.sh` (`make testenv`); see
//! [`binaries`] for how they are found and docs/testing.md for the whole picture.
//!
//! ```no_run
//! # async fn demo() -> Result<(), azop_testenv::Error> {
//! use azop_testenv::{TestEnv, shared, wait_for, Check};
//! let env = shared().await?;                        // one environment per test binary
//! let client = env.client()?;                       // admin (system:masters)
//! let ns = env.new_namespace("my-test").await?;     // fresh namespace
//! env.install_crds(azop_testenv::crds_dir()).await?; // crds/*.yaml, waits for Established
//! let alice = env.client_as("alice")?;             // unprivileged: RBAC applies
//! # let _ = (client, ns, alice); Ok(()) }
//! ```
//!
//! Processes never leak: a [`TestEnv`] or [`Azurite`] stops its processes (whole process
//! groups) when dropped, including during a panic; a watchdog process stops them when the
//! owning process dies without dropping them (a `shared()` static, `kill -9`); and every start
//! first cleans up environments under `$TMPDIR/azop-testenv/` whose owner is dead.

pub mod argocd;
pub mod azurite;
pub mod binaries;
pub mod crds;
mod env;
pub mod error;
pub mod kubeconfig;
pub mod manifests;
mod pki;
mod ports;
pub mod process;
pub mod state;
pub mod wait;

use std::path::{Path, PathBuf};

pub use argocd::{ArgoCd, ArgoCdOptions};
pub use azurite::{Azurite, AzuriteAccount, AzuriteInfo, AzuriteOptions};
pub use crds::install_crds;
pub use env::{
    ADMIN_USER, CONTROLLER_MANAGER_USER, DEFAULT_USERS, EnvInfo, SERVICE_ACCOUNT_ISSUER,
    SERVICE_CIDR, TestEnv, TestEnvOptions, down, namespace_name,
};
pub use error::{Error, Result};
pub use kubeconfig::UserInfo;
pub use wait::{Check, wait_for, wait_for_condition};

static SHARED: tokio::sync::OnceCell<TestEnv> = tokio::sync::OnceCell::const_new();

/// The environment shared by all tests of the current test binary, started on first use with
/// [`TestEnvOptions::default`]. It is never dropped (it is a static): the watchdog stops it
/// within a second after the test binary exits. Give each test its own namespace, and make a
/// client per test with [`TestEnv::client`].
pub async fn shared() -> Result<&'static TestEnv> {
    SHARED
        .get_or_try_init(|| TestEnv::start(TestEnvOptions::default()))
        .await
}

/// The repository root: the workspace (the directory with `Cargo.lock`) above the package
/// being run, which cargo names at run time in `CARGO_MANIFEST_DIR` (else the working
/// directory). This crate's own compile-time path is only the last resort: a target dir
/// shared by two checkouts (CI's cache, a local clone) can hand a test this crate built in
/// the other checkout, whose path may be gone or hold other files.
pub fn repo_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    if let Some(start) = start
        && let Some(root) = workspace_above(&start)
    {
        return root;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The nearest directory at or above `dir` that holds azop's workspace (`Cargo.lock` beside
/// `crates/testenv`).
fn workspace_above(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .find(|d| d.join("Cargo.lock").is_file() && d.join("crates/testenv/Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

/// `<repo>/crds`: the generated CustomResourceDefinitions. `AZOP_CRDS_DIR` overrides it (to
/// run the tests against another build of the CRDs).
pub fn crds_dir() -> PathBuf {
    match std::env::var_os("AZOP_CRDS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("crds"),
    }
}

/// The Kubernetes version the test environment is built from: the `k8s.io/kubernetes` version
/// pinned in `crates/testenv/go/kube/go.mod` (e.g. `v1.37.2`). Its kube-apiserver reports
/// exactly this at `/version`.
pub fn pinned_kubernetes_version() -> Result<String> {
    let path = repo_root().join("crates/testenv/go/kube/go.mod");
    let text = std::fs::read_to_string(&path).map_err(error::io("read", &path))?;
    kubernetes_version_in_go_mod(&text).ok_or_else(|| Error::Manifest {
        path,
        message: "no `require k8s.io/kubernetes vX.Y.Z` line".to_string(),
    })
}

/// The version of `k8s.io/kubernetes` a go.mod requires (pure, for tests).
pub fn kubernetes_version_in_go_mod(text: &str) -> Option<String> {
    text.lines()
        .map(|l| l.trim().trim_start_matches("require").trim())
        .find_map(|l| l.strip_prefix("k8s.io/kubernetes "))
        .map(|v| v.split_whitespace().next().unwrap_or(v).to_string())
        .filter(|v| v.starts_with('v'))
}

/// `<repo>/config/samples`: sample manifests (valid ones, and `invalid/`).
pub fn samples_dir() -> PathBuf {
    repo_root().join("config").join("samples")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_version_is_read_from_the_wrapper_go_mod() {
        let text = "module x\n\nrequire k8s.io/kubernetes v1.37.2\n\nreplace (\n\tk8s.io/api => k8s.io/api v0.37.2\n)\n";
        assert_eq!(
            kubernetes_version_in_go_mod(text).as_deref(),
            Some("v1.37.2")
        );
        let block = "require (\n\tk8s.io/kubernetes v1.36.3\n\tfoo v1\n)\n";
        assert_eq!(
            kubernetes_version_in_go_mod(block).as_deref(),
            Some("v1.36.3")
        );
        assert_eq!(kubernetes_version_in_go_mod("module x\n"), None);
        // The committed go.mod names one.
        assert!(pinned_kubernetes_version().is_ok_and(|v| v.starts_with("v1.")));
    }
}
