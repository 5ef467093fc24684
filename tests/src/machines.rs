//! Helpers for the boot test (`make test-machines`, `tests/e2e/machines.rs`): azop's node
//! image as `make node-image` left it, a world whose simulator boots VMs as QEMU guests from
//! Azurite, the VHD uploaded sparsely, and a client of the workload cluster.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use azop_armsim::{BlobService, MachinesConfig, SimConfig};
use azop_testenv::{Azurite, AzuriteOptions};

use crate::blob::BlobClient;
use crate::operator::World;

/// Azurite accounts the simulator hands out.
pub const POOL: usize = 3;
/// Bytes per Put Page (Azure's maximum).
const PAGE_CHUNK: usize = 4 * 1024 * 1024;

/// What `make node-image` wrote to `~/.cache/azop/node-image.env`.
pub struct NodeImage {
    pub vhd: PathBuf,
    pub kubernetes_version: String,
    pub vars: HashMap<String, String>,
}

impl NodeImage {
    pub fn load() -> Result<NodeImage> {
        let path = azop_testenv::binaries::cache_dir().join("node-image.env");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no {}: build azop's node image first with `make node-image` (docs/node-image.md)",
                path.display()
            )
        })?;
        let vars = azop_testenv::binaries::parse_env_file(&text);
        let get = |k: &str| {
            vars.get(k).cloned().with_context(|| {
                format!("{} has no {k}: run `make node-image` again", path.display())
            })
        };
        let vhd = PathBuf::from(get("AZOP_NODE_IMAGE_VHD")?);
        ensure!(
            vhd.is_file(),
            "{} is gone: run `make node-image`",
            vhd.display()
        );
        Ok(NodeImage {
            vhd,
            kubernetes_version: get("AZOP_NODE_IMAGE_KUBERNETES_VERSION")?,
            vars,
        })
    }

    /// The simulator's machines configuration with the tools `make node-image` installed.
    pub fn machines_config(&self, dir: PathBuf) -> MachinesConfig {
        let mut m = MachinesConfig::from_env();
        let tool =
            |k: &str, default: PathBuf| self.vars.get(k).map(PathBuf::from).unwrap_or(default);
        m.qemu = tool("AZOP_QEMU", m.qemu.clone());
        m.qemu_img = tool("AZOP_QEMU_IMG", m.qemu_img.clone());
        m.genisoimage = tool("AZOP_GENISOIMAGE", m.genisoimage.clone());
        m.socat = tool("AZOP_SOCAT", m.socat.clone());
        m.ovmf = tool("AZOP_OVMF", m.ovmf.clone());
        m.dir = dir;
        // The boot test's control plane is a 4-vCPU size: under software emulation its
        // kube-apiserver and etcd need the threads (docs/bootstrap.md, runs 7 and 8).
        m.max_vcpus = 4;
        m
    }
}

/// A world whose storage accounts have Azurite behind them and whose VMs boot.
pub struct MachinesWorld {
    pub world: World,
    pub azurite: Azurite,
    pub image: NodeImage,
}

impl MachinesWorld {
    pub async fn new(prefix: &str) -> Result<MachinesWorld> {
        let image = NodeImage::load()?;
        let accounts: Vec<String> = (0..POOL).map(|i| format!("azopvm{i:02}")).collect();
        let azurite = Azurite::start_with(AzuriteOptions {
            accounts: accounts.clone(),
            ..AzuriteOptions::default()
        })
        .await
        .context("start Azurite")?;
        let pool = accounts
            .iter()
            .filter_map(|n| azurite.account(n).map(|a| (a.name.clone(), a.key.clone())))
            .collect();
        let dir = std::env::temp_dir().join("azop-machines");
        std::fs::create_dir_all(&dir)?;
        let config = SimConfig::default()
            .blob_service(BlobService {
                endpoint: azurite.endpoint().to_string(),
                pool,
            })
            .machines(image.machines_config(dir));
        let world = World::new(prefix, config).await?;
        Ok(MachinesWorld {
            world,
            azurite,
            image,
        })
    }

    /// A data-plane client of the Azurite account behind ARM storage account `account`.
    pub fn blob_client(&self, blob_endpoint: &str) -> Result<BlobClient> {
        let name = blob_endpoint
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .context("blob endpoint without an account")?;
        let a = self
            .azurite
            .account(name)
            .with_context(|| format!("{name} is not an Azurite account of this world"))?;
        Ok(BlobClient::new(self.azurite.endpoint(), &a.name, &a.key)?)
    }
}

/// Uploads the file at `path` as a page blob, skipping pages that are all zeros (a page blob
/// reads zeros where nothing was written, as a fixed VHD's empty space is). Returns the bytes
/// sent.
pub async fn upload_sparse(
    client: &BlobClient,
    container: &str,
    blob: &str,
    path: &std::path::Path,
) -> Result<u64> {
    let size = std::fs::metadata(path)?.len();
    ensure!(
        size % 512 == 0,
        "{} is not 512-byte aligned",
        path.display()
    );
    client.create_page_blob(container, blob, size).await?;
    let mut file = std::fs::File::open(path)?;
    let mut sent = 0u64;
    let mut offset = 0u64;
    let mut buf = vec![0u8; PAGE_CHUNK];
    while offset < size {
        let n = usize::try_from((size - offset).min(PAGE_CHUNK as u64))?;
        file.read_exact(&mut buf[..n])?;
        if buf[..n].iter().any(|b| *b != 0) {
            client
                .put_page(container, blob, offset, buf[..n].to_vec())
                .await?;
            sent += n as u64;
        }
        offset += n as u64;
    }
    Ok(sent)
}

/// A client of the workload cluster from its kubeconfig.
pub async fn workload_client(kubeconfig: &str) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).context("parse the kubeconfig")?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .context("kubeconfig")?;
    // Software-emulated API servers answer slowly.
    config.read_timeout = Some(Duration::from_secs(60));
    config.connect_timeout = Some(Duration::from_secs(10));
    kube::Client::try_from(config).context("workload client")
}

/// `kubectl --kubeconfig <file> args…`: its stdout, or its stderr as the error.
pub fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(azop_testenv::binaries::kubectl()?)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--request-timeout=60s")
        .args(args)
        .output()
        .context("run kubectl")?;
    if !out.status.success() {
        bail!(
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
