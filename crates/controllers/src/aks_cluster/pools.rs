//! Agent pools azop created that the spec no longer has: the AksCluster's sweep.
//!
//! Found by listing the cluster's agentPools (a pool whose PUT went out just before a crash is
//! found too), and only those carrying this object's uid tag. The last System pool is never
//! deleted: AKS refuses, and a cluster without one cannot run its system pods; it goes once
//! another System pool is up. A DELETE refused because the cluster is busy waits for the next
//! pass instead of blocking it.

use std::collections::BTreeSet;

use azop_api::v1alpha1::{ArmAction, ArmOperation};
use azop_provider::resources::UID_TAG;
use azop_provider::resources::containerservice::API_VERSION;
use azop_provider::{ArmSession, AzureError, Owner};
use serde_json::Value;

use crate::engine::operations;
use crate::engine::{Leftover, Sweep};

/// What to do with one listed pool. Pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolFate {
    /// In the spec, or not ours: left alone.
    Keep,
    /// Ours and no longer wanted: DELETE now.
    Delete { id: String, name: String },
    /// Going away already, or waiting (`why`: for another System pool to be up).
    Pending {
        name: String,
        why: Option<&'static str>,
    },
}

/// Why the last System pool waits.
const KEPT_FOR_SYSTEM: &str = "kept until another System pool is up";

/// `agentPools <name>`, as conditions and Events name a pool.
fn label(name: &str) -> String {
    format!("agentPools {name}")
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

fn is_system(p: &Value) -> bool {
    str_at(p, "/properties/mode").is_some_and(|m| m.eq_ignore_ascii_case("System"))
}

fn succeeded(p: &Value) -> bool {
    str_at(p, "/properties/provisioningState").is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"))
}

/// The fate of every listed pool, given the spec's pool names. Pure.
pub fn fates(
    listed: &[Value],
    owner: &Owner,
    wanted: &BTreeSet<String>,
    in_flight: &[ArmOperation],
) -> Vec<PoolFate> {
    let wanted_name =
        |p: &Value| str_at(p, "/name").is_some_and(|n| wanted.contains(&n.to_ascii_lowercase()));
    listed
        .iter()
        .map(|p| {
            let ours = owner.owns(str_at(
                p,
                &format!("/properties/tags/{}", UID_TAG.replace('/', "~1")),
            ));
            let (Some(name), Some(id)) = (str_at(p, "/name"), str_at(p, "/id")) else {
                return PoolFate::Keep;
            };
            if !ours || wanted_name(p) {
                return PoolFate::Keep;
            }
            let name = name.to_string();
            let deleting = str_at(p, "/properties/provisioningState")
                .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"));
            let flying = in_flight
                .iter()
                .any(|o| o.action == ArmAction::Delete && o.resource_id.eq_ignore_ascii_case(id));
            if deleting || flying {
                return PoolFate::Pending { name, why: None };
            }
            let another_system_up = listed
                .iter()
                .any(|o| is_system(o) && wanted_name(o) && succeeded(o));
            if is_system(p) && !another_system_up {
                return PoolFate::Pending {
                    name,
                    why: Some(KEPT_FOR_SYSTEM),
                };
            }
            PoolFate::Delete {
                id: id.to_string(),
                name,
            }
        })
        .collect()
}

/// What [`remove`] would remove now, read only (`azop plan`): the same listing and the same
/// fates.
pub async fn leftovers(
    session: &ArmSession,
    owner: &Owner,
    cluster_path: &str,
    wanted: &BTreeSet<String>,
    in_flight: &[ArmOperation],
) -> Result<Vec<Leftover>, AzureError> {
    let listed = session
        .list(&format!("{cluster_path}/agentPools"), API_VERSION, 10)
        .await?;
    Ok(fates(&listed, owner, wanted, in_flight)
        .into_iter()
        .filter_map(|f| match f {
            PoolFate::Keep => None,
            PoolFate::Delete { name, .. } => Some(Leftover {
                kind: POOL_TYPE.to_string(),
                name,
                note: None,
            }),
            PoolFate::Pending { name, why } => Some(Leftover {
                kind: POOL_TYPE.to_string(),
                name,
                note: Some(why.unwrap_or("being deleted").to_string()),
            }),
        })
        .collect())
}

const POOL_TYPE: &str = "Microsoft.ContainerService/managedClusters/agentPools";

/// Deletes the pools of `cluster_path` that the spec no longer has.
pub async fn remove(
    session: &ArmSession,
    owner: &Owner,
    cluster_path: &str,
    wanted: &BTreeSet<String>,
    ops: &mut Vec<ArmOperation>,
) -> Result<Sweep, AzureError> {
    let listed = session
        .list(&format!("{cluster_path}/agentPools"), API_VERSION, 10)
        .await?;
    let mut out = Sweep::default();
    for fate in fates(&listed, owner, wanted, ops) {
        match fate {
            PoolFate::Keep => {}
            PoolFate::Pending { name, why } => out.pending.push(match why {
                Some(why) => format!("{} ({why})", label(&name)),
                None => label(&name),
            }),
            PoolFate::Delete { id, name } => match session.delete_by_id(&id, API_VERSION).await {
                Ok(handle) => {
                    let label = label(&name);
                    if let Some(h) = handle {
                        ops.push(operations::from_handle(&h));
                    }
                    out.started.push(label.clone());
                    out.pending.push(label);
                }
                // The cluster or the pool is busy (an upgrade): the next pass tries again.
                Err(AzureError::Busy { .. }) => {
                    out.pending
                        .push(format!("{} (waiting: the cluster is busy)", label(&name)));
                }
                Err(e) => return Err(e),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(name: &str, mode: &str, uid: &str, state: &str) -> Value {
        json!({"name": name, "id": format!("/c/agentPools/{name}"),
               "properties": {"mode": mode, "provisioningState": state, "tags": {"azop.dev_uid": uid}}})
    }

    fn wanted(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn only_our_unwanted_pools_go_and_never_the_last_system_pool() {
        let owner = Owner::new("AksCluster", "ns", "c", "me");
        let listed = vec![
            pool("system", "System", "me", "Succeeded"),
            pool("old", "User", "me", "Succeeded"),
            pool("theirs", "User", "other", "Succeeded"),
        ];
        let f = fates(&listed, &owner, &wanted(&["system"]), &[]);
        assert_eq!(
            f,
            vec![
                PoolFate::Keep,
                PoolFate::Delete {
                    id: "/c/agentPools/old".into(),
                    name: "old".into()
                },
                PoolFate::Keep,
            ]
        );
        // A System pool replaced by another: kept until the new one is up.
        let listed = vec![
            pool("sys1", "System", "me", "Succeeded"),
            pool("sys2", "System", "me", "Creating"),
        ];
        let f = fates(&listed, &owner, &wanted(&["sys2"]), &[]);
        assert!(
            matches!(&f[0], PoolFate::Pending { why: Some(w), .. } if w.contains("kept until"))
        );
        let listed = vec![
            pool("sys1", "System", "me", "Succeeded"),
            pool("sys2", "System", "me", "Succeeded"),
        ];
        let f = fates(&listed, &owner, &wanted(&["sys2"]), &[]);
        assert!(matches!(&f[0], PoolFate::Delete { .. }));
        // Already going: pending, no second DELETE.
        let listed = vec![pool("old", "User", "me", "Deleting")];
        let f = fates(&listed, &owner, &wanted(&[]), &[]);
        assert!(matches!(&f[0], PoolFate::Pending { .. }));
    }
}
