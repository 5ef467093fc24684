//! Resource types: what each ARM type validates, computes and refuses.
//!
//! # How to add a resource type
//!
//! 1. Create a module (e.g. `types/network/nsg.rs`) with a unit struct implementing
//!    [`ResourceType`]:
//!    - `type_name()`: the full ARM type, e.g. `Microsoft.Network/networkSecurityGroups`
//!      (child types spell the whole chain: `Microsoft.Network/virtualNetworks/subnets`).
//!    - `validate(ctx)`: check the PUT body against the store (`ctx.store.get(id)` for
//!      references; return `ArmError`s with Azure's codes) and return the normalized body —
//!      the engine then stamps `id`, `name`, `type`, `etag` and `properties.provisioningState`.
//!      `ctx.existing` is the stored resource on update; `ctx.is_patch` says the body is an
//!      existing body with a JSON merge patch already applied.
//!    - `put_flow()` / `patch_flow()` / `delete_flow()`: [`Flow::Sync`], [`Flow::AsyncOperation`]
//!      (201/200 + `Azure-AsyncOperation`), [`Flow::Location`] (202 empty body + `Location`),
//!      or [`Flow::AsyncOperationAndLocation`] (both headers; the Network RP's DELETE).
//!    - `typical_latency(kind)`: Azure's usual time, used by the `realistic` preset.
//!    - `provisioning_stages(kind)`: the non-terminal states shown while it runs.
//!    - `check_write(existing, store)`: refuse writes while busy (AnotherOperationInProgress,
//!      OperationNotAllowed); the default refuses only writes to a resource being deleted.
//!    - `check_delete(res, store)`: in-use refusals (InUseSubnetCannotBeDeleted…).
//!    - `after_write(id, store)`: keep mirrored children in step (AKS agent pools, VNet
//!      subnets). Deleting cascades to every resource below the id automatically.
//!    - `render(res, store)`: the JSON a GET returns; compute back-references here.
//!    - `action(name, ctx)`: POST actions such as `listKeys`.
//! 2. Register it in [`registry`] (`reg.add(MyType)`); provider-level POST actions (like
//!    storage `checkNameAvailability`) go in with `reg.add_provider_action`.
//! 3. Make sure its namespace has api-versions in `api_versions.rs`.

pub mod blob_data;
pub mod compute;
pub mod containerservice;
pub mod network;
pub mod resources;
pub mod storage;

use crate::armid::ResourceId;
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How a write or delete answers and is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Done in the request: 200/201 (PUT), 200/204 (DELETE).
    Sync,
    /// PUT 201/200 with the body and `Azure-AsyncOperation`; DELETE 202 with it.
    AsyncOperation,
    /// 202 with an empty body and `Location` (storage account create, most DELETEs).
    Location,
    /// 202 with both `Location` and `Azure-AsyncOperation` (Network RP DELETE).
    AsyncOperationAndLocation,
}

/// What `validate` sees.
pub struct PutContext<'a> {
    pub id: &'a ResourceId,
    /// The id string to be stored (as first written).
    pub id_str: &'a str,
    pub body: Value,
    pub existing: Option<&'a Resource>,
    pub store: &'a Store,
    pub api_version: &'a str,
    pub is_patch: bool,
}

/// What `action` sees.
pub struct ActionContext<'a> {
    pub resource: &'a Resource,
    pub store: &'a Store,
    pub body: Value,
    pub api_version: &'a str,
    /// The request's query parameters (`format=exec`).
    pub query: &'a [(String, String)],
    /// Where AKS kubeconfigs point, when the simulator was told.
    pub kubeconfig: Option<crate::config::KubeconfigTarget>,
    /// The simulator's base URL (links it hands out: boot diagnostics).
    pub base_url: &'a str,
    /// Signs the SAS-like links it hands out.
    pub sas_key: &'a [u8],
}

impl ActionContext<'_> {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A provider-level GET in a location:
/// `/subscriptions/{sub}/providers/{ns}/locations/{location}/{name}` (AKS `kubernetesVersions`).
pub type LocationRead = Arc<dyn Fn(&str, &str) -> Result<Value, ArmError> + Send + Sync>;

pub trait ResourceType: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    /// Validates and normalizes a PUT (or merged PATCH) body.
    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError>;
    fn put_flow(&self) -> Flow;
    fn patch_flow(&self) -> Flow {
        self.put_flow()
    }
    fn delete_flow(&self) -> Flow;
    fn typical_latency(&self, _kind: OpKind) -> Duration {
        Duration::ZERO
    }
    fn provisioning_stages(&self, kind: OpKind) -> Vec<String> {
        vec![
            match kind {
                OpKind::Create => "Creating",
                OpKind::Update => "Updating",
                OpKind::Delete => "Deleting",
            }
            .to_string(),
        ]
    }
    /// Refuses a write on an existing resource (e.g. while an operation runs).
    fn check_write(&self, existing: &Resource, _store: &Store) -> Result<(), ArmError> {
        match &existing.pending {
            Some(p) if p.kind == OpKind::Delete => Err(ArmError::conflict(
                "Conflict",
                format!("The resource '{}' is being deleted.", existing.id),
            )),
            _ => Ok(()),
        }
    }
    fn check_delete(&self, _res: &Resource, _store: &Store) -> Result<(), ArmError> {
        Ok(())
    }
    fn after_write(&self, _id: &str, _store: &mut Store) {}
    /// Runs once a delete has finished and `res` (and its children) left the store: remove
    /// what goes with it (a VM's OS disk with `deleteOption: Delete`, a private endpoint's NIC).
    fn after_delete(&self, _res: &Resource, _store: &mut Store) {}
    /// Adds what `$expand=<expand>` asks for to a GET body (VM `instanceView`).
    fn expand(&self, _expand: &str, _res: &Resource, _store: &Store, _body: &mut Value) {}
    fn render(&self, res: &Resource, _store: &Store) -> Value {
        res.body.clone()
    }
    fn action(&self, name: &str, _ctx: ActionContext<'_>) -> Result<Value, ArmError> {
        Err(ArmError::not_found(
            "ResourceNotFound",
            format!(
                "The action '{name}' is not supported on type '{}'.",
                self.type_name()
            ),
        ))
    }
    /// Whether `etag` appears in the body too (Network RP does this).
    fn etag_in_body(&self) -> bool {
        false
    }
    fn not_found_code(&self) -> &'static str {
        "ResourceNotFound"
    }
}

/// A provider-level POST action: `/subscriptions/{sub}/providers/{ns}/{action}`.
pub type ProviderAction =
    Arc<dyn Fn(&str, &Value, &Store) -> Result<Value, ArmError> + Send + Sync>;

#[derive(Default, Clone)]
pub struct Registry {
    types: HashMap<String, Arc<dyn ResourceType>>,
    provider_actions: HashMap<(String, String), ProviderAction>,
    location_reads: HashMap<(String, String), LocationRead>,
}

impl Registry {
    pub fn add<T: ResourceType>(&mut self, t: T) {
        self.types
            .insert(t.type_name().to_ascii_lowercase(), Arc::new(t));
    }

    pub fn add_provider_action(&mut self, namespace: &str, action: &str, f: ProviderAction) {
        self.provider_actions.insert(
            (namespace.to_ascii_lowercase(), action.to_ascii_lowercase()),
            f,
        );
    }

    pub fn add_location_read(&mut self, namespace: &str, name: &str, f: LocationRead) {
        self.location_reads.insert(
            (namespace.to_ascii_lowercase(), name.to_ascii_lowercase()),
            f,
        );
    }

    pub fn location_read(&self, namespace: &str, name: &str) -> Option<LocationRead> {
        self.location_reads
            .get(&(namespace.to_ascii_lowercase(), name.to_ascii_lowercase()))
            .cloned()
    }

    pub fn get(&self, type_name: &str) -> Option<Arc<dyn ResourceType>> {
        self.types.get(&type_name.to_ascii_lowercase()).cloned()
    }

    pub fn provider_action(&self, namespace: &str, action: &str) -> Option<ProviderAction> {
        self.provider_actions
            .get(&(namespace.to_ascii_lowercase(), action.to_ascii_lowercase()))
            .cloned()
    }
}

/// Every resource type the simulator knows.
pub fn registry() -> Registry {
    registry_for(&crate::SimConfig::default())
}

/// [`registry`], with what `config` changes in the types (Azurite behind storage accounts).
pub fn registry_for(config: &crate::SimConfig) -> Registry {
    let mut reg = Registry::default();
    reg.add(resources::ResourceGroups);
    storage::register(&mut reg, config.blob_service.clone());
    containerservice::register(&mut reg);
    network::register(&mut reg, config.public_pool, config.public_pool_offset);
    compute::register(&mut reg);
    reg
}

/// Helpers shared by type implementations.
pub mod util {
    use crate::errors::ArmError;
    use serde_json::{Map, Value};

    /// The body's `location`, required for tracked resources (`LocationRequired`).
    pub fn require_location(body: &Value) -> Result<String, ArmError> {
        body.get("location")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(normalize_location)
            .ok_or_else(|| {
                ArmError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
            })
    }

    /// ARM answers locations lower-case without spaces ("West Europe" → "westeurope").
    pub fn normalize_location(l: &str) -> String {
        l.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// `body.properties` as an object, created if absent.
    pub fn properties_mut(body: &mut Value) -> &mut Map<String, Value> {
        if !body.get("properties").is_some_and(Value::is_object) {
            body["properties"] = Value::Object(Map::new());
        }
        match body.get_mut("properties") {
            Some(Value::Object(m)) => m,
            _ => unreachable!("properties was just made an object"),
        }
    }

    /// Keeps only the top-level fields ARM stores for a tracked resource.
    pub fn tracked_body(body: &Value, extra: &[&str]) -> Value {
        let mut out = Map::new();
        for k in [
            "location",
            "tags",
            "zones",
            "sku",
            "kind",
            "identity",
            "extendedLocation",
            "properties",
        ]
        .iter()
        .chain(extra.iter())
        {
            if let Some(v) = body.get(*k)
                && !v.is_null()
            {
                out.insert((*k).to_string(), v.clone());
            }
        }
        Value::Object(out)
    }
}
