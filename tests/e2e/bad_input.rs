//! The bad-input corpus (`azop_e2e::corpus`) against the real API server and the operator:
//! each case is refused at admission (schema or CEL, tried with a server-side dry run), or,
//! admitted, refused by the operator with an `InvalidSpec` condition — and no case makes an
//! ARM write: each admitted case names its own credentials, so armsim's request log shows
//! every request per case by principal. The operator is alive at the end.
//!
//! `AZOP_CORPUS_SEED=<n>` replays a corpus (the seed is printed); `AZOP_RELIABILITY=long`
//! draws a larger one (docs/testing.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azop_armsim::{RequestFilter, SimConfig};
use azop_e2e::corpus::{self, Case};
use azop_e2e::objects;
use azop_e2e::operator::{World, credentials_secret};
use azop_testenv::{Check, wait_for};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use serde_json::json;

const SAMPLE_CREDENTIALS: &str = "azure-credentials";

fn seed() -> u64 {
    std::env::var("AZOP_CORPUS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// (leaf mutations, combinations) drawn for one run.
fn sizes() -> (usize, usize) {
    if std::env::var("AZOP_RELIABILITY").as_deref() == Ok("long") {
        (2000, 1000)
    } else {
        (150, 60)
    }
}

/// The InvalidSpec condition's message, once the operator has written it.
fn invalid_condition(obj: &DynamicObject) -> Option<String> {
    obj.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["reason"] == "InvalidSpec" && c["status"] == "False")
        .map(|c| c["message"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_before_any_arm_write() {
    let seed = seed();
    let (leaves, combinations) = sizes();
    eprintln!(
        "bad-input corpus: AZOP_CORPUS_SEED={seed} ({leaves} leaf mutations, {combinations} combinations drawn)"
    );
    let samples = corpus::valid_objects(&azop_testenv::samples_dir()).unwrap();
    let cases = corpus::generate(&samples, seed, leaves, combinations);
    eprintln!("{} cases", cases.len());

    let world = World::new("bad-input", SimConfig::default()).await.unwrap();
    let mut op = world.start_operator("a", &[]).unwrap();
    let client = world.client.clone();

    // Admission first: a dry run runs the schema and every CEL rule without storing.
    let mut admitted: Vec<(usize, &Case)> = Vec::new();
    let mut failures = Vec::new();
    let mut refused_at_admission = 0;
    for (i, case) in cases.iter().enumerate() {
        let api = objects::api_for(&client, &case.object, &world.ns)
            .await
            .unwrap();
        let d = objects::to_dynamic(&case.object, &world.ns).unwrap();
        match api
            .create(
                &PostParams {
                    dry_run: true,
                    ..PostParams::default()
                },
                &d,
            )
            .await
        {
            Err(e) if matches!(objects::error_code(&e), Some(400 | 422)) => {
                refused_at_admission += 1;
            }
            Err(e) => failures.push(format!(
                "case {i} {}: refused, but not as invalid: {}",
                case.describe(),
                objects::error_message(&e)
            )),
            Ok(_) => admitted.push((i, case)),
        }
    }
    eprintln!(
        "{refused_at_admission} refused at admission, {} admitted",
        admitted.len()
    );

    // Admitted ones: created for real, each with its own credentials (principal corpus-<i>),
    // one at a time (several cases share a name), refused by the operator with a condition.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), &world.ns);
    for (i, case) in &admitted {
        let principal = format!("corpus-{i}");
        let secret_name = format!("cred-{i}");
        let mut secret = credentials_secret(&world.ns);
        secret["metadata"]["name"] = json!(secret_name);
        secret["stringData"]["clientId"] = json!(principal);
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(secret).unwrap(),
            )
            .await
            .unwrap();
        let mut object = case.object.clone();
        if object.pointer("/spec/credentialsRef/name") == Some(&json!(SAMPLE_CREDENTIALS)) {
            object["spec"]["credentialsRef"]["name"] = json!(secret_name);
        }
        let api = objects::api_for(&client, &object, &world.ns).await.unwrap();
        let name = case.name().to_string();
        if let Err(e) = api
            .create(
                &PostParams::default(),
                &objects::to_dynamic(&object, &world.ns).unwrap(),
            )
            .await
        {
            failures.push(format!(
                "case {i} {}: the dry run admitted it, the create did not: {}",
                case.describe(),
                objects::error_message(&e)
            ));
            continue;
        }
        let seen = wait_for(
            format!("case {i}: an InvalidSpec condition"),
            Duration::from_secs(60),
            || async {
                match api.get(&name).await {
                    Ok(o) => match invalid_condition(&o) {
                        Some(m) => Check::Done(m),
                        None => Check::Pending(format!("{:?}", o.data.get("status"))),
                    },
                    Err(e) => Check::Pending(e.to_string()),
                }
            },
        )
        .await;
        if let Err(e) = seen {
            failures.push(format!("case {i} {}: {e}", case.describe()));
        }
        let writes: Vec<String> = world
            .sim
            .requests(&RequestFilter {
                principal: Some(principal.clone()),
                ..RequestFilter::default()
            })
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.contains("/oauth2/"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        if !writes.is_empty() {
            failures.push(format!(
                "case {i} {}: {} ARM write(s): {writes:?}",
                case.describe(),
                writes.len()
            ));
        }
        // No finalizer on an invalid object: it goes at once.
        api.delete(&name, &DeleteParams::default()).await.unwrap();
        wait_for(
            format!("case {i} deleted"),
            Duration::from_secs(30),
            || async {
                match api.get_opt(&name).await {
                    Ok(None) => Check::Done(()),
                    Ok(Some(o)) => Check::Pending(format!("{:?}", o.metadata.finalizers)),
                    Err(e) => Check::Pending(e.to_string()),
                }
            },
        )
        .await
        .unwrap();
    }

    // Nothing written by anyone, and the operator still running.
    let all_writes: Vec<String> = world
        .sim
        .requests(&RequestFilter::default())
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.contains("/oauth2/"))
        .map(|r| format!("{} {} ({:?})", r.method, r.path, r.principal))
        .collect();
    if !all_writes.is_empty() {
        failures.push(format!("ARM writes during the corpus: {all_writes:?}"));
    }
    assert!(op.is_running(), "the operator died: {}", op.logs());
    assert!(
        failures.is_empty(),
        "AZOP_CORPUS_SEED={seed}: {} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
