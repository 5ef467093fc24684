//! What should run, read from the store (pure): one guest per VM that has finished
//! provisioning, and one load-balancer frontend per rule on a public IP.

use crate::store::{OpKind, Store};
use crate::types::Registry;
use crate::types::compute::{DISK, IMAGE, VM};
use crate::types::network::{LOAD_BALANCER, NIC, PUBLIC_IP, SUBNET, as_int, lookup};
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Hyper-V generation of an image: V1 boots through BIOS, V2 through UEFI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    V1,
    V2,
}

/// What a guest boots from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// The VHD behind a managed image (the blob its `osDisk.blobUri` names).
    Vhd {
        blob_uri: String,
        generation: Generation,
    },
    /// Nothing to boot here (a marketplace image: its bytes are Azure's); the VM runs
    /// without a guest, as it does without `--machines`.
    Nothing { why: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNic {
    /// Lower-case NIC id.
    pub id: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The subnet's first address, Azure's default gateway.
    pub gateway: Ipv4Addr,
    /// Lower-case VNet id: one L2 segment per VNet.
    pub vnet: String,
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSpec {
    /// The VM's id as stored.
    pub vm_id: String,
    /// `properties.vmId`: the guest's instance id.
    pub vm_uuid: String,
    pub computer_name: String,
    pub admin_username: String,
    pub ssh_public_keys: Vec<String>,
    pub vm_size: String,
    /// The size's vCPUs (before any cap).
    pub vcpus: u32,
    pub boot: Boot,
    /// Lower-case id of the OS disk resource: its bytes live as long as it does.
    pub os_disk: String,
    pub os_disk_gb: u64,
    /// customData, decoded: the guest's cloud-init user-data.
    pub custom_data: Option<Vec<u8>>,
    /// Primary first.
    pub nics: Vec<GuestNic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub port: u16,
    pub interval: Duration,
    /// Consecutive failures that take a backend out (`probeThreshold`, else `numberOfProbes`).
    pub threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendSpec {
    /// The rule's id, lower case.
    pub key: String,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub backend_port: u16,
    /// Lower-case NIC ids in the rule's backend pool.
    pub backends: Vec<String>,
    pub probe: Option<ProbeSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub guests: Vec<GuestSpec>,
    pub frontends: Vec<FrontendSpec>,
    /// Lower-case ids of every managed disk: a guest's disk file goes with its disk.
    pub disks: BTreeSet<String>,
}

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The vCPUs of an Azure size name: the number after the family letters
/// (`Standard_D2s_v3` → 2, `Standard_B4ms` → 4); 2 when the name does not say.
pub fn vcpus_of(size: &str) -> u32 {
    let tail = size.split_once('_').map(|(_, t)| t).unwrap_or(size);
    let digits: String = tail
        .chars()
        .skip_while(|c| c.is_ascii_alphabetic())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n > 0).unwrap_or(2)
}

/// `00-0D-3A-12-34-56` (Azure's form) or `00:0d:…`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(['-', ':']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

fn subnet_of(store: &Store, subnet_id: &str) -> Option<(u8, Ipv4Addr, String)> {
    let subnet = lookup(store, subnet_id, SUBNET)?;
    let prefix = s(&subnet.body, "/properties/addressPrefix")
        .map(str::to_string)
        .or_else(|| {
            subnet
                .body
                .pointer("/properties/addressPrefixes/0")
                .and_then(Value::as_str)
                .map(str::to_string)
        })?;
    let net: ipnet::Ipv4Net = prefix.parse().ok()?;
    let gateway = Ipv4Addr::from(u32::from(net.network()).wrapping_add(1));
    let vnet = subnet
        .id
        .to_ascii_lowercase()
        .split("/subnets/")
        .next()
        .unwrap_or("")
        .to_string();
    Some((net.prefix_len(), gateway, vnet))
}

fn guest_nic(store: &Store, registry: &Registry, id: &str, primary: bool) -> Option<GuestNic> {
    let nic = lookup(store, id, NIC)?;
    let rendered = crate::state::render(registry, store, nic);
    let mac = parse_mac(s(&rendered, "/properties/macAddress")?)?;
    let configs = rendered
        .pointer("/properties/ipConfigurations")
        .and_then(Value::as_array)?;
    let config = configs
        .iter()
        .find(|c| c.pointer("/properties/primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| configs.first())?;
    let ip: Ipv4Addr = s(config, "/properties/privateIPAddress")?.parse().ok()?;
    let (prefix_len, gateway, vnet) = subnet_of(store, s(config, "/properties/subnet/id")?)?;
    Some(GuestNic {
        id: nic.id.to_ascii_lowercase(),
        mac,
        ip,
        prefix_len,
        gateway,
        vnet,
        primary,
    })
}

fn boot_of(store: &Store, vm: &Value) -> Boot {
    let Some(image_id) = s(vm, "/properties/storageProfile/imageReference/id") else {
        return Boot::Nothing {
            why: "a marketplace image: its bytes are not here".into(),
        };
    };
    let Some(image) = lookup(store, image_id, IMAGE) else {
        return Boot::Nothing {
            why: format!("image {image_id} not found"),
        };
    };
    let Some(blob_uri) = s(&image.body, "/properties/storageProfile/osDisk/blobUri") else {
        return Boot::Nothing {
            why: format!("image {image_id} is not made from a VHD blob"),
        };
    };
    let generation = match s(&image.body, "/properties/hyperVGeneration") {
        Some(g) if g.eq_ignore_ascii_case("V2") => Generation::V2,
        _ => Generation::V1,
    };
    Boot::Vhd {
        blob_uri: blob_uri.to_string(),
        generation,
    }
}

/// The guests and frontends the store asks for. A VM gets a guest once its creation has
/// finished and keeps it through updates; a VM being deleted has none.
pub fn desired(store: &Store, registry: &Registry) -> Desired {
    let mut out = Desired {
        disks: store
            .of_type(DISK)
            .map(|d| d.id.to_ascii_lowercase())
            .collect(),
        ..Desired::default()
    };
    for vm in store.of_type(VM) {
        if vm
            .pending
            .as_ref()
            .is_some_and(|p| matches!(p.kind, OpKind::Create | OpKind::Delete))
        {
            continue;
        }
        let b = &vm.body;
        if s(b, "/properties/provisioningState") == Some("Failed") {
            continue;
        }
        let nic_refs: Vec<(String, bool)> = b
            .pointer("/properties/networkProfile/networkInterfaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let id = n.get("id").and_then(Value::as_str)?.to_string();
                let primary =
                    n.pointer("/properties/primary").and_then(Value::as_bool) == Some(true);
                Some((id, primary))
            })
            .collect();
        let only_one = nic_refs.len() == 1;
        let mut nics: Vec<GuestNic> = nic_refs
            .iter()
            .filter_map(|(id, primary)| guest_nic(store, registry, id, *primary || only_one))
            .collect();
        nics.sort_by_key(|n| !n.primary);
        let custom_data = b
            .pointer("/x-armsim-guest/customData")
            .and_then(Value::as_str)
            .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok());
        let size = s(b, "/properties/hardwareProfile/vmSize")
            .unwrap_or("")
            .to_string();
        out.guests.push(GuestSpec {
            vm_id: vm.id.clone(),
            vm_uuid: s(b, "/properties/vmId").unwrap_or(vm.name()).to_string(),
            computer_name: s(b, "/properties/osProfile/computerName")
                .unwrap_or(vm.name())
                .to_string(),
            admin_username: s(b, "/properties/osProfile/adminUsername")
                .unwrap_or("azureuser")
                .to_string(),
            ssh_public_keys: b
                .pointer("/properties/osProfile/linuxConfiguration/ssh/publicKeys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| k.get("keyData").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
            vcpus: vcpus_of(&size),
            vm_size: size,
            boot: boot_of(store, b),
            os_disk: s(b, "/properties/storageProfile/osDisk/managedDisk/id")
                .unwrap_or("")
                .to_ascii_lowercase(),
            os_disk_gb: b
                .pointer("/properties/storageProfile/osDisk/diskSizeGB")
                .and_then(as_int)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(30),
            custom_data,
            nics,
        });
    }
    for lb in store.of_type(LOAD_BALANCER) {
        if lb
            .pending
            .as_ref()
            .is_some_and(|p| p.kind == OpKind::Delete)
        {
            continue;
        }
        out.frontends.extend(frontends_of(store, registry, lb));
    }
    out
}

fn frontends_of(
    store: &Store,
    registry: &Registry,
    lb: &crate::store::Resource,
) -> Vec<FrontendSpec> {
    let body = crate::state::render(registry, store, lb);
    let items = |coll: &str| -> Vec<Value> {
        body.pointer(&format!("/properties/{coll}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let by_id = |list: &[Value], id: &str| -> Option<Value> {
        list.iter()
            .find(|i| {
                i.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.eq_ignore_ascii_case(id))
            })
            .cloned()
    };
    let (fes, pools, probes) = (
        items("frontendIPConfigurations"),
        items("backendAddressPools"),
        items("probes"),
    );
    let mut out = Vec::new();
    for rule in items("loadBalancingRules") {
        let p = |f: &str| s(&rule, &format!("/properties/{f}/id")).map(str::to_string);
        let Some(fe) = p("frontendIPConfiguration").and_then(|id| by_id(&fes, &id)) else {
            continue;
        };
        let Some(ip) = s(&fe, "/properties/publicIPAddress/id")
            .and_then(|pid| lookup(store, pid, PUBLIC_IP))
            .and_then(|pip| s(&pip.body, "/properties/ipAddress"))
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        let port = |f: &str| {
            rule.pointer(&format!("/properties/{f}"))
                .and_then(as_int)
                .and_then(|n| u16::try_from(n).ok())
        };
        let (Some(port), Some(backend_port)) = (port("frontendPort"), port("backendPort")) else {
            continue;
        };
        let backends = p("backendAddressPool")
            .and_then(|id| by_id(&pools, &id))
            .and_then(|pool| {
                pool.pointer("/properties/backendIPConfigurations")
                    .and_then(Value::as_array)
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.get("id").and_then(Value::as_str))
            .filter_map(|ipc| {
                ipc.to_ascii_lowercase()
                    .split("/ipconfigurations/")
                    .next()
                    .map(str::to_string)
            })
            .collect();
        let probe = p("probe")
            .and_then(|id| by_id(&probes, &id))
            .and_then(|pr| {
                let port = pr
                    .pointer("/properties/port")
                    .and_then(as_int)
                    .and_then(|n| u16::try_from(n).ok())?;
                let interval = pr
                    .pointer("/properties/intervalInSeconds")
                    .and_then(as_int)
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(15)
                    .max(1);
                let threshold = pr
                    .pointer("/properties/probeThreshold")
                    .or_else(|| pr.pointer("/properties/numberOfProbes"))
                    .and_then(as_int)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(1)
                    .max(1);
                Some(ProbeSpec {
                    port,
                    interval: Duration::from_secs(interval),
                    threshold,
                })
            });
        out.push(FrontendSpec {
            key: rule
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase(),
            ip,
            port,
            backend_port,
            backends,
            probe,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpus_come_from_the_size_name() {
        assert_eq!(vcpus_of("Standard_D2s_v3"), 2);
        assert_eq!(vcpus_of("Standard_D4ds_v5"), 4);
        assert_eq!(vcpus_of("Standard_B1ms"), 1);
        assert_eq!(vcpus_of("Standard_E16bds_v5"), 16);
        assert_eq!(vcpus_of("weird"), 2);
    }

    #[test]
    fn macs_parse_in_both_forms() {
        assert_eq!(
            parse_mac("00-0D-3A-12-34-56"),
            Some([0x00, 0x0d, 0x3a, 0x12, 0x34, 0x56])
        );
        assert_eq!(
            parse_mac("00:0d:3a:12:34:56"),
            Some([0x00, 0x0d, 0x3a, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_mac("00-0D-3A-12-34"), None);
    }
}
