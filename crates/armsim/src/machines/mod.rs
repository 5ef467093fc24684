//! `--machines qemu`: VMs that boot. A VM the simulator creates from a managed image boots as
//! a QEMU guest (software emulation) from the image's VHD — the bytes in the blob the image
//! names, in the simulator's Azurite — with its customData as cloud-init user-data. Its NICs
//! are on one private L2 segment per VNet ([`hub`]); public load balancer frontends listen
//! on their public IPs (loopback) and forward to the backends their probes find healthy
//! ([`lb`]); deleting the VM stops the guest and deleting its OS disk frees the disk's file;
//! the VM's power state follows the guest; boot diagnostics serve its serial console.
//!
//! A reconcile loop, once a second: read what should run from the store ([`desired`],
//! pure), compare with what runs, start and stop guests, frontends and probes. Nothing here
//! touches the host's network: guests reach only loopback ports QEMU forwards.
//!
//! docs/armsim.md ("Machines") says what is faithful to Azure and what is not.

pub mod desired;
pub mod disks;
pub mod hub;
pub mod lb;
pub mod qemu;
pub mod seed;

use crate::config::{BlobService, MachinesConfig};
use crate::state::AppState;
use desired::{Boot, Desired, FrontendSpec, Generation, GuestSpec};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the guest-side hidden state of a VM lives in its stored body (never rendered).
pub use crate::types::compute::vm::GUEST_KEY;

/// Ports every guest forwards besides the load balancers' backend ports: SSH.
const ALWAYS_FORWARDED: [u16; 1] = [22];
/// A guest's QEMU that fails (exits non-zero) within this long of starting is retried (a
/// forwarded port taken in between), at most [`START_ATTEMPTS`] times.
const EARLY_EXIT: Duration = Duration::from_secs(5);
const START_ATTEMPTS: u32 = 3;

/// What `/_sim/machines` and [`crate::RunningSim::machines`] show of a guest.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineInfo {
    pub vm_id: String,
    pub vm_uuid: String,
    /// `preparing` (image being read), `running`, `stopped`, `failed`, `no-guest`.
    pub state: String,
    pub message: String,
    pub pid: Option<u32>,
    /// QEMU's resident memory.
    pub rss_kib: Option<u64>,
    pub vcpus: u32,
    pub memory_mib: u32,
    /// Guest port → loopback port.
    pub forwards: BTreeMap<u16, u16>,
    pub serial_log: PathBuf,
}

/// What the request handlers share with the loop.
pub struct Shared {
    pub root: PathBuf,
    pub machines: Mutex<Vec<MachineInfo>>,
}

impl Shared {
    /// The serial console log of the VM whose `vmId` is `vm_uuid`.
    pub fn serial_log(&self, vm_uuid: &str) -> PathBuf {
        self.root.join("vms").join(safe(vm_uuid)).join("serial.log")
    }
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn short_hash(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Creates the machines' directory and its watchdog.
pub fn prepare(config: &MachinesConfig) -> Result<(Arc<Shared>, std::process::Child), String> {
    let root = config.dir.join(format!(
        "armsim-machines-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    for d in ["vms", "disks", "images"] {
        std::fs::create_dir_all(root.join(d))
            .map_err(|e| format!("cannot create {}: {e}", root.join(d).display()))?;
    }
    let watchdog = watchdog(std::process::id(), &root)?;
    Ok((
        Arc::new(Shared {
            root,
            machines: Mutex::new(Vec::new()),
        }),
        watchdog,
    ))
}

/// A shell that outlives process `owner`: when it is gone (or a zombie), it kills every guest
/// (the process groups whose pid files are under `root`, checked against their command
/// lines so a recycled pid is never hit) and removes `root`.
fn watchdog(owner: u32, root: &Path) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    const SCRIPT: &str = r#"owner=$1; root=$2
alive() { [ -r /proc/$owner/stat ] && [ "$(sed 's/.*) //' /proc/$owner/stat | cut -d' ' -f1)" != Z ]; }
while alive; do sleep 1; done
for f in "$root"/vms/*/qemu.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f")
  # dash's kill takes no "--": a negative pid after the signal is the process group.
  if tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -qF -- "$root"; then kill -KILL "-$p" 2>/dev/null; fi
done
rm -rf "$root""#;
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("armsim-machines-watchdog")
        .arg(owner.to_string())
        .arg(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the machines' watchdog: {e}"))
}

#[derive(Debug)]
enum GuestState {
    /// Waiting for the image's bytes.
    Preparing,
    Running {
        child: tokio::process::Child,
        pid: u32,
        since: Instant,
    },
    Stopped(String),
    Failed(String),
    /// The VM has nothing to boot (a marketplace image): it runs without a guest.
    NoGuest(String),
}

struct Guest {
    spec: GuestSpec,
    state: GuestState,
    /// The size the running guest was started with (a resize restarts it).
    booted_size: String,
    attempts: u32,
    forwards: BTreeMap<u16, u16>,
    /// (VNet, own endpoint, address) of each NIC on a hub.
    joined: Vec<(String, SocketAddr, Ipv4Addr)>,
    memory_mib: u32,
    vcpus: u32,
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let GuestState::Running { pid, .. } = &self.state {
            qemu::kill_group(*pid);
        }
    }
}

enum ImageState {
    Fetching(tokio::task::JoinHandle<Result<PathBuf, String>>),
    Ready(PathBuf),
    Failed(String),
}

struct FrontendRun {
    spec: FrontendSpec,
    frontend: lb::Frontend,
    next_probe: Instant,
    probing: Option<tokio::task::JoinHandle<()>>,
}

struct Runtime {
    state: Arc<AppState>,
    shared: Arc<Shared>,
    config: MachinesConfig,
    blob: Option<BlobService>,
    guests: HashMap<String, Guest>,
    hubs: HashMap<String, Arc<hub::Hub>>,
    frontends: HashMap<String, FrontendRun>,
    images: HashMap<String, ImageState>,
    /// Frontends that could not listen, and why (logged once).
    unbindable: HashMap<String, String>,
}

/// Runs the loop until `stop` fires; then stops every guest.
pub async fn run(
    state: Arc<AppState>,
    shared: Arc<Shared>,
    config: MachinesConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut rt = Runtime {
        blob: state.config.blob_service.clone(),
        state,
        shared,
        config,
        guests: HashMap::new(),
        hubs: HashMap::new(),
        frontends: HashMap::new(),
        images: HashMap::new(),
        unbindable: HashMap::new(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => rt.pass().await,
            _ = stop.changed() => break,
        }
    }
    rt.guests.clear();
    rt.frontends.clear();
    rt.hubs.clear();
}

impl Runtime {
    async fn pass(&mut self) {
        let desired = {
            let mut store = self.state.store.lock();
            crate::lro::settle(&mut store, &self.state.registry, Instant::now());
            desired::desired(&store, &self.state.registry)
        };
        self.state.persist_ended();
        self.reap();
        self.stop_unwanted(&desired);
        self.start_wanted(&desired).await;
        self.free_disks(&desired);
        self.frontends(&desired).await;
        self.probe();
        self.publish();
    }

    /// Guests whose QEMU exited.
    fn reap(&mut self) {
        let mut left = Vec::new();
        for (k, g) in &mut self.guests {
            if let GuestState::Running { child, since, .. } = &mut g.state
                && let Ok(Some(status)) = child.try_wait()
            {
                // A failed start (QEMU could not bind a forwarded port) is tried again; a guest
                // that powered off or was killed stays stopped.
                let early = since.elapsed() < EARLY_EXIT && status.code().is_some_and(|c| c != 0);
                let log = self
                    .shared
                    .root
                    .join("vms")
                    .join(safe(&g.spec.vm_uuid))
                    .join("qemu.log");
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail = tail.lines().last().unwrap_or("").to_string();
                g.state = if early && g.attempts < START_ATTEMPTS {
                    GuestState::Preparing
                } else {
                    GuestState::Stopped(
                        format!("the guest stopped ({status}) {tail}")
                            .trim()
                            .to_string(),
                    )
                };
                left.push(k.clone());
            }
        }
        for k in left {
            self.leave_hubs(&k);
        }
    }

    fn leave_hubs(&mut self, key: &str) {
        let Some(g) = self.guests.get_mut(key) else {
            return;
        };
        for (vnet, own, ip) in g.joined.drain(..) {
            if let Some(h) = self.hubs.get(&vnet) {
                h.leave(own, ip);
            }
        }
        g.forwards.clear();
        self.hubs.retain(|_, h| !h.is_empty());
    }

    fn stop_unwanted(&mut self, d: &Desired) {
        let wanted: std::collections::HashSet<String> = d
            .guests
            .iter()
            .map(|g| g.vm_id.to_ascii_lowercase())
            .collect();
        let gone: Vec<String> = self
            .guests
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            self.leave_hubs(&k);
            if let Some(g) = self.guests.remove(&k) {
                tracing::info!(vm = %g.spec.vm_id, "machines: the VM is gone or being deleted: its guest stops");
                // Guest::drop kills it.
                let _ = std::fs::remove_dir_all(
                    self.shared.root.join("vms").join(safe(&g.spec.vm_uuid)),
                );
            }
        }
    }

    async fn start_wanted(&mut self, d: &Desired) {
        for spec in &d.guests {
            let key = spec.vm_id.to_ascii_lowercase();
            let resize = self.guests.get(&key).is_some_and(|g| {
                matches!(g.state, GuestState::Running { .. }) && g.booted_size != spec.vm_size
            });
            if resize {
                tracing::info!(vm = %spec.vm_id, size = %spec.vm_size, "machines: resized: the guest restarts");
                self.leave_hubs(&key);
                if let Some(g) = self.guests.get_mut(&key) {
                    if let GuestState::Running { pid, .. } = g.state {
                        qemu::kill_group(pid);
                    }
                    g.state = GuestState::Preparing;
                    g.attempts = 0;
                }
            }
            let g = self.guests.entry(key.clone()).or_insert_with(|| Guest {
                spec: spec.clone(),
                state: GuestState::Preparing,
                booted_size: String::new(),
                attempts: 0,
                forwards: BTreeMap::new(),
                joined: Vec::new(),
                memory_mib: 0,
                vcpus: 0,
            });
            g.spec = spec.clone();
            if !matches!(g.state, GuestState::Preparing) {
                continue;
            }
            let image = match &spec.boot {
                Boot::Nothing { why } => {
                    g.state = GuestState::NoGuest(why.clone());
                    continue;
                }
                Boot::Vhd { blob_uri, .. } => blob_uri.clone(),
            };
            match self.image(&image).await {
                Ok(None) => continue,
                Err(e) => {
                    if let Some(g) = self.guests.get_mut(&key) {
                        g.state = GuestState::Failed(e);
                    }
                }
                Ok(Some(base)) => {
                    let result = self.launch(&key, spec, &base, d).await;
                    if let (Err(e), Some(g)) = (result, self.guests.get_mut(&key)) {
                        tracing::warn!(vm = %spec.vm_id, error = %e, "machines: cannot start the guest");
                        g.state = GuestState::Failed(e);
                    }
                }
            }
        }
    }

    /// The image's local copy: `Ok(None)` while it is being read.
    async fn image(&mut self, blob_uri: &str) -> Result<Option<PathBuf>, String> {
        let state = self.images.remove(blob_uri);
        let (next, out) = match state {
            Some(ImageState::Ready(p)) => (ImageState::Ready(p.clone()), Ok(Some(p))),
            Some(ImageState::Failed(e)) => (ImageState::Failed(e.clone()), Err(e)),
            Some(ImageState::Fetching(h)) if h.is_finished() => match h.await {
                Ok(Ok(p)) => (ImageState::Ready(p.clone()), Ok(Some(p))),
                Ok(Err(e)) => (ImageState::Failed(e.clone()), Err(e)),
                Err(e) => {
                    let e = format!("reading the image failed: {e}");
                    (ImageState::Failed(e.clone()), Err(e))
                }
            },
            Some(f @ ImageState::Fetching(_)) => (f, Ok(None)),
            None => match self.blob.clone() {
                None => {
                    let e = "the simulator has no blob service (Azurite): no image bytes to boot"
                        .to_string();
                    (ImageState::Failed(e.clone()), Err(e))
                }
                Some(blob) => {
                    let dest = self
                        .shared
                        .root
                        .join("images")
                        .join(format!("{}.vhd", short_hash(blob_uri)));
                    let uri = blob_uri.to_string();
                    tracing::info!(blob = %uri, "machines: reading the image's VHD");
                    let h = tokio::spawn(async move {
                        let t = Instant::now();
                        let size = disks::fetch_vhd(&blob, &uri, &dest).await?;
                        tracing::info!(blob = %uri, bytes = size, secs = t.elapsed().as_secs_f64(), "machines: image read");
                        Ok(dest)
                    });
                    (ImageState::Fetching(h), Ok(None))
                }
            },
        };
        self.images.insert(blob_uri.to_string(), next);
        out
    }

    async fn hub(&mut self, vnet: &str) -> Result<Arc<hub::Hub>, String> {
        if let Some(h) = self.hubs.get(vnet) {
            return Ok(h.clone());
        }
        let h = Arc::new(
            hub::Hub::start()
                .await
                .map_err(|e| format!("cannot start the VNet's switch: {e}"))?,
        );
        self.hubs.insert(vnet.to_string(), h.clone());
        Ok(h)
    }

    async fn launch(
        &mut self,
        key: &str,
        spec: &GuestSpec,
        base: &Path,
        d: &Desired,
    ) -> Result<(), String> {
        let dir = self.shared.root.join("vms").join(safe(&spec.vm_uuid));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let disk = self
            .shared
            .root
            .join("disks")
            .join(format!("{}.qcow2", short_hash(&spec.os_disk)));
        if !disk.exists() {
            disks::overlay(&self.config.qemu_img, base, &disk, spec.os_disk_gb).await?;
        }
        // Public frontends, each behind its own address on the management link.
        let mut routes = Vec::new();
        let mut guest_forwards = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for f in &d.frontends {
            if !seen.insert((f.ip, f.port)) {
                continue;
            }
            let Some(via_last) = u8::try_from(usize::from(seed::MGMT_FRONTEND_BASE) + routes.len())
                .ok()
                .filter(|n| *n < 255)
            else {
                break;
            };
            let via = Ipv4Addr::new(10, 0, 2, via_last);
            routes.push(seed::GuestRoute {
                ip: f.ip,
                port: f.port,
                via,
            });
            guest_forwards.push((via, f.port, SocketAddr::from((f.ip, f.port))));
        }
        // This guest's backend ports (its NICs in a rule's pool) and SSH, forwarded.
        let mut guest_ports: std::collections::BTreeSet<u16> = ALWAYS_FORWARDED.into();
        for f in &d.frontends {
            if spec.nics.iter().any(|n| f.backends.contains(&n.id)) {
                guest_ports.insert(f.backend_port);
            }
        }
        let mut forwards = BTreeMap::new();
        for p in guest_ports {
            forwards.insert(p, qemu::free_port(false)?);
        }
        let mgmt_mac = {
            let h = short_hash(&spec.vm_id);
            let b = u32::from_str_radix(&h[..6], 16).unwrap_or(0).to_be_bytes();
            [0x52, 0x54, 0x00, b[1], b[2], b[3]]
        };
        let seed_iso = dir.join("seed.iso");
        seed::write_iso(
            &self.config.genisoimage,
            &dir,
            &seed_iso,
            &[
                ("meta-data", seed::meta_data(spec).into_bytes()),
                ("user-data", seed::user_data(spec)),
                (
                    "network-config",
                    seed::network_config(spec, &mgmt_mac).into_bytes(),
                ),
                ("vendor-data", seed::vendor_data(spec, &routes).into_bytes()),
            ],
        )
        .await?;
        let mut vnet = Vec::new();
        let mut joined = Vec::new();
        for n in &spec.nics {
            let hub = self.hub(&n.vnet).await?;
            let own = SocketAddr::from(([127, 0, 0, 1], qemu::free_port(true)?));
            hub.join(own, n.mac, n.ip, n.gateway);
            joined.push((n.vnet.clone(), own, n.ip));
            vnet.push((n.mac, hub.addr(), own));
        }
        let generation = match spec.boot {
            Boot::Vhd { generation, .. } => generation,
            Boot::Nothing { .. } => Generation::V1,
        };
        let vcpus = spec.vcpus.clamp(1, self.config.max_vcpus.max(1));
        let launch = qemu::Launch {
            qemu: self.config.qemu.clone(),
            name: spec.computer_name.clone(),
            vcpus,
            memory_mib: self.config.memory_mib,
            generation,
            ovmf: self.config.ovmf.clone(),
            disk,
            seed: seed_iso,
            serial: dir.join("serial.log"),
            pidfile: dir.join("qemu.pid"),
            vnet,
            mgmt_mac,
            host_forwards: forwards.iter().map(|(g, h)| (*h, *g)).collect(),
            guest_forwards,
            socat: self.config.socat.clone(),
        };
        let child = qemu::spawn(&launch, &dir.join("qemu.log"));
        let Some(g) = self.guests.get_mut(key) else {
            return Ok(());
        };
        g.joined = joined;
        g.attempts += 1;
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                self.leave_hubs(key);
                return Err(e);
            }
        };
        let pid = child.id().unwrap_or(0);
        tracing::info!(vm = %spec.vm_id, pid, vcpus, memory_mib = self.config.memory_mib, ?forwards, "machines: guest started");
        g.forwards = forwards;
        g.booted_size = spec.vm_size.clone();
        g.vcpus = vcpus;
        g.memory_mib = self.config.memory_mib;
        g.state = GuestState::Running {
            child,
            pid,
            since: Instant::now(),
        };
        Ok(())
    }

    /// Disk files whose managed disk is gone.
    fn free_disks(&mut self, d: &Desired) {
        let in_use: std::collections::HashSet<String> = self
            .guests
            .values()
            .map(|g| format!("{}.qcow2", short_hash(&g.spec.os_disk)))
            .collect();
        let keep: std::collections::HashSet<String> = d
            .disks
            .iter()
            .map(|id| format!("{}.qcow2", short_hash(id)))
            .chain(in_use)
            .collect();
        let Ok(entries) = std::fs::read_dir(self.shared.root.join("disks")) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                tracing::info!(file = %name, "machines: the OS disk is gone: its file is freed");
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    async fn frontends(&mut self, d: &Desired) {
        let wanted: HashMap<&str, &FrontendSpec> =
            d.frontends.iter().map(|f| (f.key.as_str(), f)).collect();
        self.frontends.retain(|k, f| {
            wanted
                .get(k.as_str())
                .is_some_and(|w| w.ip == f.spec.ip && w.port == f.spec.port)
        });
        for f in &d.frontends {
            if !self.frontends.contains_key(&f.key) {
                match lb::Frontend::start(f.ip, f.port).await {
                    Ok(frontend) => {
                        self.unbindable.remove(&f.key);
                        self.frontends.insert(
                            f.key.clone(),
                            FrontendRun {
                                spec: f.clone(),
                                frontend,
                                next_probe: Instant::now(),
                                probing: None,
                            },
                        );
                    }
                    Err(e) => {
                        if self
                            .unbindable
                            .insert(f.key.clone(), e.to_string())
                            .is_none()
                        {
                            tracing::warn!(frontend = %f.key, ip = %f.ip, port = f.port, error = %e, "machines: cannot listen on the frontend (is the public IP pool on loopback?)");
                        }
                        continue;
                    }
                }
            }
            let Some(run) = self.frontends.get_mut(&f.key) else {
                continue;
            };
            run.spec = f.clone();
            // Each backend NIC's forwarded backend port, from the guest that has the NIC.
            let mut ports: HashMap<&str, Option<u16>> = HashMap::new();
            for g in self.guests.values() {
                for n in &g.spec.nics {
                    let running = matches!(g.state, GuestState::Running { .. });
                    let port = g.forwards.get(&f.backend_port).copied().filter(|_| running);
                    ports.insert(n.id.as_str(), port);
                }
            }
            let mut backends = run.frontend.backends.lock();
            let old = std::mem::take(&mut *backends);
            *backends = f
                .backends
                .iter()
                .map(|nic| {
                    let host_port = ports.get(nic.as_str()).copied().flatten();
                    let prev = old.iter().find(|b| &b.nic == nic);
                    lb::Backend {
                        nic: nic.clone(),
                        host_port,
                        // Without a probe every backend takes connections, as in Azure.
                        healthy: host_port.is_some()
                            && (f.probe.is_none() || prev.is_some_and(|p| p.healthy)),
                        failures: prev.map_or(0, |p| p.failures),
                    }
                })
                .collect();
        }
    }

    /// Starts the probes that are due: a TCP SYN from the fabric to each backend's private
    /// address and probe port, through its VNet's switch.
    fn probe(&mut self) {
        let now = Instant::now();
        let nic_of: HashMap<String, (Ipv4Addr, String)> = self
            .guests
            .values()
            .filter(|g| matches!(g.state, GuestState::Running { .. }))
            .flat_map(|g| {
                g.spec
                    .nics
                    .iter()
                    .map(|n| (n.id.clone(), (n.ip, n.vnet.clone())))
            })
            .collect();
        for run in self.frontends.values_mut() {
            let Some(probe) = run.spec.probe.clone() else {
                continue;
            };
            if run.next_probe > now || run.probing.as_ref().is_some_and(|p| !p.is_finished()) {
                continue;
            }
            run.next_probe = now + probe.interval;
            let targets: Vec<(String, Ipv4Addr, Arc<hub::Hub>)> = run
                .spec
                .backends
                .iter()
                .filter_map(|nic| {
                    let (ip, vnet) = nic_of.get(nic)?;
                    Some((nic.clone(), *ip, self.hubs.get(vnet)?.clone()))
                })
                .collect();
            let backends = run.frontend.backends.clone();
            let timeout = probe.interval.min(Duration::from_secs(5));
            run.probing = Some(tokio::spawn(async move {
                for (nic, ip, hub) in targets {
                    let ok = hub.probe_tcp(ip, probe.port, timeout).await;
                    let mut b = backends.lock();
                    if let Some(b) = b.iter_mut().find(|b| b.nic == nic) {
                        let was = b.healthy;
                        lb::record_probe(b, ok && b.host_port.is_some(), probe.threshold);
                        if was != b.healthy {
                            tracing::info!(nic = %nic, healthy = b.healthy, "machines: load balancer probe");
                        }
                    }
                }
            }));
        }
    }

    /// Power states into the store, and the table `/_sim/machines` shows.
    fn publish(&mut self) {
        let mut infos = Vec::new();
        let mut power: Vec<(String, &'static str)> = Vec::new();
        for g in self.guests.values() {
            let (state, message, pid, p) = match &g.state {
                GuestState::Preparing => (
                    "preparing",
                    "reading the image".to_string(),
                    None,
                    "starting",
                ),
                GuestState::Running { pid, .. } => {
                    ("running", String::new(), Some(*pid), "running")
                }
                GuestState::Stopped(m) => ("stopped", m.clone(), None, "stopped"),
                GuestState::Failed(m) => ("failed", m.clone(), None, "stopped"),
                GuestState::NoGuest(m) => ("no-guest", m.clone(), None, "running"),
            };
            power.push((g.spec.vm_id.clone(), p));
            infos.push(MachineInfo {
                vm_id: g.spec.vm_id.clone(),
                vm_uuid: g.spec.vm_uuid.clone(),
                state: state.into(),
                message,
                pid,
                rss_kib: pid.and_then(qemu::rss_kib),
                vcpus: g.vcpus,
                memory_mib: g.memory_mib,
                forwards: g.forwards.clone(),
                serial_log: self.shared.serial_log(&g.spec.vm_uuid),
            });
        }
        infos.sort_by(|a, b| a.vm_id.cmp(&b.vm_id));
        *self.shared.machines.lock() = infos;
        let mut store = self.state.store.lock();
        for (id, p) in power {
            if let Some(r) = store.get_mut(&id) {
                let current = r
                    .body
                    .pointer(&format!("/{GUEST_KEY}/powerState"))
                    .and_then(serde_json::Value::as_str);
                if current != Some(p) {
                    if !r
                        .body
                        .get(GUEST_KEY)
                        .is_some_and(serde_json::Value::is_object)
                    {
                        r.body[GUEST_KEY] = serde_json::json!({});
                    }
                    r.body[GUEST_KEY]["powerState"] = serde_json::Value::String(p.into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::time::Duration;

    #[test]
    fn the_watchdog_kills_the_guests_and_removes_the_files_when_the_owner_dies() {
        let root = std::env::temp_dir().join(format!(
            "armsim-machines-watchdog-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let vm = root.join("vms").join("vm-1");
        std::fs::create_dir_all(&vm).expect("dir");
        // A "guest": a process group whose command line names the directory.
        let mut guest = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("sleep 300; : {}", root.display()))
            .process_group(0)
            .spawn()
            .expect("guest");
        std::fs::write(vm.join("qemu.pid"), guest.id().to_string()).expect("pid file");
        let mut owner = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .expect("owner");
        let mut dog = watchdog(owner.id(), &root).expect("watchdog");
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            guest.try_wait().expect("wait").is_none(),
            "alive while the owner is"
        );
        let _ = owner.kill();
        let _ = owner.wait();
        let mut gone = false;
        for _ in 0..50 {
            if guest.try_wait().expect("wait").is_some() && !root.exists() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = dog.kill();
        let _ = dog.wait();
        let _ = guest.kill();
        let _ = std::fs::remove_dir_all(&root);
        assert!(gone, "the guest was killed and its directory removed");
    }
}
