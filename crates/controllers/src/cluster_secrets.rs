//! The Secrets azop writes for a cluster (AksCluster kubeconfigs; an AzureCluster's PKI,
//! kubeconfig and join token), in Cluster API's conventions: its Secret type, its cluster-name
//! label, and an owner reference to the cluster so the garbage collector deletes them with it.
//! Pure.

use std::collections::BTreeMap;

use azop_provider::Owner;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The Cluster API label tools use to find a cluster's Secrets.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// The Cluster API Secret type.
pub const SECRET_TYPE: &str = "cluster.x-k8s.io/secret";

/// The owner reference of a cluster's Secrets: the garbage collector deletes each with it.
pub fn owner_reference(owner: &Owner) -> OwnerReference {
    OwnerReference {
        api_version: "azop.dev/v1alpha1".to_string(),
        kind: owner.kind.clone(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `secret` carries `owner`'s reference (azop made it for that cluster).
pub fn owned_by(secret: &Secret, owner: &Owner) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner.uid)
}

/// A Secret `name` in `namespace` for `owner`'s cluster, holding `data`.
pub fn owned_secret(
    name: &str,
    namespace: &str,
    owner: &Owner,
    data: BTreeMap<String, ByteString>,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                CLUSTER_NAME_LABEL.to_string(),
                owner.name.clone(),
            )])),
            owner_references: Some(vec![owner_reference(owner)]),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_string()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Why `bytes` is not a kubeconfig kubectl could use, if it is not (pure): it must be YAML
/// that parses as a kubeconfig, name a current context, and that context's cluster (with a
/// server) and user must be in it. Checked before a kubeconfig Secret is written, so a broken
/// answer never replaces a working Secret.
pub fn kubeconfig_problem(bytes: &[u8]) -> Option<String> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Some(format!("not UTF-8 text: {e}")),
    };
    let config = match kube::config::Kubeconfig::from_yaml(text) {
        Ok(c) => c,
        // The parser's first line names the place (line, column); the lines after it quote
        // the source, which may hold credentials.
        Err(e) => {
            let e = e.to_string();
            let first = e.lines().next().unwrap_or_default();
            return Some(format!("not a valid kubeconfig: {first}"));
        }
    };
    let Some(current) = config.current_context.as_deref().filter(|c| !c.is_empty()) else {
        return Some("no current-context".to_string());
    };
    let Some(context) = config
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
    else {
        return Some(format!(
            "current-context {current:?} is not among its contexts"
        ));
    };
    let Some(cluster) = config.clusters.iter().find(|c| c.name == context.cluster) else {
        return Some(format!(
            "cluster {:?} of context {current:?} is missing",
            context.cluster
        ));
    };
    let server = cluster.cluster.as_ref().and_then(|c| c.server.as_deref());
    if server.is_none_or(str::is_empty) {
        return Some(format!("cluster {:?} has no server", context.cluster));
    }
    let user = context.user.as_deref().unwrap_or_default();
    if !config.auth_infos.iter().any(|u| u.name == user) {
        return Some(format!("user {user:?} of context {current:?} is missing"));
    }
    None
}

#[cfg(test)]
mod kubeconfig_tests {
    use super::kubeconfig_problem;

    const GOOD: &str = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://c.hcp.westeurope.azmk8s.io:443\n  name: c\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      installHint: 'kubelogin is required: https://aka.ms/aks/kubelogin'\n";

    #[test]
    fn a_kubeconfig_kubectl_can_load_passes_and_broken_ones_say_why() {
        assert_eq!(kubeconfig_problem(GOOD.as_bytes()), None);
        // The unquoted installHint azop-armsim once wrote: a colon inside a plain scalar.
        let unquoted = GOOD.replace(
            "'kubelogin is required: https://aka.ms/aks/kubelogin'",
            "kubelogin is required: https://aka.ms/aks/kubelogin",
        );
        assert!(
            kubeconfig_problem(unquoted.as_bytes())
                .is_some_and(|p| p.starts_with("not a valid kubeconfig"))
        );
        let no_context = GOOD.replace("current-context: c", "current-context: other");
        assert!(kubeconfig_problem(no_context.as_bytes()).is_some_and(|p| p.contains("other")));
        let no_server = GOOD.replace("    server: https://c.hcp.westeurope.azmk8s.io:443\n", "");
        assert!(kubeconfig_problem(no_server.as_bytes()).is_some_and(|p| p.contains("no server")));
        let no_user = GOOD.replace("- name: u\n", "- name: someone-else\n");
        assert!(kubeconfig_problem(no_user.as_bytes()).is_some_and(|p| p.contains("\"u\"")));
        assert!(kubeconfig_problem(&[0xff, 0xfe]).is_some());
        assert!(kubeconfig_problem(b"").is_some());
    }
}
