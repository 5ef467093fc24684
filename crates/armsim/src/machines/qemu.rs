//! A guest's QEMU: its command line (pure) and its process, in a process group of its own
//! (QEMU and the per-connection forwarders it starts go together).

use super::desired::Generation;
use super::seed::mac_string;
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// What a guest is started with.
#[derive(Debug, Clone)]
pub struct Launch {
    pub qemu: PathBuf,
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub generation: Generation,
    /// UEFI firmware (generation 2).
    pub ovmf: PathBuf,
    pub disk: PathBuf,
    pub seed: PathBuf,
    pub serial: PathBuf,
    pub pidfile: PathBuf,
    /// VNet NICs, primary first: MAC, the hub, this NIC's own UDP endpoint.
    pub vnet: Vec<([u8; 6], SocketAddr, SocketAddr)>,
    pub mgmt_mac: [u8; 6],
    /// `(host port on 127.0.0.1, guest port)`.
    pub host_forwards: Vec<(u16, u16)>,
    /// `(address on the management link, port, public frontend)`: the guest's connections
    /// there are handed to the frontend by `socat`.
    pub guest_forwards: Vec<(Ipv4Addr, u16, SocketAddr)>,
    pub socat: PathBuf,
}

/// QEMU's command line. Software emulation (TCG, one thread per vCPU); no display; the
/// serial console appended to a file (boot diagnostics read it); the VNet NICs first (the
/// guest's eth0 is the primary, as on Azure), the management NIC last: user networking with
/// `restrict=on`, so the guest reaches nothing but the frontends forwarded to it.
pub fn args(l: &Launch) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: String| a.push(s.into());
    for s in [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
    ] {
        push(s.into());
    }
    push("-name".into());
    push(l.name.clone());
    push("-smp".into());
    push(l.vcpus.max(1).to_string());
    push("-m".into());
    push(l.memory_mib.to_string());
    if l.generation == Generation::V2 {
        push("-bios".into());
        push(l.ovmf.display().to_string());
    }
    // cache=unsafe: the guest's flushes (etcd syncs every write) are not forced to this
    // machine's disk. A simulated VM's disk dies with the simulator anyway; honouring them
    // made a control plane's API calls take seconds under emulation.
    push("-drive".into());
    push(format!(
        "file={},if=virtio,format=qcow2,discard=unmap,cache=unsafe",
        l.disk.display()
    ));
    push("-drive".into());
    push(format!("file={},media=cdrom,readonly=on", l.seed.display()));
    for (i, (mac, hub, own)) in l.vnet.iter().enumerate() {
        push("-netdev".into());
        push(format!("socket,id=vnet{i},udp={hub},localaddr={own}"));
        push("-device".into());
        push(format!(
            "virtio-net-pci,netdev=vnet{i},mac={}",
            mac_string(mac)
        ));
    }
    let mut user = String::from("user,id=mgmt,restrict=on,net=10.0.2.0/24");
    for (host, guest) in &l.host_forwards {
        user.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
    }
    for (via, port, target) in &l.guest_forwards {
        user.push_str(&format!(
            ",guestfwd=tcp:{via}:{port}-cmd:{} STDIO TCP:{target}",
            l.socat.display()
        ));
    }
    push("-netdev".into());
    push(user);
    push("-device".into());
    push(format!(
        "virtio-net-pci,netdev=mgmt,mac={}",
        mac_string(&l.mgmt_mac)
    ));
    push("-chardev".into());
    push(format!(
        "file,id=serial0,path={},append=on",
        l.serial.display()
    ));
    push("-serial".into());
    push("chardev:serial0".into());
    push("-pidfile".into());
    push(l.pidfile.display().to_string());
    a
}

/// Starts QEMU in its own process group, its output in `log`.
pub fn spawn(l: &Launch, log: &Path) -> Result<tokio::process::Child, String> {
    let out =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot reuse {}: {e}", log.display()))?;
    tokio::process::Command::new(&l.qemu)
        .args(args(l))
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", l.qemu.display()))
}

/// Kills a guest's process group (QEMU and its forwarders) at once.
pub fn kill_group(pgid: u32) {
    if let Ok(p) = i32::try_from(pgid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// A free port on 127.0.0.1 for TCP or UDP (bound, then released: QEMU binds it next; a
/// port taken in between makes QEMU exit, and the guest is started again).
pub fn free_port(udp: bool) -> Result<u16, String> {
    let port = if udp {
        std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    }
    .map_err(|e| format!("no free loopback port: {e}"))?
    .port();
    Ok(port)
}

/// The resident memory of a process, KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(generation: Generation) -> Launch {
        Launch {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            name: "c-cp-0".into(),
            vcpus: 2,
            memory_mib: 2048,
            generation,
            ovmf: "/usr/share/ovmf/OVMF.fd".into(),
            disk: "/m/disks/d.qcow2".into(),
            seed: "/m/vms/u/seed.iso".into(),
            serial: "/m/vms/u/serial.log".into(),
            pidfile: "/m/vms/u/qemu.pid".into(),
            vnet: vec![(
                [0, 0x0d, 0x3a, 1, 2, 3],
                "127.0.0.1:5000"
                    .parse()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5000))),
                SocketAddr::from(([127, 0, 0, 1], 5001)),
            )],
            mgmt_mac: [0x52, 0x54, 0, 0, 0, 1],
            host_forwards: vec![(40022, 22), (46443, 6443)],
            guest_forwards: vec![(
                Ipv4Addr::new(10, 0, 2, 100),
                6443,
                SocketAddr::from(([127, 50, 0, 4], 6443)),
            )],
            socat: "/usr/bin/socat".into(),
        }
    }

    fn joined(l: &Launch) -> String {
        args(l)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_guest_is_emulated_isolated_and_wired_to_its_vnet() {
        let a = joined(&launch(Generation::V1));
        assert!(a.contains("-accel tcg,thread=multi"), "{a}");
        assert!(!a.contains("-bios"), "BIOS boot for V1: {a}");
        assert!(
            a.contains("socket,id=vnet0,udp=127.0.0.1:5000,localaddr=127.0.0.1:5001"),
            "{a}"
        );
        assert!(a.contains("user,id=mgmt,restrict=on"), "{a}");
        assert!(a.contains("hostfwd=tcp:127.0.0.1:46443-:6443"), "{a}");
        assert!(
            a.contains("guestfwd=tcp:10.0.2.100:6443-cmd:/usr/bin/socat STDIO TCP:127.50.0.4:6443"),
            "{a}"
        );
        // The VNet NIC comes first: it is the guest's eth0.
        let vnet = a.find("netdev=vnet0").unwrap_or(usize::MAX);
        let mgmt = a.find("netdev=mgmt").unwrap_or(0);
        assert!(vnet < mgmt, "{a}");
    }

    #[test]
    fn generation_2_boots_uefi() {
        assert!(joined(&launch(Generation::V2)).contains("-bios /usr/share/ovmf/OVMF.fd"));
    }
}
