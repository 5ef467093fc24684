//! The StorageBinding's custom steps: what is not a plain ARM PUT.
//!
//! - [`VhdCopy`]: the base VHD, copied server-side (async Copy Blob) into the container as a
//!   page blob. Observing reads the destination blob (`x-ms-copy-*`), so a restarted operator
//!   finds a copy under way and keeps polling it: a copy is started only when the blob is
//!   absent, or after one that failed (held and retried with backoff). A finished copy is
//!   checked as Azure checks a VHD before it makes an image (fixed, a valid footer, a whole
//!   number of MiB plus the footer). The blob carries azop's uid in its metadata.
//! - [`ImageFromBlob`]: the managed image, whose blob URI comes from the account's blob
//!   endpoint (read when observed: Azure's is `https://<account>.blob.core.windows.net/`, a
//!   sovereign cloud's or the test environment's is not).
//! - [`ZoneGroup`]: a private endpoint's DNS zone group, which has no tags: it is ours when
//!   its endpoint is.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use azop_provider::resources::blob_container::{OWNER_METADATA, UID_METADATA};
use azop_provider::resources::compute::image::{Image, ImageKey, ImageSpec};
use azop_provider::resources::network::private_endpoint::{
    PrivateDnsZoneGroup, PrivateDnsZoneGroupKey, PrivateDnsZoneGroupSpec, PrivateEndpoint,
    PrivateEndpointKey,
};
use azop_provider::resources::storage_account::{self, StorageAccount, StorageAccountKey};
use azop_provider::resources::{ArmResource, UID_TAG};
use azop_provider::vhd_copy::{
    self, BlobAuth, BlobClient, CopyProgress, CopyStatus, CopyVerdict, VHD_FOOTER_LEN,
};
use azop_provider::{AzureError, LroHandle, Owner, RawResponse, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::engine::{Observation, ResourceStep, Step, StepCtx, StepError};
use crate::retry::{Failure, RetryClass};

/// How often a copy under way is looked at.
pub const COPY_POLL: Duration = Duration::from_secs(3);

/// The failure code of a copied blob that is not a fixed VHD (no image is made from it).
pub const VHD_INVALID: &str = "VhdInvalid";

pub const BLOB_TYPE: &str = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";

/// The blob endpoint of `account` as the pass's observer (the subscription's listing) knows
/// it: `None` while the account does not exist or names none yet.
async fn blob_endpoint(
    cx: &StepCtx<'_>,
    account: &StorageAccountKey,
) -> Result<Option<Url>, StepError> {
    let path = StorageAccount::path(cx.session.subscription_id(), account);
    let listed = cx.observer.get(&path, StorageAccount::API_VERSION).await?;
    Ok(listed.as_ref().and_then(endpoint_of))
}

/// The blob endpoint for a write (a copy started, a blob deleted or disowned): as
/// [`blob_endpoint`], but ARM is asked directly when the listing has none, since a listing
/// walked before someone else made the account (or before it had its endpoints) would
/// otherwise hold the write back — or let a delete pass over a blob that is there — until
/// the next walk.
async fn blob_endpoint_to_write(
    cx: &StepCtx<'_>,
    account: &StorageAccountKey,
) -> Result<Option<Url>, StepError> {
    if let Some(ep) = blob_endpoint(cx, account).await? {
        return Ok(Some(ep));
    }
    let path = StorageAccount::path(cx.session.subscription_id(), account);
    let read = cx
        .session
        .confirm(&path, StorageAccount::API_VERSION)
        .await?;
    Ok(read.as_ref().and_then(endpoint_of))
}

/// The blob endpoint an account's body names, when it names a valid one. Pure.
fn endpoint_of(resp: &RawResponse) -> Option<Url> {
    let v = resp.json()?;
    let ep = v.pointer("/properties/primaryEndpoints/blob")?.as_str()?;
    Url::parse(ep).ok()
}

/// The data-plane client of the account (Shared Key from `listKeys`).
async fn blob_client(
    cx: &StepCtx<'_>,
    account: &StorageAccountKey,
    endpoint: Url,
) -> Result<BlobClient, StepError> {
    let key = storage_account::list_keys(cx.session, account).await?;
    let name = vhd_copy::data_plane_account(&endpoint).unwrap_or_else(|| account.name.clone());
    // The ARM session's access carries over to the data plane: a plan's session reads only.
    Ok(
        BlobClient::new(endpoint, BlobAuth::SharedKey { account: name, key })?
            .with_access(cx.session.access()),
    )
}

/// What the destination blob says, before the footer is read (pure).
#[derive(Debug, Clone, PartialEq)]
pub enum BlobSeen {
    Absent,
    /// There, without azop's uid (a blob of that name the user put in their container).
    NotOurs,
    /// Ours, copy status as reported.
    Copy(CopyProgress),
    /// Ours, but with no copy status: not something azop made.
    NoCopy,
}

/// Reads the destination blob's headers (pure).
pub fn classify(headers: Option<&BTreeMap<String, String>>, owner: &Owner) -> BlobSeen {
    let Some(h) = headers else {
        return BlobSeen::Absent;
    };
    let uid = h.get(&format!("x-ms-meta-{UID_METADATA}"));
    if !owner.owns(uid.map(String::as_str)) {
        return BlobSeen::NotOurs;
    }
    match vhd_copy::parse_copy_properties(h) {
        Ok(p) => BlobSeen::Copy(p),
        Err(_) => BlobSeen::NoCopy,
    }
}

/// `(provisioning state, failure)` of a copy seen this way (pure). `footer`: the VHD check of
/// a copy that succeeded (`None` when not read).
pub fn copy_state(
    p: &CopyProgress,
    footer: Option<Result<vhd_copy::VhdFooter, vhd_copy::VhdProblem>>,
) -> (&'static str, Option<Failure>) {
    match vhd_copy::verdict(p, None) {
        CopyVerdict::InProgress => ("Copying", None),
        CopyVerdict::Failed(e) => {
            // Azure's own failure (the source went away, a SAS expired mid-copy) is retried;
            // a blob that is not a VHD page blob is the source's fault: wait for a change.
            let retry = match p.status {
                CopyStatus::Failed | CopyStatus::Aborted => RetryClass::Transient,
                _ => RetryClass::InvalidSpec,
            };
            (
                "Failed",
                Some(Failure {
                    retry,
                    ..Failure::azure(&e)
                }),
            )
        }
        CopyVerdict::Verified { .. } => match footer {
            Some(Ok(_)) | None => ("Succeeded", None),
            Some(Err(problem)) => (
                "Failed",
                Some(Failure::invalid(
                    Some(VHD_INVALID),
                    format!("{VHD_INVALID}: {problem}; the image is not made from it"),
                )),
            ),
        },
    }
}

/// A source the blob service could not read (`CannotVerifyCopySource`: missing, or its SAS
/// expired or wrong) is retried with backoff like a failed copy, not held for minutes as a
/// missing permission: the usual fix is a new SAS in the Secret, which the next try uses.
fn source_refused(e: AzureError) -> AzureError {
    match e {
        AzureError::Auth { code, message, .. } | AzureError::NotFound { code, message }
            if code.eq_ignore_ascii_case("CannotVerifyCopySource") =>
        {
            AzureError::Transient {
                status: None,
                code,
                message: format!(
                    "{message} (check vhd.sourceUrl and the SAS in vhd.sourceSasSecretRef)"
                ),
            }
        }
        other => other,
    }
}

/// The base VHD, copied into the container.
pub struct VhdCopy {
    pub account: StorageAccountKey,
    pub container: String,
    pub blob: String,
    /// Without the SAS.
    pub source: Option<Url>,
    pub sas: Option<SecretString>,
    /// The delete pass: a copy under way counts as done so it can be aborted and removed.
    pub deleting: bool,
}

impl VhdCopy {
    fn container_id(&self, sub: &str) -> String {
        format!(
            "{}/blobServices/default/containers/{}",
            StorageAccount::path(sub, &self.account),
            self.container
        )
    }
}

fn progress_json(p: &CopyProgress, blob_url: &Url) -> Value {
    json!({
        "copyStatus": match p.status {
            CopyStatus::Pending => "pending",
            CopyStatus::Success => "success",
            CopyStatus::Failed => "failed",
            CopyStatus::Aborted => "aborted",
        },
        "bytesCopied": p.bytes_copied,
        "totalBytes": p.total_bytes,
        "copyId": p.copy_id,
        "blobUrl": blob_url.as_str(),
        "description": p.description,
    })
}

#[async_trait]
impl Step for VhdCopy {
    fn resource_type(&self) -> &'static str {
        BLOB_TYPE
    }

    fn name(&self) -> &str {
        &self.blob
    }

    fn id(&self, subscription_id: &str) -> String {
        format!("{}/blobs/{}", self.container_id(subscription_id), self.blob)
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let Some(endpoint) = blob_endpoint(cx, &self.account).await? else {
            return Ok(Observation::default());
        };
        let client = blob_client(cx, &self.account, endpoint).await?;
        let blob_url = client
            .blob_url(&self.container, &self.blob)
            .map_err(StepError::Azure)?;
        let headers = match client.properties(&self.container, &self.blob).await {
            Ok(h) => h,
            // The container is not there (yet): neither is the blob.
            Err(AzureError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let mut obs = Observation {
            exists: headers.is_some(),
            ..Observation::default()
        };
        match classify(headers.as_ref(), cx.owner) {
            BlobSeen::Absent => {}
            BlobSeen::NotOurs => {}
            BlobSeen::NoCopy => {
                obs.owned = true;
                obs.provisioning_state = Some("Failed".into());
                obs.failure = Some(Failure::transient(
                    "the blob carries azop's uid but no copy status: it was overwritten outside azop",
                ));
            }
            BlobSeen::Copy(p) => {
                obs.owned = true;
                let footer = if p.status == CopyStatus::Success
                    && matches!(vhd_copy::verdict(&p, None), CopyVerdict::Verified { .. })
                {
                    let length = p.content_length.unwrap_or(p.total_bytes);
                    if length < VHD_FOOTER_LEN {
                        Some(Err(vhd_copy::VhdProblem::NoFooter))
                    } else {
                        let bytes = client
                            .read_range(
                                &self.container,
                                &self.blob,
                                length - VHD_FOOTER_LEN,
                                VHD_FOOTER_LEN,
                            )
                            .await?;
                        Some(vhd_copy::check_vhd_footer(&bytes, length))
                    }
                } else {
                    None
                };
                let (state, failure) = copy_state(&p, footer);
                obs.provisioning_state = Some(state.to_string());
                obs.failure = failure;
                if state == "Copying" {
                    obs.poll_after = Some(COPY_POLL);
                    if self.deleting {
                        obs.provisioning_state = Some("Succeeded".into());
                    }
                }
                obs.raw = Some(progress_json(&p, &blob_url));
            }
        }
        if obs.raw.is_none() {
            obs.raw = Some(json!({"blobUrl": blob_url.as_str()}));
        }
        Ok(obs)
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let endpoint = blob_endpoint_to_write(cx, &self.account)
            .await?
            .ok_or_else(|| {
                StepError::Azure(AzureError::Transient {
                    status: None,
                    code: "StorageAccountNotReady".into(),
                    message: format!(
                        "storage account {} has no blob endpoint yet",
                        self.account.name
                    ),
                })
            })?;
        let client = blob_client(cx, &self.account, endpoint).await?;
        let owner_tag = cx.owner.owner_tag_value();
        let started = client
            .start_copy_with_metadata(
                &self.container,
                &self.blob,
                source,
                self.sas.as_ref(),
                &[(OWNER_METADATA, &owner_tag), (UID_METADATA, &cx.owner.uid)],
            )
            .await
            .map_err(source_refused)?;
        tracing::info!(
            blob = %self.blob,
            copy_id = ?started.copy_id,
            status = ?started.status,
            "started the VHD copy"
        );
        Ok(None)
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let Some(endpoint) = blob_endpoint_to_write(cx, &self.account).await? else {
            return Ok(None);
        };
        let client = blob_client(cx, &self.account, endpoint).await?;
        let headers = match client.properties(&self.container, &self.blob).await {
            Ok(h) => h,
            Err(AzureError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        match classify(headers.as_ref(), cx.owner) {
            BlobSeen::Absent | BlobSeen::NotOurs => return Ok(None),
            BlobSeen::Copy(p) if p.status == CopyStatus::Pending => {
                if let Some(id) = &p.copy_id {
                    match client.abort_copy(&self.container, &self.blob, id).await {
                        Ok(()) => {}
                        // It finished meanwhile.
                        Err(e) if e.code() == Some("NoPendingCopyOperation") => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            _ => {}
        }
        client.delete_blob(&self.container, &self.blob).await?;
        Ok(None)
    }

    /// The blob's marks are its `azop_owner`/`azop_uid` metadata: Set Blob Metadata with the
    /// rest of it. The content, and a copy under way, are left as they are.
    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        let Some(endpoint) = blob_endpoint_to_write(cx, &self.account).await? else {
            return Ok(());
        };
        let client = blob_client(cx, &self.account, endpoint).await?;
        let headers = match client.properties(&self.container, &self.blob).await {
            Ok(h) => h,
            Err(AzureError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let Some(headers) = headers else {
            return Ok(());
        };
        if matches!(classify(Some(&headers), cx.owner), BlobSeen::NotOurs) {
            return Ok(());
        }
        let rest = metadata_without_marks(&headers);
        match client
            .set_metadata(&self.container, &self.blob, &rest)
            .await
        {
            Ok(()) | Err(AzureError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A blob's metadata (from its `x-ms-meta-*` headers) without azop's two marks (pure).
pub fn metadata_without_marks(headers: &BTreeMap<String, String>) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("x-ms-meta-")?;
            (!name.eq_ignore_ascii_case(OWNER_METADATA) && !name.eq_ignore_ascii_case(UID_METADATA))
                .then(|| (name.to_string(), v.clone()))
        })
        .collect()
}

/// The managed image from the copied VHD.
pub struct ImageFromBlob {
    pub account: StorageAccountKey,
    pub container: String,
    pub blob: String,
    pub key: ImageKey,
    /// `blob_uri` is filled in from the account's endpoint.
    pub spec: ImageSpec,
}

impl ImageFromBlob {
    async fn step(&self, cx: &StepCtx<'_>) -> Result<ResourceStep<Image>, StepError> {
        let mut spec = self.spec.clone();
        if let Some(ep) = blob_endpoint(cx, &self.account).await? {
            spec.blob_uri = ep
                .join(&format!("{}/{}", self.container, self.blob))
                .map(|u| u.to_string())
                .unwrap_or_default();
        }
        Ok(ResourceStep::new(&self.key.name, self.key.clone(), spec))
    }
}

#[async_trait]
impl Step for ImageFromBlob {
    fn resource_type(&self) -> &'static str {
        Image::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.key.name
    }

    fn id(&self, subscription_id: &str) -> String {
        Image::path(subscription_id, &self.key)
    }

    fn desired(&self, owner: &Owner) -> Option<Value> {
        serde_json::to_value(Image::desired(&self.key, &self.spec, owner)).ok()
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let step = self.step(cx).await?;
        let mut obs = step.observe(cx).await?;
        // An image is immutable in practice: a blob URI that reads differently (the account
        // re-created elsewhere) is not drift to PUT, Azure would refuse it.
        obs.drift
            .retain(|d| d.field != "properties.storageProfile.osDisk.blobUri");
        Ok(obs)
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        self.step(cx).await?.put(cx, seen).await
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        self.step(cx).await?.delete(cx, seen).await
    }

    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        self.step(cx).await?.disown(cx).await
    }
}

/// A private endpoint's DNS zone group: ours when the endpoint is.
pub struct ZoneGroup {
    pub endpoint: PrivateEndpointKey,
    pub key: PrivateDnsZoneGroupKey,
    pub spec: PrivateDnsZoneGroupSpec,
}

#[async_trait]
impl Step for ZoneGroup {
    fn resource_type(&self) -> &'static str {
        PrivateDnsZoneGroup::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.key.name
    }

    fn id(&self, subscription_id: &str) -> String {
        PrivateDnsZoneGroup::path(subscription_id, &self.key)
    }

    fn desired(&self, owner: &Owner) -> Option<Value> {
        Some(PrivateDnsZoneGroup::desired(&self.key, &self.spec, owner))
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let inner = ResourceStep::<PrivateDnsZoneGroup>::new(
            &self.key.name,
            self.key.clone(),
            self.spec.clone(),
        );
        let mut obs = inner.observe(cx).await?;
        if obs.exists {
            let pe = PrivateEndpoint::path(cx.session.subscription_id(), &self.endpoint);
            let uid = cx
                .observer
                .get(&pe, PrivateEndpoint::API_VERSION)
                .await?
                .and_then(|r| r.json())
                .and_then(|v| {
                    v.get("tags")?
                        .as_object()?
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(UID_TAG))
                        .and_then(|(_, v)| v.as_str().map(str::to_string))
                });
            obs.owned = cx.owner.owns(uid.as_deref());
            if obs.owned {
                let observed: azop_provider::resources::network::private_endpoint::ObservedZoneGroup =
                    serde_json::from_value(obs.raw.clone().unwrap_or_default()).unwrap_or_default();
                obs.drift = PrivateDnsZoneGroup::diff(
                    &PrivateDnsZoneGroup::desired(&self.key, &self.spec, cx.owner),
                    &observed,
                );
            }
        }
        Ok(obs)
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(
            azop_provider::resources::put_desired::<PrivateDnsZoneGroup>(
                cx.session, &self.key, &self.spec, cx.owner,
            )
            .await?,
        )
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(
            azop_provider::resources::delete_observed::<PrivateDnsZoneGroup>(cx.session, &self.key)
                .await?,
        )
    }

    /// No marks of its own: it is ours through its endpoint.
    async fn disown(&self, _cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::new("StorageBinding", "ns", "img", "uid-1")
    }

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn ours(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut h = headers(&[
            ("x-ms-meta-azop_uid", "uid-1"),
            ("x-ms-blob-type", "PageBlob"),
        ]);
        h.extend(headers(extra));
        h
    }

    #[test]
    fn the_destination_blob_says_whose_it_is_and_how_far_the_copy_got() {
        assert_eq!(classify(None, &owner()), BlobSeen::Absent);
        let foreign = headers(&[
            ("x-ms-meta-azop_uid", "someone-else"),
            ("x-ms-copy-status", "success"),
        ]);
        assert_eq!(classify(Some(&foreign), &owner()), BlobSeen::NotOurs);
        assert_eq!(classify(Some(&ours(&[])), &owner()), BlobSeen::NoCopy);
        match classify(
            Some(&ours(&[
                ("x-ms-copy-status", "pending"),
                ("x-ms-copy-progress", "512/2048"),
            ])),
            &owner(),
        ) {
            BlobSeen::Copy(p) => assert_eq!(
                (p.status, p.bytes_copied, p.total_bytes),
                (CopyStatus::Pending, 512, 2048)
            ),
            other => panic!("{other:?}"),
        }
    }

    fn progress(status: &str, extra: &[(&str, &str)]) -> CopyProgress {
        let mut h = ours(&[("x-ms-copy-status", status)]);
        h.extend(headers(extra));
        vhd_copy::parse_copy_properties(&h).expect("parses")
    }

    /// Every state a copy can be in, and what the step makes of it (Azurite finishes every
    /// copy at once, so pending, failed and aborted are only seen here).
    #[test]
    fn pending_failed_aborted_and_verified_copies() {
        let size = 4 * vhd_copy::MIB;
        let len = (size + 512).to_string();
        let pending = progress("pending", &[("x-ms-copy-progress", "1048576/4194816")]);
        assert_eq!(copy_state(&pending, None), ("Copying", None));

        let failed = progress(
            "failed",
            &[(
                "x-ms-copy-status-description",
                "403 AuthenticationFailed: the SAS expired",
            )],
        );
        let (state, failure) = copy_state(&failed, None);
        assert_eq!(state, "Failed");
        let f = failure.expect("a failure");
        assert!(f.message.contains("SAS expired"), "{}", f.message);
        assert_eq!(f.retry, RetryClass::Transient);

        let aborted = progress("aborted", &[]);
        assert_eq!(
            copy_state(&aborted, None).1.map(|f| f.retry),
            Some(RetryClass::Transient)
        );

        let done = progress(
            "success",
            &[
                ("x-ms-copy-progress", &format!("{len}/{len}")),
                ("content-length", &len),
            ],
        );
        let good = vhd_copy::check_vhd_footer(&vhd_copy::fixed_vhd_footer(size, 2), size + 512);
        assert_eq!(copy_state(&done, Some(good)), ("Succeeded", None));
        let dynamic = vhd_copy::check_vhd_footer(&vhd_copy::fixed_vhd_footer(size, 3), size + 512);
        let (state, failure) = copy_state(&done, Some(dynamic));
        assert_eq!(state, "Failed");
        let f = failure.expect("a failure");
        assert!(f.message.contains("dynamic"), "{}", f.message);
        assert!(f.has_code(VHD_INVALID));
        assert_eq!(f.retry, RetryClass::InvalidSpec);

        let block = {
            let mut h = ours(&[("x-ms-copy-status", "success"), ("content-length", "1024")]);
            h.insert("x-ms-blob-type".into(), "BlockBlob".into());
            vhd_copy::parse_copy_properties(&h).expect("parses")
        };
        assert_eq!(
            copy_state(&block, None).1.map(|f| f.retry),
            Some(RetryClass::InvalidSpec)
        );
    }
}
