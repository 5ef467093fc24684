//! Deterministic names and the well-known keys azop writes: finalizers, ownership tags, the
//! proxy-injection label.

use sha2::{Digest, Sha256};

/// Finalizer of AzureCluster objects.
pub const AZURE_CLUSTER_FINALIZER: &str = "azop.dev/azurecluster-cleanup";
/// Finalizer of AksCluster objects.
pub const AKS_CLUSTER_FINALIZER: &str = "azop.dev/akscluster-cleanup";
/// Finalizer of StorageBinding objects.
pub const STORAGE_BINDING_FINALIZER: &str = "azop.dev/storagebinding-cleanup";
/// Finalizer of ProxyConfig objects.
pub const PROXY_CONFIG_FINALIZER: &str = "azop.dev/proxyconfig-cleanup";

// Azure refuses `/` in tag names (InvalidTagNameCharacters, with < > % & \ ?), so the
// ownership tags spell the Kubernetes-style prefix with `_`, as Cluster API Provider Azure's
// `sigs.k8s.io_cluster-api-provider-azure_…` tags do; private DNS zones accept these too.

/// Tag on every Azure resource azop creates: `<kind>/<namespace>/<name>` of the owner.
pub const TAG_OWNER: &str = "azop.dev_owner";
/// Tag on every Azure resource azop creates: the owner's uid. azop deletes only resources
/// carrying its own uid.
pub const TAG_UID: &str = "azop.dev_uid";
/// Tag on a resource several objects use and none owns (a private DNS zone shared by the
/// StorageBindings of one VNet): it outlives each of them.
pub const TAG_SHARED: &str = "azop.dev_shared";
/// The prefix of every tag name azop writes ([`TAG_OWNER`], [`TAG_UID`], [`TAG_SHARED`]):
/// reserved in users' `spec.tags`, so no user tag can forge or clear azop's marks, today's or a
/// later version's.
pub const OWN_TAG_PREFIX: &str = "azop.dev_";

/// Label key that opts a pod into proxy injection.
pub const PROXY_INJECTION_LABEL_KEY: &str = "spectrocloud.com/connection";
/// Label value that opts a pod into proxy injection.
pub const PROXY_INJECTION_LABEL_VALUE: &str = "proxy";

/// Value of the [`TAG_OWNER`] tag.
pub fn owner_tag_value(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

/// The storage account name azop generates for a StorageBinding without
/// `storageAccount.name`: `azop` followed by the first 20 hex digits of SHA-256 of the
/// object's uid — 24 lowercase letters and digits, Azure's maximum.
///
/// Deterministic, so every reconcile (and a restarted operator) arrives at the same name
/// before the first PUT; from the uid, not the name, so a deleted and re-created binding of the
/// same name does not collide with an account still being deleted. 80 bits of hash make a
/// clash with another tenant's account (names are global) negligible.
pub fn storage_account_name(uid: &str) -> String {
    storage_account_candidate(uid, 0)
}

/// The `attempt`-th candidate name for a StorageBinding's account: the first is
/// [`storage_account_name`]; each next one hashes `<uid>/<attempt>` instead, so a name
/// that turns out to be taken (names are global across Azure) moves to the next
/// candidate, the same one on every reconcile and after a restart.
pub fn storage_account_candidate(uid: &str, attempt: u32) -> String {
    let digest = if attempt == 0 {
        Sha256::digest(uid.as_bytes())
    } else {
        Sha256::digest(format!("{uid}/{attempt}").as_bytes())
    };
    let mut name = String::with_capacity(24);
    name.push_str("azop");
    for byte in digest.iter().take(10) {
        name.push_str(&format!("{byte:02x}"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::patterns;

    #[test]
    fn storage_account_name_is_valid_stable_and_distinct() {
        let re = regex::Regex::new(patterns::STORAGE_ACCOUNT_NAME).expect("pattern compiles");
        let a = storage_account_name("3f1c2a4e-8b7d-4c1e-9a2b-1234567890ab");
        assert_eq!(a.len(), 24);
        assert!(re.is_match(&a), "{a}");
        assert_eq!(
            a,
            storage_account_name("3f1c2a4e-8b7d-4c1e-9a2b-1234567890ab")
        );
        assert_ne!(
            a,
            storage_account_name("3f1c2a4e-8b7d-4c1e-9a2b-1234567890ac")
        );
        // Pinned: changing the scheme would orphan every existing account.
        assert_eq!(
            storage_account_name("uid-1"),
            format!("azop{}", &sha_hex("uid-1")[..20])
        );
    }

    #[test]
    fn candidates_are_valid_distinct_and_pinned() {
        let re = regex::Regex::new(patterns::STORAGE_ACCOUNT_NAME).expect("pattern compiles");
        let uid = "3f1c2a4e-8b7d-4c1e-9a2b-1234567890ab";
        let names: Vec<String> = (0..5).map(|i| storage_account_candidate(uid, i)).collect();
        assert_eq!(names[0], storage_account_name(uid));
        for n in &names {
            assert!(re.is_match(n), "{n}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert_eq!(
            storage_account_candidate("uid-1", 2),
            format!("azop{}", &sha_hex("uid-1/2")[..20])
        );
    }

    fn sha_hex(s: &str) -> String {
        Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn owner_tag() {
        assert_eq!(
            owner_tag_value("AzureCluster", "team-a", "prod"),
            "AzureCluster/team-a/prod"
        );
    }
}
