//! The status objects that Argo CD's health check for AzureCluster is tested on
//! (config/argocd/resource_customizations/azop.dev/AzureCluster/testdata/) come from this
//! test: the real operator, the real kube-apiserver and azop-armsim, one cluster per state the
//! check tells apart.
//!
//! - `AZOP_ARGOCD_CAPTURE=1 cargo test -p azop-e2e --test argocd_health` rewrites the files.
//! - Without it (as in `make test`), the test checks that each committed file still has the
//!   Ready status, reason and phase the operator produces now, so the Lua tests cannot drift
//!   from what the controller writes.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use azop_armsim::{FaultAction, FaultSpec, SimConfig};
use azop_e2e::azure_cluster::{
    TIMEOUT, api, cluster, condition, create, rg_path, wait_gone, wait_object,
};
use azop_e2e::operator::{CREDENTIALS_SECRET, SUBSCRIPTION, TENANT, World};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use reqwest::Method;
use serde_json::{Value, json};

fn testdata() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../config/argocd/resource_customizations/azop.dev/AzureCluster/testdata")
}

fn capturing() -> bool {
    std::env::var("AZOP_ARGOCD_CAPTURE").is_ok_and(|v| v == "1")
}

/// (Ready status, Ready reason, phase) of an object as YAML/JSON.
fn summary(v: &Value) -> (String, String, String) {
    let ready = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let s = |x: Option<&Value>| x.and_then(Value::as_str).unwrap_or_default().to_string();
    (
        s(ready.map(|c| &c["status"])),
        s(ready.map(|c| &c["reason"])),
        s(v.pointer("/status/phase")),
    )
}

/// The object as Argo CD sees it (managedFields dropped, as `kubectl get -o yaml` shows them
/// only on request), with a header saying where it came from.
fn record(name: &str, obj: &DynamicObject, note: &str) {
    let mut v = serde_json::to_value(obj).unwrap();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let path = testdata().join(format!("{name}.yaml"));
    if capturing() {
        let header = format!(
            "# Captured by tests/e2e/argocd_health.rs (AZOP_ARGOCD_CAPTURE=1): the real operator\n\
             # against kube-apiserver and azop-armsim. {note}\n"
        );
        std::fs::write(&path, header + &serde_yaml::to_string(&v).unwrap()).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: capture it with AZOP_ARGOCD_CAPTURE=1",
            path.display()
        )
    });
    let committed: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        summary(&committed),
        summary(&v),
        "{}: the operator now writes another Ready status/reason/phase; recapture with AZOP_ARGOCD_CAPTURE=1 and update health_test.yaml",
        path.display()
    );
}

fn ready_is(o: &DynamicObject, status: &str, reason: &str) -> bool {
    condition(o, "Ready").is_some_and(|c| c.0 == status && c.1 == reason)
}

fn current(o: &DynamicObject) -> bool {
    o.data
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == o.metadata.generation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_objects_for_the_argocd_health_check() {
    let world = World::new("argocd", SimConfig::default()).await.unwrap();
    let mut op = world.start_operator("a", &[]).unwrap();
    let clusters = api(&world);

    // Provisioning, then Ready.
    create(&world, cluster("prod", "rg-argocd-prod", 1))
        .await
        .unwrap();
    let o = wait_object(&world, "prod", "Provisioning", TIMEOUT, |o| {
        current(o) && ready_is(o, "False", "Provisioning")
    })
    .await
    .unwrap();
    record(
        "provisioning",
        &o,
        "Taken while the first resources were being created.",
    );
    let ready = wait_object(&world, "prod", "Ready", TIMEOUT, |o| {
        current(o) && ready_is(o, "True", "Ready")
    })
    .await
    .unwrap();
    record("ready", &ready, "Taken once Ready.");
    // The same object just after a spec change, before the operator has seen it: captured
    // Ready, with metadata.generation raised by one as the API server raises it on a spec
    // write (the operator's reaction is faster than a test can read reliably).
    let mut behind = ready.clone();
    behind.metadata.generation = behind.metadata.generation.map(|g| g + 1);
    behind.data["spec"]["workerPools"][0]["replicas"] = json!(2);
    record(
        "generation-behind",
        &behind,
        "The Ready object with metadata.generation raised by one and workerPools[0].replicas 1 -> 2,\n# as right after a spec write that azop has not yet observed.",
    );

    // No invalid-spec capture: every rule is now refused at admission (CEL), so no
    // AzureCluster with an invalid spec can be stored; testdata/invalid-spec.yaml is the
    // status validate() would report, kept by hand for the health check's Degraded case.

    // NotOwned: the VNet azop would create already exists, without azop's uid tag.
    world
        .arm(
            Method::PUT,
            &rg_path("rg-argocd-taken"),
            "2021-04-01",
            Some(json!({"location": "westeurope"})),
        )
        .await
        .unwrap();
    world
        .arm(
            Method::PUT,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-argocd-taken/providers/Microsoft.Network/virtualNetworks/taken-vnet"
            ),
            "2024-03-01",
            Some(json!({"location": "westeurope", "tags": {"team": "network"},
                "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/8"]}}})),
        )
        .await
        .unwrap();
    let mut taken = cluster("taken", "rg-argocd-taken", 1);
    taken["spec"]["createResourceGroup"] = json!(false);
    create(&world, taken).await.unwrap();
    let o = wait_object(&world, "taken", "NotOwned", TIMEOUT, |o| {
        current(o) && ready_is(o, "False", "NotOwned")
    })
    .await
    .unwrap();
    record(
        "not-owned",
        &o,
        "A VNet named taken-vnet existed beforehand without azop's tags.",
    );

    // AuthorizationFailed: ARM refuses the resource group write.
    world
        .sim
        .add_fault(FaultSpec {
            method: Some("PUT".into()),
            path: "/subscriptions/*/resourcegroups/rg-argocd-denied".into(),
            times: None,
            after: 0,
            action: FaultAction::Respond {
                status: 403,
                code: "AuthorizationFailed".into(),
                message: format!(
                    "The client 'azop-e2e' with object id '0b6e3a3c-1f2d-4c5b-9a8e-7d6c5b4a3f2e' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourcegroups/write' over scope '/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-argocd-denied' or the scope is invalid. If access was recently granted, please refresh your credentials."
                ),
                retry_after: None,
            },
        })
        .unwrap();
    create(&world, cluster("denied", "rg-argocd-denied", 1))
        .await
        .unwrap();
    // A refused write is reported as ProvisioningFailed (the part's condition) naming Azure's
    // code; reason AuthorizationFailed comes from a refused read. The health check treats both
    // as Degraded.
    let o = wait_object(&world, "denied", "AuthorizationFailed", TIMEOUT, |o| {
        current(o)
            && condition(o, "Ready").is_some_and(|c| {
                c.0 == "False"
                    && (c.1 == "AuthorizationFailed"
                        || (c.1 == "ProvisioningFailed" && c.2.contains("(AuthorizationFailed)")))
            })
    })
    .await
    .unwrap();
    record(
        "authorization-failed",
        &o,
        "azop-armsim answered the resource group PUT with 403 AuthorizationFailed.",
    );

    // A delete that cannot finish: the credentials are gone.
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    secrets
        .delete(CREDENTIALS_SECRET, &DeleteParams::default())
        .await
        .unwrap();
    clusters
        .delete("prod", &DeleteParams::default())
        .await
        .unwrap();
    let o = wait_object(&world, "prod", "DeleteBlocked", TIMEOUT, |o| {
        current(o) && ready_is(o, "False", "DeleteBlocked")
    })
    .await
    .unwrap();
    record(
        "delete-blocked",
        &o,
        "Deleted after its credentials Secret was deleted.",
    );
    // With the credentials back, the deletion goes on and completes.
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": CREDENTIALS_SECRET},
                "stringData": {"tenantId": TENANT, "clientId": "azop-e2e", "clientSecret": "s3cr3t-value-that-must-never-be-logged"},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let o = wait_object(&world, "prod", "Deleting", Duration::from_secs(30), |o| {
        current(o) && ready_is(o, "False", "Deleting")
    })
    .await
    .unwrap();
    record(
        "deleting",
        &o,
        "Taken while the Azure resources were being deleted.",
    );
    wait_gone(&world, "prod").await.unwrap();
    op.terminate().unwrap();
}
