//! GitOps with the real Argo CD: a platform team's repository synced into the management
//! cluster, and Argo CD's own health verdicts on what azop does in Azure.
//!
//! Real parts: Argo CD (application-controller and repo-server built from its Go module,
//! Debian's redis; `azop_testenv::ArgoCd`) with `config/argocd/argocd-cm.yaml` merged into its
//! `argocd-cm` by the real kubectl as docs/gitops.md says; a Git repository served as
//! `file://` (the real git); kube-apiserver and kube-controller-manager; the `azop` binary as
//! the chart's ServiceAccount; azop-armsim at Azure's latencies × 0.02, with Azurite behind its
//! storage accounts and a VHD made by qemu-img.
//!
//! The repository holds one team folder (namespace, credentials Secret, ProxyConfig,
//! StorageBinding with its SAS Secret, an AzureCluster and an AksCluster, in sync waves) and
//! the team's Application (automated sync with prune, self-heal and retries, server-side
//! apply), as docs/gitops.md recommends. The test checks, from what Argo CD writes into the
//! Application and from the objects themselves:
//! - the waves: the StorageBinding is applied only once the ProxyConfig is Ready, the clusters
//!   only once the StorageBinding's image exists;
//! - every Azure-backed object is Progressing while azop provisions it, and Healthy only when
//!   Ready for its current generation; the first sync ends Succeeded, the Application Healthy;
//! - a pool scaled in Git syncs, and the cluster is Healthy again only once Azure has the
//!   new machine; an object edited by hand is put back by self-heal;
//! - the cluster removed from Git is pruned; while a lock on its resource group refuses the
//!   DELETEs it is Degraded naming what is left (Argo CD 3.6's `hs.deletionMessage`), then it
//!   goes and leaves nothing in Azure;
//! - an image and a cluster added in Git while Azure refuses the image's storage account (403
//!   AuthorizationFailed): the StorageBinding shows Degraded with azop's message, the
//!   Application Degraded, the sync fails before the cluster's wave and is retried; once
//!   allowed, azop's next try (2 minutes after the refusal) gets through, Argo CD's next retry
//!   applies the cluster, and everything ends Healthy with the sync Succeeded;
//! - no verdict was ever Unknown nor the Application in ComparisonError (what the health checks
//!   did in Argo CD before they were fixed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azop_armsim::{FaultAction, FaultSpec, LatencyPreset, SimConfig};
use azop_e2e::gitops::{
    AKS, AppView, BINDING, BINDING2, CLUSTER, CLUSTER2, GitRepo, LiveView, PROXY, Team,
    applications, azop_kind, live_objects, record_testdata, refresh,
};
use azop_e2e::operator::SUBSCRIPTION;
use azop_e2e::storage_binding::{StorageWorld, VhdKind, make_vhd};
use azop_testenv::argocd::argocd_cm_path;
use azop_testenv::{ArgoCd, ArgoCdOptions};
use azop_testenv::{Check, wait_for};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

/// Azure's typical times × 0.02: a VM takes 1.8 s, an AKS cluster 7.2 s.
const LATENCY_SCALE: f64 = 0.02;
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// azop holds a write refused for lack of permission for 2 minutes (AUTH_RETRY_AFTER).
const AUTH_HOLD_TIMEOUT: Duration = Duration::from_secs(240);

/// What one look at Argo CD and the cluster saw.
#[derive(Debug, Clone)]
struct Sample {
    at: Duration,
    app: AppView,
    live: BTreeMap<(String, String), LiveView>,
}

impl Sample {
    fn live(&self, kind: &str, name: &str) -> Option<&LiveView> {
        self.live.get(&(kind.to_string(), name.to_string()))
    }

    fn describe(&self) -> String {
        let mut out = format!("at {:.1?}: {}", self.at, self.app.describe());
        for ((k, n), v) in &self.live {
            out.push_str(&format!(
                "\n  live {k}/{n} gen {} observed {:?} deleting {} Ready {:?}",
                v.generation, v.observed, v.deleting, v.ready
            ));
        }
        out
    }
}

/// Samples Argo CD's Application and the team's azop objects every 150 ms, keeping them all.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
    t0: Instant,
}

impl Sampler {
    fn start(client: kube::Client, ns: String, app: String, t0: Instant) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let out = samples.clone();
        let task = tokio::spawn(async move {
            let apps = applications(&client);
            loop {
                // The Application first, then the objects: an object read is never older than
                // the verdict it is compared with.
                let app = match apps.get_opt(&app).await {
                    Ok(Some(a)) => AppView::from_object(&a),
                    _ => AppView::default(),
                };
                if let Ok(live) = live_objects(&client, &ns).await {
                    out.lock().unwrap().push(Sample {
                        at: t0.elapsed(),
                        app,
                        live,
                    });
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        });
        Sampler { samples, task, t0 }
    }

    fn all(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }

    fn since(&self, from: Duration) -> Vec<Sample> {
        self.all().into_iter().filter(|s| s.at >= from).collect()
    }

    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Waits for a sample taken after the call for which `f` says `Some`.
    async fn wait<T>(
        &self,
        argocd: &ArgoCd,
        what: &str,
        timeout: Duration,
        f: impl Fn(&Sample) -> Option<T>,
    ) -> (T, Sample) {
        let from = self.now();
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.all().into_iter().rev().find(|s| s.at >= from);
            if let Some(s) = &last
                && let Some(v) = f(s)
            {
                return (v, s.clone());
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last seen {}\n{}",
                    last.map(|s| s.describe()).unwrap_or_default(),
                    argocd.log_tails(15)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(method: &str, path: String, status: u16, code: &str, message: String) -> FaultSpec {
    FaultSpec {
        method: Some(method.into()),
        path,
        times: None,
        after: 0,
        action: FaultAction::Respond {
            status,
            code: code.into(),
            message,
            retry_after: None,
        },
    }
}

/// Argo CD's verdict on an object equals `status`, and its message is what the health check
/// promises for it: Ready's `<reason>: <message>` as azop wrote it at some point up to this
/// sample. (Argo CD refreshes an Application when an object's health status changes, not when
/// only its message does, so the message it shows may be an earlier one of azop's.)
fn verdict_is(history: &[Sample], s: &Sample, kind: &str, name: &str, status: &str) -> bool {
    let (health, message) = s.app.health_of(kind, name);
    health == status
        && history
            .iter()
            .filter(|h| h.at <= s.at)
            .filter_map(|h| h.live(kind, name))
            .any(|l| message == l.reason_and_message())
}

fn first_index(samples: &[Sample], f: impl Fn(&Sample) -> bool) -> Option<usize> {
    samples.iter().position(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_repo_is_synced_into_azure_and_argo_cd_tells_its_health() {
    let t0 = Instant::now();
    let sim = SimConfig::default()
        .latency_preset(LatencyPreset::Realistic)
        .latency_scale(LATENCY_SCALE)
        // Clusters' "public" addresses on loopback: nothing leaves the machine.
        .public_pool("127.52.0.0/16".parse().unwrap());
    let sw = StorageWorld::with("gitops", sim, false).await.unwrap();
    let w = &sw.world;
    let client = w.client.clone();
    let ns = w.ns.clone();

    // The team's base VHD, outside azop (an Azurite account), and a SAS to read it.
    let vhd = make_vhd(VhdKind::Fixed, 4).unwrap();
    let vhd_url = sw.upload_source("ubuntu-2404-k8s.vhd", &vhd).await.unwrap();
    let team = Team {
        ns: ns.clone(),
        subscription: SUBSCRIPTION.to_string(),
        vhd_url,
        vhd_sas: sw.source_sas(),
        kubernetes_version: azop_testenv::pinned_kubernetes_version()
            .unwrap()
            .trim_start_matches('v')
            .to_string(),
        aks_version: "1.36".to_string(),
    };

    let mut op = w.start_operator("a", &[]).unwrap();
    let argocd_from = Instant::now();
    let argocd = ArgoCd::start(
        w.env,
        ArgoCdOptions {
            argocd_cm: Some(argocd_cm_path()),
            ..ArgoCdOptions::default()
        },
    )
    .await
    .unwrap();
    eprintln!(
        "timing: {} started in {:.1?} ({:.1?} after the test began)",
        argocd.version(),
        argocd_from.elapsed(),
        t0.elapsed()
    );

    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(tmp.path()).unwrap();
    for (path, text) in team.files().unwrap() {
        repo.write(&path, &text).unwrap();
    }
    let (app_file, app_text) = team.application(&repo.url());
    repo.write(&app_file, &app_text).unwrap();
    let rev1 = repo
        .commit("team folder: proxy, base image, prod and analytics clusters")
        .unwrap();

    // The Application, from the repository's file (what `kubectl apply -f apps/<team>.yaml`
    // does; an app-of-apps would do the same).
    let app: DynamicObject = serde_yaml::from_str(&repo.read(&app_file).unwrap()).unwrap();
    applications(&client)
        .create(&PostParams::default(), &app)
        .await
        .unwrap();
    let synced_from = t0.elapsed();
    let sampler = Sampler::start(client.clone(), ns.clone(), ns.clone(), t0);

    // --- The first sync, wave by wave.
    let (_, first) = sampler
        .wait(
            &argocd,
            "the first sync Succeeded, the Application Healthy",
            STEP_TIMEOUT,
            |s| {
                (s.app.operation_phase == "Succeeded"
                    && s.app.operation_revision == rev1
                    && s.app.sync == "Synced"
                    && s.app.health == "Healthy")
                    .then_some(())
            },
        )
        .await;
    let first_sync = t0.elapsed() - synced_from;
    eprintln!(
        "after the first sync, as Argo CD shows it: {}",
        first.app.describe()
    );
    for (kind, name) in [
        ("ProxyConfig", PROXY),
        ("StorageBinding", BINDING),
        ("AzureCluster", CLUSTER),
        ("AksCluster", AKS),
    ] {
        assert_eq!(
            first.app.health_of(kind, name).0,
            "Healthy",
            "{}",
            first.describe()
        );
    }

    let history = sampler.since(synced_from);
    // Waves: the binding was created only once the proxy was Ready, the clusters only once
    // the image existed — and the clusters did wait (the binding was seen not yet Ready
    // while they did not exist).
    let exists = |s: &Sample, kind: &str, name: &str| s.live(kind, name).is_some();
    let ready =
        |s: &Sample, kind: &str, name: &str| s.live(kind, name).is_some_and(LiveView::ready_now);
    let sb_created = first_index(&history, |s| exists(s, "StorageBinding", BINDING)).unwrap();
    assert!(
        ready(&history[sb_created], "ProxyConfig", PROXY),
        "wave -1 applied before wave -2 was Healthy: {}",
        history[sb_created].describe()
    );
    for (kind, name) in [("AzureCluster", CLUSTER), ("AksCluster", AKS)] {
        let created = first_index(&history, |s| exists(s, kind, name)).unwrap();
        assert!(
            ready(&history[created], "StorageBinding", BINDING),
            "{kind} applied before its image was ready: {}",
            history[created].describe()
        );
    }
    assert!(
        history.iter().any(|s| exists(s, "StorageBinding", BINDING)
            && !ready(s, "StorageBinding", BINDING)
            && !exists(s, "AzureCluster", CLUSTER)),
        "the clusters never waited for the binding"
    );
    let healthy = first_index(&history, |s| {
        s.app.health_of("ProxyConfig", PROXY).0 == "Healthy"
    })
    .unwrap();
    assert!(
        ready(&history[healthy], "ProxyConfig", PROXY),
        "ProxyConfig Healthy while not Ready: {}",
        history[healthy].describe()
    );
    // Progressing while azop provisions; Healthy first seen only on a Ready object.
    for (kind, name) in [
        ("StorageBinding", BINDING),
        ("AzureCluster", CLUSTER),
        ("AksCluster", AKS),
    ] {
        let healthy = first_index(&history, |s| s.app.health_of(kind, name).0 == "Healthy")
            .unwrap_or_else(|| panic!("{kind} never Healthy"));
        let progressing = history[..healthy]
            .iter()
            .rev()
            .find(|s| s.app.health_of(kind, name).0 == "Progressing")
            .unwrap_or_else(|| panic!("{kind} was never Progressing before Healthy"));
        eprintln!(
            "{kind} while azop provisions it, as Argo CD shows it: Progressing / {}",
            progressing.app.health_of(kind, name).1
        );
        assert!(
            ready(&history[healthy], kind, name),
            "{kind} Healthy while not Ready: {}",
            history[healthy].describe()
        );
    }

    // --- A pool scaled in Git.
    let scale_from = t0.elapsed();
    let (file, text) = team.cluster_file(CLUSTER, BINDING, 2);
    repo.write(&file, &text).unwrap();
    let rev2 = repo.commit("prod: a second worker").unwrap();
    refresh(&client, &ns).await.unwrap();
    let (_, scaled) = sampler
        .wait(
            &argocd,
            "the scaled AzureCluster Healthy at the new revision",
            STEP_TIMEOUT,
            |s| {
                let r = s.app.resource("AzureCluster", CLUSTER)?;
                (s.app.revision == rev2 && r.sync == "Synced" && r.health == "Healthy")
                    .then_some(())
            },
        )
        .await;
    let scale_time = t0.elapsed() - scale_from;
    // Healthy at the new revision means: azop has it Ready, and Azure has the machine.
    let live = scaled.live("AzureCluster", CLUSTER).unwrap();
    assert!(
        live.ready_now() && live.generation >= 2,
        "{}",
        scaled.describe()
    );
    let rg = team.rg(CLUSTER).to_ascii_lowercase();
    let vms: Vec<String> = w
        .sim
        .inventory()
        .iter()
        .filter(|r| {
            r["type"] == "Microsoft.Compute/virtualMachines"
                && r["properties"]["provisioningState"] == "Succeeded"
                && r["id"]
                    .as_str()
                    .is_some_and(|id| id.to_ascii_lowercase().contains(&format!("/{rg}/")))
        })
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    assert!(
        vms.iter().any(|n| n == "prod-general-1") && vms.len() == 3,
        "Azure has {vms:?}"
    );
    assert!(
        sampler
            .since(scale_from)
            .iter()
            .any(|s| s.app.revision == rev2
                && s.app.health_of("AzureCluster", CLUSTER).0 == "Progressing"),
        "the scaled cluster was never Progressing"
    );

    // --- Someone edits a live object: self-heal puts Git's version back.
    let heal_from = t0.elapsed();
    azop_kind(&client, &ns, "ProxyConfig")
        .unwrap()
        .patch(
            PROXY,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"httpsProxy": "http://rogue.example.com:3128"}})),
        )
        .await
        .unwrap();
    let proxies = azop_kind(&client, &ns, "ProxyConfig").unwrap();
    wait_for(
        "self-heal to restore the ProxyConfig",
        STEP_TIMEOUT,
        || async {
            match proxies.get(PROXY).await {
                Ok(p) if p.data["spec"]["httpsProxy"] == "http://proxy.corp.example.com:3128" => {
                    Check::Done(())
                }
                Ok(p) => Check::Pending(p.data["spec"]["httpsProxy"].to_string()),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await
    .unwrap();
    // Only Argo CD writes the field back (azop never writes a spec); it does so within a
    // second, too fast for the sampler to catch the OutOfSync in between.
    let heal_time = t0.elapsed() - heal_from;

    // --- The cluster removed from Git, while a lock on its resource group refuses DELETEs.
    let prune_from = t0.elapsed();
    let rg_scope = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{}",
        team.rg(CLUSTER)
    );
    w.sim
        .add_fault(respond(
            "DELETE",
            format!("{rg_scope}*"),
            409,
            "ScopeLocked",
            format!(
                "The scope cannot perform delete operation because following scope(s) are locked: '{rg_scope}'. Please remove the lock and try again."
            ),
        ))
        .unwrap();
    repo.remove(&file).unwrap();
    let rev3 = repo.commit("prod: retired").unwrap();
    refresh(&client, &ns).await.unwrap();
    let (_, blocked) = sampler
        .wait(
            &argocd,
            "the pruned AzureCluster Degraded (DeleteBlocked)",
            STEP_TIMEOUT,
            |s| {
                let deleting = s.live("AzureCluster", CLUSTER)?.deleting;
                (deleting && verdict_is(&sampler.all(), s, "AzureCluster", CLUSTER, "Degraded"))
                    .then_some(())
            },
        )
        .await;
    let (_, blocked_message) = blocked.app.health_of("AzureCluster", CLUSTER);
    assert!(
        blocked_message.starts_with("DeleteBlocked: deleting ")
            && blocked_message.contains("ScopeLocked")
            && blocked_message.contains("Microsoft.Compute/virtualMachines prod-general-1"),
        "{blocked_message}"
    );
    eprintln!("a deletion that cannot finish, as Argo CD shows it: Degraded / {blocked_message}");
    let obj = azop_kind(&client, &ns, "AzureCluster")
        .unwrap()
        .get(CLUSTER)
        .await
        .unwrap();
    record_testdata(
        "AzureCluster",
        "delete-locked",
        &obj,
        "Removed from Git (pruned) while a\n# CanNotDelete lock on its resource group made Azure refuse every DELETE (409 ScopeLocked).",
    )
    .unwrap();
    // The lock removed: the deletion finishes.
    w.sim.clear_faults();
    sampler
        .wait(&argocd, "the pruned AzureCluster gone", STEP_TIMEOUT, |s| {
            (s.live("AzureCluster", CLUSTER).is_none()
                && s.app.resource("AzureCluster", CLUSTER).is_none()
                && s.app.revision == rev3)
                .then_some(())
        })
        .await;
    let prune_time = t0.elapsed() - prune_from;
    let left: Vec<String> = w
        .sim
        .inventory()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .filter(|id| {
            let id = id.to_ascii_lowercase();
            id.ends_with(&format!("/{rg}")) || id.contains(&format!("/{rg}/"))
        })
        .collect();
    assert!(
        left.is_empty(),
        "left in Azure by the pruned cluster: {left:?}"
    );
    // While it was being deleted, Argo CD showed azop's verdict, never its own "Pending
    // deletion" (which replaces a check's verdict unless the check sets hs.deletionMessage).
    for s in sampler.since(prune_from) {
        if s.live("AzureCluster", CLUSTER).is_some_and(|l| l.deleting) {
            let (h, m) = s.app.health_of("AzureCluster", CLUSTER);
            assert!(
                !m.starts_with("Pending deletion"),
                "{h}: {m}: Argo CD's default, not azop's"
            );
        }
    }

    // --- An image and a cluster added in Git, while azop's identity may not create the
    // image's storage account (yet).
    let refused_from = t0.elapsed();
    let accounts = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/",
        team.rg(BINDING2)
    );
    w.sim
        .add_fault(respond(
            "PUT",
            format!("{accounts}*"),
            403,
            "AuthorizationFailed",
            format!(
                "The client 'azop-e2e' with object id '0b6e3a3c-1f2d-4c5b-9a8e-7d6c5b4a3f2e' does not have authorization to perform action 'Microsoft.Storage/storageAccounts/write' over scope '{accounts}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        ))
        .unwrap();
    for (file, text) in [
        team.binding_file(BINDING2),
        team.cluster_file(CLUSTER2, BINDING2, 1),
    ] {
        repo.write(&file, &text).unwrap();
    }
    let rev4 = repo.commit("gpu: an image and a cluster").unwrap();
    refresh(&client, &ns).await.unwrap();
    let (_, denied) = sampler
        .wait(
            &argocd,
            "the new StorageBinding Degraded, and the Application",
            STEP_TIMEOUT,
            |s| {
                (s.app.revision == rev4
                    && verdict_is(&sampler.all(), s, "StorageBinding", BINDING2, "Degraded")
                    && s.app.health == "Degraded")
                    .then_some(())
            },
        )
        .await;
    let (_, denied_message) = denied.app.health_of("StorageBinding", BINDING2);
    assert!(
        denied_message.starts_with("ProvisioningFailed: ")
            && denied_message.contains("(AuthorizationFailed)")
            && denied_message.contains("Microsoft.Storage/storageAccounts/write"),
        "{denied_message}"
    );
    eprintln!("a write Azure refused, as Argo CD shows it: Degraded / {denied_message}");
    let obj = azop_kind(&client, &ns, "StorageBinding")
        .unwrap()
        .get(BINDING2)
        .await
        .unwrap();
    record_testdata(
        "StorageBinding",
        "write-refused",
        &obj,
        "Added in Git while the identity\n# lacked the role to create storage accounts (403 AuthorizationFailed).",
    )
    .unwrap();
    // The Degraded object (wave -1) fails the sync: its cluster (wave 0) is not applied, and
    // Argo CD retries the sync (syncPolicy.retry).
    let (_, failed) = sampler
        .wait(
            &argocd,
            "the sync failed on the Degraded StorageBinding",
            STEP_TIMEOUT,
            |s| {
                s.app
                    .operation_message
                    .contains("Retrying attempt")
                    .then_some(())
            },
        )
        .await;
    eprintln!(
        "the sync, as Argo CD shows it: {} / {}",
        failed.app.operation_phase, failed.app.operation_message
    );
    // Access granted: azop's next try, when its hold on the refused write ends, gets through;
    // Argo CD's next retry then applies the cluster, and the sync ends Succeeded.
    w.sim.clear_faults();
    let (_, end) = sampler
        .wait(
            &argocd,
            "the new cluster Healthy, the sync Succeeded",
            AUTH_HOLD_TIMEOUT,
            |s| {
                (s.app.health_of("AzureCluster", CLUSTER2).0 == "Healthy"
                    && s.app.health == "Healthy"
                    && s.app.sync == "Synced"
                    && s.app.operation_phase == "Succeeded"
                    && s.app.operation_revision == rev4)
                    .then_some(())
            },
        )
        .await;
    let refused_time = t0.elapsed() - refused_from;
    assert!(
        end.live("StorageBinding", BINDING2)
            .is_some_and(LiveView::ready_now)
            && end
                .live("AzureCluster", CLUSTER2)
                .is_some_and(LiveView::ready_now),
        "{}",
        end.describe()
    );
    let history = sampler.since(refused_from);
    let created = first_index(&history, |s| s.live("AzureCluster", CLUSTER2).is_some()).unwrap();
    assert!(
        ready(&history[created], "StorageBinding", BINDING2),
        "the gpu cluster was applied while its image was Degraded: {}",
        history[created].describe()
    );
    // What Argo CD said of its sync operations meanwhile (for docs/gitops.md).
    let mut said: Vec<String> = Vec::new();
    for s in sampler.since(refused_from) {
        let line = format!(
            "{} {:.7}: {}{}",
            s.app.operation_phase,
            s.app.operation_revision,
            s.app.operation_message,
            s.app
                .conditions
                .iter()
                .map(|c| format!(" [{c}]"))
                .collect::<String>()
        );
        if said.last() != Some(&line) {
            said.push(line);
        }
    }
    eprintln!(
        "the sync while the new AksCluster was refused:\n  {}",
        said.join("\n  ")
    );

    // Never Unknown, never a ComparisonError (what a failing health script causes).
    for s in sampler.all() {
        assert!(
            s.app.health != "Unknown"
                && s.app.resources.iter().all(|r| r.health != "Unknown")
                && s.app
                    .conditions
                    .iter()
                    .all(|c| !c.starts_with("ComparisonError")),
            "{}",
            s.describe()
        );
    }

    eprintln!(
        "timing: first sync to Succeeded {first_sync:.1?}; scale {scale_time:.1?}; \
         self-heal {heal_time:.1?}; blocked prune {prune_time:.1?}; refused write to Succeeded {refused_time:.1?}; \
         whole test {:.1?} ({} samples)",
        t0.elapsed(),
        sampler.all().len()
    );
    drop(sampler);
    op.terminate().unwrap();
}
