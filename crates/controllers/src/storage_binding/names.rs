//! The StorageBinding's Azure names (status.azureNames), and the choice of a generated
//! storage account name, which must be unique across all of Azure.
//!
//! The generated name is deterministic from the uid ([`naming::storage_account_candidate`]);
//! `checkNameAvailability` is asked first, and a taken name moves to the next candidate, the
//! same on every reconcile. The chosen name is written to status before the first PUT and
//! kept from then on: a name once recorded is never chosen again.

use std::collections::BTreeMap;

use azop_api::naming;
use azop_api::v1alpha1::storage_binding::{
    DEFAULT_CONTAINER_NAME, DEFAULT_VHD_BLOB_NAME, NetworkAccessMode, StorageBinding,
};
use azop_provider::resources::network::private_endpoint::BLOB_PRIVATE_DNS_ZONE;
use azop_provider::resources::storage_account::{self, StorageAccount, StorageAccountKey};
use azop_provider::resources::{ArmResource, UID_TAG};
use azop_provider::{ArmSession, AzureError};
use kube::ResourceExt;

use crate::error::Error;

pub const STORAGE_ACCOUNT: &str = "storageAccount";
pub const CONTAINER: &str = "container";
pub const BLOB: &str = "blob";
pub const IMAGE: &str = "image";
pub const PRIVATE_ENDPOINT: &str = "privateEndpoint";
pub const PRIVATE_DNS_ZONE: &str = "privateDnsZone";

/// How many candidates are tried before giving up (each one taken by someone else).
pub const MAX_CANDIDATES: u32 = 8;

/// The account's resource group: the custom account's, else the binding's.
pub fn account_resource_group(sb: &StorageBinding) -> String {
    sb.spec
        .storage_account
        .as_ref()
        .and_then(|a| a.resource_group.clone())
        .unwrap_or_else(|| sb.spec.azure.resource_group.clone())
}

/// Whether azop creates the account (no `storageAccount.name`).
pub fn generated_account(sb: &StorageBinding) -> bool {
    sb.spec
        .storage_account
        .as_ref()
        .and_then(|a| a.name.as_ref())
        .is_none()
}

pub fn private(sb: &StorageBinding) -> bool {
    sb.spec
        .network_access
        .as_ref()
        .is_some_and(|a| a.mode == NetworkAccessMode::Private)
}

/// The account names the binding's uid yields, in the order they are tried (pure): a binding
/// that does not exist yet has none of them for sure (`azop plan` marks them).
pub fn uid_candidates(sb: &StorageBinding) -> Vec<String> {
    let uid = sb.uid().unwrap_or_default();
    (0..MAX_CANDIDATES)
        .map(|n| naming::storage_account_candidate(&uid, n))
        .collect()
}

/// Every name but the account's (pure): container, blob, image, private endpoint.
pub fn names_with_account(sb: &StorageBinding, account: Option<&str>) -> BTreeMap<String, String> {
    let mut n = BTreeMap::new();
    if let Some(a) = account {
        n.insert(STORAGE_ACCOUNT.to_string(), a.to_string());
        if private(sb) {
            n.insert(PRIVATE_ENDPOINT.to_string(), format!("{a}-blob-pe"));
            n.insert(
                PRIVATE_DNS_ZONE.to_string(),
                BLOB_PRIVATE_DNS_ZONE.to_string(),
            );
        }
    }
    n.insert(
        CONTAINER.to_string(),
        sb.spec
            .container
            .as_ref()
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| DEFAULT_CONTAINER_NAME.to_string()),
    );
    if let Some(vhd) = &sb.spec.vhd {
        n.insert(
            BLOB.to_string(),
            vhd.blob_name
                .clone()
                .unwrap_or_else(|| DEFAULT_VHD_BLOB_NAME.to_string()),
        );
        n.insert(IMAGE.to_string(), format!("{}-image", sb.name_any()));
    }
    n
}

/// What one candidate name turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// Free: take it.
    Available,
    /// Taken, by an account of ours (a PUT that went out before status recorded the name
    /// cannot happen, but an account carrying our uid is ours whatever the history).
    Ours,
    /// Taken by someone else: move on.
    Taken,
}

/// The first usable candidate, given what Azure said about each one in turn (pure).
pub fn pick(uid: &str, answers: &[Candidate]) -> Option<String> {
    answers
        .iter()
        .position(|a| *a != Candidate::Taken)
        .map(|i| naming::storage_account_candidate(uid, i as u32))
}

async fn judge(
    session: &ArmSession,
    rg: &str,
    name: &str,
    uid: &str,
) -> Result<Candidate, AzureError> {
    let a = storage_account::check_name_availability(session, name).await?;
    if a.name_available {
        return Ok(Candidate::Available);
    }
    if a.reason.as_deref() == Some("AccountNameInvalid") {
        return Err(AzureError::InvalidSpec {
            status: 400,
            code: "AccountNameInvalid".into(),
            message: a.message.unwrap_or_default(),
        });
    }
    let key = StorageAccountKey {
        resource_group: rg.to_string(),
        name: name.to_string(),
    };
    let path = StorageAccount::path(session.subscription_id(), &key);
    let mine = session
        .get(&path, StorageAccount::API_VERSION)
        .await?
        .and_then(|r| r.json())
        .and_then(|v| v.pointer("/tags").cloned())
        .and_then(|t| {
            t.as_object()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(UID_TAG))
                .and_then(|(_, v)| v.as_str().map(str::to_string))
        })
        .is_some_and(|u| u == uid);
    Ok(if mine {
        Candidate::Ours
    } else {
        Candidate::Taken
    })
}

/// The names of this pass: the recorded account name when status has one, else the first
/// candidate Azure says is free (or ours).
pub async fn choose(
    session: &ArmSession,
    sb: &StorageBinding,
    recorded: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    if !generated_account(sb) {
        let name = sb
            .spec
            .storage_account
            .as_ref()
            .and_then(|a| a.name.clone());
        return Ok(names_with_account(sb, name.as_deref()));
    }
    if let Some(name) = recorded.get(STORAGE_ACCOUNT) {
        return Ok(names_with_account(sb, Some(name)));
    }
    let uid = sb.uid().unwrap_or_default();
    let rg = account_resource_group(sb);
    let mut answers = Vec::new();
    for attempt in 0..MAX_CANDIDATES {
        let name = naming::storage_account_candidate(&uid, attempt);
        let answer = judge(session, &rg, &name, &uid).await.map_err(|e| {
            Error::azure(format!("check that storage account name {name} is free"), e)
        })?;
        let done = answer != Candidate::Taken;
        answers.push(answer);
        if done {
            break;
        }
        tracing::info!(
            name,
            "storage account name taken; trying the next candidate"
        );
    }
    match pick(&uid, &answers) {
        Some(name) => Ok(names_with_account(sb, Some(&name))),
        None => Err(Error::NotOwned {
            message: format!(
                "the first {MAX_CANDIDATES} storage account names azop derives from this binding's uid are all taken elsewhere in Azure; set spec.storageAccount.name to an existing account, or re-create the binding (a new uid gives new names)"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_moves_to_the_next_candidate() {
        let uid = "u-1";
        assert_eq!(
            pick(uid, &[Candidate::Available]),
            Some(naming::storage_account_name(uid))
        );
        assert_eq!(
            pick(
                uid,
                &[Candidate::Taken, Candidate::Taken, Candidate::Available]
            ),
            Some(naming::storage_account_candidate(uid, 2))
        );
        assert_eq!(
            pick(uid, &[Candidate::Taken, Candidate::Ours]),
            Some(naming::storage_account_candidate(uid, 1))
        );
        assert_eq!(pick(uid, &[Candidate::Taken; 8]), None);
    }
}
