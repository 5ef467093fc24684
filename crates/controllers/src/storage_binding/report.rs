//! Status of a StorageBinding, computed from what one pass observed (pure), and the Events
//! for the VHD copy's progress.

use azop_api::v1alpha1::AzureScope;
use azop_api::v1alpha1::storage_binding::{
    NetworkAccessMode, StorageBindingStatus, VhdCopyState, VhdStatus,
};
use kube::runtime::events::EventType;
use serde_json::Value;

use super::StorageBindingKind;
use super::names;
use super::plan::{KEY_ACCOUNT, KEY_CONTAINER, KEY_IMAGE, KEY_VHD, Part};
use super::steps::VHD_INVALID;
use crate::conditions::{Cond, Status};
use crate::engine::report::{self, Wording};
use crate::engine::{NodeState, Note, Ownership, Part as _, ReportInput};
use crate::retry::Failure;

pub type StepView<'a> = crate::engine::StepView<'a, Part, ()>;

/// StorageBinding's words in the shared condition ladder. Network access is said as the
/// account shows it, once the account is there.
struct BindingWording<'a> {
    scope: &'a AzureScope,
    access: NetworkAccessMode,
    vnet_rules: usize,
    account_ready: bool,
}

impl Wording<Part, ()> for BindingWording<'_> {
    fn scope(&self) -> &AzureScope {
        self.scope
    }

    fn idle(&self, part: Part) -> Cond {
        let (reason, msg) = match part {
            Part::Network if !self.account_ready => {
                return Cond::new(
                    part.condition_type(),
                    Status::False,
                    "Provisioning",
                    "waiting for the storage account",
                );
            }
            Part::Network => match self.access {
                NetworkAccessMode::Public => (
                    "Public",
                    "public network access over HTTPS only (TLS 1.2 minimum, no anonymous blob access)"
                        .to_string(),
                ),
                NetworkAccessMode::VnetRestricted => (
                    "VnetRestricted",
                    format!(
                        "default action Deny; {} subnet(s) allowed through the Microsoft.Storage service endpoint",
                        self.vnet_rules
                    ),
                ),
                NetworkAccessMode::Private => {
                    ("Private", "public network access disabled".to_string())
                }
            },
            Part::Vhd => ("NoVhd", "spec.vhd is not set: nothing to copy".to_string()),
            Part::Image => ("NoVhd", "spec.vhd is not set: no image to make".to_string()),
            Part::Account => ("Ready", "nothing to create".to_string()),
        };
        Cond::new(part.condition_type(), Status::True, reason, msg)
    }

    fn missing(&self, part: Part, s: &StepView<'_>) -> Cond {
        let sub = &self.scope.subscription_id;
        let (reason, message) = match s.key {
            KEY_ACCOUNT => (
                "StorageAccountNotFound",
                format!(
                    "storage account {} does not exist in subscription {sub}: create it first (azop attaches an existing account and never creates or changes it), or remove spec.storageAccount.name to let azop create one",
                    s.name
                ),
            ),
            KEY_CONTAINER => (
                "ContainerNotFound",
                format!(
                    "container {} does not exist in the storage account: create it first, or remove spec.container.name to let azop create one",
                    s.name
                ),
            ),
            _ => return report::resource_group_not_found(part, s.name, sub),
        };
        Cond::new(part.condition_type(), Status::False, reason, message)
    }

    /// A copy that Azure failed can be retried; a VHD that is not fixed cannot.
    fn failed_reason(&self, part: Part, failures: &[&Failure]) -> &'static str {
        match part {
            Part::Vhd if failures.iter().any(|f| f.has_code(VHD_INVALID)) => VHD_INVALID,
            Part::Vhd => "CopyFailed",
            _ => "ProvisioningFailed",
        }
    }

    fn not_owned(&self, labels: &[String]) -> String {
        format!(
            "{} already exist(s) without this binding's azop.dev/uid; azop never changes what it did not create: delete or rename it, or change the binding",
            labels.join(", ")
        )
    }

    /// Network access, once provisioned, says what the account allows.
    fn ready(&self, part: Part, steps: &[&StepView<'_>]) -> Cond {
        match part {
            Part::Network => self.idle(part),
            _ => report::default_ready(part, steps),
        }
    }

    fn progress_reason(&self, part: Part) -> &'static str {
        if part == Part::Vhd {
            "Copying"
        } else {
            "Provisioning"
        }
    }
}

fn percent(copied: u64, total: u64) -> i32 {
    if total == 0 {
        return 0;
    }
    ((copied.min(total) as u128 * 100) / total as u128) as i32
}

/// The copy's status from its step (pure).
pub fn vhd_status(s: &StepView<'_>) -> VhdStatus {
    let raw = s.observed.raw.as_ref();
    let get = |k: &str| raw.and_then(|r| r.get(k));
    let copied = get("bytesCopied").and_then(Value::as_u64);
    let total = get("totalBytes").and_then(Value::as_u64);
    let state = match s.state {
        NodeState::Absent | NodeState::NotOwned => VhdCopyState::Pending,
        NodeState::Ready | NodeState::Drifted => VhdCopyState::Succeeded,
        NodeState::Failed(_) => match get("copyStatus").and_then(Value::as_str) {
            Some("aborted") => VhdCopyState::Aborted,
            _ => VhdCopyState::Failed,
        },
        NodeState::Busy => {
            if copied.is_some() {
                VhdCopyState::Copying
            } else {
                VhdCopyState::Pending
            }
        }
    };
    let (copied, total) = match (copied, total) {
        (Some(c), Some(t)) if t > 0 => (Some(c), Some(t)),
        _ => (None, None),
    };
    VhdStatus {
        state: Some(state),
        bytes_copied: copied.map(|c| c as i64),
        total_bytes: total.map(|t| t as i64),
        percent: match (copied, total) {
            (Some(c), Some(t)) => Some(percent(c, t)),
            _ if state == VhdCopyState::Succeeded => Some(100),
            _ => None,
        },
        copy_id: get("copyId").and_then(Value::as_str).map(str::to_string),
        blob_url: get("blobUrl").and_then(Value::as_str).map(str::to_string),
    }
}

/// Network access as the account shows it: `(mode, VNet rules)`.
fn observed_access(account: Option<&StepView<'_>>) -> (NetworkAccessMode, usize) {
    let raw = account.and_then(|s| s.observed.raw.as_ref());
    let at = |p: &str| raw.and_then(|r| r.pointer(p)).and_then(Value::as_str);
    if at("/properties/publicNetworkAccess").is_some_and(|v| v.eq_ignore_ascii_case("Disabled")) {
        return (NetworkAccessMode::Private, 0);
    }
    if at("/properties/networkAcls/defaultAction").is_some_and(|v| v.eq_ignore_ascii_case("Deny")) {
        let rules = raw
            .and_then(|r| r.pointer("/properties/networkAcls/virtualNetworkRules"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        return (NetworkAccessMode::VnetRestricted, rules);
    }
    (NetworkAccessMode::Public, 0)
}

/// The status to apply (pure).
pub fn status(input: ReportInput<'_, StorageBindingKind>) -> StorageBindingStatus {
    let account = input.step(KEY_ACCOUNT);
    let (access, vnet_rules) = observed_access(account);
    let wording = BindingWording {
        scope: input.scope,
        access,
        vnet_rules,
        account_ready: account
            .is_some_and(|s| *s.state == NodeState::Ready || *s.state == NodeState::Drifted),
    };
    let azure = input.azure_status(input.part_conditions(&wording));
    let container = input.step(KEY_CONTAINER);
    let created = |s: Option<&StepView<'_>>| {
        s.map(|s| s.ownership != Ownership::Existing && s.observed.exists && s.observed.owned)
    };
    StorageBindingStatus {
        storage_account_name: azure.azure_names.get(names::STORAGE_ACCOUNT).cloned(),
        container_name: azure.azure_names.get(names::CONTAINER).cloned(),
        account_created_by_azop: created(account),
        container_created_by_azop: created(container),
        vhd: input.step(KEY_VHD).map(vhd_status),
        image_id: input
            .step(KEY_IMAGE)
            .filter(|s| *s.state == NodeState::Ready || *s.state == NodeState::Drifted)
            .map(|s| s.id.clone()),
        azure,
    }
}

/// Events for the copy: started, every quarter, done, failed (pure).
pub fn copy_notes(previous: &StorageBindingStatus, next: &StorageBindingStatus) -> Vec<Note> {
    let Some(now) = &next.vhd else {
        return Vec::new();
    };
    let before = previous.vhd.clone().unwrap_or_default();
    let total = now.total_bytes.unwrap_or_default();
    let mib = |b: Option<i64>| b.unwrap_or_default() as f64 / (1024.0 * 1024.0);
    let progress = format!(
        "{:.1} of {:.1} MiB ({}%)",
        mib(now.bytes_copied),
        mib(now.total_bytes),
        now.percent.unwrap_or_default()
    );
    let mut notes = Vec::new();
    if now.state != before.state {
        let (type_, reason, message) = match now.state {
            Some(VhdCopyState::Copying) => (
                EventType::Normal,
                "CopyStarted",
                format!(
                    "copying the VHD into {}: {progress}",
                    now.blob_url.clone().unwrap_or_default()
                ),
            ),
            Some(VhdCopyState::Succeeded) => (
                EventType::Normal,
                "CopySucceeded",
                format!(
                    "the VHD is copied and checked ({} bytes)",
                    total.max(now.bytes_copied.unwrap_or_default())
                ),
            ),
            Some(VhdCopyState::Failed) => (
                EventType::Warning,
                "CopyFailed",
                format!("the VHD copy failed after {progress}; see the VhdReady condition"),
            ),
            Some(VhdCopyState::Aborted) => (
                EventType::Warning,
                "CopyAborted",
                format!("the VHD copy was aborted after {progress}"),
            ),
            _ => return notes,
        };
        notes.push(Note {
            type_,
            reason,
            action: "Copy",
            message,
        });
    } else if now.state == Some(VhdCopyState::Copying)
        && now.percent.unwrap_or_default() / 25 > before.percent.unwrap_or_default() / 25
    {
        notes.push(Note {
            type_: EventType::Normal,
            reason: "CopyProgress",
            action: "Copy",
            message: format!("copied {progress}"),
        });
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Observation;
    use crate::storage_binding::plan::{self, PlannedStep, Resolved};
    use crate::storage_binding::testing::binding;
    use crate::testing::{self, Seen, absent, cond, found, ours};
    use azop_api::v1alpha1::Phase;
    use serde_json::json;

    fn report(
        sb: &azop_api::v1alpha1::StorageBinding,
        seen: impl Fn(&str) -> Seen,
    ) -> StorageBindingStatus {
        let account = sb
            .spec
            .storage_account
            .as_ref()
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| "azopabc".into());
        let n = crate::storage_binding::names::names_with_account(sb, Some(&account));
        let steps: Vec<PlannedStep> = plan::plan(sb, Some(&Resolved::default()), &n);
        let seen = testing::observed(&steps, seen);
        let previous = StorageBindingStatus::default();
        status(testing::report_input::<StorageBindingKind>(
            &steps,
            &seen,
            &previous,
            vec![],
            n.clone(),
            &sb.spec.azure,
        ))
    }

    fn copy(status: &str, copied: u64, total: u64) -> Observation {
        found(
            true,
            "Succeeded",
            json!({"copyStatus": status, "bytesCopied": copied, "totalBytes": total, "copyId": "c1", "blobUrl": "http://x/azop-vhds/base.vhd"}),
        )
    }

    #[test]
    fn ready_when_everything_is_and_status_carries_the_image_and_copy() {
        let sb = binding(|_| {});
        let s = report(&sb, |k| match k {
            plan::KEY_VHD => (NodeState::Ready, copy("success", 2048, 2048)),
            _ => (NodeState::Ready, ours()),
        });
        assert_eq!(cond(&s, "Ready").0, "True");
        assert_eq!(cond(&s, "NetworkAccessReady").1, "Public");
        assert_eq!(s.azure.common.phase, Some(Phase::Running));
        assert_eq!(s.storage_account_name.as_deref(), Some("azopabc"));
        assert_eq!(s.account_created_by_azop, Some(true));
        let vhd = s.vhd.expect("vhd status");
        assert_eq!(vhd.state, Some(VhdCopyState::Succeeded));
        assert_eq!(vhd.percent, Some(100));
        assert_eq!(vhd.copy_id.as_deref(), Some("c1"));
        assert!(
            s.image_id
                .expect("image id")
                .ends_with("/providers/Microsoft.Compute/images/images-image")
        );
    }

    #[test]
    fn every_condition_reason() {
        let custom = binding(|s| {
            s.storage_account = Some(azop_api::v1alpha1::StorageAccountRef {
                name: Some("contoso".into()),
                resource_group: None,
            });
        });
        let plain = binding(|_| {});
        let copying = |k: &str| match k {
            plan::KEY_VHD => (NodeState::Busy, copy("pending", 512, 2048)),
            plan::KEY_IMAGE => (NodeState::Absent, absent()),
            _ => (NodeState::Ready, ours()),
        };
        let s = report(&plain, copying);
        assert_eq!(cond(&s, "VhdReady").1, "Copying");
        assert_eq!(cond(&s, "Ready").1, "Copying");
        let vhd = s.vhd.clone().expect("vhd");
        assert_eq!(
            (vhd.state, vhd.percent),
            (Some(VhdCopyState::Copying), Some(25))
        );
        assert_eq!(s.image_id, None);

        let s = report(&plain, |k| match k {
            plan::KEY_VHD => (
                NodeState::Failed(Failure::invalid(
                    Some(VHD_INVALID),
                    "VhdInvalid: the VHD is dynamic",
                )),
                copy("success", 2048, 2048),
            ),
            plan::KEY_IMAGE => (NodeState::Absent, absent()),
            _ => (NodeState::Ready, ours()),
        });
        assert_eq!(cond(&s, "VhdReady").1, "VhdInvalid");
        assert_eq!(s.vhd.expect("vhd").state, Some(VhdCopyState::Failed));

        let s = report(&plain, |k| match k {
            plan::KEY_VHD => (
                NodeState::Failed(Failure::transient("CopyAborted: x")),
                copy("aborted", 512, 2048),
            ),
            plan::KEY_IMAGE => (NodeState::Absent, absent()),
            _ => (NodeState::Ready, ours()),
        });
        assert_eq!(cond(&s, "VhdReady").1, "CopyFailed");
        assert_eq!(s.vhd.expect("vhd").state, Some(VhdCopyState::Aborted));

        let s = report(&custom, |k| match k {
            plan::KEY_RESOURCE_GROUP => (NodeState::Ready, ours()),
            _ => (NodeState::Absent, absent()),
        });
        let (st, reason, msg) = cond(&s, "StorageAccountReady");
        assert_eq!((st, reason), ("False", "StorageAccountNotFound"));
        assert!(msg.contains("contoso"), "{msg}");
        assert_eq!(cond(&s, "NetworkAccessReady").1, "Provisioning");

        let s = report(&plain, |k| match k {
            plan::KEY_RESOURCE_GROUP => (NodeState::Ready, ours()),
            plan::KEY_ACCOUNT => (NodeState::NotOwned, found(false, "Succeeded", json!({}))),
            _ => (NodeState::Absent, absent()),
        });
        assert_eq!(cond(&s, "StorageAccountReady").1, "NotOwned");

        let restricted = json!({"properties": {"networkAcls": {"defaultAction": "Deny", "virtualNetworkRules": [{"id": "/a"}, {"id": "/b"}]}}});
        let s = report(&plain, |k| match k {
            plan::KEY_ACCOUNT => (
                NodeState::Ready,
                found(true, "Succeeded", restricted.clone()),
            ),
            _ => (NodeState::Ready, ours()),
        });
        let (_, reason, msg) = cond(&s, "NetworkAccessReady");
        assert_eq!(reason, "VnetRestricted");
        assert!(msg.contains("2 subnet"), "{msg}");

        let no_vhd = binding(|s| s.vhd = None);
        let s = report(&no_vhd, |_| (NodeState::Ready, ours()));
        assert_eq!(cond(&s, "VhdReady").1, "NoVhd");
        assert_eq!(cond(&s, "Ready").0, "True");
        assert!(s.vhd.is_none());
    }

    fn st(state: VhdCopyState, copied: i64, total: i64) -> StorageBindingStatus {
        StorageBindingStatus {
            vhd: Some(VhdStatus {
                state: Some(state),
                bytes_copied: Some(copied),
                total_bytes: Some(total),
                percent: Some(percent(copied as u64, total as u64)),
                ..VhdStatus::default()
            }),
            ..StorageBindingStatus::default()
        }
    }

    #[test]
    fn copy_events_on_each_state_and_quarter() {
        let none = StorageBindingStatus::default();
        let reasons = |a: &StorageBindingStatus, b: &StorageBindingStatus| {
            copy_notes(a, b)
                .iter()
                .map(|n| n.reason)
                .collect::<Vec<_>>()
        };
        let c10 = st(VhdCopyState::Copying, 10, 100);
        let c20 = st(VhdCopyState::Copying, 20, 100);
        let c60 = st(VhdCopyState::Copying, 60, 100);
        assert_eq!(reasons(&none, &c10), vec!["CopyStarted"]);
        assert!(reasons(&c10, &c20).is_empty());
        assert_eq!(reasons(&c20, &c60), vec!["CopyProgress"]);
        assert_eq!(
            reasons(&c60, &st(VhdCopyState::Succeeded, 100, 100)),
            vec!["CopySucceeded"]
        );
        assert_eq!(
            reasons(&c60, &st(VhdCopyState::Failed, 60, 100)),
            vec!["CopyFailed"]
        );
        assert_eq!(
            reasons(&c60, &st(VhdCopyState::Aborted, 60, 100)),
            vec!["CopyAborted"]
        );
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(5, 0), 0);
    }
}
