//! The provider against azop-armsim: idempotent ensure, LRO failures with Azure's code,
//! 429s, ownership, restart-resume, and the generated clients with a real credential.
#![allow(clippy::unwrap_used)]

use azop_armsim::{FaultAction, FaultSpec, RequestFilter, RunningSim, SimConfig};
use azop_provider::resources::blob_container::{
    BlobContainer, BlobContainerKey, BlobContainerSpec,
};
use azop_provider::resources::resource_group::{
    ResourceGroup, ResourceGroupKey, ResourceGroupSpec,
};
use azop_provider::resources::storage_account::{
    self, StorageAccount, StorageAccountKey, StorageAccountSpec, StorageNetworkAccess,
    StorageSkuName,
};
use azop_provider::resources::{self, DeleteOutcome, EnsureOutcome, Owner};
use azop_provider::{ArmSession, AzureError, LroHandle, PollOutcome};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod common;
use common::{creds, provider};

const SUB: &str = "00000000-0000-0000-0000-0000000000a1";

fn owner() -> Owner {
    Owner::new("StorageBinding", "team-a", "images", "uid-1234")
}

fn count(sim: &RunningSim, method: &str, path: &str) -> usize {
    sim.requests(&RequestFilter {
        method: Some(method.to_owned()),
        path: Some(path.to_owned()),
        ..RequestFilter::default()
    })
    .len()
}

fn rg_spec() -> ResourceGroupSpec {
    ResourceGroupSpec {
        location: "westeurope".into(),
        tags: [("env".to_owned(), "test".to_owned())]
            .into_iter()
            .collect(),
    }
}

async fn wait(session: &ArmSession, handle: &LroHandle) -> PollOutcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match session.poll_once(handle).await.unwrap() {
            PollOutcome::InProgress { retry_after } => {
                assert!(Instant::now() < deadline, "operation never finished");
                tokio::time::sleep(retry_after.min(Duration::from_millis(200))).await;
            }
            done => return done,
        }
    }
}

#[tokio::test]
async fn ensure_twice_sends_exactly_one_put() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let session = provider(&sim).session(&creds(), SUB).unwrap();
    let key = ResourceGroupKey {
        name: "rg-once".into(),
    };
    let first = resources::ensure::<ResourceGroup>(&session, &key, &rg_spec(), &owner())
        .await
        .unwrap();
    assert!(matches!(first, EnsureOutcome::Done { .. }), "{first:?}");
    let second = resources::ensure::<ResourceGroup>(&session, &key, &rg_spec(), &owner())
        .await
        .unwrap();
    assert_eq!(second, EnsureOutcome::Unchanged);
    assert_eq!(count(&sim, "PUT", "/resourcegroups/rg-once"), 1);

    // Storage account: 202 + Location, polled to the end; then container; each one PUT.
    let sa = StorageAccountKey {
        resource_group: "rg-once".into(),
        name: "azopimages1234".into(),
    };
    let spec = StorageAccountSpec {
        location: "westeurope".into(),
        sku: StorageSkuName::StandardLrs,
        network: StorageNetworkAccess::Public,
        tags: BTreeMap::new(),
    };
    match resources::ensure::<StorageAccount>(&session, &sa, &spec, &owner())
        .await
        .unwrap()
    {
        EnsureOutcome::Started { handle, .. } => {
            assert!(matches!(
                wait(&session, &handle).await,
                PollOutcome::Succeeded { .. }
            ));
        }
        EnsureOutcome::Done { .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        resources::ensure::<StorageAccount>(&session, &sa, &spec, &owner())
            .await
            .unwrap(),
        EnsureOutcome::Unchanged
    );
    assert_eq!(
        count(&sim, "PUT", "/storageAccounts/azopimages1234"),
        1 + count(&sim, "PUT", "/storageAccounts/azopimages1234/")
    );
    let observed = resources::observe::<StorageAccount>(&session, &sa)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        observed.properties.minimum_tls_version.as_deref(),
        Some("TLS1_2")
    );
    assert_eq!(observed.properties.allow_blob_public_access, Some(false));

    let c = BlobContainerKey {
        resource_group: "rg-once".into(),
        account: "azopimages1234".into(),
        name: "vhds".into(),
    };
    let made =
        resources::ensure::<BlobContainer>(&session, &c, &BlobContainerSpec::default(), &owner())
            .await
            .unwrap();
    assert!(matches!(made, EnsureOutcome::Done { .. }), "{made:?}");
    assert_eq!(
        resources::ensure::<BlobContainer>(&session, &c, &BlobContainerSpec::default(), &owner())
            .await
            .unwrap(),
        EnsureOutcome::Unchanged
    );
    assert_eq!(count(&sim, "PUT", "/containers/vhds"), 1);

    let key1 = storage_account::list_keys(&session, &sa).await.unwrap();
    assert!(!key1.expose().is_empty());

    // Delete in reverse order; the account's delete and the group's are followed to the end.
    assert_eq!(
        resources::delete::<BlobContainer>(&session, &c, &owner())
            .await
            .unwrap(),
        DeleteOutcome::Gone
    );
    match resources::delete::<StorageAccount>(&session, &sa, &owner())
        .await
        .unwrap()
    {
        DeleteOutcome::Gone => {}
        DeleteOutcome::Started(h) => assert!(matches!(
            wait(&session, &h).await,
            PollOutcome::Succeeded { .. }
        )),
        other => panic!("{other:?}"),
    }
    match resources::delete::<ResourceGroup>(&session, &key, &owner())
        .await
        .unwrap()
    {
        DeleteOutcome::Gone => {}
        DeleteOutcome::Started(h) => assert!(matches!(
            wait(&session, &h).await,
            PollOutcome::Succeeded { .. }
        )),
        other => panic!("{other:?}"),
    }
    assert!(
        resources::observe::<ResourceGroup>(&session, &key)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        resources::delete::<ResourceGroup>(&session, &key, &owner())
            .await
            .unwrap(),
        DeleteOutcome::Gone
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_lro_failure_surfaces_azures_code() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let session = provider(&sim).session(&creds(), SUB).unwrap();
    let rg = ResourceGroupKey {
        name: "rg-fail".into(),
    };
    resources::ensure::<ResourceGroup>(&session, &rg, &rg_spec(), &owner())
        .await
        .unwrap();
    sim.add_fault(FaultSpec {
        method: Some("PUT".into()),
        path: "*/storageAccounts/azopfail1".into(),
        times: Some(1),
        after: 0,
        action: FaultAction::FailAsync {
            code: "NetworkAclsValidationFailure".into(),
            message: "subnet lacks the Microsoft.Storage service endpoint".into(),
        },
    })
    .unwrap();
    let sa = StorageAccountKey {
        resource_group: "rg-fail".into(),
        name: "azopfail1".into(),
    };
    let spec = StorageAccountSpec {
        location: "westeurope".into(),
        sku: StorageSkuName::StandardLrs,
        network: StorageNetworkAccess::Public,
        tags: BTreeMap::new(),
    };
    let outcome = resources::ensure::<StorageAccount>(&session, &sa, &spec, &owner()).await;
    let err = match outcome {
        Ok(EnsureOutcome::Started { handle, .. }) => match wait(&session, &handle).await {
            PollOutcome::Failed(e) => e,
            other => panic!("{other:?}"),
        },
        Err(e) => e,
        Ok(other) => panic!("{other:?}"),
    };
    assert_eq!(err.code(), Some("NetworkAclsValidationFailure"), "{err}");
    assert!(err.to_string().contains("service endpoint"));
    assert!(!err.is_retryable());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_is_waited_out() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let session = provider(&sim).session(&creds(), SUB).unwrap();
    sim.add_fault(FaultSpec {
        method: Some("GET".into()),
        path: "*/resourcegroups/rg-slow".into(),
        times: Some(1),
        after: 0,
        action: FaultAction::Respond {
            status: 429,
            code: "SubscriptionRequestsThrottled".into(),
            message: "too many requests".into(),
            retry_after: Some(1),
        },
    })
    .unwrap();
    let key = ResourceGroupKey {
        name: "rg-slow".into(),
    };
    let started = Instant::now();
    let outcome = resources::ensure::<ResourceGroup>(&session, &key, &rg_spec(), &owner())
        .await
        .unwrap();
    assert!(matches!(outcome, EnsureOutcome::Done { .. }), "{outcome:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert_eq!(
        count(&sim, "GET", "/resourcegroups/rg-slow"),
        2,
        "one refused, one after the pause"
    );
    assert_eq!(count(&sim, "PUT", "/resourcegroups/rg-slow"), 1);

    // A long pause is not waited out: Throttled comes back, nothing is sent meanwhile.
    sim.add_fault(FaultSpec {
        method: Some("GET".into()),
        path: "*/resourcegroups/rg-long".into(),
        times: Some(1),
        after: 0,
        action: FaultAction::Respond {
            status: 429,
            code: "SubscriptionRequestsThrottled".into(),
            message: "too many requests".into(),
            retry_after: Some(120),
        },
    })
    .unwrap();
    let long = ResourceGroupKey {
        name: "rg-long".into(),
    };
    let err = resources::ensure::<ResourceGroup>(&session, &long, &rg_spec(), &owner())
        .await
        .unwrap_err();
    assert!(matches!(err, AzureError::Throttled { .. }), "{err:?}");
    assert!(err.retry_after().unwrap() > Duration::from_secs(100));
    let before = sim.requests(&RequestFilter::default()).len();
    let err = resources::observe::<ResourceGroup>(&session, &long)
        .await
        .unwrap_err();
    assert!(matches!(err, AzureError::Throttled { .. }), "{err:?}");
    assert_eq!(
        sim.requests(&RequestFilter::default()).len(),
        before,
        "no request while paused"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_resource_without_our_uid_is_never_changed_or_deleted() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let session = provider(&sim).session(&creds(), SUB).unwrap();
    // Someone else's group, created directly.
    let body = serde_json::json!({"location": "westeurope", "tags": {"owner": "platform-team"}});
    session
        .call(
            azure_core::Method::Put,
            &session.subscription_path("/resourcegroups/rg-theirs"),
            "2021-04-01",
            Some(&body),
        )
        .await
        .unwrap();
    let key = ResourceGroupKey {
        name: "rg-theirs".into(),
    };
    let puts = count(&sim, "PUT", "/resourcegroups/rg-theirs");
    assert_eq!(
        resources::ensure::<ResourceGroup>(&session, &key, &rg_spec(), &owner())
            .await
            .unwrap(),
        EnsureOutcome::NotOwned
    );
    assert_eq!(
        resources::delete::<ResourceGroup>(&session, &key, &owner())
            .await
            .unwrap(),
        DeleteOutcome::NotOwned
    );
    // Another object's uid is not ours either.
    let other = Owner::new("StorageBinding", "team-b", "x", "uid-other");
    resources::ensure::<ResourceGroup>(
        &session,
        &ResourceGroupKey {
            name: "rg-other".into(),
        },
        &rg_spec(),
        &other,
    )
    .await
    .unwrap();
    assert_eq!(
        resources::delete::<ResourceGroup>(
            &session,
            &ResourceGroupKey {
                name: "rg-other".into()
            },
            &owner()
        )
        .await
        .unwrap(),
        DeleteOutcome::NotOwned
    );
    assert_eq!(count(&sim, "PUT", "/resourcegroups/rg-theirs"), puts);
    assert_eq!(count(&sim, "DELETE", "/resourcegroups/"), 0);
    let tags = resources::observe::<ResourceGroup>(&session, &key)
        .await
        .unwrap()
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags, serde_json::json!({"owner": "platform-team"}));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_restart_resumes_an_operation_without_a_second_put() {
    let sim = azop_armsim::start(SimConfig::default().latency(
        "Microsoft.Storage/storageAccounts",
        Duration::from_millis(1500),
    ))
    .await
    .unwrap();
    let sa = StorageAccountKey {
        resource_group: "rg-resume".into(),
        name: "azopresume1".into(),
    };
    let spec = StorageAccountSpec {
        location: "westeurope".into(),
        sku: StorageSkuName::StandardLrs,
        network: StorageNetworkAccess::Public,
        tags: BTreeMap::new(),
    };
    let stored = {
        let first = provider(&sim);
        let session = first.session(&creds(), SUB).unwrap();
        resources::ensure::<ResourceGroup>(
            &session,
            &ResourceGroupKey {
                name: "rg-resume".into(),
            },
            &rg_spec(),
            &owner(),
        )
        .await
        .unwrap();
        let handle = match resources::ensure::<StorageAccount>(&session, &sa, &spec, &owner())
            .await
            .unwrap()
        {
            EnsureOutcome::Started { handle, .. } => handle,
            other => panic!("expected an operation in flight, got {other:?}"),
        };
        assert!(matches!(
            session.poll_once(&handle).await.unwrap(),
            PollOutcome::InProgress { .. }
        ));
        serde_json::to_string(&handle).unwrap()
        // `first` dropped here: the operator restarts.
    };
    let second = provider(&sim);
    let session = second.session(&creds(), SUB).unwrap();
    let handle: LroHandle = serde_json::from_str(&stored).unwrap();
    assert!(matches!(
        wait(&session, &handle).await,
        PollOutcome::Succeeded { .. }
    ));
    assert_eq!(
        resources::ensure::<StorageAccount>(&session, &sa, &spec, &owner())
            .await
            .unwrap(),
        EnsureOutcome::Unchanged
    );
    assert_eq!(count(&sim, "PUT", "/storageAccounts/azopresume1"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn generated_clients_with_client_secret_credential_work_against_the_sim() {
    use azure_mgmt_resources::package_resources_2021_04::models::ResourceGroup as Rg;
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let url = url::Url::parse(sim.url()).unwrap();
    let credential = std::sync::Arc::new(azure_identity::ClientSecretCredential::new(
        azure_core::new_http_client(),
        url.clone(),
        "tenant-1".into(),
        "client-1".into(),
        "secret".into(),
    ));
    let resources = azure_mgmt_resources::ClientBuilder::new(credential.clone())
        .endpoint(url.clone())
        .build()
        .unwrap();
    let groups = resources.resource_groups_client();
    let created = groups
        .create_or_update("rg-raw", Rg::new("westeurope".into()), SUB)
        .await
        .unwrap();
    assert_eq!(created.name.as_deref(), Some("rg-raw"));
    let read = groups.get("rg-raw", SUB).await.unwrap();
    assert_eq!(read.location, "westeurope");

    let storage = azure_mgmt_storage::ClientBuilder::new(credential)
        .endpoint(url)
        .build()
        .unwrap();
    let accounts = storage.storage_accounts_client();
    let params = azure_mgmt_storage::models::StorageAccountCreateParameters::new(
        azure_mgmt_storage::models::Sku::new(StorageSkuName::StandardLrs),
        azure_mgmt_storage::models::storage_account_create_parameters::Kind::StorageV2,
        "westeurope".into(),
    );
    let resp = accounts
        .create("rg-raw", "azopraw1", params, SUB)
        .send()
        .await
        .unwrap();
    let status = u16::from(resp.as_raw_response().status());
    assert!((200..=202).contains(&status), "{status}");
    // Read with `.send()` (the generated model of the answer has no unknown-state fallback).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = accounts
            .get_properties("rg-raw", "azopraw1", SUB)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&got.into_raw_response().into_body().collect().await.unwrap())
                .unwrap();
        if body["properties"]["provisioningState"] == "Succeeded" {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    accounts
        .delete("rg-raw", "azopraw1", SUB)
        .send()
        .await
        .unwrap();
    assert!(
        accounts
            .get_properties("rg-raw", "azopraw1", SUB)
            .send()
            .await
            .is_err()
    );
    groups.delete("rg-raw", SUB).send().await.unwrap();
    sim.shutdown().await;
}
