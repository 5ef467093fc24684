//! StorageBinding rules.

use kube::ResourceExt;

use super::rules;
use super::{Errors, Validate, ValidationErrors, messages as msg, patterns};

/// The longest StorageBinding name: its image is `<binding>-image`, and Azure allows 80
/// characters for an image name.
pub const MAX_STORAGE_BINDING_NAME: usize = 74;
use crate::v1alpha1::{NetworkAccessMode, StorageBinding};

impl Validate for StorageBinding {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = Errors::default();
        let spec = &self.spec;
        let name = self.name_any();
        if name.chars().count() > MAX_STORAGE_BINDING_NAME {
            errs.push(
                "metadata.name",
                format!(
                    "{} has {} characters: {}",
                    rules::show(&name),
                    name.chars().count(),
                    msg::STORAGE_BINDING_NAME_LENGTH
                ),
            );
        }
        rules::scope(&mut errs, &spec.azure);
        // The tags go on the account azop creates (none when an existing one is attached).
        if spec
            .storage_account
            .as_ref()
            .and_then(|a| a.name.as_ref())
            .is_none()
        {
            rules::storage_account_tags(&mut errs, "spec.tags", &spec.azure.tags);
        }
        // ... and on the private DNS zone and its VNet link.
        if spec
            .network_access
            .as_ref()
            .is_some_and(|a| a.mode == NetworkAccessMode::Private)
        {
            rules::dns_zone_tags(&mut errs, "spec.tags", &spec.azure.tags);
        }
        if let Some(account) = &spec.storage_account {
            rules::opt_string(
                &mut errs,
                "spec.storageAccount.name",
                account.name.as_ref(),
                patterns::STORAGE_ACCOUNT_NAME,
                (3, 24),
                msg::STORAGE_ACCOUNT_NAME,
            );
            rules::opt_string(
                &mut errs,
                "spec.storageAccount.resourceGroup",
                account.resource_group.as_ref(),
                patterns::RESOURCE_GROUP,
                (1, 90),
                msg::RESOURCE_GROUP,
            );
        }
        if let Some(container) = &spec.container {
            rules::opt_string(
                &mut errs,
                "spec.container.name",
                container.name.as_ref(),
                patterns::CONTAINER_NAME,
                (3, 63),
                msg::CONTAINER_NAME,
            );
        }
        if let Some(access) = &spec.network_access {
            if spec
                .storage_account
                .as_ref()
                .is_some_and(|a| a.name.is_some())
            {
                errs.push("spec.networkAccess", msg::NETWORK_ACCESS_EXISTING_ACCOUNT);
            }
            rules::string_set(
                &mut errs,
                "spec.networkAccess.subnetIds",
                &access.subnet_ids,
                patterns::SUBNET_ID,
                100,
                msg::SUBNET_ID,
                msg::SUBNET_ID,
            );
            rules::opt_string(
                &mut errs,
                "spec.networkAccess.privateEndpointSubnetId",
                access.private_endpoint_subnet_id.as_ref(),
                patterns::SUBNET_ID,
                (1, 1024),
                msg::SUBNET_ID,
            );
            if access.mode == NetworkAccessMode::VnetRestricted && access.subnet_ids.is_empty() {
                errs.push(
                    "spec.networkAccess.subnetIds",
                    msg::RESTRICTED_NEEDS_SUBNETS,
                );
            }
            if access.mode == NetworkAccessMode::Private
                && access.private_endpoint_subnet_id.is_none()
            {
                errs.push(
                    "spec.networkAccess.privateEndpointSubnetId",
                    msg::PRIVATE_NEEDS_ENDPOINT_SUBNET,
                );
            }
            let stray_subnets =
                !access.subnet_ids.is_empty() && access.mode != NetworkAccessMode::VnetRestricted;
            let stray_endpoint = access.private_endpoint_subnet_id.is_some()
                && access.mode != NetworkAccessMode::Private;
            if stray_subnets || stray_endpoint {
                errs.push("spec.networkAccess", msg::NETWORK_ACCESS_FIELDS);
            }
        }
        if let Some(vhd) = &spec.vhd {
            let field = "spec.vhd.sourceUrl";
            rules::string(
                &mut errs,
                field,
                &vhd.source_url,
                patterns::HTTP_URL,
                (1, 4096),
                msg::VHD_SOURCE_URL,
            );
            if rules::matches(patterns::HTTP_URL, &vhd.source_url) {
                let host = url::Url::parse(&vhd.source_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string));
                if host.is_none_or(|h| h.is_empty()) {
                    errs.push(
                        field,
                        format!(
                            "{} has no host: {}",
                            rules::show(&vhd.source_url),
                            msg::VHD_SOURCE_URL
                        ),
                    );
                }
            }
            if let Some(r) = &vhd.source_sas_secret_ref {
                rules::object_name(&mut errs, "spec.vhd.sourceSasSecretRef.name", &r.name);
                rules::string(
                    &mut errs,
                    "spec.vhd.sourceSasSecretRef.key",
                    &r.key,
                    patterns::DATA_KEY,
                    (1, 253),
                    msg::DATA_KEY,
                );
            }
            rules::opt_string(
                &mut errs,
                "spec.vhd.blobName",
                vhd.blob_name.as_ref(),
                patterns::VHD_BLOB_NAME,
                (5, 1024),
                msg::VHD_BLOB_NAME,
            );
        }
        errs.finish()
    }

    fn validate_update(old: &Self, new: &Self) -> Result<(), ValidationErrors> {
        let mut errs = Errors::default();
        errs.extend(new.validate());
        rules::scope_update(&mut errs, &old.spec.azure, &new.spec.azure);
        if old.spec.storage_account != new.spec.storage_account {
            errs.push("spec.storageAccount", msg::STORAGE_ACCOUNT_IMMUTABLE);
        }
        if old.spec.container != new.spec.container {
            errs.push("spec.container", msg::CONTAINER_IMMUTABLE);
        }
        if old.spec.vhd.is_some() && old.spec.vhd != new.spec.vhd {
            errs.push("spec.vhd", msg::VHD_IMMUTABLE);
        }
        let private = |sb: &StorageBinding| {
            sb.spec
                .network_access
                .as_ref()
                .is_some_and(|a| a.mode == NetworkAccessMode::Private)
        };
        if private(old) != private(new) {
            errs.push("spec.networkAccess", msg::PRIVATE_ACCESS_IMMUTABLE);
        }
        errs.finish()
    }
}
