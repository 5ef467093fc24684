//! A large cluster's Events and conditions stay within what the API server accepts (issue 26:
//! deleting a cluster of 8 VMs made a `Deleting` Event over the 1,024-character limit, refused
//! every time). Lists in messages name their first items and the count.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azop_armsim::SimConfig;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use azop_testenv::{Check, wait_for};
use kube::api::DeleteParams;
use serde_json::Value;

const RG: &str = "rg-e2e-large";
const WORKERS: i64 = 40;
/// events.k8s.io/v1 Event note and metav1.Condition message limits.
const EVENT_NOTE_LIMIT: usize = 1024;
const CONDITION_MESSAGE_LIMIT: usize = 32_768;

fn longest_condition_message(obj: &kube::api::DynamicObject) -> usize {
    obj.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["message"].as_str())
                .map(str::len)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_large_cluster_tells_it_in_events_within_the_limits() {
    let world = World::new("azc-large", SimConfig::default()).await.unwrap();
    let op = world.start_operator("a", &[]).unwrap();
    let obj = create(&world, cluster("big", RG, WORKERS)).await.unwrap();
    let uid = obj.metadata.uid.clone().unwrap();
    let ready = or_dump(wait_ready(&world, "big").await, &[&op]);
    assert!(longest_condition_message(&ready) <= CONDITION_MESSAGE_LIMIT);

    api(&world)
        .delete("big", &DeleteParams::default())
        .await
        .unwrap();
    // The Deleting Event is recorded (not refused) and summarises the machines.
    let note = or_dump(
        wait_event(&world, &uid, "Deleting", "in all)").await,
        &[&op],
    );
    assert!(
        note.len() <= EVENT_NOTE_LIMIT,
        "{} bytes: {note}",
        note.len()
    );
    assert!(note.contains(" more ("), "{note}");
    // While the deletion goes on, the status names the first resources and the count.
    let longest = AtomicUsize::new(0);
    wait_for("the cluster gone".to_string(), TIMEOUT, || async {
        match api(&world).get_opt("big").await {
            Ok(None) => Check::Done(()),
            Ok(Some(o)) => {
                longest.fetch_max(longest_condition_message(&o), Ordering::Relaxed);
                Check::Pending(all_messages(&o))
            }
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .unwrap();
    assert!(longest.load(Ordering::Relaxed) <= CONDITION_MESSAGE_LIMIT);
    for (reason, note) in events_for(&world, &uid).await.unwrap() {
        assert!(
            note.len() <= EVENT_NOTE_LIMIT,
            "{reason}: {} bytes",
            note.len()
        );
    }
    // The operator never saw the API server refuse an Event.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = op.logs();
    assert!(
        !logs.contains("failed to publish an Event"),
        "an Event was refused: {logs}"
    );
}
