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
    HyperVGeneration as ApiGeneration, ImageOsType as ApiOsType, NetworkAccess, NetworkAccessMode,
    StorageBinding, VhdSource,
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

impl crate::engine::Part for Part {
    const ALL: &'static [Part] = &[Part::Account, Part::Network, Part::Vhd, Part::Image];

    fn condition_type(self) -> &'static str {
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
    let mut steps = vec![resource_group(&sb.spec.azure, Part::Account)];
    let Some(account_name) = n.get(names::STORAGE_ACCOUNT) else {
        return steps;
    };
    let g = Graph {
        sb,
        names: n,
        deleting: resolved.is_none(),
        account: StorageAccountKey {
            resource_group: account_resource_group(sb),
            name: account_name.clone(),
        },
    };
    steps.extend([g.account(), g.container()]);
    let mut before_copy: Vec<&str> = vec![KEY_CONTAINER];
    let private = g.private_endpoint();
    if !private.is_empty() {
        // The copy reaches the account through the endpoint: it waits for its DNS.
        before_copy.push(KEY_ZONE_GROUP);
    }
    steps.extend(private);
    if let Some(vhd) = &sb.spec.vhd {
        let sas = resolved.and_then(|r| r.sas.clone());
        steps.extend(g.vhd_and_image(vhd, sas, &before_copy));
    }
    steps
}

/// One binding's graph while it is built: what its steps share.
struct Graph<'a> {
    sb: &'a StorageBinding,
    names: &'a BTreeMap<String, String>,
    deleting: bool,
    account: StorageAccountKey,
}

impl Graph<'_> {
    fn name(&self, role: &str) -> String {
        self.names.get(role).cloned().unwrap_or_default()
    }

    fn rg(&self) -> &String {
        &self.sb.spec.azure.resource_group
    }

    fn tags(&self) -> BTreeMap<String, String> {
        self.sb.spec.azure.tags.clone()
    }

    fn access(&self) -> NetworkAccess {
        self.sb.spec.network_access.clone().unwrap_or_default()
    }

    /// The storage account: azop's when generated (after the resource group), else an
    /// existing one, only read.
    fn account(&self) -> PlannedStep {
        let access = self.access();
        let network = match access.mode {
            NetworkAccessMode::Public => StorageNetworkAccess::Public,
            NetworkAccessMode::VnetRestricted => StorageNetworkAccess::Restricted {
                subnet_ids: access.subnet_ids.clone(),
                ip_rules: Vec::new(),
            },
            NetworkAccessMode::Private => StorageNetworkAccess::Private,
        };
        let generated = generated_account(self.sb);
        let deps: &[&str] = if generated {
            &[KEY_RESOURCE_GROUP]
        } else {
            &[]
        };
        let mut account = step(
            KEY_ACCOUNT,
            deps,
            Part::Account,
            ResourceStep::<StorageAccount>::new(
                &self.account.name,
                self.account.clone(),
                StorageAccountSpec {
                    location: self.sb.spec.azure.location.clone(),
                    sku: StorageSkuName::StandardLrs,
                    network,
                    tags: self.tags(),
                },
            ),
        );
        if !generated {
            account.ownership = Ownership::Existing;
        }
        account
    }

    /// The container: azop's, unless it is a custom container in a custom account.
    fn container(&self) -> PlannedStep {
        let name = self.name(names::CONTAINER);
        let mut container = step(
            KEY_CONTAINER,
            &[KEY_ACCOUNT],
            Part::Account,
            ResourceStep::<BlobContainer>::new(
                &name,
                BlobContainerKey {
                    resource_group: self.account.resource_group.clone(),
                    account: self.account.name.clone(),
                    name: name.clone(),
                },
                BlobContainerSpec::default(),
            ),
        );
        let custom = self
            .sb
            .spec
            .container
            .as_ref()
            .is_some_and(|c| c.name.is_some());
        if custom && !generated_account(self.sb) {
            container.ownership = Ownership::Existing;
        }
        container
    }

    /// `Private` access: the private endpoint and its DNS zone group, and the shared private
    /// DNS zone with its VNet link (created when missing, removed by the binding that sees
    /// no endpoint left using them: [`super::shared_dns`]). Empty otherwise.
    fn private_endpoint(&self) -> Vec<PlannedStep> {
        let access = self.access();
        let (Some(pe_name), Some(zone_name), Some(subnet)) = (
            self.names.get(names::PRIVATE_ENDPOINT),
            self.names.get(names::PRIVATE_DNS_ZONE),
            access.private_endpoint_subnet_id.as_ref(),
        ) else {
            return Vec::new();
        };
        if access.mode != NetworkAccessMode::Private {
            return Vec::new();
        }
        let sub = &self.sb.spec.azure.subscription_id;
        let zone = PrivateDnsZoneKey {
            resource_group: self.rg().clone(),
            name: zone_name.clone(),
        };
        let mut steps = self.shared_dns(&zone, subnet);
        let endpoint = PrivateEndpointKey {
            resource_group: self.rg().clone(),
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
                    location: self.sb.spec.azure.location.clone(),
                    subnet_id: subnet.clone(),
                    target_id: StorageAccount::path(sub, &self.account),
                    group_id: "blob".into(),
                    tags: self.tags(),
                },
            ),
        ));
        let zone_deps: &[&str] = if self.deleting {
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
                    resource_group: self.rg().clone(),
                    endpoint: pe_name.clone(),
                    name: "default".into(),
                },
                spec: PrivateDnsZoneGroupSpec {
                    zone_id: PrivateDnsZone::path(sub, &zone),
                },
            },
        ));
        steps
    }

    /// The private DNS zone and its link to the endpoint subnet's VNet: shared by every
    /// private endpoint to blob storage in the resource group, marked shared, never one
    /// binding's ([`super::shared_dns`]).
    fn shared_dns(&self, zone: &PrivateDnsZoneKey, subnet: &str) -> Vec<PlannedStep> {
        let vnet_id = vnet_of_subnet(subnet);
        let vnet_name = vnet_id.rsplit('/').next().unwrap_or_default().to_string();
        let mut zone_step = step(
            KEY_DNS_ZONE,
            &[KEY_RESOURCE_GROUP],
            Part::Network,
            SharedZone::new(zone.clone(), self.tags(), self.deleting),
        );
        zone_step.ownership = Ownership::OwnedOrExisting;
        let mut link_step = step(
            KEY_VNET_LINK,
            &[KEY_DNS_ZONE],
            Part::Network,
            SharedLink::new(
                VirtualNetworkLinkKey {
                    resource_group: self.rg().clone(),
                    zone: zone.name.clone(),
                    name: vnet_name,
                },
                zone.clone(),
                vnet_id,
                self.tags(),
                self.deleting,
            ),
        );
        link_step.ownership = Ownership::OwnedOrExisting;
        vec![zone_step, link_step]
    }

    /// The VHD copy (after `before_copy`), then the image made from its blob.
    fn vhd_and_image(
        &self,
        vhd: &VhdSource,
        sas: Option<SecretString>,
        before_copy: &[&str],
    ) -> [PlannedStep; 2] {
        let container = self.name(names::CONTAINER);
        let blob = self.name(names::BLOB);
        let copy = step(
            KEY_VHD,
            before_copy,
            Part::Vhd,
            VhdCopy {
                account: self.account.clone(),
                container: container.clone(),
                blob: blob.clone(),
                source: url::Url::parse(&vhd.source_url).ok(),
                sas,
                deleting: self.deleting,
            },
        );
        let image = step(
            KEY_IMAGE,
            &[KEY_VHD],
            Part::Image,
            ImageFromBlob {
                account: self.account.clone(),
                container,
                blob,
                key: ImageKey {
                    resource_group: self.rg().clone(),
                    name: self.name(names::IMAGE),
                },
                spec: ImageSpec {
                    location: self.sb.spec.azure.location.clone(),
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
                    tags: self.tags(),
                },
            },
        );
        [copy, image]
    }
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
