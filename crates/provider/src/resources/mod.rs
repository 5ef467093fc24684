//! One module per Azure resource kind, all with the same shape.
//!
//! Each kind implements [`ArmResource`]: how to address it (`Key`), what the user wants
//! (`Spec`), the ARM PUT body (`Body`, built by the pure [`ArmResource::desired`]), what a
//! GET returns (`Observed`), the pure [`ArmResource::diff`], and the three calls (GET, PUT,
//! DELETE — usually through a generated azure_mgmt builder's `.send()`).
//!
//! The controllers' engine (`azop-controllers`, `engine::ResourceStep`) reads each resource
//! once per pass through its observer, compares with `desired`/`diff` itself, and writes
//! with [`put_desired`] / [`delete_observed`]; a PUT or DELETE that starts an operation
//! returns its [`LroHandle`], which the engine stores in status and polls with
//! [`crate::ArmSession::poll_once`] on later passes. The self-contained functions below give
//! every kind the same read-compare-write behaviour for callers without an engine (tools,
//! the provider's own tests):
//!
//! - [`ensure`]: GET; absent → PUT; present but not carrying this object's `azop.dev_uid` →
//!   [`EnsureOutcome::NotOwned`], no write; present and owned → PUT only when `diff` is not
//!   empty.
//! - [`delete`]: GET; absent → Gone; not ours → NotOwned (no DELETE is sent); else DELETE,
//!   404/204/200 → Gone, 202 → Started(handle).
//!
//! # How to add a resource module
//!
//! 1. Create `src/resources/<kind>.rs` (or a file under `network/`, `compute/`,
//!    `containerservice/`) with a unit struct, e.g. `pub struct PublicIp;`.
//! 2. Define `Key` (names only: resource group, name, parent names) and `Spec` (desired
//!    properties, `location`, user `tags`). Keep validation out: the API crate validates.
//! 3. `Body`: the generated model (`azure_mgmt_network::models::PublicIpAddress`, …) when it
//!    serializes the right wire shape; a local serde model otherwise (AKS, and anything whose
//!    generated enum has no unknown-value fallback). `Observed`: the same model, or a local
//!    one when deserializing the server's answer with the generated model can fail.
//! 4. `desired`: build the body from key + spec + owner. Always set tags with
//!    [`Owner::tags`] (or, for kinds without ARM tags, owner metadata — see blob_container).
//!    Set only what azop manages; everything else stays `None` so Azure's defaults apply.
//! 5. `diff`: compare only fields `desired` sets, through the helpers in [`diff`]
//!    (locations and ids case-insensitively, id lists as sets, tags as "desired ⊆ observed").
//!    Server-populated fields (ids, etags, provisioningState, default rules, back-references
//!    such as a subnet's ipConfigurations) never count. Write a test that feeds the body
//!    of a real GET-after-PUT response (from the azure-rest-api-specs examples, re-typed as a
//!    fixture) to `diff` and expects no difference, and one per managed field that does.
//! 6. `observe`/`put`/`send_delete`: call the generated builder's `.send()` through
//!    [`crate::ArmSession::mgmt`] (never `.await` the builder itself: that runs the crate's
//!    broken LRO loop), or [`crate::ArmSession::call`] for raw calls at the module's
//!    `API_VERSION`.
//! 7. `owner_uid`: read the `azop.dev_uid` tag with [`diff::tag_value`].
//! 8. Register the module in the parent `mod.rs`; add it to docs/provider.md's table.

pub mod blob_container;
pub mod compute;
pub mod containerservice;
pub mod diff;
pub mod network;
pub mod read_only;
pub mod resource_group;
pub mod storage_account;

use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::lro::LroHandle;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;

/// Tag naming the owning Kubernetes object: `<kind>/<namespace>/<name>`.
pub const OWNER_TAG: &str = "azop.dev_owner";
/// Tag carrying the owning object's uid: the only proof of ownership azop accepts.
pub const UID_TAG: &str = "azop.dev_uid";

/// The Kubernetes object on whose behalf a resource is managed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The CRD kind, e.g. `AzureCluster`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Owner {
    pub fn new(
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
        uid: impl Into<String>,
    ) -> Self {
        Owner {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    pub fn owner_tag_value(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }

    /// The user's tags plus ours; ours win, and user tags that collide with ours
    /// (case-insensitively, as Azure compares tag names) are dropped.
    pub fn tags(&self, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut tags: BTreeMap<String, String> = user
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(OWNER_TAG) && !k.eq_ignore_ascii_case(UID_TAG))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.insert(OWNER_TAG.to_owned(), self.owner_tag_value());
        tags.insert(UID_TAG.to_owned(), self.uid.clone());
        tags
    }

    /// Does an observed uid mark say this object owns the resource?
    pub fn owns(&self, observed_uid: Option<&str>) -> bool {
        observed_uid.is_some_and(|u| u == self.uid)
    }
}

/// One managed property whose observed value differs from the desired one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The ARM property path, e.g. `properties.networkAcls.defaultAction`.
    pub field: String,
    pub desired: String,
    pub observed: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.observed, self.desired)
    }
}

/// Why a PUT was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created,
    /// Drift corrected: the differences found (worth an Event).
    Updated(Vec<Difference>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnsureOutcome {
    /// Observed state matches: nothing was written.
    Unchanged,
    /// The PUT completed synchronously.
    Done { change: Change },
    /// The PUT started an operation: store the handle, poll it later.
    Started { handle: LroHandle, change: Change },
    /// The resource exists without this object's uid tag: nothing was written.
    NotOwned,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// Not there (any more).
    Gone,
    Started(LroHandle),
    /// Exists without this object's uid tag: no DELETE was sent.
    NotOwned,
}

/// The shape every resource kind implements. See the module docs for how to add one.
#[async_trait::async_trait]
pub trait ArmResource: Send + Sync + 'static {
    /// Addressing only: resource group, name, parent names.
    type Key: Send + Sync + Clone + fmt::Debug;
    /// What the user wants.
    type Spec: Send + Sync;
    /// The ARM PUT body.
    type Body: Serialize + Send + Sync + fmt::Debug;
    /// What a GET returns.
    type Observed: DeserializeOwned + Send + Sync + fmt::Debug;

    /// `Microsoft.Storage/storageAccounts`, … (logs and errors).
    const RESOURCE_TYPE: &'static str;
    /// The API version of the raw calls and of resumed polls (the generated builders carry
    /// their own, which must be the same).
    const API_VERSION: &'static str;
    /// Whether ARM honours `If-None-Match: *` on this type's PUT at `API_VERSION` (412 when
    /// it exists; [`crate::create_only`]), so a create needs no GET first to be sure it
    /// takes nothing over. Only for types whose resource provider checks ETags on writes:
    /// Microsoft.Network's resources, Compute's virtual machines (declared in the spec at
    /// 2024-07-01). Not resource groups (no ETag) nor storage accounts (none in their spec):
    /// ARM would ignore the header and overwrite.
    const CREATE_ONLY: bool = false;

    /// The ARM path (the resource id) of the resource.
    fn path(subscription_id: &str, key: &Self::Key) -> String;

    /// Pure: the PUT body.
    fn desired(key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> Self::Body;

    /// Pure: the managed properties that differ. Empty = nothing to write.
    fn diff(desired: &Self::Body, observed: &Self::Observed) -> Vec<Difference>;

    /// The `azop.dev_uid` mark on an observed resource.
    fn owner_uid(observed: &Self::Observed) -> Option<String>;

    /// GET. Default: a raw GET at `API_VERSION`, 404 → `None`.
    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<Self::Observed>, AzureError> {
        let path = Self::path(session.subscription_id(), key);
        match session.get(&path, Self::API_VERSION).await? {
            None => Ok(None),
            Some(resp) => Ok(Some(resp.parse(Self::RESOURCE_TYPE)?)),
        }
    }

    /// Pure: the JSON a PUT of `body` sends. Default: the body's serialization, which is what
    /// a generated builder sends too. A kind whose generated model serializes read-only fields
    /// as `null` overrides it with [`without_nulls`] and PUTs through `call` (see
    /// [`read_only`]: every kind's wire body is checked against the read-only properties of
    /// its REST spec).
    fn wire(body: &Self::Body) -> Result<serde_json::Value, AzureError> {
        serde_json::to_value(body)
            .map_err(|e| AzureError::config(format!("failed to serialize request body: {e}")))
    }

    /// PUT. Default: a raw PUT of [`ArmResource::wire`] at `API_VERSION`.
    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &Self::Body,
    ) -> Result<RawResponse, AzureError> {
        let path = Self::path(session.subscription_id(), key);
        session
            .call(
                azure_core::Method::Put,
                &path,
                Self::API_VERSION,
                Some(&Self::wire(body)?),
            )
            .await
    }

    /// DELETE. Default: a raw DELETE at `API_VERSION`.
    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let path = Self::path(session.subscription_id(), key);
        session
            .call::<()>(azure_core::Method::Delete, &path, Self::API_VERSION, None)
            .await
    }

    /// Removes this owner's marks and nothing else (`deletionPolicy: Orphan`). Default: the
    /// Tags API ([`remove_ownership_tags`]); a kind whose marks are not ARM tags (an agent
    /// pool's `properties.tags`, a container's metadata) or that has none overrides it.
    async fn disown(
        session: &ArmSession,
        key: &Self::Key,
        owner: &Owner,
    ) -> Result<(), AzureError> {
        remove_ownership_tags(session, &Self::path(session.subscription_id(), key), owner).await
    }
}

/// The Tags API's version (`Microsoft.Resources/tags` at a scope).
pub const TAGS_API_VERSION: &str = "2021-04-01";

/// The Tags API body that deletes this owner's two tags (pure): `operation: Delete` removes a
/// tag only where name and value both match, so another owner's tags stay.
pub fn ownership_tags_delete(owner: &Owner) -> serde_json::Value {
    let tags: serde_json::Map<String, serde_json::Value> = [
        (OWNER_TAG.to_owned(), owner.owner_tag_value().into()),
        (UID_TAG.to_owned(), owner.uid.clone().into()),
    ]
    .into_iter()
    .collect();
    serde_json::json!({"operation": "Delete", "properties": {"tags": tags}})
}

/// Removes this owner's `azop.dev_owner` and `azop.dev_uid` tags from the resource (or
/// resource group) at `id` through the Tags API (`PATCH {id}/providers/Microsoft.Resources/
/// tags/default`): its other tags and its properties are not touched, and no PUT of the
/// resource is sent. Already gone is done.
pub async fn remove_ownership_tags(
    session: &ArmSession,
    id: &str,
    owner: &Owner,
) -> Result<(), AzureError> {
    let path = format!("{id}/providers/Microsoft.Resources/tags/default");
    match session
        .call(
            azure_core::Method::Patch,
            &path,
            TAGS_API_VERSION,
            Some(&ownership_tags_delete(owner)),
        )
        .await
    {
        Ok(_) | Err(AzureError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes this owner's marks from the resource (see [`ArmResource::disown`]).
pub async fn disown<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
    owner: &Owner,
) -> Result<(), AzureError> {
    R::disown(session, key, owner).await
}

/// `v` without `null` members, at any depth (pure). A PUT never needs a `null`: an unset
/// property is left out, and the generated models' `null`s are read-only fields
/// (`timeCreated`) that Azure never takes.
pub fn without_nulls(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// GET the resource.
pub async fn observe<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
) -> Result<Option<R::Observed>, AzureError> {
    R::observe(session, key).await
}

/// Read, compare, and PUT only when needed (see module docs).
pub async fn ensure<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
    spec: &R::Spec,
    owner: &Owner,
) -> Result<EnsureOutcome, AzureError> {
    let desired = R::desired(key, spec, owner);
    let change = match R::observe(session, key).await? {
        None => Change::Created,
        Some(observed) => {
            if !owner.owns(R::owner_uid(&observed).as_deref()) {
                tracing::info!(
                    resource_type = R::RESOURCE_TYPE,
                    ?key,
                    "resource exists but is not ours; leaving it alone"
                );
                return Ok(EnsureOutcome::NotOwned);
            }
            let differences = R::diff(&desired, &observed);
            if differences.is_empty() {
                return Ok(EnsureOutcome::Unchanged);
            }
            tracing::info!(resource_type = R::RESOURCE_TYPE, ?key, drift = ?differences, "correcting drift");
            Change::Updated(differences)
        }
    };
    Ok(match put_desired::<R>(session, key, spec, owner).await? {
        Some(handle) => EnsureOutcome::Started { handle, change },
        None => EnsureOutcome::Done { change },
    })
}

/// PUT the desired body without reading first: for a caller that has just observed the
/// resource and checked ownership itself (the controllers' graph). `Some(handle)` when an
/// operation is under way.
pub async fn put_desired<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
    spec: &R::Spec,
    owner: &Owner,
) -> Result<Option<LroHandle>, AzureError> {
    put_body::<R>(session, key, &R::desired(key, spec, owner)).await
}

/// What a conditional create ([`create_desired`]) did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Created: `Some(handle)` when an operation is under way.
    Started(Option<LroHandle>),
    /// ARM answered 412 to `If-None-Match: *`: something of that name exists (made since
    /// the caller last looked). Nothing was written; read it and decide.
    Exists,
}

/// Create the resource with the desired body only if nothing of that name exists, for a
/// caller whose observation found nothing: the PUT carries `If-None-Match: *` when the type
/// honours it ([`ArmResource::CREATE_ONLY`]; the caller must have confirmed the absence by
/// GET otherwise). `spec` may differ from the step's own (a machine's customData).
pub async fn create_desired<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
    spec: &R::Spec,
    owner: &Owner,
) -> Result<Created, AzureError> {
    if !R::CREATE_ONLY {
        return Ok(Created::Started(
            put_desired::<R>(session, key, spec, owner).await?,
        ));
    }
    match crate::create_only::scope(put_desired::<R>(session, key, spec, owner)).await {
        (_, true) => Ok(Created::Exists),
        (r, false) => Ok(Created::Started(r?)),
    }
}

/// PUT a body the caller computed from what it observed (an AKS cluster at the version that
/// runs, a pool with the autoscaler's count). `Some(handle)` when an operation is under way.
pub async fn put_body<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
    body: &R::Body,
) -> Result<Option<LroHandle>, AzureError> {
    let resp = R::put(session, key, body).await?;
    let path = R::path(session.subscription_id(), key);
    Ok(session.start_lro("PUT", &path, R::API_VERSION, &resp))
}

/// DELETE without reading first (the caller checked ownership on a fresh observation).
/// Already gone is done: `None`, as is a synchronous delete.
pub async fn delete_observed<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
) -> Result<Option<LroHandle>, AzureError> {
    let resp = match R::send_delete(session, key).await {
        Ok(resp) => resp,
        Err(AzureError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let path = R::path(session.subscription_id(), key);
    Ok(session.start_lro("DELETE", &path, R::API_VERSION, &resp))
}

/// Delete the resource if, and only if, it carries this object's uid.
pub async fn delete<R: ArmResource>(
    session: &ArmSession,
    key: &R::Key,
    owner: &Owner,
) -> Result<DeleteOutcome, AzureError> {
    let Some(observed) = R::observe(session, key).await? else {
        return Ok(DeleteOutcome::Gone);
    };
    if !owner.owns(R::owner_uid(&observed).as_deref()) {
        tracing::info!(
            resource_type = R::RESOURCE_TYPE,
            ?key,
            "not deleting a resource that is not ours"
        );
        return Ok(DeleteOutcome::NotOwned);
    }
    Ok(match delete_observed::<R>(session, key).await? {
        Some(handle) => DeleteOutcome::Started(handle),
        None => DeleteOutcome::Gone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_are_conditional_only_where_arm_honours_if_none_match() {
        use compute::{image::Image, managed_disk::ManagedDisk, virtual_machine::VirtualMachine};
        use network::{
            load_balancer::LoadBalancer,
            nat_gateway::NatGateway,
            network_interface::NetworkInterface,
            network_security_group::NetworkSecurityGroup,
            private_endpoint::{PrivateDnsZone, PrivateEndpoint},
            public_ip::PublicIp,
            virtual_network::VirtualNetwork,
        };
        // Microsoft.Network keeps ETags and checks them on writes; virtual machines declare
        // If-None-Match at the api-version azop uses.
        let honoured = [
            VirtualNetwork::CREATE_ONLY,
            NetworkSecurityGroup::CREATE_ONLY,
            PublicIp::CREATE_ONLY,
            LoadBalancer::CREATE_ONLY,
            NatGateway::CREATE_ONLY,
            NetworkInterface::CREATE_ONLY,
            VirtualMachine::CREATE_ONLY,
        ];
        assert!(honoured.iter().all(|c| *c));
        assert_eq!(
            compute::API_VERSION,
            "2024-07-01",
            "If-None-Match checked at this version"
        );
        // ARM would ignore the header (and overwrite): their absence is confirmed by GET.
        let ignored = [
            resource_group::ResourceGroup::CREATE_ONLY,
            storage_account::StorageAccount::CREATE_ONLY,
            blob_container::BlobContainer::CREATE_ONLY,
            Image::CREATE_ONLY,
            ManagedDisk::CREATE_ONLY,
            PrivateDnsZone::CREATE_ONLY,
            // Made with side effects (a NIC, a connection) before the check: see its module.
            PrivateEndpoint::CREATE_ONLY,
        ];
        assert!(ignored.iter().all(|c| !*c));
    }

    #[test]
    fn owner_tags_win_over_user_tags() {
        let owner = Owner::new("AzureCluster", "team-a", "prod", "uid-1");
        let user: BTreeMap<String, String> = [
            ("env".to_owned(), "prod".to_owned()),
            ("AZOP.DEV_UID".to_owned(), "forged".to_owned()),
        ]
        .into_iter()
        .collect();
        let tags = owner.tags(&user);
        assert_eq!(tags.get("env").map(String::as_str), Some("prod"));
        assert_eq!(tags.get(UID_TAG).map(String::as_str), Some("uid-1"));
        assert_eq!(
            tags.get(OWNER_TAG).map(String::as_str),
            Some("AzureCluster/team-a/prod")
        );
        assert!(!tags.contains_key("AZOP.DEV_UID"));
        assert!(owner.owns(Some("uid-1")));
        assert!(!owner.owns(Some("uid-2")));
        assert!(!owner.owns(None));
    }
}
