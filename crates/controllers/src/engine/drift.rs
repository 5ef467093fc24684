//! Drift: where Azure differs from the spec, as a pass found it, and how it is reported —
//! the `InSync` condition, `status.drift` and Events — under either reconcile policy
//! (`spec.reconcilePolicy`). Pure, so the operator, `azop plan` and the tests agree on what
//! drift is.
//!
//! - **What counts.** A resource of ours whose managed properties differ (`Drifted`, with the
//!   provider's paths); and a resource of ours that is missing — under Manage only when
//!   status recorded it as provisioned once (deleted outside azop: it is recreated), under
//!   DetectOnly always (nothing will create it).
//! - **Manage** corrects it in the same pass: each step whose PUT went out is a `Corrected`
//!   record (what, when); drift not written yet (held, waiting on a dependency) stays
//!   `Detected` until it is.
//! - **DetectOnly** writes nothing: every difference is a `Detected` record, kept with the
//!   time azop first saw it; `InSync=False` lists them, and a Warning Event says so when the
//!   set changes.

use std::collections::BTreeSet;

use azop_api::v1alpha1::{
    CommonStatus, DriftChange, DriftRecord, DriftState, IN_SYNC, Phase, ReconcilePolicy,
};
use azop_provider::Difference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::events::EventType;

use super::act::was_created_before;
use super::graph::NodeState;
use super::observe::Observed;
use super::plan::{Ownership, Planned};
use super::report::short_type;
use super::status::Note;
use crate::conditions::{Cond, Status, merge};

/// Corrected records kept in status, newest first.
pub const CORRECTED_KEPT: usize = 10;

/// One resource found different from the spec this pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The graph key of its step.
    pub key: String,
    pub kind: String,
    pub name: String,
    pub changes: Vec<DriftChange>,
}

impl Found {
    /// `virtualNetworks demo-vnet (tags: env=a → env=b)`.
    pub fn describe(&self) -> String {
        describe(&self.kind, &self.name, &self.changes)
    }
}

fn describe(kind: &str, name: &str, changes: &[DriftChange]) -> String {
    let what: Vec<String> = changes
        .iter()
        .map(|c| format!("{}: {} → {}", c.path, c.azure, c.spec))
        .collect();
    format!("{} {name} ({})", short_type(kind), what.join("; "))
}

/// The path, Azure's value and the spec's, from a provider difference.
pub fn change(d: &Difference) -> DriftChange {
    DriftChange {
        path: d.field.clone(),
        azure: d.observed.clone(),
        spec: d.desired.clone(),
    }
}

/// A missing resource, as a change.
pub fn absent() -> DriftChange {
    DriftChange {
        path: "resource".into(),
        azure: "absent".into(),
        spec: "exists".into(),
    }
}

/// What this pass found different from the spec (see the module docs), in plan order. Pure.
pub fn found<P, X>(
    plan: &[Planned<P, X>],
    seen: &Observed,
    previous: &azop_api::v1alpha1::AzureStatus,
    policy: ReconcilePolicy,
) -> Vec<Found> {
    plan.iter()
        .filter(|s| s.ownership != Ownership::Existing)
        .filter_map(|s| {
            let obs = seen.observation(&s.key);
            let (kind, name) = (s.step.resource_type(), s.step.name());
            let changes = match seen.states.get(&s.key) {
                Some(NodeState::Drifted) => obs.drift.iter().map(change).collect(),
                Some(NodeState::Absent) | None
                    if !obs.exists
                        && (policy == ReconcilePolicy::DetectOnly
                            || was_created_before(previous, kind, name)) =>
                {
                    vec![absent()]
                }
                _ => return None,
            };
            Some(Found {
                key: s.key.clone(),
                kind: kind.to_string(),
                name: name.to_string(),
                changes,
            })
        })
        .collect()
}

fn same(r: &DriftRecord, f: &Found) -> bool {
    r.kind == f.kind && r.name == f.name && r.changes == f.changes
}

/// The new `status.drift` (pure): what differs now (`Detected`, keeping when it was first
/// seen), then the corrections, newest first — those of this pass (`corrected`: the keys
/// whose PUT went out) before the ones on record, [`CORRECTED_KEPT`] at most.
pub fn records(
    previous: &[DriftRecord],
    found: &[Found],
    corrected: &BTreeSet<String>,
    now: &Time,
) -> Vec<DriftRecord> {
    let record = |f: &Found, state, corrected_at: Option<Time>| {
        let detected_at = previous
            .iter()
            .find(|r| r.state == DriftState::Detected && same(r, f))
            .map_or_else(|| now.clone(), |r| r.detected_at.clone());
        DriftRecord {
            kind: f.kind.clone(),
            name: f.name.clone(),
            changes: f.changes.clone(),
            state,
            detected_at,
            corrected_at,
        }
    };
    let detected = found
        .iter()
        .filter(|f| !corrected.contains(&f.key))
        .map(|f| record(f, DriftState::Detected, None));
    let fixed_now = found
        .iter()
        .filter(|f| corrected.contains(&f.key))
        .map(|f| record(f, DriftState::Corrected, Some(now.clone())));
    let fixed_before = previous
        .iter()
        .filter(|r| r.state == DriftState::Corrected)
        .cloned();
    let fixed: Vec<DriftRecord> = fixed_now.chain(fixed_before).take(CORRECTED_KEPT).collect();
    detected.chain(fixed).collect()
}

/// The `InSync` condition (pure): False while something differs, True otherwise (naming the
/// last correction, when there was one).
pub fn in_sync(policy: ReconcilePolicy, found: &[Found], records: &[DriftRecord]) -> Cond {
    if !found.is_empty() {
        let list: Vec<String> = found.iter().map(Found::describe).collect();
        let n = found.len();
        return match policy {
            ReconcilePolicy::DetectOnly => Cond::new(
                IN_SYNC,
                Status::False,
                "DriftDetected",
                format!(
                    "{n} resource(s) differ from the spec; spec.reconcilePolicy is DetectOnly, so azop leaves them as they are (set it to Manage to correct them): {}",
                    list.join("; ")
                ),
            ),
            ReconcilePolicy::Manage => Cond::new(
                IN_SYNC,
                Status::False,
                "DriftCorrecting",
                format!(
                    "{n} resource(s) differ from the spec; azop is correcting them: {}",
                    list.join("; ")
                ),
            ),
        };
    }
    let last = records
        .iter()
        .find(|r| r.state == DriftState::Corrected)
        .map(|r| {
            let at = r
                .corrected_at
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            format!(
                "; last correction at {at}: {}",
                describe(&r.kind, &r.name, &r.changes)
            )
        })
        .unwrap_or_default();
    Cond::new(
        IN_SYNC,
        Status::True,
        "NoDrift",
        format!("Azure matches the spec where azop has looked{last}"),
    )
}

/// The Warning Event of a DetectOnly pass whose drift differs from the drift on record
/// (none when it is the same, or gone). Pure.
pub fn detected_note(
    policy: ReconcilePolicy,
    previous: &[DriftRecord],
    found: &[Found],
) -> Option<Note> {
    if policy != ReconcilePolicy::DetectOnly || found.is_empty() {
        return None;
    }
    let before: Vec<&DriftRecord> = previous
        .iter()
        .filter(|r| r.state == DriftState::Detected)
        .collect();
    let unchanged =
        before.len() == found.len() && found.iter().all(|f| before.iter().any(|r| same(r, f)));
    (!unchanged).then(|| Note {
        type_: EventType::Warning,
        reason: "DriftDetected",
        action: "Observe",
        message: format!(
            "DetectOnly: left as they are: {}",
            found
                .iter()
                .map(Found::describe)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    })
}

/// What a pass learnt of drift, as its status needs it.
pub struct Assessed<'a> {
    pub policy: ReconcilePolicy,
    pub found: &'a [Found],
    /// Keys whose correction went out this pass (Manage).
    pub corrected: &'a BTreeSet<String>,
}

/// Puts a pass's drift into a status (pure): `status.drift` from the records on file
/// (`before`), and the `InSync` condition after the others, keeping its transition time
/// while its status holds.
pub fn report(
    common: &mut CommonStatus,
    drift: &mut Vec<DriftRecord>,
    before: (&CommonStatus, &[DriftRecord]),
    a: &Assessed<'_>,
    generation: Option<i64>,
    now: &Time,
) {
    *drift = records(before.1, a.found, a.corrected, now);
    let cond = in_sync(a.policy, a.found, drift);
    let merged = merge(&before.0.conditions, &[cond], generation, now);
    common.conditions.retain(|c| c.type_ != IN_SYNC);
    common.conditions.extend(merged);
}

/// Under DetectOnly nothing is provisioning: a `Ready` that the ladder calls
/// `Provisioning` says why nothing happens, and the phase is Pending rather than
/// Provisioning. Pure.
pub fn detect_only_ready(conditions: &mut [Condition], phase: &mut Option<Phase>) {
    if let Some(ready) = conditions.iter_mut().find(|c| c.type_ == "Ready")
        && ready.status != "True"
        && ready.reason == "Provisioning"
    {
        ready.reason = "DetectOnly".into();
        ready.message = format!(
            "spec.reconcilePolicy is DetectOnly: azop creates and changes nothing; {}",
            ready.message
        );
    }
    if *phase == Some(Phase::Provisioning) {
        *phase = Some(Phase::Pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn f(key: &str, path: &str, azure: &str, spec: &str) -> Found {
        Found {
            key: key.into(),
            kind: "Microsoft.Network/virtualNetworks".into(),
            name: key.into(),
            changes: vec![DriftChange {
                path: path.into(),
                azure: azure.into(),
                spec: spec.into(),
            }],
        }
    }

    #[test]
    fn detected_drift_keeps_when_it_was_first_seen_and_corrections_are_history() {
        let vnet = f("vnet", "tags", "env=x", "env=e2e");
        let first = records(
            &[],
            std::slice::from_ref(&vnet),
            &BTreeSet::new(),
            &at(1_000),
        );
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].state, DriftState::Detected);
        // The same drift later: unchanged record, so status is not written again.
        let again = records(
            &first,
            std::slice::from_ref(&vnet),
            &BTreeSet::new(),
            &at(2_000),
        );
        assert_eq!(again, first);
        // Corrected (Manage): a Corrected record, the Detected one gone.
        let fixed = records(
            &again,
            std::slice::from_ref(&vnet),
            &BTreeSet::from(["vnet".to_string()]),
            &at(3_000),
        );
        assert_eq!(fixed.len(), 1);
        assert_eq!(fixed[0].state, DriftState::Corrected);
        assert_eq!(fixed[0].corrected_at, Some(at(3_000)));
        // Nothing differs any more: the correction stays on record, bounded.
        let mut history = fixed.clone();
        for i in 0..20 {
            let nsg = f(&format!("nsg{i}"), "tags", "a", "b");
            history = records(
                &history,
                &[nsg],
                &BTreeSet::from([format!("nsg{i}")]),
                &at(4_000 + i),
            );
        }
        assert_eq!(history.len(), CORRECTED_KEPT);
        assert_eq!(history[0].name, "nsg19", "newest first");
        assert!(records(&history, &[], &BTreeSet::new(), &at(9_000)) == history);
    }

    #[test]
    fn in_sync_says_what_differs_and_what_the_policy_does() {
        let vnet = f("vnet", "tags", "env=x", "env=e2e");
        let c = in_sync(
            ReconcilePolicy::DetectOnly,
            std::slice::from_ref(&vnet),
            &[],
        );
        assert_eq!(
            (c.status, c.reason.as_str()),
            (Status::False, "DriftDetected")
        );
        assert!(
            c.message
                .contains("virtualNetworks vnet (tags: env=x → env=e2e)"),
            "{}",
            c.message
        );
        assert!(c.message.contains("Manage"), "{}", c.message);
        let c = in_sync(ReconcilePolicy::Manage, std::slice::from_ref(&vnet), &[]);
        assert_eq!(c.reason, "DriftCorrecting");
        let fixed = records(&[], &[vnet], &BTreeSet::from(["vnet".into()]), &at(3_000));
        let c = in_sync(ReconcilePolicy::Manage, &[], &fixed);
        assert_eq!((c.status, c.reason.as_str()), (Status::True, "NoDrift"));
        assert!(c.message.contains("last correction"), "{}", c.message);
    }

    #[test]
    fn a_detect_only_event_only_when_the_drift_changes() {
        let vnet = f("vnet", "tags", "env=x", "env=e2e");
        let on_record = records(&[], std::slice::from_ref(&vnet), &BTreeSet::new(), &at(1));
        assert!(
            detected_note(
                ReconcilePolicy::DetectOnly,
                &[],
                std::slice::from_ref(&vnet)
            )
            .is_some()
        );
        assert!(
            detected_note(
                ReconcilePolicy::DetectOnly,
                &on_record,
                std::slice::from_ref(&vnet)
            )
            .is_none()
        );
        let other = f("vnet", "tags", "env=y", "env=e2e");
        assert!(detected_note(ReconcilePolicy::DetectOnly, &on_record, &[other]).is_some());
        assert!(detected_note(ReconcilePolicy::Manage, &[], &[vnet]).is_none());
    }
}
