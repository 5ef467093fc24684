//! Machines that have not joined their cluster within a deadline: the tail of their serial
//! console, read through Azure's boot diagnostics (`retrieveBootDiagnosticsData`, then the
//! log behind the SAS URI it answers), for the condition to quote. azop turns boot
//! diagnostics on for every VM it creates.
//!
//! Which machines ([`overdue`]) is pure; reading is bounded: a machine's log is read at most
//! once per [`READ_EVERY`], at most [`READS_PER_PASS`] logs per pass (a POST each, which ARM
//! counts as a write).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use azop_api::v1alpha1::azure_cluster::NodeReadiness;
use azop_provider::ArmSession;
use azop_provider::resources::compute::boot_diagnostics;
use azop_provider::resources::compute::virtual_machine::VirtualMachineKey;
use serde_json::Value;
use std::sync::Mutex;

/// How long a machine may take from VM creation to a Ready node (`--machine-join-deadline-seconds`):
/// Azure's own VM provisioning timeout.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// A machine's log is read again at most this often.
pub const READ_EVERY: Duration = Duration::from_secs(120);
/// A tail not read again for this long is dropped (its machine is no longer overdue).
const FORGET_AFTER: Duration = Duration::from_secs(10 * 60);
/// Logs read per pass.
pub const READS_PER_PASS: usize = 2;
/// What the condition quotes: the last lines that say something, at most this long.
pub const TAIL_LINES: usize = 12;
pub const TAIL_CHARS: usize = 1200;
/// How long the SAS URIs azop asks for stay valid.
const SAS_MINUTES: u32 = 5;

/// The tails read lately, by VM id (lower case).
#[derive(Default)]
pub struct Cache {
    read: Mutex<HashMap<String, (Instant, String)>>,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, String)>> {
        // A poisoned cache is still a cache.
        self.read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The VMs (as listed) that provisioned more than `deadline` before `now` and whose node is
/// not Ready: not registered, not ready, or not visible because the cluster's API does not
/// answer. Pure.
pub fn overdue(
    vms: &[Value],
    node: impl Fn(&str) -> Option<NodeReadiness>,
    now: time::OffsetDateTime,
    deadline: Duration,
) -> Vec<String> {
    let mut out: Vec<String> = vms
        .iter()
        .filter(|vm| {
            vm.pointer("/properties/provisioningState")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
        })
        .filter(|vm| {
            vm.pointer("/properties/timeCreated")
                .and_then(Value::as_str)
                .and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .is_some_and(|created| (now - created) > deadline)
        })
        .filter_map(|vm| vm.get("name").and_then(Value::as_str))
        .filter(|name| node(name) != Some(NodeReadiness::Ready))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// The serial console tails of `machines` (VM names in `resource_group`): fresh ones read,
/// recent ones from the cache. A log that cannot be read says why instead.
pub async fn tails(
    cache: &Cache,
    session: &ArmSession,
    resource_group: &str,
    machines: &[String],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut reads = 0;
    for name in machines {
        let key =
            format!("{}/{resource_group}/{name}", session.subscription_id()).to_ascii_lowercase();
        let cached = cache.lock().get(&key).cloned();
        if let Some((at, tail)) = &cached
            && (at.elapsed() < READ_EVERY || reads >= READS_PER_PASS)
        {
            out.insert(name.clone(), tail.clone());
            continue;
        }
        if reads >= READS_PER_PASS {
            continue;
        }
        reads += 1;
        let vm = VirtualMachineKey {
            resource_group: resource_group.to_string(),
            name: name.clone(),
        };
        let tail = match read(session, &vm).await {
            Ok(t) if t.is_empty() => "(the serial console is empty)".to_string(),
            Ok(t) => t,
            Err(e) => format!("(its boot diagnostics could not be read: {e})"),
        };
        tracing::info!(machine = %name, "read the serial console of a machine that has not joined");
        let mut kept = cache.lock();
        // A machine that joined, went or whose cluster went is read no more: its tail goes.
        kept.retain(|_, (at, _)| at.elapsed() < FORGET_AFTER);
        kept.insert(key, (Instant::now(), tail.clone()));
        drop(kept);
        out.insert(name.clone(), tail);
    }
    out
}

async fn read(
    session: &ArmSession,
    vm: &VirtualMachineKey,
) -> Result<String, azop_provider::AzureError> {
    let uris = boot_diagnostics::retrieve(session, vm, SAS_MINUTES).await?;
    let Some(uri) = uris.serial_console_log_blob_uri else {
        return Ok(String::new());
    };
    let log = boot_diagnostics::serial_log(&uri).await?;
    Ok(boot_diagnostics::tail(&log, TAIL_LINES, TAIL_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vm(name: &str, state: &str, created: &str) -> Value {
        json!({"name": name, "properties": {"provisioningState": state, "timeCreated": created}})
    }

    #[test]
    fn only_machines_past_the_deadline_without_a_ready_node_are_overdue() {
        let now = time::macros::datetime!(2026-12-06 12:00 UTC);
        let vms = [
            vm("c-cp-0", "Succeeded", "2026-12-06T11:00:00Z"),
            vm("c-w-0", "Succeeded", "2026-12-06T11:00:00Z"),
            vm("c-w-1", "Succeeded", "2026-12-06T11:55:00+00:00"),
            vm("c-w-2", "Creating", "2026-12-06T11:00:00Z"),
            vm("c-w-3", "Succeeded", "2026-12-06T11:00:00Z"),
        ];
        let nodes = |n: &str| match n {
            "c-cp-0" => Some(NodeReadiness::Ready),
            "c-w-0" => Some(NodeReadiness::NotRegistered),
            "c-w-3" => Some(NodeReadiness::NotReady),
            _ => None,
        };
        let deadline = Duration::from_secs(20 * 60);
        assert_eq!(overdue(&vms, nodes, now, deadline), vec!["c-w-0", "c-w-3"]);
        // The cluster's API does not answer: every machine past the deadline.
        assert_eq!(
            overdue(&vms, |_| None, now, deadline),
            vec!["c-cp-0", "c-w-0", "c-w-3"]
        );
    }
}
