//! The library: environments started in parallel do not collide, work, and leave nothing
//! behind when dropped — also when the test panics.
#![allow(clippy::unwrap_used)]

use azop_testenv::process::{is_running, live_group_members};
use azop_testenv::{TestEnv, TestEnvOptions};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_environments_get_distinct_ports_and_stop_on_drop() {
    let (a, b) = tokio::join!(
        TestEnv::start(TestEnvOptions::default()),
        TestEnv::start(TestEnvOptions::default())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.server_url(), b.server_url());
    assert_ne!(a.etcd_url(), b.etcd_url());
    // Separate clusters: a namespace made in one does not exist in the other.
    let ns = a.new_namespace("only-in-a").await.unwrap();
    let in_b: Api<Namespace> = Api::all(b.client().unwrap());
    assert!(in_b.get_opt(&ns).await.unwrap().is_none());
    let in_a: Api<Namespace> = Api::all(a.client().unwrap());
    assert!(in_a.get_opt(&ns).await.unwrap().is_some());

    let pids: Vec<i32> = a.pids().into_iter().chain(b.pids()).collect();
    assert_eq!(
        pids.len(),
        6,
        "etcd, kube-apiserver and kube-controller-manager, twice"
    );
    let dirs = [a.dir().to_path_buf(), b.dir().to_path_buf()];
    drop(a);
    drop(b);
    for p in pids {
        assert!(!is_running(p), "pid {p} survived drop");
        assert!(live_group_members(p).is_empty(), "group {p} survived drop");
    }
    for d in dirs {
        assert!(!d.exists(), "{} survived drop", d.display());
    }
}

#[tokio::test]
async fn a_panicking_test_still_stops_its_environment() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    let pids = env.pids();
    let dir = env.dir().to_path_buf();
    // The panic unwinds through the task that owns `env`.
    let handle = tokio::spawn(async move {
        let _env = env;
        panic!("test failure while the environment runs");
    });
    assert!(handle.await.unwrap_err().is_panic());
    for p in pids {
        assert!(!is_running(p), "pid {p} survived the panic");
    }
    assert!(!dir.exists());
}

#[tokio::test]
async fn unknown_users_are_reported() {
    let env = azop_testenv::shared().await.unwrap();
    let err = match env.client_as("mallory") {
        Ok(_) => panic!("mallory is not a user"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("unknown user mallory"), "{err}");
    assert!(err.contains("alice"), "{err}");
}

/// `restart_apiserver` (the chaos suite's API server restart): the same URL and data after, a
/// client made before works again, the old process is gone, and dropping the environment stops
/// the new one too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_api_server_serves_the_same_cluster_at_the_same_address() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    let client = env.client().unwrap();
    let ns = env.new_namespace("survives-restart").await.unwrap();
    let url = env.server_url().to_string();
    let old: Vec<i32> = env.pids();
    let away = env.restart_apiserver().await.unwrap();
    assert!(away.as_secs() < 120, "took {away:?}");
    assert_eq!(env.server_url(), url);
    let now = env.pids();
    assert_eq!(now.len(), 3, "{now:?}");
    let gone: Vec<&i32> = old.iter().filter(|p| !now.contains(p)).collect();
    assert_eq!(
        gone.len(),
        1,
        "exactly the API server was replaced: {old:?} → {now:?}"
    );
    assert!(!is_running(*gone[0]), "the old API server still runs");
    // The client made before the restart reconnects; etcd kept the namespace.
    let namespaces: Api<Namespace> = Api::all(client);
    assert!(namespaces.get_opt(&ns).await.unwrap().is_some());
    assert!(env.dir().join("kube-apiserver.log.1").exists());
    let dir = env.dir().to_path_buf();
    drop(env);
    for p in now {
        assert!(!is_running(p), "pid {p} survived drop");
    }
    assert!(!dir.exists());
}
