//! One Azure resource as a step of a reconcile, type-erased so a graph can hold every kind.
//!
//! A step observes with a plain GET (keeping the raw JSON for status: ids, addresses,
//! provisioning states), and writes only through the provider's pure `desired`/`diff` and its
//! PUT/DELETE calls. The reconcile reads every step once, then writes only the steps the graph
//! says to — so a steady-state resync is reads only.

use async_trait::async_trait;
use azop_provider::resources::{self, ArmResource};
use azop_provider::{ArmSession, AzureError, Difference, LroHandle, Owner};
use serde_json::Value;

/// What one GET found.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub exists: bool,
    /// Carries this object's `azop.dev/uid` tag.
    pub owned: bool,
    pub provisioning_state: Option<String>,
    /// Managed properties that differ from the spec (empty when absent or not owned).
    pub drift: Vec<Difference>,
    /// The resource as ARM returned it.
    pub raw: Option<Value>,
}

impl Observation {
    /// Provisioned: no state means Succeeded, as in ARM.
    pub fn succeeded(&self) -> bool {
        self.exists
            && self
                .provisioning_state
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"))
    }

    pub fn failed(&self) -> bool {
        self.provisioning_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled"))
    }

    /// A string at a JSON pointer of the raw resource, e.g. `/properties/ipAddress`.
    pub fn str_at(&self, pointer: &str) -> Option<String> {
        self.raw
            .as_ref()
            .and_then(|v| v.pointer(pointer))
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

#[async_trait]
pub trait Step: Send + Sync {
    /// ARM type, e.g. `Microsoft.Network/virtualNetworks`.
    fn resource_type(&self) -> &'static str;
    fn name(&self) -> &str;
    /// The ARM id (path) in `subscription_id`.
    fn id(&self, subscription_id: &str) -> String;
    async fn observe(&self, session: &ArmSession, owner: &Owner)
    -> Result<Observation, AzureError>;
    /// PUT the desired body. `Some(handle)` when an operation is under way.
    async fn put(
        &self,
        session: &ArmSession,
        owner: &Owner,
    ) -> Result<Option<LroHandle>, AzureError>;
    /// DELETE. The caller has checked ownership on a fresh observation.
    async fn delete(&self, session: &ArmSession) -> Result<Option<LroHandle>, AzureError>;
}

/// A provider resource module with its key and spec.
pub struct ResourceStep<R: ArmResource> {
    pub name: String,
    pub key: R::Key,
    pub spec: R::Spec,
}

impl<R: ArmResource> ResourceStep<R> {
    pub fn new(name: impl Into<String>, key: R::Key, spec: R::Spec) -> Self {
        ResourceStep {
            name: name.into(),
            key,
            spec,
        }
    }
}

fn provisioning_state(raw: &Value) -> Option<String> {
    raw.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[async_trait]
impl<R: ArmResource> Step for ResourceStep<R>
where
    R::Spec: 'static,
    R::Key: 'static,
{
    fn resource_type(&self) -> &'static str {
        R::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn id(&self, subscription_id: &str) -> String {
        R::path(subscription_id, &self.key)
    }

    async fn observe(
        &self,
        session: &ArmSession,
        owner: &Owner,
    ) -> Result<Observation, AzureError> {
        let path = R::path(session.subscription_id(), &self.key);
        let Some(resp) = session.get(&path, R::API_VERSION).await? else {
            return Ok(Observation::default());
        };
        let typed: R::Observed = resp.parse(R::RESOURCE_TYPE)?;
        let raw = resp.json();
        let owned = owner.owns(R::owner_uid(&typed).as_deref());
        let drift = if owned {
            R::diff(&R::desired(&self.key, &self.spec, owner), &typed)
        } else {
            Vec::new()
        };
        Ok(Observation {
            exists: true,
            owned,
            provisioning_state: raw.as_ref().and_then(provisioning_state),
            drift,
            raw,
        })
    }

    async fn put(
        &self,
        session: &ArmSession,
        owner: &Owner,
    ) -> Result<Option<LroHandle>, AzureError> {
        resources::put_desired::<R>(session, &self.key, &self.spec, owner).await
    }

    async fn delete(&self, session: &ArmSession) -> Result<Option<LroHandle>, AzureError> {
        resources::delete_observed::<R>(session, &self.key).await
    }
}
