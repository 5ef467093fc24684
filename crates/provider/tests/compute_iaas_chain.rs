//! The whole IaaS chain against azop-armsim: NSGs → public IPs → NAT gateway → VNet with
//! subnets → load balancer → NIC in the backend pool → managed image → VM (+ a data disk).
//! Each kind is created with one PUT, a second ensure of every kind writes nothing (the
//! GET right after our PUT shows no drift), and deletion in reverse order leaves nothing.
#![allow(clippy::unwrap_used)]

use azop_armsim::{RequestFilter, RunningSim, SimConfig};
use azop_provider::resources::compute::image::{HyperVGeneration, Image, ImageKey, ImageSpec};
use azop_provider::resources::compute::managed_disk::{
    ManagedDisk, ManagedDiskKey, ManagedDiskSpec,
};
use azop_provider::resources::compute::virtual_machine::{
    ImageSource, OsDiskSpec, VirtualMachine, VirtualMachineKey, VirtualMachineSpec,
};
use azop_provider::resources::network::ids;
use azop_provider::resources::network::load_balancer::{
    API_SERVER_PORT, LoadBalancer, LoadBalancerKey, LoadBalancerSpec, backend_pool_id,
};
use azop_provider::resources::network::nat_gateway::{NatGateway, NatGatewayKey, NatGatewaySpec};
use azop_provider::resources::network::network_interface::{
    NetworkInterface, NetworkInterfaceKey, NetworkInterfaceSpec,
};
use azop_provider::resources::network::network_security_group::{
    NetworkSecurityGroup, NetworkSecurityGroupKey, NetworkSecurityGroupSpec, SecurityRuleSpec,
};
use azop_provider::resources::network::public_ip::{PublicIp, PublicIpKey, PublicIpSpec};
use azop_provider::resources::network::virtual_network::{
    SubnetSpec, VirtualNetwork, VirtualNetworkKey, VirtualNetworkSpec,
};
use azop_provider::resources::resource_group::{
    ResourceGroup, ResourceGroupKey, ResourceGroupSpec,
};
use azop_provider::resources::{self, ArmResource, DeleteOutcome, EnsureOutcome, Owner};
use azop_provider::{ArmSession, LroHandle, PollOutcome};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod common;
use common::{creds, provider};

const SUB: &str = "00000000-0000-0000-0000-0000000000c1";
const RG: &str = "rg-iaas";
const LOC: &str = "westeurope";

fn owner() -> Owner {
    Owner::new("AzureCluster", "team-a", "prod", "uid-iaas")
}

fn tags() -> BTreeMap<String, String> {
    [("env".to_owned(), "test".to_owned())]
        .into_iter()
        .collect()
}

async fn wait(session: &ArmSession, handle: &LroHandle) -> PollOutcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match session.poll_once(handle).await.unwrap() {
            PollOutcome::InProgress { retry_after } => {
                assert!(Instant::now() < deadline, "operation never finished");
                tokio::time::sleep(retry_after.min(Duration::from_millis(100))).await;
            }
            done => return done,
        }
    }
}

/// Ensure and follow the operation to its end; the outcome of the ensure itself.
async fn ensure_done<R: ArmResource>(
    s: &ArmSession,
    key: &R::Key,
    spec: &R::Spec,
) -> EnsureOutcome {
    let out = resources::ensure::<R>(s, key, spec, &owner())
        .await
        .unwrap();
    if let EnsureOutcome::Started { handle, .. } = &out {
        match wait(s, handle).await {
            PollOutcome::Succeeded { .. } => {}
            other => panic!("{} {key:?}: {other:?}", R::RESOURCE_TYPE),
        }
    }
    out
}

async fn delete_done<R: ArmResource>(s: &ArmSession, key: &R::Key) {
    match resources::delete::<R>(s, key, &owner()).await.unwrap() {
        DeleteOutcome::Gone => {}
        DeleteOutcome::Started(handle) => match wait(s, &handle).await {
            PollOutcome::Succeeded { .. } => {}
            other => panic!("delete {} {key:?}: {other:?}", R::RESOURCE_TYPE),
        },
        DeleteOutcome::NotOwned => panic!("{} {key:?} should be ours", R::RESOURCE_TYPE),
    }
    assert!(
        resources::observe::<R>(s, key).await.unwrap().is_none(),
        "{key:?} still there"
    );
}

fn puts(sim: &RunningSim, path: &str) -> usize {
    sim.requests(&RequestFilter {
        method: Some("PUT".into()),
        path: Some(path.into()),
        ..RequestFilter::default()
    })
    .len()
}

fn created(out: &EnsureOutcome) -> bool {
    matches!(
        out,
        EnsureOutcome::Done {
            change: resources::Change::Created
        } | EnsureOutcome::Started {
            change: resources::Change::Created,
            ..
        }
    )
}

struct Chain {
    nsg_cp: (NetworkSecurityGroupKey, NetworkSecurityGroupSpec),
    nsg_workers: (NetworkSecurityGroupKey, NetworkSecurityGroupSpec),
    pip_lb: (PublicIpKey, PublicIpSpec),
    pip_nat: (PublicIpKey, PublicIpSpec),
    nat: (NatGatewayKey, NatGatewaySpec),
    vnet: (VirtualNetworkKey, VirtualNetworkSpec),
    lb: (LoadBalancerKey, LoadBalancerSpec),
    nic: (NetworkInterfaceKey, NetworkInterfaceSpec),
    image: (ImageKey, ImageSpec),
    disk: (ManagedDiskKey, ManagedDiskSpec),
    vm: (VirtualMachineKey, VirtualMachineSpec),
}

fn chain() -> Chain {
    let rg = RG.to_owned();
    let nsg = |name: &str, rules: Vec<SecurityRuleSpec>| {
        (
            NetworkSecurityGroupKey {
                resource_group: rg.clone(),
                name: name.into(),
            },
            NetworkSecurityGroupSpec {
                location: LOC.into(),
                rules,
                tags: tags(),
            },
        )
    };
    let pip = |name: &str| {
        (
            PublicIpKey {
                resource_group: rg.clone(),
                name: name.into(),
            },
            PublicIpSpec {
                location: LOC.into(),
                zones: vec!["1".into(), "2".into(), "3".into()],
                tags: tags(),
            },
        )
    };
    let subnet = |name: &str, prefix: &str, nsg: &str| SubnetSpec {
        name: name.into(),
        address_prefix: prefix.into(),
        network_security_group_id: Some(ids::network_security_group(SUB, RG, nsg)),
        nat_gateway_id: Some(ids::nat_gateway(SUB, RG, "prod-nat")),
        service_endpoints: vec!["Microsoft.Storage".into()],
    };
    let lb_key = LoadBalancerKey {
        resource_group: rg.clone(),
        name: "prod-lb".into(),
    };
    Chain {
        nsg_cp: nsg(
            "prod-cp-nsg",
            vec![
                SecurityRuleSpec::allow_tcp_in("apiserver", 100, "*", "6443"),
                SecurityRuleSpec::allow_tcp_in("ssh-from-vnet", 110, "VirtualNetwork", "22"),
            ],
        ),
        nsg_workers: nsg("prod-workers-nsg", vec![]),
        pip_lb: pip("prod-lb-ip"),
        pip_nat: pip("prod-nat-ip"),
        nat: (
            NatGatewayKey {
                resource_group: rg.clone(),
                name: "prod-nat".into(),
            },
            NatGatewaySpec {
                location: LOC.into(),
                zones: vec![],
                public_ip_ids: vec![ids::public_ip(SUB, RG, "prod-nat-ip")],
                idle_timeout_minutes: Some(10),
                tags: tags(),
            },
        ),
        vnet: (
            VirtualNetworkKey {
                resource_group: rg.clone(),
                name: "prod-vnet".into(),
            },
            VirtualNetworkSpec {
                location: LOC.into(),
                address_prefixes: vec!["10.20.0.0/16".into()],
                subnets: vec![
                    subnet("control-plane", "10.20.0.0/24", "prod-cp-nsg"),
                    subnet("workers", "10.20.1.0/24", "prod-workers-nsg"),
                ],
                tags: tags(),
            },
        ),
        lb: (
            lb_key.clone(),
            LoadBalancerSpec {
                subscription_id: SUB.into(),
                location: LOC.into(),
                frontend: azop_provider::resources::network::load_balancer::Frontend::Public {
                    public_ip_id: ids::public_ip(SUB, RG, "prod-lb-ip"),
                },
                port: API_SERVER_PORT,
                tags: tags(),
            },
        ),
        nic: (
            NetworkInterfaceKey {
                resource_group: rg.clone(),
                name: "prod-cp-0-nic".into(),
            },
            NetworkInterfaceSpec {
                location: LOC.into(),
                subnet_id: ids::subnet(SUB, RG, "prod-vnet", "control-plane"),
                backend_pool_ids: vec![backend_pool_id(SUB, &lb_key)],
                accelerated_networking: false,
                tags: tags(),
            },
        ),
        image: (
            ImageKey {
                resource_group: rg.clone(),
                name: "prod-base".into(),
            },
            ImageSpec {
                location: LOC.into(),
                os_type: azop_provider::resources::compute::image::ImageOsType::Linux,
                blob_uri: "https://azopimages.blob.core.windows.net/images/base.vhd".into(),
                storage_account_type: "Premium_LRS".into(),
                hyper_v_generation: HyperVGeneration::V2,
                tags: tags(),
            },
        ),
        disk: (
            ManagedDiskKey {
                resource_group: rg.clone(),
                name: "prod-data-0".into(),
            },
            ManagedDiskSpec {
                location: LOC.into(),
                size_gb: 32,
                sku: "Premium_LRS".into(),
                zone: Some("1".into()),
                tags: tags(),
            },
        ),
        vm: (
            VirtualMachineKey {
                resource_group: rg.clone(),
                name: "prod-cp-0".into(),
            },
            VirtualMachineSpec {
                location: LOC.into(),
                vm_size: "Standard_D4s_v5".into(),
                zone: Some("1".into()),
                image: ImageSource::Marketplace {
                    publisher: "Canonical".into(),
                    offer: "ubuntu-24_04-lts".into(),
                    sku: "server".into(),
                    version: "latest".into(),
                },
                os_disk: OsDiskSpec {
                    size_gb: 64,
                    storage_account_type: "Premium_LRS".into(),
                },
                admin_username: "azop".into(),
                ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk azop@test".into(),
                custom_data: Some("#cloud-config\nruncmd: [echo hello]\n".into()),
                nic_ids: vec![ids::network_interface(SUB, RG, "prod-cp-0-nic")],
                tags: tags(),
            },
        ),
    }
}

/// Ensure every kind in dependency order; returns whether each one was created.
async fn ensure_all(s: &ArmSession, c: &Chain) -> Vec<(&'static str, EnsureOutcome)> {
    vec![
        (
            "nsg-cp",
            ensure_done::<NetworkSecurityGroup>(s, &c.nsg_cp.0, &c.nsg_cp.1).await,
        ),
        (
            "nsg-workers",
            ensure_done::<NetworkSecurityGroup>(s, &c.nsg_workers.0, &c.nsg_workers.1).await,
        ),
        (
            "pip-lb",
            ensure_done::<PublicIp>(s, &c.pip_lb.0, &c.pip_lb.1).await,
        ),
        (
            "pip-nat",
            ensure_done::<PublicIp>(s, &c.pip_nat.0, &c.pip_nat.1).await,
        ),
        (
            "nat",
            ensure_done::<NatGateway>(s, &c.nat.0, &c.nat.1).await,
        ),
        (
            "vnet",
            ensure_done::<VirtualNetwork>(s, &c.vnet.0, &c.vnet.1).await,
        ),
        ("lb", ensure_done::<LoadBalancer>(s, &c.lb.0, &c.lb.1).await),
        (
            "nic",
            ensure_done::<NetworkInterface>(s, &c.nic.0, &c.nic.1).await,
        ),
        (
            "image",
            ensure_done::<Image>(s, &c.image.0, &c.image.1).await,
        ),
        (
            "disk",
            ensure_done::<ManagedDisk>(s, &c.disk.0, &c.disk.1).await,
        ),
        (
            "vm",
            ensure_done::<VirtualMachine>(s, &c.vm.0, &c.vm.1).await,
        ),
    ]
}

#[tokio::test]
async fn the_iaas_chain_is_created_once_shows_no_drift_and_is_deleted_in_reverse() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let s = provider(&sim).session(&creds(), SUB).unwrap();
    let rg = ResourceGroupKey { name: RG.into() };
    ensure_done::<ResourceGroup>(
        &s,
        &rg,
        &ResourceGroupSpec {
            location: LOC.into(),
            tags: tags(),
        },
    )
    .await;
    let c = chain();

    let first = ensure_all(&s, &c).await;
    for (what, out) in &first {
        assert!(created(out), "{what}: {out:?}");
    }
    // A second pass: every GET right after our PUT matches, so nothing is written.
    let second = ensure_all(&s, &c).await;
    for (what, out) in &second {
        assert_eq!(out, &EnsureOutcome::Unchanged, "{what}");
    }
    for path in [
        "/networkSecurityGroups/prod-cp-nsg",
        "/networkSecurityGroups/prod-workers-nsg",
        "/publicIPAddresses/prod-lb-ip",
        "/publicIPAddresses/prod-nat-ip",
        "/natGateways/prod-nat",
        "/virtualNetworks/prod-vnet",
        "/loadBalancers/prod-lb",
        "/networkInterfaces/prod-cp-0-nic",
        "/images/prod-base",
        "/disks/prod-data-0",
        "/virtualMachines/prod-cp-0",
    ] {
        assert_eq!(puts(&sim, path), 1, "PUTs of {path}");
    }

    // What the controllers read back.
    let pip = resources::observe::<PublicIp>(&s, &c.pip_lb.0)
        .await
        .unwrap()
        .unwrap();
    assert!(pip.ip_address().is_some(), "{pip:?}");
    let nic = resources::observe::<NetworkInterface>(&s, &c.nic.0)
        .await
        .unwrap()
        .unwrap();
    assert!(
        nic.private_ip()
            .is_some_and(|ip| ip.starts_with("10.20.0.")),
        "{nic:?}"
    );
    let vnet = resources::observe::<VirtualNetwork>(&s, &c.vnet.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(vnet.properties.subnets.len(), 2);
    let vm = resources::observe::<VirtualMachine>(&s, &c.vm.0)
        .await
        .unwrap()
        .unwrap();
    assert!(vm.os_disk_id().is_some(), "{vm:?}");

    // Drift made by hand is seen and corrected with one more PUT.
    let mut by_hand = c.nsg_cp.1.clone();
    by_hand.rules.pop();
    ensure_done::<NetworkSecurityGroup>(&s, &c.nsg_cp.0, &by_hand).await;
    match ensure_done::<NetworkSecurityGroup>(&s, &c.nsg_cp.0, &c.nsg_cp.1).await {
        EnsureOutcome::Done {
            change: resources::Change::Updated(d),
        }
        | EnsureOutcome::Started {
            change: resources::Change::Updated(d),
            ..
        } => {
            assert_eq!(
                d[0].field, "properties.securityRules[ssh-from-vnet]",
                "{d:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    let provider_ids = |sim: &RunningSim| -> Vec<String> {
        sim.inventory()
            .iter()
            .filter_map(|r| r.get("id").and_then(|i| i.as_str()).map(str::to_owned))
            .filter(|id| id.to_ascii_lowercase().contains("/providers/"))
            .collect()
    };
    let before = provider_ids(&sim);
    assert!(
        before
            .iter()
            .any(|id| id.ends_with("/disks/prod-cp-0-osdisk")),
        "the VM's implicit OS disk: {before:?}"
    );
    assert!(before.len() >= 12, "{before:?}");

    // Reverse order: VM (takes its OS disk), disk, image, NIC, LB, VNet, NAT, IPs, NSGs.
    delete_done::<VirtualMachine>(&s, &c.vm.0).await;
    delete_done::<ManagedDisk>(&s, &c.disk.0).await;
    delete_done::<Image>(&s, &c.image.0).await;
    delete_done::<NetworkInterface>(&s, &c.nic.0).await;
    delete_done::<LoadBalancer>(&s, &c.lb.0).await;
    delete_done::<VirtualNetwork>(&s, &c.vnet.0).await;
    delete_done::<NatGateway>(&s, &c.nat.0).await;
    delete_done::<PublicIp>(&s, &c.pip_nat.0).await;
    delete_done::<PublicIp>(&s, &c.pip_lb.0).await;
    delete_done::<NetworkSecurityGroup>(&s, &c.nsg_workers.0).await;
    delete_done::<NetworkSecurityGroup>(&s, &c.nsg_cp.0).await;
    let left = provider_ids(&sim);
    assert!(left.is_empty(), "left behind: {left:?}");
    delete_done::<ResourceGroup>(&s, &rg).await;
}
