//! [`ArgoCd`]: the real Argo CD syncs a local Git repository into the environment, its processes
//! are recognisable as the state directory's (so the watchdog and the stale-directory sweep find
//! them after a `kill -9` of the test), and dropping it — also in a panic — leaves nothing.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use azop_testenv::argocd::{NAMESPACE, api_resource, argocd_cm_path};
use azop_testenv::process::{is_running, live_group_members, live_pids_in};
use azop_testenv::{ArgoCd, ArgoCdOptions, Check, wait_for};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;

/// One Argo CD per environment: two controllers would both act on the Applications of
/// namespace `argocd`. The tests of this binary share one environment, so they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_cd_syncs_a_local_repository_and_leaves_nothing_when_dropped() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let env = azop_testenv::shared().await.unwrap();
    let ns = env.new_namespace("argocd-lib").await.unwrap();
    let argocd = ArgoCd::start(
        env,
        ArgoCdOptions {
            argocd_cm: Some(argocd_cm_path()),
            ..ArgoCdOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(argocd.version().contains("v3."), "{}", argocd.version());
    let pids = argocd.pids();
    assert_eq!(pids.len(), 3, "redis, repo-server, application-controller");
    // Each command line names the state directory: what the watchdog and the sweep of stale
    // directories go by after a `kill -9` of the test.
    let mut found = live_pids_in(argocd.dir());
    found.sort_unstable();
    let mut want = pids.clone();
    want.sort_unstable();
    assert_eq!(found, want);

    // The shipped argocd-cm is merged in (kubectl patch, as docs/gitops.md says).
    let cms: Api<ConfigMap> = Api::namespaced(env.client().unwrap(), NAMESPACE);
    let cm = cms.get("argocd-cm").await.unwrap();
    let data = cm.data.unwrap_or_default();
    assert!(data.contains_key("resource.customizations.health.azop.dev_AzureCluster"));
    assert_eq!(
        data.get("resource.customizations.useOpenLibs.azop.dev_AzureCluster")
            .map(String::as_str),
        Some("true")
    );

    // A repository with one ConfigMap, synced by an Application.
    let repo = tempfile::tempdir().unwrap();
    let work = repo.path().join("work");
    std::fs::create_dir_all(work.join("app")).unwrap();
    git(
        repo.path(),
        &["init", "-q", "--bare", "-b", "main", "r.git"],
    );
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(
        work.join("app/cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\n  namespace: {ns}\ndata:\n  k: v\n"),
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "one ConfigMap"]);
    let url = format!("file://{}", repo.path().join("r.git").display());
    git(&work, &["push", "-q", &url, "main"]);
    let apps: Api<DynamicObject> = Api::namespaced_with(
        env.client().unwrap(),
        NAMESPACE,
        &api_resource("Application"),
    );
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": ns, "namespace": NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "app"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "syncPolicy": {"automated": {}},
        },
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
    let in_ns: Api<ConfigMap> = Api::namespaced(env.client().unwrap(), &ns);
    wait_for(
        "the ConfigMap from Git",
        Duration::from_secs(60),
        || async {
            let app = apps.get(&ns).await.map(|a| a.data["status"].clone());
            match (in_ns.get_opt("from-git").await, app) {
                (Ok(Some(_)), Ok(s)) if s["sync"]["status"] == "Synced" => Check::Done(()),
                (got, app) => Check::Pending(format!("{:?} / {:?}", got.map(|c| c.is_some()), app)),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", argocd.log_tails(20)));

    let dir = argocd.dir().to_path_buf();
    drop(argocd);
    for p in pids {
        assert!(!is_running(p), "pid {p} survived drop");
        assert!(live_group_members(p).is_empty(), "group {p} survived drop");
    }
    assert!(!dir.exists(), "{} survived drop", dir.display());
}

#[tokio::test]
async fn a_panicking_test_still_stops_argo_cd() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let env = azop_testenv::shared().await.unwrap();
    let argocd = ArgoCd::start(env, ArgoCdOptions::default()).await.unwrap();
    let pids = argocd.pids();
    let dir = argocd.dir().to_path_buf();
    let handle = tokio::spawn(async move {
        let _argocd = argocd;
        panic!("test failure while Argo CD runs");
    });
    assert!(handle.await.unwrap_err().is_panic());
    for p in pids {
        assert!(!is_running(p), "pid {p} survived the panic");
    }
    assert!(!dir.exists());
}
