//! A guest's NoCloud seed: the ISO (volume label `cidata`) cloud-init reads its instance's
//! data from. Azure hands a VM the same things through its own datasource (the OVF
//! environment, IMDS): the instance id and host name, the admin user and SSH keys, the
//! network (DHCP from the fabric), and `customData` as user-data. The rendering is pure; only
//! [`write_iso`] does I/O.

use super::desired::{GuestNic, GuestSpec};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

/// The guest's side of the management link (QEMU user networking): only the loopback ports
/// QEMU forwards reach it, and it reaches only the public frontends forwarded to it.
pub const MGMT_GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The first address on the management link behind which a public frontend is reached
/// (`.100`, `.101`, … one per frontend).
pub const MGMT_FRONTEND_BASE: u8 = 100;
/// Azure's DNS (and wire server) address, as its DHCP hands it out.
pub const AZURE_DNS: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// A public frontend as a guest reaches it: `ip:port` is rewritten to `via:port` on the
/// management link, where QEMU hands the connection to the frontend on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRoute {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub via: Ipv4Addr,
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn meta_data(g: &GuestSpec) -> String {
    format!(
        "instance-id: {}\nlocal-hostname: {}\n",
        g.vm_uuid, g.computer_name
    )
}

/// netplan v2 (cloud-init's network-config): each VNet NIC with its private address, the
/// primary with the subnet's gateway as default route and Azure's DNS, as Azure's DHCP
/// gives them; the management NIC with its fixed address and no route.
pub fn network_config(g: &GuestSpec, mgmt_mac: &[u8; 6]) -> String {
    let mut out = String::from("version: 2\nethernets:\n");
    for (i, n) in g.nics.iter().enumerate() {
        nic_config(&mut out, i, n);
    }
    let _ = write!(
        out,
        "  mgmt:\n    match: {{macaddress: \"{}\"}}\n    addresses: [{MGMT_GUEST_IP}/24]\n",
        mac_string(mgmt_mac)
    );
    out
}

fn nic_config(out: &mut String, i: usize, n: &GuestNic) {
    let _ = write!(
        out,
        "  nic{i}:\n    match: {{macaddress: \"{}\"}}\n    addresses: [{}/{}]\n",
        mac_string(&n.mac),
        n.ip,
        n.prefix_len
    );
    if n.primary {
        let _ = write!(
            out,
            "    routes: [{{to: 0.0.0.0/0, via: {}}}]\n    nameservers: {{addresses: [{AZURE_DNS}]}}\n",
            n.gateway
        );
    }
}

/// The user-data: customData as given (Azure hands it to cloud-init unchanged), or an empty
/// cloud-config.
pub fn user_data(g: &GuestSpec) -> Vec<u8> {
    g.custom_data
        .clone()
        .unwrap_or_else(|| b"#cloud-config\n{}\n".to_vec())
}

/// vendor-data, what the cloud adds under the user's data (MIME multipart):
/// - the admin user with its SSH keys and sudo, as Azure's provisioning creates it;
/// - the simulated Internet: `iptables` rules that send connections to each public frontend
///   through the management link. A public IP on loopback (armsim's pool) is a local address
///   inside the guest too, so it is rewritten (DNAT) to an address on that link, with
///   `route_localnet` so a packet from 127.0.0.1 may leave, and masquerade for its source.
pub fn vendor_data(g: &GuestSpec, routes: &[GuestRoute]) -> String {
    const BOUNDARY: &str = "==azop-armsim-vendor-data==";
    // Only the admin user, as Azure's provisioning makes (no distribution default user).
    let mut cfg = String::from("#cloud-config\nusers:\n");
    let _ = write!(
        cfg,
        "  - name: {}\n    groups: [sudo]\n    shell: /bin/bash\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n",
        g.admin_username
    );
    if !g.ssh_public_keys.is_empty() {
        cfg.push_str("    ssh_authorized_keys:\n");
        for k in &g.ssh_public_keys {
            let _ = writeln!(
                cfg,
                "      - {}",
                serde_json::Value::String(k.trim().into())
            );
        }
    }
    let mut script = String::from(
        "#!/bin/sh\n# azop-armsim: public frontends through the management link (see seed.rs).\nset -e\nsysctl -q -w net.ipv4.conf.all.route_localnet=1\n",
    );
    for r in routes {
        let _ = writeln!(
            script,
            "iptables -t nat -A OUTPUT -p tcp -d {ip} --dport {port} -j DNAT --to-destination {via}:{port}\niptables -t nat -A POSTROUTING -p tcp -d {via} --dport {port} -j MASQUERADE",
            ip = r.ip,
            port = r.port,
            via = r.via
        );
    }
    format!(
        "Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\nMIME-Version: 1.0\n\n--{BOUNDARY}\nContent-Type: text/cloud-config; charset=\"us-ascii\"\n\n{cfg}\n--{BOUNDARY}\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n{script}\n--{BOUNDARY}--\n"
    )
}

/// Writes the four files and packs them into `iso` with genisoimage.
pub async fn write_iso(
    genisoimage: &Path,
    dir: &Path,
    iso: &Path,
    files: &[(&str, Vec<u8>)],
) -> Result<(), String> {
    let src = dir.join("seed");
    tokio::fs::create_dir_all(&src)
        .await
        .map_err(|e| format!("cannot create {}: {e}", src.display()))?;
    let mut args: Vec<std::ffi::OsString> = vec![
        "-quiet".into(),
        "-output".into(),
        iso.into(),
        "-volid".into(),
        "cidata".into(),
        "-joliet".into(),
        "-rock".into(),
    ];
    for (name, data) in files {
        let p = src.join(name);
        tokio::fs::write(&p, data)
            .await
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        args.push(p.into());
    }
    let out = tokio::process::Command::new(genisoimage)
        .args(&args)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", genisoimage.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            genisoimage.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machines::desired::Boot;

    fn guest() -> GuestSpec {
        GuestSpec {
            vm_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/c-cp-0".into(),
            vm_uuid: "1b4e28ba-2fa1-11d2-883f-0016d3cca427".into(),
            computer_name: "c-cp-0".into(),
            admin_username: "azureuser".into(),
            ssh_public_keys: vec!["ssh-ed25519 AAAAC3Nz test@x".into()],
            vm_size: "Standard_D2s_v3".into(),
            vcpus: 2,
            boot: Boot::Nothing { why: "test".into() },
            os_disk: "d".into(),
            os_disk_gb: 30,
            custom_data: Some(b"#cloud-config\nruncmd: [[true]]\n".to_vec()),
            nics: vec![GuestNic {
                id: "n".into(),
                mac: [0, 0x0d, 0x3a, 1, 2, 3],
                ip: Ipv4Addr::new(10, 0, 0, 4),
                prefix_len: 24,
                gateway: Ipv4Addr::new(10, 0, 0, 1),
                vnet: "v".into(),
                primary: true,
            }],
        }
    }

    #[test]
    fn the_primary_nic_gets_the_route_and_dns_the_management_nic_none() {
        let n = network_config(&guest(), &[0x52, 0x54, 0, 0, 0, 1]);
        assert!(n.contains("macaddress: \"00:0d:3a:01:02:03\""), "{n}");
        assert!(n.contains("addresses: [10.0.0.4/24]"), "{n}");
        assert!(
            n.contains("routes: [{to: 0.0.0.0/0, via: 10.0.0.1}]"),
            "{n}"
        );
        assert!(
            n.contains("nameservers: {addresses: [168.63.129.16]}"),
            "{n}"
        );
        let mgmt = n.split("mgmt:").nth(1).unwrap_or_default();
        assert!(
            mgmt.contains("10.0.2.15/24") && !mgmt.contains("routes"),
            "{n}"
        );
    }

    #[test]
    fn vendor_data_makes_the_admin_and_the_frontend_rules() {
        let v = vendor_data(
            &guest(),
            &[GuestRoute {
                ip: Ipv4Addr::new(127, 50, 0, 4),
                port: 6443,
                via: Ipv4Addr::new(10, 0, 2, 100),
            }],
        );
        assert!(v.contains("name: azureuser"), "{v}");
        assert!(v.contains("\"ssh-ed25519 AAAAC3Nz test@x\""), "{v}");
        assert!(
            v.contains("-d 127.50.0.4 --dport 6443 -j DNAT --to-destination 10.0.2.100:6443"),
            "{v}"
        );
        assert!(v.contains("route_localnet=1"), "{v}");
    }

    #[test]
    fn user_data_is_custom_data_unchanged() {
        assert_eq!(user_data(&guest()), b"#cloud-config\nruncmd: [[true]]\n");
        let mut g = guest();
        g.custom_data = None;
        assert!(String::from_utf8_lossy(&user_data(&g)).starts_with("#cloud-config"));
    }
}
