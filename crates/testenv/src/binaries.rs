//! Finding the test environment's tools: etcd, kube-apiserver, kube-controller-manager, kubeadm,
//! kubectl, helm (built from their Go modules by `crates/testenv/scripts/go-tools.sh`), Argo CD
//! (`crates/testenv/scripts/argocd.sh`), Azurite (npm) and Debian's redis-server.
//!
//! Order: the environment variable (`AZOP_ETCD`, `AZOP_KUBE_APISERVER`, …), then the
//! `testenv.env` file that `crates/testenv/scripts/install.sh` writes into the cache dir (see
//! [`cache_dir`]), then the newest matching directory in the cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable naming the etcd binary.
pub const ENV_ETCD: &str = "AZOP_ETCD";
/// Environment variable naming the kube-apiserver binary.
pub const ENV_KUBE_APISERVER: &str = "AZOP_KUBE_APISERVER";
/// Environment variable naming the kube-controller-manager binary.
pub const ENV_KUBE_CONTROLLER_MANAGER: &str = "AZOP_KUBE_CONTROLLER_MANAGER";
/// Environment variable naming the kubeadm binary (same Kubernetes version as the API server).
pub const ENV_KUBEADM: &str = "AZOP_KUBEADM";
/// Environment variable naming the kubectl binary (same Kubernetes version as the API server).
pub const ENV_KUBECTL: &str = "AZOP_KUBECTL";
/// Environment variable naming the helm binary.
pub const ENV_HELM: &str = "AZOP_HELM";
/// Environment variable naming the `azurite-blob` launcher.
pub const ENV_AZURITE: &str = "AZOP_AZURITE";
/// Environment variable naming `qemu-img` (Debian's qemu-utils), which makes test VHDs.
pub const ENV_QEMU_IMG: &str = "AZOP_QEMU_IMG";
/// Environment variable naming Argo CD's multi-call binary (`argocd`), in the directory
/// `argocd.sh` fills: the component symlinks, `git-verify-wrapper.sh` and `crds/` sit next to it.
pub const ENV_ARGOCD: &str = "AZOP_ARGOCD";
/// Environment variable naming `redis-server` (Debian's), Argo CD's cache.
pub const ENV_REDIS_SERVER: &str = "AZOP_REDIS_SERVER";

/// The cache directory used by the installer: `$AZOP_CACHE_DIR`, else `$AZOP_CACHE` (the
/// Makefile's name for it), else `~/.cache/azop`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AZOP_CACHE_DIR").or_else(|| std::env::var_os("AZOP_CACHE"))
    {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache").join("azop")
}

/// Parses `KEY=VALUE` lines (the format of `testenv.env`); blank lines and `#` comments skipped.
pub fn parse_env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

fn from_env_file(var: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(cache_dir().join("testenv.env")).ok()?;
    parse_env_file(&text).get(var).map(PathBuf::from)
}

/// Newest-looking `<prefix>*/<rel>` under the cache dir (directory names carry versions).
fn from_cache_glob(prefix: &str, rel: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache_dir())
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path().join(rel))
        .filter(|p| is_executable(p))
        .collect();
    found.sort();
    found.pop()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn locate(what: &'static str, var: &str, fallbacks: &[Option<PathBuf>]) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(Error::BinaryNotFound {
                what,
                hint: format!("{var}={} is not an executable file", p.display()),
            })
        };
    }
    let candidates: Vec<PathBuf> = std::iter::once(from_env_file(var))
        .chain(fallbacks.iter().cloned())
        .flatten()
        .collect();
    candidates
        .iter()
        .find(|p| is_executable(p))
        .cloned()
        .ok_or_else(|| Error::BinaryNotFound {
            what,
            hint: format!(
                "{var} is not set, {} does not name it{}",
                cache_dir().join("testenv.env").display(),
                if candidates.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", and none of {} is executable",
                        candidates
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        })
}

/// A Go tool built by `go-tools.sh` into `<cache>/go-tools-<version>-<key>/<name>`.
fn go_tool(name: &'static str, var: &str) -> Result<PathBuf> {
    locate(name, var, &[from_cache_glob("go-tools-", name)])
}

/// Path of etcd.
pub fn etcd() -> Result<PathBuf> {
    go_tool("etcd", ENV_ETCD)
}

/// Path of kube-apiserver.
pub fn kube_apiserver() -> Result<PathBuf> {
    go_tool("kube-apiserver", ENV_KUBE_APISERVER)
}

/// Path of kube-controller-manager.
pub fn kube_controller_manager() -> Result<PathBuf> {
    go_tool("kube-controller-manager", ENV_KUBE_CONTROLLER_MANAGER)
}

/// Path of kubeadm.
pub fn kubeadm() -> Result<PathBuf> {
    go_tool("kubeadm", ENV_KUBEADM)
}

/// Path of kubectl.
pub fn kubectl() -> Result<PathBuf> {
    go_tool("kubectl", ENV_KUBECTL)
}

/// Path of helm.
pub fn helm() -> Result<PathBuf> {
    go_tool("helm", ENV_HELM)
}

/// Path of Azurite's blob-only launcher (`azurite-blob`).
pub fn azurite() -> Result<PathBuf> {
    locate(
        "azurite",
        ENV_AZURITE,
        &[from_cache_glob(
            "azurite-",
            "node_modules/.bin/azurite-blob",
        )],
    )
}

/// Path of `qemu-img`: `AZOP_QEMU_IMG`, testenv.env, then the usual Debian paths.
pub fn qemu_img() -> Result<PathBuf> {
    locate(
        "qemu-img",
        ENV_QEMU_IMG,
        &[
            Some(PathBuf::from("/usr/bin/qemu-img")),
            Some(PathBuf::from("/usr/local/bin/qemu-img")),
        ],
    )
}

/// Path of Argo CD's multi-call binary, built by `argocd.sh` into
/// `<cache>/argocd-<version>-<key>/argocd`.
pub fn argocd() -> Result<PathBuf> {
    locate(
        "argocd",
        ENV_ARGOCD,
        &[from_cache_glob("argocd-v", "argocd")],
    )
}

/// Path of `redis-server`: `AZOP_REDIS_SERVER`, testenv.env, then Debian's path.
pub fn redis_server() -> Result<PathBuf> {
    locate(
        "redis-server",
        ENV_REDIS_SERVER,
        &[Some(PathBuf::from("/usr/bin/redis-server"))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_parse_and_skip_comments() {
        let m = parse_env_file(
            "# c\nAZOP_ETCD=/usr/bin/etcd\n\nAZOP_AZURITE=\"/x y/azurite-blob\"\nbad line\n",
        );
        assert_eq!(
            m.get("AZOP_ETCD").map(String::as_str),
            Some("/usr/bin/etcd")
        );
        assert_eq!(
            m.get("AZOP_AZURITE").map(String::as_str),
            Some("/x y/azurite-blob")
        );
        assert_eq!(m.len(), 2);
    }
}
