//! kubectl's connection flags: `--kubeconfig`, `--context`, `-n/--namespace`,
//! `-A/--all-namespaces`. kubectl hands a plugin its arguments as typed, and the plugin reads
//! `KUBECONFIG` itself, so these mean what they mean to kubectl.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// kubectl's connection flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (default: the context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
}

/// A client and the namespace the flags choose.
pub struct Connected {
    pub client: kube::Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// `-A` was given.
    pub all: bool,
}

impl KubeArgs {
    /// The client kubectl would use with these flags.
    pub async fn connect(&self) -> Result<Connected> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .with_context(|| format!("read kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .with_context(|| format!("use kubeconfig {}", path.display()))?
            }
            None => kube::Config::from_kubeconfig(&options)
                .await
                .context("load KUBECONFIG (or ~/.kube/config); --kubeconfig names another")?,
        };
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).context("build a Kubernetes client")?;
        Ok(Connected {
            client,
            namespace,
            all: self.all_namespaces,
        })
    }
}
