//! The resource graph of one StorageBinding (pure).
//!
//! ```text
//! resource group ─ storage account ─ container ─ VHD copy ─ image
//!                  (Private: ─ private endpoint ─ DNS zone group ┘ (before the copy)
//!                   private DNS zone ─ VNet link ─┘)
//! ```
//! A generated account is azop's (created, owned, deleted); a custom one (`storageAccount.name`)
//! must exist and is only read. The container is azop's unless it is a custom container in a
//! custom account, which must exist. The private DNS zone and its VNet link are shared by every
//! private endpoint to blob storage in the resource group: created when missing, marked shared,
//! and deleted with the last binding that used them ([`super::shared_dns`]).

use std::collections::BTreeMap;

use azop_api::v1alpha1::storage_binding::{
    HyperVGeneration as ApiGeneration, ImageOsType as ApiOsType, NetworkAccessMode, StorageBinding,
};
use azop_provider::SecretString;
use azop_provider::resources::ArmResource;
use azop_provider::resources::blob_container::{
    BlobContainer, BlobContainerKey, BlobContainerSpec,
};
use azop_provider::resources::compute::image::{
    HyperVGeneration, ImageKey, ImageOsType, ImageSpec,
};
use azop_provider::resources::network::private_endpoint::{
    PrivateDnsZone, PrivateDnsZoneGroupKey, PrivateDnsZoneGroupSpec, PrivateDnsZoneKey,
    PrivateEndpoint, PrivateEndpointKey, PrivateEndpointSpec, VirtualNetworkLinkKey,
};
use azop_provider::resources::storage_account::{
    StorageAccount, StorageAccountKey, StorageAccountSpec, StorageNetworkAccess, StorageSkuName,
};

use super::names::{self, account_resource_group, generated_account};
use super::shared_dns::{SharedLink, SharedZone};
use super::steps::{ImageFromBlob, VhdCopy, ZoneGroup};
use crate::engine::plan::resource_group;
use crate::engine::{Ownership, Planned, ResourceStep};

/// Which condition a step reports under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Account,
    Network,
    Vhd,
    Image,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Account, Part::Network, Part::Vhd, Part::Image];

    pub fn condition_type(self) -> &'static str {
        match self {
            Part::Account => "StorageAccountReady",
            Part::Network => "NetworkAccessReady",
            Part::Vhd => "VhdReady",
            Part::Image => "ImageReady",
        }
    }
}

pub type PlannedStep = Planned<Part, ()>;

/// What the reconcile read from Kubernetes: the SAS for the VHD source.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub sas: Option<SecretString>,
}

pub use crate::engine::plan::KEY_RESOURCE_GROUP;
pub const KEY_ACCOUNT: &str = "account";
pub const KEY_CONTAINER: &str = "container";
pub const KEY_DNS_ZONE: &str = "privateDnsZone";
pub const KEY_VNET_LINK: &str = "privateDnsZone/vnetLink";
pub const KEY_ENDPOINT: &str = "privateEndpoint";
pub const KEY_ZONE_GROUP: &str = "privateEndpoint/zoneGroup";
pub const KEY_VHD: &str = "vhd";
pub const KEY_IMAGE: &str = "image";

/// `…/virtualNetworks/<vnet>` of a subnet id.
pub fn vnet_of_subnet(subnet_id: &str) -> String {
    match subnet_id.to_ascii_lowercase().rfind("/subnets/") {
        Some(i) => subnet_id[..i].to_string(),
        None => subnet_id.to_string(),
    }
}

fn step<S: crate::engine::Step + 'static>(
    key: &str,
    deps: &[&str],
    part: Part,
    s: S,
) -> PlannedStep {
    Planned::new(key, deps, part, s)
}

/// The graph (pure). `resolved` is `None` while deleting. `names` are this pass's (or, while
/// deleting, status's): without an account name nothing was ever created, so only the
/// resource group is planned.
pub fn plan(
    sb: &StorageBinding,
    resolved: Option<&Resolved>,
    n: &BTreeMap<String, String>,
) -> Vec<PlannedStep> {
    let az = &sb.spec.azure;
    let sub = &az.subscription_id;
    let rg = &az.resource_group;
    let loc = &az.location;
    let tags = az.tags.clone();
    let deleting = resolved.is_none();
    let generated = generated_account(sb);
    let mut steps = Vec::new();

    steps.push(resource_group(az, Part::Account));

    let Some(account_name) = n.get(names::STORAGE_ACCOUNT) else {
        return steps;
    };
    let account = StorageAccountKey {
        resource_group: account_resource_group(sb),
        name: account_name.clone(),
    };
    let access = sb.spec.network_access.clone().unwrap_or_default();
    let network = match access.mode {
        NetworkAccessMode::Public => StorageNetworkAccess::Public,
        NetworkAccessMode::VnetRestricted => StorageNetworkAccess::Restricted {
            subnet_ids: access.subnet_ids.clone(),
            ip_rules: Vec::new(),
        },
        NetworkAccessMode::Private => StorageNetworkAccess::Private,
    };
    let mut account_step = step(
        KEY_ACCOUNT,
        if generated {
            &[KEY_RESOURCE_GROUP]
        } else {
            &[]
        },
        Part::Account,
        ResourceStep::<StorageAccount>::new(
            account_name,
            account.clone(),
            StorageAccountSpec {
                location: loc.clone(),
                sku: StorageSkuName::StandardLrs,
                network,
                tags: tags.clone(),
            },
        ),
    );
    if !generated {
        account_step.ownership = Ownership::Existing;
    }
    steps.push(account_step);

    let container_name = n.get(names::CONTAINER).cloned().unwrap_or_default();
    let mut container_step = step(
        KEY_CONTAINER,
        &[KEY_ACCOUNT],
        Part::Account,
        ResourceStep::<BlobContainer>::new(
            &container_name,
            BlobContainerKey {
                resource_group: account.resource_group.clone(),
                account: account_name.clone(),
                name: container_name.clone(),
            },
            BlobContainerSpec::default(),
        ),
    );
    let custom_container = sb.spec.container.as_ref().is_some_and(|c| c.name.is_some());
    if custom_container && !generated {
        container_step.ownership = Ownership::Existing;
    }
    steps.push(container_step);

    let mut before_copy: Vec<&str> = vec![KEY_CONTAINER];
    if access.mode == NetworkAccessMode::Private
        && let (Some(pe_name), Some(zone_name), Some(subnet)) = (
            n.get(names::PRIVATE_ENDPOINT),
            n.get(names::PRIVATE_DNS_ZONE),
            access.private_endpoint_subnet_id.as_ref(),
        )
    {
        let vnet_id = vnet_of_subnet(subnet);
        let vnet_name = vnet_id.rsplit('/').next().unwrap_or_default().to_string();
        let zone = PrivateDnsZoneKey {
            resource_group: rg.clone(),
            name: zone_name.clone(),
        };
        // Shared DNS (see shared_dns): created when missing, marked shared; while deleting,
        // removed only once no endpoint uses it any more.
        let mut zone_step = step(
            KEY_DNS_ZONE,
            &[KEY_RESOURCE_GROUP],
            Part::Network,
            SharedZone::new(zone.clone(), tags.clone(), deleting),
        );
        zone_step.ownership = Ownership::OwnedOrExisting;
        steps.push(zone_step);
        let mut link_step = step(
            KEY_VNET_LINK,
            &[KEY_DNS_ZONE],
            Part::Network,
            SharedLink::new(
                VirtualNetworkLinkKey {
                    resource_group: rg.clone(),
                    zone: zone_name.clone(),
                    name: vnet_name.clone(),
                },
                zone.clone(),
                vnet_id.clone(),
                tags.clone(),
                deleting,
            ),
        );
        link_step.ownership = Ownership::OwnedOrExisting;
        steps.push(link_step);
        let endpoint = PrivateEndpointKey {
            resource_group: rg.clone(),
            name: pe_name.clone(),
        };
        steps.push(step(
            KEY_ENDPOINT,
            &[KEY_ACCOUNT, KEY_RESOURCE_GROUP],
            Part::Network,
            ResourceStep::<PrivateEndpoint>::new(
                pe_name,
                endpoint.clone(),
                PrivateEndpointSpec {
                    location: loc.clone(),
                    subnet_id: subnet.clone(),
                    target_id: StorageAccount::path(sub, &account),
                    group_id: "blob".into(),
                    tags: tags.clone(),
                },
            ),
        ));
        let zone_deps: &[&str] = if deleting {
            &[KEY_ENDPOINT]
        } else {
            &[KEY_ENDPOINT, KEY_VNET_LINK]
        };
        steps.push(step(
            KEY_ZONE_GROUP,
            zone_deps,
            Part::Network,
            ZoneGroup {
                endpoint,
                key: PrivateDnsZoneGroupKey {
                    resource_group: rg.clone(),
                    endpoint: pe_name.clone(),
                    name: "default".into(),
                },
                spec: PrivateDnsZoneGroupSpec {
                    zone_id: PrivateDnsZone::path(sub, &zone),
                },
            },
        ));
        // The copy reaches the account through the endpoint: it waits for its DNS.
        before_copy.push(KEY_ZONE_GROUP);
    }

    let Some(vhd) = &sb.spec.vhd else {
        return steps;
    };
    let blob = n.get(names::BLOB).cloned().unwrap_or_default();
    steps.push(step(
        KEY_VHD,
        &before_copy,
        Part::Vhd,
        VhdCopy {
            account: account.clone(),
            container: container_name.clone(),
            blob: blob.clone(),
            source: url::Url::parse(&vhd.source_url).ok(),
            sas: resolved.and_then(|r| r.sas.clone()),
            deleting,
        },
    ));
    let image_name = n.get(names::IMAGE).cloned().unwrap_or_default();
    steps.push(step(
        KEY_IMAGE,
        &[KEY_VHD],
        Part::Image,
        ImageFromBlob {
            account,
            container: container_name,
            blob,
            key: ImageKey {
                resource_group: rg.clone(),
                name: image_name,
            },
            spec: ImageSpec {
                location: loc.clone(),
                os_type: match vhd.os_type {
                    ApiOsType::Linux => ImageOsType::Linux,
                    ApiOsType::Windows => ImageOsType::Windows,
                },
                blob_uri: String::new(),
                storage_account_type: "Standard_LRS".into(),
                hyper_v_generation: match vhd.hyper_v_generation {
                    ApiGeneration::V1 => HyperVGeneration::V1,
                    ApiGeneration::V2 => HyperVGeneration::V2,
                },
                tags,
            },
        },
    ));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage_binding::testing::binding;

    fn keys(steps: &[PlannedStep]) -> Vec<(&str, Ownership, Vec<&str>)> {
        steps
            .iter()
            .map(|s| {
                (
                    s.key.as_str(),
                    s.ownership,
                    s.deps.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn default_binding_plans_account_container_copy_image() {
        let sb = binding(|_| {});
        let n = names::names_with_account(&sb, Some("azopabc"));
        let steps = plan(&sb, Some(&Resolved::default()), &n);
        assert_eq!(
            keys(&steps),
            vec![
                (KEY_RESOURCE_GROUP, Ownership::Existing, vec![]),
                (KEY_ACCOUNT, Ownership::Owned, vec![KEY_RESOURCE_GROUP]),
                (KEY_CONTAINER, Ownership::Owned, vec![KEY_ACCOUNT]),
                (KEY_VHD, Ownership::Owned, vec![KEY_CONTAINER]),
                (KEY_IMAGE, Ownership::Owned, vec![KEY_VHD]),
            ]
        );
        // Without an account name in status nothing was created: only the group is planned.
        assert_eq!(plan(&sb, None, &BTreeMap::new()).len(), 1);
    }

    #[test]
    fn custom_account_and_container_are_only_read() {
        let sb = binding(|s| {
            s.storage_account = Some(azop_api::v1alpha1::StorageAccountRef {
                name: Some("contoso01".into()),
                resource_group: Some("rg-shared".into()),
            });
            s.container = Some(azop_api::v1alpha1::ContainerRef {
                name: Some("images".into()),
            });
        });
        let n = names::names_with_account(&sb, Some("contoso01"));
        let steps = plan(&sb, Some(&Resolved::default()), &n);
        let k = keys(&steps);
        assert_eq!(k[1], (KEY_ACCOUNT, Ownership::Existing, vec![]));
        assert_eq!(
            k[2],
            (KEY_CONTAINER, Ownership::Existing, vec![KEY_ACCOUNT])
        );
        assert!(steps[1].step.id("s").contains("/resourceGroups/rg-shared/"));
    }

    #[test]
    fn private_access_adds_endpoint_and_dns_and_the_copy_waits_for_them() {
        let sb = binding(|s| {
            s.network_access = Some(azop_api::v1alpha1::NetworkAccess {
                mode: NetworkAccessMode::Private,
                subnet_ids: vec![],
                private_endpoint_subnet_id: Some("/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/pe".into()),
            });
        });
        let n = names::names_with_account(&sb, Some("azopabc"));
        let steps = plan(&sb, Some(&Resolved::default()), &n);
        let k = keys(&steps);
        assert!(k.contains(&(
            KEY_DNS_ZONE,
            Ownership::OwnedOrExisting,
            vec![KEY_RESOURCE_GROUP]
        )));
        assert!(k.contains(&(
            KEY_ENDPOINT,
            Ownership::Owned,
            vec![KEY_ACCOUNT, KEY_RESOURCE_GROUP]
        )));
        assert!(k.contains(&(
            KEY_VHD,
            Ownership::Owned,
            vec![KEY_CONTAINER, KEY_ZONE_GROUP]
        )));
        // The shared DNS zone and link are planned while deleting too: they go with the last
        // binding that uses them, the link before the zone.
        let deleting = plan(&sb, None, &n);
        let k = keys(&deleting);
        assert!(k.contains(&(
            KEY_DNS_ZONE,
            Ownership::OwnedOrExisting,
            vec![KEY_RESOURCE_GROUP]
        )));
        assert!(k.contains(&(
            KEY_VNET_LINK,
            Ownership::OwnedOrExisting,
            vec![KEY_DNS_ZONE]
        )));
        assert!(deleting.iter().any(|s| s.key == KEY_ENDPOINT));
        assert_eq!(
            vnet_of_subnet("/x/virtualNetworks/v/subnets/pe"),
            "/x/virtualNetworks/v"
        );
    }
}
