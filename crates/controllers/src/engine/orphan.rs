//! `deletionPolicy: Orphan`: the delete pass that deletes nothing. Every resource this pass
//! saw as the object's loses the object's ownership marks ([`Step::disown`]: the
//! `azop.dev/owner` and `azop.dev/uid` tags through the Tags API, an agent pool's tags, a
//! container's or blob's metadata) and nothing else; so do resources in the object's resource
//! group that carry its uid but are not in the plan (found by listing, as the sweep finds
//! them). Then the finalizer goes. Nothing is drained, deleted, aborted or waited for beyond
//! operations already under way (they finish first, so no PUT in flight writes a mark back).
//!
//! A mark that cannot be removed (Azure refuses, a resource is busy) blocks the pass with
//! `DeleteBlocked` and is retried with backoff; the next pass handles only what still carries
//! the uid.
//!
//! [`Step::disown`]: super::Step::disown

use std::collections::BTreeSet;

use azop_api::v1alpha1::AzureObject;
use azop_provider::resources::{ArmResource, remove_ownership_tags, resource_group::ResourceGroup};
use azop_provider::{AzureError, ErrorClass};

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::Value;

use super::apply::Halt;
use super::delete::owned_by;
use super::kind::{Kind, Stop};
use super::observe::Observed;
use super::plan::{Ownership, Planned};
use super::status::{self, Note};
use super::step::{StepCtx, StepError};
use crate::context::Context;
use crate::finalizer;
use crate::retry::{Failure, PassOutcome, RetryClass};

/// Longest list walk, as the delete pass's.
const MAX_PAGES: usize = 100;

/// The planned steps whose marks go, in reverse plan order (children before parents: an
/// agent pool's PUT before its cluster's tags), only those this pass saw as ours and never
/// one azop uses without having created it. Pure.
pub fn to_disown<'p, P, X>(plan: &'p [Planned<P, X>], seen: &Observed) -> Vec<&'p Planned<P, X>> {
    plan.iter()
        .rev()
        .filter(|s| s.ownership != Ownership::Existing && seen.observation(&s.key).owned)
        .collect()
}

/// Ids (lower-cased) of listed resources that carry the object's uid and are not among
/// `done` (pure).
pub fn listed_marks(
    items: &[Value],
    owner: &azop_provider::Owner,
    done: &BTreeSet<String>,
) -> Vec<String> {
    items
        .iter()
        .filter(|i| owned_by(i, owner))
        .filter_map(|i| i.get("id").and_then(Value::as_str))
        .filter(|id| !done.contains(&id.to_ascii_lowercase()))
        .map(str::to_string)
        .collect()
}

/// The pass. `cx` and `seen` are the delete pass's (operations already settled). A mark that
/// cannot be removed stops the pass as `DeleteBlocked` (the delete pass writes that status).
pub async fn run<K: Kind>(
    ctx: &Context,
    obj: &K::Object,
    cx: &StepCtx<'_>,
    plan: &[Planned<K::Part, K::Extra>],
    seen: &Observed,
) -> Result<PassOutcome, Halt> {
    let id = K::IDENTITY;
    let sub = cx.session.subscription_id().to_string();
    let mut kept = Vec::new();
    let mut done = BTreeSet::new();
    let mut problems: Vec<(String, StepError)> = Vec::new();
    for s in to_disown(plan, seen) {
        match s.step.disown(cx).await {
            Ok(()) => {
                let rid = s.step.id(&sub);
                // Only what is in Azure is "kept"; a Secret goes with its owner reference.
                if rid.starts_with("/subscriptions/") {
                    kept.push(s.label());
                }
                done.insert(rid.to_ascii_lowercase());
            }
            Err(e) => problems.push((s.label(), e)),
        }
    }
    let rg = format!(
        "/subscriptions/{sub}/resourceGroups/{}",
        obj.scope().resource_group
    );
    match cx
        .session
        .list(
            &format!("{rg}/resources"),
            ResourceGroup::API_VERSION,
            MAX_PAGES,
        )
        .await
    {
        Ok(items) => {
            for rid in listed_marks(&items, cx.owner, &done) {
                match remove_ownership_tags(cx.session, &rid, cx.owner).await {
                    Ok(()) => kept.push(rid),
                    Err(e) => problems.push((rid, StepError::Azure(e))),
                }
            }
        }
        Err(AzureError::NotFound { .. }) => {}
        Err(e) => problems.push((format!("the resources of {rg}"), StepError::Azure(e))),
    }

    if !problems.is_empty() {
        // A busy resource (an agent pool's PUT still holding its cluster) is retried when
        // Azure says (seconds); otherwise the first problem's retry decides.
        let failures: Vec<Failure> = problems.iter().map(|(_, e)| e.failure()).collect();
        let retry = failures
            .iter()
            .find(|f| f.class == ErrorClass::Busy)
            .or(failures.first())
            .map_or(RetryClass::Transient, |f| f.retry);
        let message = format!(
            "deletionPolicy is Orphan: cannot remove azop's ownership marks from {}; retrying (or remove the finalizer {} to give up, leaving the marks)",
            problems
                .iter()
                .map(|(l, e)| format!("{l}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
            id.finalizer
        );
        return Err(Stop::new("DeleteBlocked", message, retry).into());
    }

    let notes = vec![Note {
        type_: EventType::Normal,
        reason: "Orphaned",
        action: "Delete",
        message: if kept.is_empty() {
            "deletionPolicy is Orphan: nothing in Azure carried this object's marks".to_string()
        } else {
            format!(
                "deletionPolicy is Orphan: kept in Azure without azop's ownership marks: {}",
                kept.join(", ")
            )
        },
    }];
    status::publish::<K>(ctx, obj, notes).await;
    finalizer::remove(&ctx.client, obj, id.finalizer)
        .await
        .map_err(Halt::Fail)?;
    ctx.holds.forget(&id.all_holds_prefix(obj));
    Ok(PassOutcome::Done(Action::await_change()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Observation;
    use crate::engine::graph::NodeState;
    use crate::testing::node;
    use azop_provider::Owner;
    use serde_json::json;

    #[test]
    fn only_what_the_pass_saw_as_ours_loses_its_marks_children_first() {
        let mut rg = node("rg", &[]);
        rg.ownership = Ownership::OwnedOrExisting;
        let mut vnet = node("vnet", &["rg"]);
        vnet.ownership = Ownership::Existing;
        let plan: Vec<Planned<(), ()>> = vec![
            rg,
            vnet,
            node("cluster", &["rg"]),
            node("pool", &["cluster"]),
            node("gone", &["rg"]),
        ];
        let ours = Observation {
            exists: true,
            owned: true,
            ..Default::default()
        };
        let seen = Observed {
            observations: [
                ("rg".to_string(), ours.clone()),
                // used, not created: never touched even if it carried the uid
                ("vnet".to_string(), ours.clone()),
                ("cluster".to_string(), ours.clone()),
                ("pool".to_string(), ours.clone()),
                ("gone".to_string(), Observation::default()),
            ]
            .into_iter()
            .collect(),
            states: [("rg".to_string(), NodeState::Ready)].into_iter().collect(),
            operations: Vec::new(),
            next_poll: None,
            failed_ops: BTreeSet::new(),
        };
        let keys: Vec<&str> = to_disown(&plan, &seen)
            .iter()
            .map(|s| s.key.as_str())
            .collect();
        assert_eq!(keys, ["pool", "cluster", "rg"]);
    }

    #[test]
    fn listed_resources_with_the_uid_and_not_yet_handled_are_found() {
        let owner = Owner::new("AzureCluster", "ns", "c", "uid-1");
        let items = vec![
            json!({"id": "/s/rg/providers/Microsoft.Compute/virtualMachines/old-0", "tags": {"azop.dev/uid": "uid-1"}}),
            json!({"id": "/s/rg/providers/Microsoft.Network/virtualNetworks/VNET", "tags": {"azop.dev/uid": "uid-1"}}),
            json!({"id": "/s/rg/providers/Microsoft.Compute/disks/theirs", "tags": {"azop.dev/uid": "uid-2"}}),
            json!({"id": "/s/rg/providers/Microsoft.Compute/disks/untagged"}),
        ];
        let done: BTreeSet<String> =
            ["/s/rg/providers/microsoft.network/virtualnetworks/vnet".to_string()].into();
        assert_eq!(
            listed_marks(&items, &owner, &done),
            ["/s/rg/providers/Microsoft.Compute/virtualMachines/old-0"]
        );
    }
}
