//! Simulator configuration. `SimConfig::default()` is test-friendly: zero latency, a 20 ms
//! Retry-After, any client id/secret accepted, ARM's throttling sizes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long operations take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyPreset {
    /// Every operation completes at once (its first poll already sees the end).
    #[default]
    Zero,
    /// Each type's typical Azure time (see `ResourceType::typical_latency`).
    Realistic,
}

impl std::str::FromStr for LatencyPreset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zero" => Ok(Self::Zero),
            "realistic" => Ok(Self::Realistic),
            other => Err(format!("unknown latency preset {other:?} (zero|realistic)")),
        }
    }
}

/// A principal allowed to obtain tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub client_id: String,
    /// `None` accepts only client assertions (workload identity).
    pub client_secret: Option<String>,
}

/// Token-bucket sizes per operation class (ARM's since 2024).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSize {
    pub capacity: f64,
    pub refill_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    pub enabled: bool,
    pub reads: BucketSize,
    pub writes: BucketSize,
    pub deletes: BucketSize,
    /// The per-subscription bucket across all principals is this multiple of the above.
    pub global_factor: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            reads: BucketSize {
                capacity: 250.0,
                refill_per_sec: 25.0,
            },
            writes: BucketSize {
                capacity: 200.0,
                refill_per_sec: 10.0,
            },
            deletes: BucketSize {
                capacity: 200.0,
                refill_per_sec: 10.0,
            },
            global_factor: 15.0,
        }
    }
}

/// Where the kubeconfigs that AKS's credential actions hand out point: a real API server the
/// tests run, so `kubectl --kubeconfig <it>` works. Without one they name the cluster's FQDN
/// on port 443, as AKS does (nothing answers there).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigTarget {
    /// `https://127.0.0.1:6443`.
    pub server: String,
    /// PEM of the CA that signed the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// A bearer token the server accepts, used in the static (admin, and non-AAD user)
    /// credentials. Without it they carry a token derived from the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The blob data plane behind the simulator's storage accounts: an Azurite process, and the
/// accounts it was started with that the simulator may hand out, one per storage account
/// created (Azurite's accounts are fixed when it starts). An account's
/// `primaryEndpoints.blob` is then `<endpoint>/<azurite account>/` and `listKeys` returns that
/// account's key, so the data plane (containers, Copy Blob) really works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobService {
    /// `http://127.0.0.1:<port>` (path-style).
    pub endpoint: String,
    /// `(name, base64 key)` of each Azurite account to hand out.
    pub pool: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub addr: SocketAddr,
    /// Suggested poll interval for LROs. Whole seconds go out as `Retry-After`; every value
    /// also as `retry-after-ms`. Sub-second values are sent only as `retry-after-ms`, because
    /// azure-core (Python) treats `Retry-After: 0` as "absent" and then sleeps 30 s.
    pub retry_after: Duration,
    pub latency_preset: LatencyPreset,
    /// Multiplies every latency (e.g. 0.1 to run the realistic preset ten times faster).
    pub latency_scale: f64,
    /// Per-type latency overrides, keyed by lower-case ARM type (`microsoft.storage/storageaccounts`).
    pub latency_overrides: HashMap<String, Duration>,
    /// Items per page of list responses before a `nextLink` is given.
    pub page_size: usize,
    /// `None`: any client id and secret get a token.
    pub principals: Option<Vec<Principal>>,
    pub token_lifetime: Duration,
    /// Require a bearer token on ARM calls.
    pub require_auth: bool,
    pub throttle: ThrottleConfig,
    /// Serve https with a self-signed certificate.
    pub tls: bool,
    /// Where to write the PEM certificate clients should trust (TLS only).
    pub tls_cert_path: Option<PathBuf>,
    /// Save the store here on every change; load it at start.
    pub state_file: Option<PathBuf>,
    /// Extra api-versions accepted, per lower-case namespace.
    pub extra_api_versions: HashMap<String, Vec<String>>,
    /// Bound on `/_sim/requests` history.
    pub request_log_capacity: usize,
    /// Where AKS kubeconfigs point (also settable at run time: `/_sim/aks/kubeconfig`).
    pub aks_kubeconfig: Option<KubeconfigTarget>,
    /// Azurite behind storage accounts; `None`: accounts have Azure's public endpoints and no
    /// data plane.
    pub blob_service: Option<BlobService>,
    /// Where Static public IPs come from (default 127.50.0.0/16: loopback, standing in for a
    /// region's pool, so nothing ever dials off this machine for a public IP; a test API
    /// server or a load balancer frontend can listen on one).
    pub public_pool: ipnet::Ipv4Net,
    /// Where in the pool this simulator starts looking for a free address (default: random
    /// per process). Several simulators on one machine (test runs side by side) share the
    /// loopback pool; starting each at the same address would hand them all 127.50.0.4 and
    /// make their listeners on it collide.
    pub public_pool_offset: u32,
    /// VMs boot as QEMU guests (`--machines qemu`); `None`: they have no guest.
    pub machines: Option<MachinesConfig>,
}

/// `--machines qemu` (see `machines`): where the guests' files go, the tools, and what
/// each guest gets of this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct MachinesConfig {
    /// Each simulator makes its own directory under this one (removed when it stops).
    pub dir: PathBuf,
    pub qemu: PathBuf,
    pub qemu_img: PathBuf,
    pub genisoimage: PathBuf,
    /// Hands a guest's connection to a public frontend to the host (one per connection).
    pub socat: PathBuf,
    /// UEFI firmware for Hyper-V generation 2 images.
    pub ovmf: PathBuf,
    /// Every guest's memory, MiB (Azure's sizes are larger than this machine).
    pub memory_mib: u32,
    /// The most vCPUs a guest gets (its size's count, capped).
    pub max_vcpus: u32,
}

impl MachinesConfig {
    /// The tools from `AZOP_QEMU`, `AZOP_QEMU_IMG`, `AZOP_GENISOIMAGE`, `AZOP_SOCAT`,
    /// `AZOP_OVMF` when set (`make node-image` writes them to `~/.cache/azop/node-image.env`),
    /// else Debian's names and paths; 3072 MiB and at most 2 vCPUs per guest (a kubeadm
    /// control plane thrashed in 2048 MiB: no swap, its binaries' pages evicted over and
    /// over); the temp dir.
    pub fn from_env() -> Self {
        let tool = |var: &str, default: &str| -> PathBuf {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        Self {
            dir: std::env::temp_dir(),
            qemu: tool("AZOP_QEMU", "qemu-system-x86_64"),
            qemu_img: tool("AZOP_QEMU_IMG", "qemu-img"),
            genisoimage: tool("AZOP_GENISOIMAGE", "genisoimage"),
            socat: tool("AZOP_SOCAT", "socat"),
            ovmf: tool("AZOP_OVMF", "/usr/share/ovmf/OVMF.fd"),
            memory_mib: 3072,
            max_vcpus: 2,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            retry_after: Duration::from_millis(20),
            latency_preset: LatencyPreset::Zero,
            latency_scale: 1.0,
            latency_overrides: HashMap::new(),
            page_size: 100,
            principals: None,
            token_lifetime: Duration::from_secs(3600),
            require_auth: true,
            throttle: ThrottleConfig::default(),
            tls: false,
            tls_cert_path: None,
            state_file: None,
            extra_api_versions: HashMap::new(),
            request_log_capacity: 10_000,
            aks_kubeconfig: None,
            blob_service: None,
            public_pool: crate::types::network::addressing::PUBLIC_POOL,
            public_pool_offset: crate::types::network::addressing::random_offset(),
            machines: None,
        }
    }
}

impl SimConfig {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }
    pub fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after = d;
        self
    }
    pub fn latency_preset(mut self, p: LatencyPreset) -> Self {
        self.latency_preset = p;
        self
    }
    pub fn latency_scale(mut self, scale: f64) -> Self {
        self.latency_scale = scale;
        self
    }
    /// Fixes the latency of one ARM type (e.g. `Microsoft.Storage/storageAccounts`).
    pub fn latency(mut self, arm_type: &str, d: Duration) -> Self {
        self.latency_overrides
            .insert(arm_type.to_ascii_lowercase(), d);
        self
    }
    /// Serves storage accounts' blob endpoints from Azurite (see [`BlobService`]).
    pub fn blob_service(mut self, b: BlobService) -> Self {
        self.blob_service = Some(b);
        self
    }
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }
    /// Restricts token issuance to the listed principals (call repeatedly).
    pub fn principal(mut self, client_id: &str, client_secret: Option<&str>) -> Self {
        self.principals
            .get_or_insert_with(Vec::new)
            .push(Principal {
                client_id: client_id.to_string(),
                client_secret: client_secret.map(str::to_string),
            });
        self
    }
    pub fn token_lifetime(mut self, d: Duration) -> Self {
        self.token_lifetime = d;
        self
    }
    pub fn require_auth(mut self, on: bool) -> Self {
        self.require_auth = on;
        self
    }
    pub fn throttle(mut self, t: ThrottleConfig) -> Self {
        self.throttle = t;
        self
    }
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }
    pub fn tls_cert_path(mut self, p: PathBuf) -> Self {
        self.tls_cert_path = Some(p);
        self
    }
    pub fn state_file(mut self, p: PathBuf) -> Self {
        self.state_file = Some(p);
        self
    }
    pub fn api_version(mut self, namespace: &str, version: &str) -> Self {
        self.extra_api_versions
            .entry(namespace.to_ascii_lowercase())
            .or_default()
            .push(version.to_string());
        self
    }

    pub fn public_pool(mut self, pool: ipnet::Ipv4Net) -> Self {
        self.public_pool = pool;
        self
    }

    /// Start the search for a free public address `offset` addresses into the pool (see
    /// [`SimConfig::public_pool_offset`]; 0: the pool's first usable address).
    pub fn public_pool_offset(mut self, offset: u32) -> Self {
        self.public_pool_offset = offset;
        self
    }

    /// VMs boot as QEMU guests (see [`MachinesConfig`]).
    pub fn machines(mut self, m: MachinesConfig) -> Self {
        self.machines = Some(m);
        self
    }

    pub fn aks_kubeconfig(mut self, target: KubeconfigTarget) -> Self {
        self.aks_kubeconfig = Some(target);
        self
    }

    /// The latency of an operation on `arm_type`, given its typical Azure time.
    pub fn latency_for(&self, arm_type: &str, typical: Duration) -> Duration {
        let base = match self.latency_overrides.get(&arm_type.to_ascii_lowercase()) {
            Some(d) => *d,
            None => match self.latency_preset {
                LatencyPreset::Zero => Duration::ZERO,
                LatencyPreset::Realistic => typical,
            },
        };
        base.mul_f64(self.latency_scale.max(0.0))
    }
}
