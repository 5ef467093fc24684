//! One pass over a ProxyConfig: check, keep the CA bundle ConfigMap, list consumers, write
//! status when it changed, publish an Event when Ready flips.

use std::collections::BTreeSet;
use std::sync::Arc;

use azop_api::v1alpha1::proxy_config::ProxyConfig;
use azop_api::v1alpha1::{DriftChange, ReconcilePolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::{ProxyContext, ca, compute, validate};
use crate::engine::{drift, status};
use crate::error::Error;
use crate::events;
use crate::retry::PassOutcome;

pub const KIND: &str = "ProxyConfig";
pub const MANAGER: &str = "proxyconfigs.azop.dev";
const CONTROLLER: &str = "proxyconfig";

pub async fn reconcile(obj: Arc<ProxyConfig>, pctx: Arc<ProxyContext>) -> Result<Action, Error> {
    let ctx = &pctx.ctx;
    let gate = &ctx.settings.shards;
    let uid = obj.uid().unwrap_or_default();
    // Another replica's (see crate::shard); woken again when this one takes the shard.
    if !gate.owns(&uid) {
        return Ok(Action::await_change());
    }
    let started = std::time::Instant::now();
    let result = tokio::select! {
        biased;
        () = gate.lost(&uid) => return Ok(Action::await_change()),
        r = apply(&obj, &pctx) => r,
    };
    let label = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .record_pass(CONTROLLER, label, started.elapsed());
    if result.is_ok() {
        ctx.backoff.succeeded(&uid);
    }
    pctx.after_pass(&uid);
    result
}

pub fn error_policy(obj: Arc<ProxyConfig>, err: &Error, pctx: Arc<ProxyContext>) -> Action {
    let ctx = &pctx.ctx;
    ctx.metrics.record_error(CONTROLLER, err.class_label());
    tracing::warn!(object = %object_key(&obj), error = %err.chain(), "reconcile failed");
    // By uid, as every kind's backoff (`engine::forget`).
    let uid = obj.uid().unwrap_or_default();
    let action = ctx
        .backoff
        .requeue(&uid, PassOutcome::stopped(err.retry_class()));
    pctx.after_pass(&uid);
    action
}

/// The drift key of the bundle ConfigMap (a ProxyConfig has no other resource).
const CONFIGMAP_KEY: &str = "configmap";

fn configmap_found(p: &ProxyConfig, changes: Vec<DriftChange>) -> drift::Found {
    drift::Found {
        key: CONFIGMAP_KEY.to_string(),
        kind: "ConfigMap".to_string(),
        name: ca::ca_configmap_name(&p.name_any()),
        changes,
    }
}

fn object_key(obj: &ProxyConfig) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

async fn apply(p: &ProxyConfig, pctx: &ProxyContext) -> Result<Action, Error> {
    let ctx = &pctx.ctx;
    if p.metadata.deletion_timestamp.is_some() {
        // Nothing of ours to clean up: the garbage collector removes the bundle ConfigMap
        // (or, with deletionPolicy Orphan, leaves it: it has no owner reference).
        return Ok(Action::await_change());
    }
    let ns = p.namespace().unwrap_or_default();
    let now = Timestamp::now();
    let all = pctx.proxies.state();

    let spec = validate::spec(p);
    let source = ca::read(&ctx.client, &ns, p.spec.trusted_ca.as_ref()).await?;
    let (trusted_ca, bundle) = validate::trusted_ca(&source, now.as_second());
    // Read before write, so a bundle changed by hand is drift: corrected (Manage) or only
    // reported (DetectOnly, which writes nothing).
    let existing = ca::current_configmap(&ctx.client, p).await?;
    let changes = ca::bundle_drift(existing.as_ref(), bundle.as_ref());
    let policy = p.spec.reconcile_policy;
    let mut corrected = BTreeSet::new();
    let found: Vec<drift::Found> = match policy {
        ReconcilePolicy::Manage => {
            ca::keep_configmap(&ctx.client, p, bundle.as_ref()).await?;
            // A bundle written for the first time is not drift; one put back is.
            if existing.is_some() && !changes.is_empty() {
                corrected.insert(CONFIGMAP_KEY.to_string());
                vec![configmap_found(p, changes)]
            } else {
                Vec::new()
            }
        }
        ReconcilePolicy::DetectOnly if changes.is_empty() => Vec::new(),
        ReconcilePolicy::DetectOnly => vec![configmap_found(p, changes)],
    };
    let default = validate::default_unique(p, &all);

    let mut consumers =
        compute::cluster_consumers(p, &pctx.azure_clusters.state(), &pctx.aks_clusters.state());
    let pods = pctx.pods.state();
    consumers.extend(compute::workload_consumers(
        p,
        pods.iter().map(|m| &m.metadata),
    ));

    let (mut new_status, transition) =
        compute::report(p, &[spec, trusted_ca, default], consumers, &Time(now));
    let previous = p.status.clone().unwrap_or_default();
    drift::report(
        &mut new_status.common,
        &mut new_status.drift,
        (&previous.common, &previous.drift),
        &drift::Assessed {
            policy,
            found: &found,
            corrected: &corrected,
        },
        p.metadata.generation,
        &Time(now),
    );
    if let Some(note) = drift::detected_note(policy, &previous.drift, &found) {
        events::publish(
            ctx,
            "azop",
            p,
            note.type_,
            note.reason,
            note.action,
            note.message,
        )
        .await;
    } else if !corrected.is_empty() {
        let what: Vec<String> = found.iter().map(drift::Found::describe).collect();
        events::publish(
            ctx,
            "azop",
            p,
            EventType::Normal,
            "DriftCorrected",
            "Update",
            format!("corrected drift on {}", what.join("; ")),
        )
        .await;
    }
    // Write only a change: every status write is a watch event that wakes this controller.
    if p.status.as_ref() != Some(&new_status) {
        status::apply_status(&ctx.client, MANAGER, p, &new_status)
            .await
            .map_err(|e| Error::kube(format!("write status of {KIND} {}", object_key(p)), e))?;
    }
    if let Some(t) = transition {
        let type_ = if t.warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        events::publish(ctx, "azop", p, type_, &t.reason, "Reconcile", t.note).await;
    }
    // The resync re-reads the CA (its expiry) and the consumers; changes in between come
    // through the watches.
    Ok(Action::requeue(ctx.settings.resync))
}
