//! Shared server state and the JSON rendering of stored resources.

use crate::config::SimConfig;
use crate::store::{Resource, Store};
use crate::types::Registry;
use parking_lot::Mutex;
use serde_json::Value;
use std::time::Instant;

pub struct AppState {
    pub config: SimConfig,
    /// Base URL clients reach us at (scheme://host:port, no trailing slash).
    pub base_url: String,
    pub store: Mutex<Store>,
    pub registry: Registry,
    pub faults: crate::faults::Faults,
    pub requests: crate::introspect::RequestLog,
    pub throttle: crate::throttle::Throttle,
    pub state_file: Option<crate::state_file::StateFile>,
    /// Where AKS kubeconfigs point (starts as `config.aks_kubeconfig`).
    pub aks_kubeconfig: Mutex<Option<crate::config::KubeconfigTarget>>,
    /// Signs the links the simulator hands out (boot diagnostics), per process.
    pub sas_key: [u8; 32],
    /// The guests, with `--machines`.
    pub machines: Option<std::sync::Arc<crate::machines::Shared>>,
}

impl AppState {
    /// Saves the store if a state file is configured (called after every change).
    pub fn persist(&self) {
        if let Some(sf) = &self.state_file
            && let Err(e) = sf.save_latest(|| self.store.lock().clone())
        {
            tracing::warn!(error = %e, "failed to save the state file");
        }
    }

    /// Saves the store if an operation ended since the last save: called once a request has
    /// been handled, before its answer is sent, so that nothing a client was shown is lost
    /// by a restart.
    pub fn persist_ended(&self) {
        if self.state_file.is_some() && self.store.lock().take_ended_unsaved() {
            self.persist();
        }
    }
}

/// The JSON a GET returns: the type's rendering, the running operation's provisioning state,
/// and the etag where the type shows it in the body.
pub fn render(registry: &Registry, store: &Store, res: &Resource) -> Value {
    let ty = registry.get(&res.type_name);
    let mut body = match &ty {
        Some(t) => t.render(res, store),
        None => res.body.clone(),
    };
    if let Some(p) = &res.pending {
        crate::lro::set_provisioning_state(&mut body, p.stage_at(Instant::now()));
    }
    if ty.as_ref().is_some_and(|t| t.etag_in_body()) {
        body["etag"] = Value::String(res.etag.clone());
    }
    body
}
