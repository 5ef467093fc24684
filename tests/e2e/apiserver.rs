//! The real kube-apiserver: CRDs, samples, status, finalizers, Leases and RBAC.
//!
//! All tests share one environment (`azop_testenv::shared()`), each in its own namespace.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use azop_e2e::{objects, samples};
use azop_testenv::{Check, TestEnv, shared, wait_for};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Installs crds/ once per test binary (every caller waits for the first install).
async fn env_with_crds() -> anyhow::Result<&'static TestEnv> {
    static CRDS: tokio::sync::OnceCell<Vec<String>> = tokio::sync::OnceCell::const_new();
    let env = shared().await?;
    CRDS.get_or_try_init(|| env.install_crds(azop_testenv::crds_dir()))
        .await?;
    Ok(env)
}

#[tokio::test]
async fn crds_from_the_repo_become_established() -> anyhow::Result<()> {
    let env = shared().await?;
    let names = env.install_crds(azop_testenv::crds_dir()).await?;
    ensure!(!names.is_empty(), "crds/ holds no CustomResourceDefinition");
    let api: Api<CustomResourceDefinition> = Api::all(env.client()?);
    for name in &names {
        let crd = api.get(name).await?;
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Established" && c.status == "True");
        ensure!(established, "{name} is not Established");
        // Served: listing the new kind works.
        let version = &crd
            .spec
            .versions
            .iter()
            .find(|v| v.served)
            .context("no served version")?
            .name;
        let gvk = GroupVersionKind::gvk(&crd.spec.group, version, &crd.spec.names.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
        let ns = env.new_namespace("crd-list").await?;
        let list: Api<DynamicObject> = Api::namespaced_with(env.client()?, &ns, &ar);
        list.list(&ListParams::default())
            .await
            .with_context(|| format!("list {name}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn installing_crds_from_an_empty_dir_fails() -> anyhow::Result<()> {
    let env = shared().await?;
    let empty = std::env::temp_dir().join(format!("azop-e2e-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty)?;
    let err = env
        .install_crds(&empty)
        .await
        .expect_err("an empty dir must be an error");
    std::fs::remove_dir_all(&empty)?;
    ensure!(
        err.to_string().contains("no CustomResourceDefinition"),
        "unexpected error: {err}"
    );
    Ok(())
}

#[tokio::test]
async fn every_valid_sample_is_accepted() -> anyhow::Result<()> {
    let env = env_with_crds().await?;
    let client = env.client()?;
    let valid = samples::valid_samples(&azop_testenv::samples_dir())?;
    let count: usize = valid.iter().map(|(_, d)| d.len()).sum();
    ensure!(count > 0, "config/samples holds no valid sample");
    let mut failures = Vec::new();
    // Secrets and ConfigMaps first, as a user would apply them before what refers to them.
    let rank = |d: &serde_json::Value| match d.get("kind").and_then(|k| k.as_str()) {
        Some("Secret" | "ConfigMap") => 0,
        _ => 1,
    };
    // One namespace per file, as a user would apply it: samples may reuse names.
    for (path, docs) in &valid {
        let ns = env.new_namespace("valid-sample").await?;
        let mut docs: Vec<_> = docs.iter().collect();
        docs.sort_by_key(|d| rank(d));
        for doc in docs {
            if let Err(e) = objects::create(&client, &ns, doc).await? {
                failures.push(format!(
                    "{}: {}",
                    path.display(),
                    objects::error_message(&e)
                ));
            }
        }
    }
    ensure!(
        failures.is_empty(),
        "valid samples refused:\n{}",
        failures.join("\n")
    );
    Ok(())
}

/// Every invalid sample whose rule lives in the CRD (schema or CEL) is refused by the real API
/// server, as a user's `kubectl apply` would be: 422 Invalid, naming the field, and — for CEL
/// rules — with the rule's own message. Update cases are replayed as create, then update.
#[tokio::test]
async fn schema_and_cel_invalid_samples_are_refused_by_the_server() -> anyhow::Result<()> {
    let env = env_with_crds().await?;
    let client = env.client()?;
    let invalid = samples::invalid_samples(&azop_testenv::samples_dir())?;
    let admitted: Vec<_> = invalid
        .iter()
        .filter(|s| matches!(s.header.layer, samples::Layer::Schema | samples::Layer::Cel))
        .collect();
    for layer in [samples::Layer::Schema, samples::Layer::Cel] {
        ensure!(
            admitted.iter().any(|s| s.header.layer == layer),
            "config/samples/invalid holds no {layer:?}-layer sample"
        );
    }
    let mut failures = Vec::new();
    for s in &admitted {
        // Own namespace per case: update cases create objects whose names may repeat.
        let ns = env.new_namespace("invalid-sample").await?;
        let leaf = samples::field_leaf(&s.header.field);
        let answer = if let [old, new] = s.docs.as_slice() {
            // The old object as it stood: created, then its status as the controller wrote it
            // (transition rules may read oldSelf.status).
            let created = match objects::create(&client, &ns, old).await? {
                Ok(_) => objects::write_status(&client, &ns, old).await?,
                Err(e) => Err(e),
            };
            match created {
                Ok(_) => objects::replace(&client, &ns, new).await?,
                Err(e) => {
                    failures.push(format!(
                        "{} ({}): the old object of the update case was refused: {}",
                        s.path.display(),
                        s.header.rule,
                        objects::error_message(&e)
                    ));
                    continue;
                }
            }
        } else {
            objects::create(&client, &ns, &s.docs[0]).await?
        };
        let e = match answer {
            Ok(_) => {
                failures.push(format!(
                    "{} ({}): accepted, but the {:?} layer should refuse {}",
                    s.path.display(),
                    s.header.rule,
                    s.header.layer,
                    s.header.field
                ));
                continue;
            }
            Err(e) => e,
        };
        let msg = objects::error_message(&e);
        if objects::error_code(&e) != Some(422) && objects::error_code(&e) != Some(400) {
            failures.push(format!(
                "{} ({}): refused, but not as invalid: {msg}",
                s.path.display(),
                s.header.rule
            ));
        } else if !msg.contains(leaf) {
            failures.push(format!(
                "{} ({}): the server's message does not name field {leaf:?} ({}): {msg}",
                s.path.display(),
                s.header.rule,
                s.header.field
            ));
        } else if s.header.layer == samples::Layer::Cel && !msg.contains(&s.header.expect) {
            failures.push(format!(
                "{} ({}): the server's message lacks the rule's message {:?}: {msg}",
                s.path.display(),
                s.header.rule,
                s.header.expect
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} of {} admission-layer samples wrong:\n{}",
        failures.len(),
        admitted.len(),
        failures.join("\n")
    );
    Ok(())
}

/// A CRD of our own for the generic API-machinery tests, so they do not depend on azop's
/// kinds. It carries a CEL rule, which the server compiles and enforces.
fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.testenv.azop.dev"},
        "spec": {
            "group": "testenv.azop.dev",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 10}},
                            "x-kubernetes-validations": [{"rule": "self.size != 7", "message": "size must not be 7"}]
                        },
                        "status": {
                            "type": "object",
                            "properties": {"phase": {"type": "string"}, "observedGeneration": {"type": "integer"}}
                        }
                    }
                }}
            }]
        }
    }))
    .unwrap()
}

async fn widgets(env: &TestEnv, ns: &str) -> anyhow::Result<Api<DynamicObject>> {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            let api: Api<CustomResourceDefinition> = Api::all(env.client()?);
            api.patch(
                "widgets.testenv.azop.dev",
                &PatchParams::apply("azop-e2e").force(),
                &Patch::Apply(&widget_crd()),
            )
            .await?;
            azop_testenv::wait_for_condition(
                &api,
                "widgets.testenv.azop.dev",
                "Established",
                TIMEOUT,
            )
            .await?;
            anyhow::Ok(())
        })
        .await?;
    let gvk = GroupVersionKind::gvk("testenv.azop.dev", "v1", "Widget");
    Ok(Api::namespaced_with(
        env.client()?,
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    ))
}

#[tokio::test]
async fn cel_rules_in_crds_are_enforced() -> anyhow::Result<()> {
    let env = shared().await?;
    let ns = env.new_namespace("cel").await?;
    let api = widgets(env, &ns).await?;
    let stored = serde_json::to_value(
        Api::<CustomResourceDefinition>::all(env.client()?)
            .get("widgets.testenv.azop.dev")
            .await?,
    )?;
    ensure!(
        stored.to_string().contains("x-kubernetes-validations"),
        "the server dropped the CEL rule: {stored}"
    );
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "testenv.azop.dev/v1", "kind": "Widget",
        "metadata": {"name": "seven"}, "spec": {"size": 7}
    }))?;
    let err = api
        .create(&PostParams::default(), &w)
        .await
        .expect_err("the CEL rule must refuse size 7");
    let msg = objects::error_message(&err);
    ensure!(
        msg.contains("size must not be 7") && msg.contains("spec"),
        "unexpected refusal: {msg}"
    );
    // The OpenAPI part of the same schema is enforced too.
    let too_big: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "testenv.azop.dev/v1", "kind": "Widget",
        "metadata": {"name": "big"}, "spec": {"size": 11}
    }))?;
    let err = api
        .create(&PostParams::default(), &too_big)
        .await
        .expect_err("maximum must be enforced");
    let msg = objects::error_message(&err);
    ensure!(
        msg.contains("spec.size"),
        "message should name spec.size: {msg}"
    );
    // A rule that does not compile makes the whole CRD invalid: the server really compiles
    // the rules (which is what makes the azop CRDs' install above meaningful).
    let mut broken = serde_json::to_value(widget_crd())?;
    broken["metadata"]["name"] = json!("gadgets.testenv.azop.dev");
    broken["spec"]["names"] = json!({"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"});
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] =
        json!([{"rule": "self.size +", "message": "broken"}]);
    let err = Api::<DynamicObject>::all_with(
        env.client()?,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    )
    .create(&PostParams::default(), &serde_json::from_value(broken)?)
    .await
    .expect_err("a CRD with a rule that does not compile must be refused");
    let msg = objects::error_message(&err);
    ensure!(msg.contains("compil"), "unexpected refusal: {msg}");
    Ok(())
}

#[tokio::test]
async fn server_side_apply_of_status() -> anyhow::Result<()> {
    let env = shared().await?;
    let ns = env.new_namespace("ssa-status").await?;
    let api = widgets(env, &ns).await?;
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "testenv.azop.dev/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3}
    }))?;
    api.patch("w1", &PatchParams::apply("user"), &Patch::Apply(&w))
        .await?;

    // The controller's report: apply status only, through the status subresource.
    let status = json!({
        "apiVersion": "testenv.azop.dev/v1", "kind": "Widget",
        "metadata": {"name": "w1"},
        "status": {"phase": "Running", "observedGeneration": 1}
    });
    api.patch_status(
        "w1",
        &PatchParams::apply("azop-controller").force(),
        &Patch::Apply(&status),
    )
    .await?;
    let got = api.get("w1").await?;
    ensure!(
        got.data["status"]["phase"] == "Running",
        "status not applied: {:?}",
        got.data
    );
    ensure!(
        got.data["spec"]["size"] == 3,
        "spec changed: {:?}",
        got.data
    );
    let managers: Vec<String> = got
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| {
            Some(format!(
                "{}/{}",
                m.manager.clone()?,
                m.subresource.clone().unwrap_or_default()
            ))
        })
        .collect();
    ensure!(
        managers.iter().any(|m| m.starts_with("azop-controller")),
        "field managers: {managers:?}"
    );

    // Status written via the main resource is ignored; spec written via /status is ignored.
    let sneaky = json!({
        "apiVersion": "testenv.azop.dev/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3}, "status": {"phase": "Hacked"}
    });
    // Forced, so that only the status subresource rule (not field ownership) can keep the
    // value: it must still not change.
    api.patch(
        "w1",
        &PatchParams::apply("user").force(),
        &Patch::Apply(&sneaky),
    )
    .await?;
    let spec_via_status = json!({
        "apiVersion": "testenv.azop.dev/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 9}, "status": {"phase": "Running", "observedGeneration": 1}
    });
    api.patch_status(
        "w1",
        &PatchParams::apply("azop-controller").force(),
        &Patch::Apply(&spec_via_status),
    )
    .await?;
    let got = api.get("w1").await?;
    ensure!(
        got.data["status"]["phase"] == "Running",
        "main-resource apply changed status: {:?}",
        got.data
    );
    ensure!(
        got.data["spec"]["size"] == 3,
        "/status apply changed spec: {:?}",
        got.data
    );
    ensure!(
        got.metadata.generation == Some(1),
        "generation moved: {:?}",
        got.metadata.generation
    );
    Ok(())
}

#[tokio::test]
async fn a_finalizer_blocks_deletion_until_removed() -> anyhow::Result<()> {
    let env = shared().await?;
    let ns = env.new_namespace("finalizer").await?;
    let api: Api<ConfigMap> = Api::namespaced(env.client()?, &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("held".into()),
            finalizers: Some(vec!["azop.dev/test-cleanup".into()]),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    api.create(&PostParams::default(), &cm).await?;
    api.delete("held", &DeleteParams::default()).await?;
    // Still there, marked for deletion, for as long as the finalizer stays.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = api
        .get("held")
        .await
        .context("object vanished despite its finalizer")?;
    ensure!(
        held.metadata.deletion_timestamp.is_some(),
        "no deletionTimestamp"
    );
    let remove = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&remove))
        .await?;
    wait_for("ConfigMap held to be deleted", TIMEOUT, || async {
        match api.get_opt("held").await {
            Ok(None) => Check::Done(()),
            Ok(Some(o)) => Check::Pending(format!(
                "still present, finalizers {:?}",
                o.metadata.finalizers
            )),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await?;
    Ok(())
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

#[tokio::test]
async fn a_lease_can_be_acquired_and_renewed() -> anyhow::Result<()> {
    let env = shared().await?;
    let ns = env.new_namespace("lease").await?;
    let api: Api<Lease> = Api::namespaced(env.client()?, &ns);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("azop-leader".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("replica-a".into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    };
    let acquired = api.create(&PostParams::default(), &lease).await?;
    // A second candidate cannot create the same Lease.
    let err = api
        .create(&PostParams::default(), &lease)
        .await
        .expect_err("second create");
    ensure!(
        objects::error_code(&err) == Some(409),
        "expected 409 AlreadyExists: {err}"
    );

    // Renew: replace with the resourceVersion we read.
    let mut renewed = acquired.clone();
    let first_renew = renewed.spec.as_ref().and_then(|s| s.renew_time.clone());
    tokio::time::sleep(Duration::from_millis(20)).await;
    if let Some(s) = renewed.spec.as_mut() {
        s.renew_time = Some(now());
    }
    let renewed = api
        .replace("azop-leader", &PostParams::default(), &renewed)
        .await?;
    let second_renew = renewed.spec.as_ref().and_then(|s| s.renew_time.clone());
    ensure!(second_renew > first_renew, "renewTime did not advance");

    // A takeover based on the stale read loses (optimistic concurrency, what leader election
    // relies on).
    let mut takeover = acquired.clone();
    if let Some(s) = takeover.spec.as_mut() {
        s.holder_identity = Some("replica-b".into());
    }
    let err = api
        .replace("azop-leader", &PostParams::default(), &takeover)
        .await
        .expect_err("stale update must conflict");
    ensure!(
        objects::error_code(&err) == Some(409),
        "expected 409 Conflict: {err}"
    );
    let current = api.get("azop-leader").await?;
    ensure!(
        current.spec.and_then(|s| s.holder_identity).as_deref() == Some("replica-a"),
        "holder changed"
    );
    Ok(())
}

#[tokio::test]
async fn rbac_refuses_the_unprivileged_user_until_bound() -> anyhow::Result<()> {
    let env = shared().await?;
    let ns = env.new_namespace("rbac").await?;
    let alice: Api<ConfigMap> = Api::namespaced(env.client_as("alice")?, &ns);
    let err = alice
        .list(&ListParams::default())
        .await
        .expect_err("alice has no grant yet");
    ensure!(
        objects::error_code(&err) == Some(403),
        "expected 403: {err}"
    );

    let admin = env.client()?;
    let role = Role {
        metadata: ObjectMeta {
            name: Some("configmap-reader".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".into()]),
            verbs: vec!["get".into(), "list".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await?;
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("alice-reads-configmaps".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "configmap-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: "alice".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await?;
    wait_for(
        "alice to be allowed to list configmaps",
        TIMEOUT,
        || async {
            match alice.list(&ListParams::default()).await {
                Ok(_) => Check::Done(()),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;

    // Only what was granted: no create, no secrets, nothing in other namespaces, and bob is
    // still refused.
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("x".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    let err = alice
        .create(&PostParams::default(), &cm)
        .await
        .expect_err("create not granted");
    ensure!(
        objects::error_code(&err) == Some(403),
        "expected 403 on create: {err}"
    );
    let secrets: Api<Secret> = Api::namespaced(env.client_as("alice")?, &ns);
    let err = secrets
        .list(&ListParams::default())
        .await
        .expect_err("secrets not granted");
    ensure!(
        objects::error_code(&err) == Some(403),
        "expected 403 on secrets: {err}"
    );
    let other: Api<ConfigMap> = Api::namespaced(env.client_as("alice")?, "default");
    let err = other
        .list(&ListParams::default())
        .await
        .expect_err("other namespace");
    ensure!(
        objects::error_code(&err) == Some(403),
        "expected 403 in default: {err}"
    );
    let bob: Api<ConfigMap> = Api::namespaced(env.client_as("bob")?, &ns);
    let err = bob
        .list(&ListParams::default())
        .await
        .expect_err("bob not bound");
    ensure!(
        objects::error_code(&err) == Some(403),
        "expected 403 for bob: {err}"
    );
    Ok(())
}

#[tokio::test]
async fn kubeconfig_files_work_for_admin_and_users() -> anyhow::Result<()> {
    let env = shared().await?;
    for user in ["admin", "alice"] {
        let path = env.user_kubeconfig_path(user)?;
        let kc = kube::config::Kubeconfig::read_from(&path)?;
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        let client = kube::Client::try_from(cfg)?;
        let info = client.apiserver_version().await?;
        let pinned = azop_testenv::pinned_kubernetes_version()?;
        if info.git_version != pinned {
            bail!(
                "{user}: /version says {}, but the environment is built from {pinned}",
                info.git_version
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn service_account_tokens_from_token_request_authenticate() -> anyhow::Result<()> {
    let env = shared().await?;
    let ns = env.new_namespace("sa-token").await?;
    let admin = env.client()?;
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), &ns);
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("robot".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    sas.create(&PostParams::default(), &sa).await?;
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![azop_testenv::SERVICE_ACCOUNT_ISSUER.to_string()],
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let issued: TokenRequest = sas
        .create_subresource("token", "robot", &PostParams::default(), &req)
        .await?;
    let token = issued
        .status
        .context("no token in TokenRequest status")?
        .token;
    // Authenticated as the service account (RBAC names it in the refusal), not anonymous.
    let robot: Api<ConfigMap> = Api::namespaced(env.client_with_token(&token)?, &ns);
    let err = robot
        .list(&ListParams::default())
        .await
        .expect_err("no grant yet");
    let msg = objects::error_message(&err);
    ensure!(
        msg.contains(&format!("system:serviceaccount:{ns}:robot")),
        "refusal should name the service account: {msg}"
    );
    // A garbage token is not authenticated at all.
    let bad: Api<ConfigMap> = Api::namespaced(env.client_with_token("not-a-token")?, &ns);
    let err = bad
        .list(&ListParams::default())
        .await
        .expect_err("bad token");
    ensure!(
        objects::error_code(&err) == Some(401),
        "expected 401: {err}"
    );
    Ok(())
}

/// kube-controller-manager runs in every environment: a Deployment gets its ReplicaSet and
/// Pods, deleting the Deployment garbage-collects them through their ownerReferences, and a
/// deleted namespace finishes deleting (its contents are removed first).
#[tokio::test]
async fn kube_controller_manager_runs_deployments_gc_and_namespace_deletion() -> anyhow::Result<()>
{
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    let env = shared().await?;
    let ns = env.new_namespace("kcm").await?;
    let client = env.client()?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}
            }
        }
    }))?;
    deployments.create(&PostParams::default(), &d).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    wait_for("the Deployment's two Pods", TIMEOUT, || async {
        match pods.list(&ListParams::default().labels("app=web")).await {
            Ok(l) if l.items.len() == 2 => Check::Done(()),
            Ok(l) => Check::Pending(format!("{} pod(s)", l.items.len())),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await?;
    let owned_by_rs = pods
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items
        .iter()
        .all(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "ReplicaSet")
        });
    ensure!(owned_by_rs, "the Pods are not owned by a ReplicaSet");

    deployments
        .delete("web", &DeleteParams::background())
        .await?;
    wait_for(
        "garbage collection of the ReplicaSet and Pods",
        TIMEOUT,
        || async {
            let r = rss.list(&ListParams::default()).await;
            let p = pods.list(&ListParams::default().labels("app=web")).await;
            match (r, p) {
                (Ok(r), Ok(p)) if r.items.is_empty() && p.items.is_empty() => Check::Done(()),
                (Ok(r), Ok(p)) => Check::Pending(format!(
                    "{} ReplicaSet(s), {} Pod(s) left",
                    r.items.len(),
                    p.items.len()
                )),
                (Err(e), _) | (_, Err(e)) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("content".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    cms.create(&PostParams::default(), &cm).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.delete(&ns, &DeleteParams::default()).await?;
    wait_for(
        "the namespace to finish deleting",
        Duration::from_secs(60),
        || async {
            match namespaces.get_opt(&ns).await {
                Ok(None) => Check::Done(()),
                Ok(Some(n)) => {
                    Check::Pending(format!("phase {:?}", n.status.and_then(|s| s.phase)))
                }
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;
    Ok(())
}
