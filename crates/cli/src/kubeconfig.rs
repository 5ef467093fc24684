//! `kubectl azop kubeconfig <cluster>`: the kubeconfig azop keeps for a cluster (the Secret
//! `<name>-kubeconfig`, key `value`; an AksCluster's `--user` one with `-kubeconfig-user`),
//! written to a file or merged into the user's kubeconfig, the way `az aks get-credentials`
//! does: the cluster, user and context entries replaced by name, the current context set.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_yaml::{Mapping, Value};

use crate::kube_args::Connected;
use crate::objects::{self, Kind};

/// `kubectl azop kubeconfig <cluster>`.
#[derive(clap::Args, Debug)]
pub struct KubeconfigArgs {
    /// The cluster: `<name>`, `azc/<name>` or `aks/<name>`.
    pub cluster: String,
    /// Write the kubeconfig to this file (mode 0600; replaced if it exists). Default with
    /// neither --file nor --merge: print it.
    #[arg(long, conflicts_with = "merge")]
    pub file: Option<PathBuf>,
    /// Merge it into this kubeconfig (default: the first file of KUBECONFIG, else
    /// ~/.kube/config) and make its context the current one.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub merge: Option<PathBuf>,
    /// AksCluster: the user kubeconfig (Entra ID through kubelogin) instead of the admin one.
    #[arg(long)]
    pub user: bool,
}

/// The Secret holding a cluster's kubeconfig (pure).
pub fn secret_name(kind: Kind, cluster: &str, user: bool) -> Result<String> {
    match (kind, user) {
        (Kind::AksCluster, true) => Ok(format!("{cluster}-kubeconfig-user")),
        (Kind::AzureCluster | Kind::AksCluster, false) => Ok(format!("{cluster}-kubeconfig")),
        (Kind::AzureCluster, true) => {
            bail!("--user is for AksClusters; an AzureCluster has one admin kubeconfig")
        }
        (k, _) => bail!(
            "{} has no kubeconfig: name an AzureCluster or an AksCluster",
            k.as_str()
        ),
    }
}

fn named(list: &Value, key: &str) -> Vec<Value> {
    list.get(key)
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default()
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

/// `into` with `new`'s clusters, users and contexts (same names replaced), its current
/// context made current (pure).
pub fn merge(into: &Value, new: &Value) -> Value {
    let mut out = if into.is_mapping() {
        into.clone()
    } else {
        let mut m = Mapping::new();
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Config".into());
        Value::Mapping(m)
    };
    for key in ["clusters", "users", "contexts"] {
        let incoming = named(new, key);
        let mut list: Vec<Value> = named(&out, key)
            .into_iter()
            .filter(|e| !incoming.iter().any(|i| name_of(i) == name_of(e)))
            .collect();
        list.extend(incoming);
        if let Value::Mapping(m) = &mut out {
            m.insert(key.into(), Value::Sequence(list));
        }
    }
    if let (Value::Mapping(m), Some(current)) = (&mut out, new.get("current-context")) {
        m.insert("current-context".into(), current.clone());
    }
    out
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let tmp = path.with_extension("azop-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

/// The kubeconfig file the user's kubectl reads first.
fn default_kubeconfig() -> Result<PathBuf> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME").context("HOME is not set: give --merge <file>")?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

pub async fn run(c: &Connected, args: &KubeconfigArgs) -> Result<String> {
    let (kind, name) = objects::split_ref(std::slice::from_ref(&args.cluster))?;
    let kind = match kind {
        Some(k) => k,
        None => {
            objects::find(&c.client, &c.namespace, None, &name)
                .await?
                .kind
        }
    };
    let secret = secret_name(kind, &name, args.user)?;
    let api: Api<Secret> = Api::namespaced(c.client.clone(), &c.namespace);
    let found = api
        .get_opt(&secret)
        .await
        .with_context(|| format!("read Secret {}/{secret}", c.namespace))?
        .with_context(|| {
            format!(
                "Secret {}/{secret} does not exist yet: azop writes it once the cluster's control plane is up (kubectl azop why {}/{name})",
                c.namespace,
                kind.as_str().to_ascii_lowercase()
            )
        })?;
    let text = found
        .data
        .as_ref()
        .and_then(|d| d.get("value"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .with_context(|| format!("Secret {}/{secret} has no key value", c.namespace))?;
    if let Some(path) = &args.file {
        write_private(path, &text)?;
        return Ok(format!(
            "wrote the kubeconfig of {} {}/{name} to {}\n",
            kind.as_str(),
            c.namespace,
            path.display()
        ));
    }
    if let Some(path) = &args.merge {
        let path = if path.as_os_str().is_empty() {
            default_kubeconfig()?
        } else {
            path.clone()
        };
        let existing: Value = match std::fs::read_to_string(&path) {
            Ok(t) => serde_yaml::from_str(&t)
                .with_context(|| format!("{} is not a kubeconfig", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        let new: Value = serde_yaml::from_str(&text)
            .with_context(|| format!("Secret {}/{secret} holds no kubeconfig", c.namespace))?;
        let merged = merge(&existing, &new);
        write_private(&path, &serde_yaml::to_string(&merged)?)?;
        let context = new
            .get("current-context")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok(format!(
            "merged the kubeconfig of {} {}/{name} into {}; current context: {context}\n",
            kind.as_str(),
            c.namespace,
            path.display()
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_replaces_entries_by_name_and_switches_context() {
        let mine: Value = serde_yaml::from_str(
            "apiVersion: v1\nkind: Config\nclusters: [{name: home, cluster: {server: h}}, {name: demo, cluster: {server: old}}]\nusers: [{name: me}]\ncontexts: [{name: home}]\ncurrent-context: home\n",
        )
        .expect("yaml");
        let new: Value = serde_yaml::from_str(
            "clusters: [{name: demo, cluster: {server: new}}]\nusers: [{name: demo-admin}]\ncontexts: [{name: demo-admin@demo}]\ncurrent-context: demo-admin@demo\n",
        )
        .expect("yaml");
        let m = merge(&mine, &new);
        let clusters = named(&m, "clusters");
        let servers: Vec<&str> = clusters
            .iter()
            .filter_map(|c| c.get("cluster")?.get("server")?.as_str())
            .collect();
        assert_eq!(servers, vec!["h", "new"]);
        assert_eq!(named(&m, "users").len(), 2);
        assert_eq!(m["current-context"], Value::from("demo-admin@demo"));
        assert_eq!(merge(&Value::Null, &new)["kind"], Value::from("Config"));
        assert!(secret_name(Kind::ProxyConfig, "x", false).is_err());
        assert_eq!(
            secret_name(Kind::AksCluster, "x", true).expect("ok"),
            "x-kubeconfig-user"
        );
    }
}
