//! ProxyConfig end to end on the real kube-apiserver + kube-controller-manager, with the real
//! `azop` binary as the chart's ServiceAccount:
//!
//! - the mutating webhook served over TLS by the operator, called by the API server through
//!   the chart's own MutatingWebhookConfiguration (installed with `webhook.url`, since the
//!   operator runs on loopback, not behind the Service): Deployments labelled on the template
//!   or on the Deployment only, their Pods made by kube-controller-manager; unlabelled Pods;
//!   env the pod sets itself; a ProxyConfig change; two defaults; consumers in status; the
//!   caBundle kept by the operator; the webhook down with `Ignore` and with `Fail`;
//! - AzureCluster inheritance: the drop-ins in each VM's customData in azop-armsim, checked
//!   with `cloud-init schema`; a ProxyConfig appearing wakes the cluster waiting for it;
//! - the operator's own egress through a real forward proxy (Debian's tinyproxy) on loopback,
//!   with the proxy environment the chart renders.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use azop_armsim::SimConfig;
use azop_e2e::azure_cluster::{self as ac, VM_TYPE};
use azop_e2e::operator::{OPERATOR_NAMESPACE, World};
use azop_testenv::{Check, wait_for};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);
const LABEL_KEY: &str = "spectrocloud.com/connection";
const LABEL_VALUE: &str = "proxy";
/// The chart's names for release `azop` (charts/azop/templates/_helpers.tpl).
const WEBHOOK_CONFIG: &str = "azop-proxy-injector";
const WEBHOOK_SECRET: &str = "azop-webhook-tls";
const HTTP_PROXY: &str = "http://proxy.corp.example:3128";
const HTTPS_PROXY: &str = "http://proxy.corp.example:3129";

/// The ports this binary's chart install points at: the webhook the operator serves, and
/// the forward proxy the egress test starts. Chosen once, before the install (both listeners
/// held at the same time, so the two differ).
fn ports() -> (u16, u16) {
    static PORTS: OnceLock<(u16, u16)> = OnceLock::new();
    *PORTS.get_or_init(|| {
        let a = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let b = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).expect("local address");
        (port(&a), port(&b))
    })
}

fn chart_sets() -> Vec<String> {
    let (webhook, proxy) = ports();
    vec![
        format!("webhook.url=https://127.0.0.1:{webhook}"),
        format!("proxy.httpProxy=http://127.0.0.1:{proxy}"),
        format!("proxy.httpsProxy=http://127.0.0.1:{proxy}"),
    ]
}

async fn world(prefix: &str, sim: SimConfig) -> Result<World> {
    World::new_with_chart(prefix, sim, &chart_sets()).await
}

fn proxy_configs(world: &World) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", "ProxyConfig"),
        "proxyconfigs",
    );
    Api::namespaced_with(world.client.clone(), &world.ns, &ar)
}

fn proxy_config(name: &str, default: bool, http: &str, ca_secret: Option<&str>) -> Value {
    let mut spec = json!({
        "httpProxy": http,
        "httpsProxy": HTTPS_PROXY,
        "noProxy": [".corp.example"],
        "default": default,
    });
    if let Some(s) = ca_secret {
        spec["trustedCA"] = json!({"secretRef": {"name": s, "key": "ca.crt"}});
    }
    json!({"apiVersion": "azop.dev/v1alpha1", "kind": "ProxyConfig", "metadata": {"name": name}, "spec": spec})
}

async fn create_proxy_config(world: &World, manifest: Value) -> Result<DynamicObject> {
    proxy_configs(world)
        .create(&PostParams::default(), &serde_json::from_value(manifest)?)
        .await
        .context("create ProxyConfig")
}

async fn ca_secret(world: &World, name: &str) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    // A real CA certificate: the test environment's own.
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "stringData": {"ca.crt": world.env.ca_pem()},
            }))?,
        )
        .await
        .context("create CA Secret")?;
    Ok(())
}

fn condition(obj: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    ac::condition(obj, type_)
}

async fn wait_proxy_config(
    world: &World,
    name: &str,
    what: &str,
    pred: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    let api = proxy_configs(world);
    let pred = &pred;
    wait_for(format!("ProxyConfig {name}: {what}"), TIMEOUT, || {
        let api = api.clone();
        async move {
            match api.get(name).await {
                Ok(o) if pred(&o) => Check::Done(o),
                Ok(o) => Check::Pending(format!("{}", o.data["status"])),
                Err(e) => Check::Pending(e.to_string()),
            }
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

fn ready_for_generation(o: &DynamicObject) -> bool {
    condition(o, "Ready").is_some_and(|c| c.0 == "True")
        && o.data
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            == o.metadata.generation
}

/// The webhook's environment and flags as the chart's Deployment gives them, with the
/// listening address moved to the loopback port the chart's `webhook.url` names.
async fn chart_webhook_settings(world: &World) -> Result<(Vec<(String, String)>, Vec<String>)> {
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), OPERATOR_NAMESPACE);
    let d = deployments
        .get("azop")
        .await
        .context("the chart's Deployment")?;
    let c: Container = d
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .context("the Deployment has a container")?;
    let mut env: Vec<(String, String)> = c
        .env
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.name.starts_with("AZOP_WEBHOOK_") || e.name == "AZOP_PROXY_LABEL")
        .filter_map(|e| Some((e.name, e.value?)))
        .collect();
    ensure!(
        env.iter()
            .any(|(k, v)| k == "AZOP_PROXY_LABEL" && v == "spectrocloud.com/connection=proxy"),
        "the chart sets AZOP_PROXY_LABEL: {env:?}"
    );
    ensure!(
        env.iter()
            .any(|(k, v)| k == "AZOP_WEBHOOK_CERT_MODE" && v == "operator"),
        "the chart's default is operator-managed certificates: {env:?}"
    );
    env.retain(|(k, _)| k != "AZOP_WEBHOOK_ADDR");
    env.push((
        "AZOP_WEBHOOK_ADDR".into(),
        format!("127.0.0.1:{}", ports().0),
    ));
    let args: Vec<String> = c
        .args
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.starts_with("--webhook-") || a.starts_with("--proxy-"))
        .collect();
    ensure!(
        args.iter().any(|a| a == "--webhook-extra-sans=127.0.0.1"),
        "the chart puts webhook.url's host into the certificate: {args:?}"
    );
    Ok((env, args))
}

/// The proxy environment the chart renders for the operator (`proxy.*`), as the kubelet
/// would expand it (`$(KUBERNETES_SERVICE_HOST)` is the API server, here on loopback).
async fn chart_proxy_env(world: &World) -> Result<Vec<(String, String)>> {
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), OPERATOR_NAMESPACE);
    let d = deployments
        .get("azop")
        .await
        .context("the chart's Deployment")?;
    let env = d
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.env)
        .unwrap_or_default();
    let out: Vec<(String, String)> = env
        .into_iter()
        .filter(|e| {
            e.name.eq_ignore_ascii_case("HTTP_PROXY")
                || e.name.eq_ignore_ascii_case("HTTPS_PROXY")
                || e.name.eq_ignore_ascii_case("NO_PROXY")
        })
        .filter_map(|e| {
            Some((
                e.name,
                e.value?.replace("$(KUBERNETES_SERVICE_HOST)", "127.0.0.1"),
            ))
        })
        .collect();
    ensure!(
        out.len() == 6,
        "the chart renders HTTP(S)_PROXY, NO_PROXY and their twins: {out:?}"
    );
    Ok(out)
}

fn pods(world: &World) -> Api<Pod> {
    Api::namespaced(world.client.clone(), &world.ns)
}

fn deployment(name: &str, label_on_template: bool, label_on_deployment: bool, env: Value) -> Value {
    let mut template_labels = json!({"app": name});
    if label_on_template {
        template_labels[LABEL_KEY] = json!(LABEL_VALUE);
    }
    let mut meta = json!({"name": name});
    if label_on_deployment {
        meta["labels"] = json!({LABEL_KEY: LABEL_VALUE});
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "initContainers": [{"name": "init", "image": "registry.invalid/init:1"}],
                    "containers": [{"name": "app", "image": "registry.invalid/app:1", "env": env}],
                }
            }
        }
    })
}

async fn create_deployment(world: &World, manifest: Value) -> Result<Deployment> {
    let api: Api<Deployment> = Api::namespaced(world.client.clone(), &world.ns);
    api.create(&PostParams::default(), &serde_json::from_value(manifest)?)
        .await
        .context("create Deployment")
}

/// The single Pod of Deployment `app` (made by kube-controller-manager), other than `not`.
async fn pod_of(world: &World, app: &str, not: Option<&str>) -> Result<Pod> {
    let api = pods(world);
    wait_for(format!("a Pod of {app}"), TIMEOUT, || async {
        match api
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
        {
            Ok(l) => match l.items.into_iter().find(|p| {
                p.metadata.deletion_timestamp.is_none() && p.metadata.name.as_deref() != not
            }) {
                Some(p) => Check::Done(p),
                None => Check::Pending("no pod yet".into()),
            },
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

fn env_of(c: &Container) -> Vec<(String, String)> {
    c.env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn all_containers(p: &Pod) -> Vec<Container> {
    let spec = p.spec.clone().unwrap_or_default();
    spec.init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(spec.containers)
        .collect()
}

/// Every container and init container carries the proxy (`http` as HTTP_PROXY), the CA
/// mount and SSL_CERT_FILE; the pod carries the volume and the annotation.
fn assert_injected(p: &Pod, http: &str, generation: i64) -> Result<()> {
    let name = p.metadata.name.clone().unwrap_or_default();
    for c in all_containers(p) {
        let env = env_of(&c);
        for (k, want) in [
            ("HTTP_PROXY", http),
            ("http_proxy", http),
            ("HTTPS_PROXY", HTTPS_PROXY),
            ("https_proxy", HTTPS_PROXY),
            ("SSL_CERT_FILE", "/etc/azop/proxy-ca/ca.crt"),
        ] {
            ensure!(
                get(&env, k) == Some(want),
                "{name}/{}: {k} = {:?}, want {want}",
                c.name,
                get(&env, k)
            );
        }
        for k in ["NO_PROXY", "no_proxy"] {
            let v = get(&env, k).unwrap_or_default();
            for want in [
                "169.254.169.254",
                "168.63.129.16",
                ".corp.example",
                ".svc",
                "localhost",
            ] {
                ensure!(
                    v.split(',').any(|e| e == want),
                    "{name}/{}: {k} lacks {want}: {v}",
                    c.name
                );
            }
        }
        let mounted = c.volume_mounts.iter().flatten().any(|m| {
            m.name == "azop-proxy-ca"
                && m.mount_path == "/etc/azop/proxy-ca"
                && m.read_only == Some(true)
        });
        ensure!(
            mounted,
            "{name}/{}: no read-only CA mount: {:?}",
            c.name,
            c.volume_mounts
        );
    }
    let volume = p
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .and_then(|v| v.iter().find(|v| v.name == "azop-proxy-ca"))
        .and_then(|v| v.config_map.as_ref())
        .map(|c| c.name.clone());
    ensure!(
        volume.as_deref() == Some("corp-proxy-ca"),
        "{name}: CA volume {volume:?}"
    );
    let annotation = p
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("azop.dev/proxy-injected"))
        .cloned();
    ensure!(
        annotation.as_deref() == Some(format!("corp/{generation}").as_str()),
        "{name}: annotation {annotation:?}, want corp/{generation}"
    );
    Ok(())
}

fn untouched(p: &Pod) -> Result<()> {
    let name = p.metadata.name.clone().unwrap_or_default();
    for c in all_containers(p) {
        let env = env_of(&c);
        ensure!(
            env.iter()
                .all(|(k, _)| !k.eq_ignore_ascii_case("HTTP_PROXY")
                    && !k.eq_ignore_ascii_case("NO_PROXY")),
            "{name}/{}: injected although it should not be: {env:?}",
            c.name
        );
    }
    ensure!(
        p.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key("azop.dev/proxy-injected")),
        "{name}: carries the injected annotation"
    );
    Ok(())
}

fn pod_manifest(name: &str, labelled: bool, annotations: Value) -> Value {
    let labels = if labelled {
        json!({LABEL_KEY: LABEL_VALUE})
    } else {
        json!({})
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}
    })
}

/// Admits a labelled Pod with dry-run (admission runs, nothing is stored) until the webhook
/// injects `http`: the API server has the caBundle and the webhook has the ProxyConfig.
async fn wait_webhook_injects(world: &World, http: &str) -> Result<()> {
    let api = pods(world);
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let manifest: Pod = serde_json::from_value(pod_manifest("probe", true, json!({})))?;
    wait_for(format!("the webhook to inject {http}"), TIMEOUT, || async {
        match api.create(&dry, &manifest).await {
            Ok(p) => {
                let env = all_containers(&p).first().map(env_of).unwrap_or_default();
                match get(&env, "HTTP_PROXY") {
                    Some(v) if v == http => Check::Done(()),
                    other => Check::Pending(format!("HTTP_PROXY {other:?}")),
                }
            }
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

async fn webhook_config(world: &World) -> Result<MutatingWebhookConfiguration> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(world.client.clone());
    api.get(WEBHOOK_CONFIG)
        .await
        .context("the chart's MutatingWebhookConfiguration")
}

/// Waits until every webhook's caBundle is the CA of the operator's Secret.
async fn wait_ca_bundle_current(world: &World) -> Result<Vec<u8>> {
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), OPERATOR_NAMESPACE);
    wait_for(
        "the caBundle equal to the operator's CA",
        TIMEOUT,
        || async {
            let ca = match secrets.get_opt(WEBHOOK_SECRET).await {
                Ok(Some(s)) => s.data.and_then(|d| d.get("ca.crt").map(|b| b.0.clone())),
                Ok(None) => return Check::Pending("no Secret yet".into()),
                Err(e) => return Check::Pending(e.to_string()),
            };
            let Some(ca) = ca.filter(|c| !c.is_empty()) else {
                return Check::Pending("no ca.crt yet".into());
            };
            match webhook_config(world).await {
                Ok(mwc) => {
                    let hooks = mwc.webhooks.unwrap_or_default();
                    let current = hooks.len() == 2
                        && hooks
                            .iter()
                            .all(|h| h.client_config.ca_bundle.as_ref().map(|b| &b.0) == Some(&ca));
                    if current {
                        Check::Done(ca)
                    } else {
                        Check::Pending(format!("{} webhooks, bundles not current", hooks.len()))
                    }
                }
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await
    .map_err(anyhow::Error::from)
}

/// Changes webhook `index` of the chart's configuration (get, change, replace; again on a
/// conflict with the operator's own caBundle writes).
async fn change_webhook(
    world: &World,
    index: usize,
    change: impl Fn(&mut k8s_openapi::api::admissionregistration::v1::MutatingWebhook),
) -> Result<()> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(world.client.clone());
    for _ in 0..5 {
        let mut mwc = api.get(WEBHOOK_CONFIG).await?;
        let hook = mwc
            .webhooks
            .as_mut()
            .and_then(|h| h.get_mut(index))
            .with_context(|| format!("no webhook {index}"))?;
        change(hook);
        match api
            .replace(WEBHOOK_CONFIG, &PostParams::default(), &mwc)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if azop_e2e::objects::error_code(&e) == Some(409) => continue,
            Err(e) => return Err(e).context("replace the MutatingWebhookConfiguration"),
        }
    }
    bail!("the MutatingWebhookConfiguration kept changing under the test")
}

async fn consumers(world: &World, name: &str) -> Result<Vec<(String, String)>> {
    let o = proxy_configs(world).get(name).await?;
    Ok(o.data
        .pointer("/status/consumers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or_default().to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

#[tokio::test]
async fn the_webhook_injects_labelled_pods_and_workloads_through_the_api_server() -> Result<()> {
    let world = world("proxy-hook", SimConfig::default()).await?;
    ca_secret(&world, "corp-ca").await?;
    create_proxy_config(
        &world,
        proxy_config("corp", true, HTTP_PROXY, Some("corp-ca")),
    )
    .await?;

    let (env, args) = chart_webhook_settings(&world).await?;
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend([
        "--controllers",
        "proxyconfig",
        "--webhook-cert-check-seconds",
        "2",
    ]);
    let mut op = world.start_operator_with_env("hook", &args, &env)?;
    ac::wait_log(&op, "serving the webhook", TIMEOUT).await?;
    let corp = wait_proxy_config(&world, "corp", "Ready", ready_for_generation).await?;
    let gen1 = corp.metadata.generation.context("generation")?;
    let cms: Api<ConfigMap> = Api::namespaced(world.client.clone(), &world.ns);
    wait_for("the CA ConfigMap corp-proxy-ca", TIMEOUT, || async {
        match cms.get_opt("corp-proxy-ca").await {
            Ok(Some(_)) => Check::Done(()),
            Ok(None) => Check::Pending("absent".into()),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await?;
    // The operator wrote its CA into the chart's configuration (both webhooks).
    wait_ca_bundle_current(&world).await?;
    let mwc = webhook_config(&world).await?;
    for h in mwc.webhooks.iter().flatten() {
        ensure!(
            h.reinvocation_policy.as_deref() == Some("IfNeeded"),
            "{}: reinvocation",
            h.name
        );
        ensure!(
            h.failure_policy.as_deref() == Some("Ignore"),
            "{}: failurePolicy",
            h.name
        );
        ensure!(h.timeout_seconds == Some(5), "{}: timeout", h.name);
    }
    wait_webhook_injects(&world, HTTP_PROXY).await?;

    // Label on the template; label on the Deployment only; a pod's own env; no label.
    create_deployment(&world, deployment("tmpl", true, false, json!([]))).await?;
    create_deployment(&world, deployment("outer", false, true, json!([]))).await?;
    create_deployment(
        &world,
        deployment(
            "own",
            true,
            false,
            json!([{"name": "HTTPS_PROXY", "value": "http://mine.example:8080"}, {"name": "no_proxy", "value": "mine.local"}]),
        ),
    )
    .await?;
    pods(&world)
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod_manifest("plain", false, json!({})))?,
        )
        .await?;

    let tmpl = pod_of(&world, "tmpl", None).await?;
    assert_injected(&tmpl, HTTP_PROXY, gen1)?;
    // The label on the Deployment reached its template, and so its Pods.
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.ns);
    let outer_d = deployments.get("outer").await?;
    let template_labels = outer_d
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.labels)
        .unwrap_or_default();
    ensure!(
        template_labels.get(LABEL_KEY).map(String::as_str) == Some(LABEL_VALUE),
        "the Deployment's label was not copied onto its template: {template_labels:?}"
    );
    let outer = pod_of(&world, "outer", None).await?;
    assert_injected(&outer, HTTP_PROXY, gen1)?;
    // What the pod sets itself wins, for the variable and its twin.
    let own = pod_of(&world, "own", None).await?;
    let app = own
        .spec
        .as_ref()
        .map(|s| s.containers[0].clone())
        .context("container")?;
    let env = env_of(&app);
    ensure!(
        get(&env, "HTTPS_PROXY") == Some("http://mine.example:8080"),
        "own HTTPS_PROXY: {env:?}"
    );
    ensure!(
        get(&env, "https_proxy").is_none() && get(&env, "NO_PROXY").is_none(),
        "twins of the pod's own env were added: {env:?}"
    );
    ensure!(
        get(&env, "no_proxy") == Some("mine.local"),
        "own no_proxy: {env:?}"
    );
    ensure!(
        get(&env, "HTTP_PROXY") == Some(HTTP_PROXY),
        "what the pod does not set is injected: {env:?}"
    );
    untouched(&pods(&world).get("plain").await?)?;

    // Consumers: the workloads whose pods were injected (their ReplicaSets).
    let want = ["tmpl-", "outer-", "own-"];
    wait_for(
        "the injected workloads in ProxyConfig corp's consumers",
        TIMEOUT,
        || async {
            match consumers(&world, "corp").await {
                Ok(c)
                    if want
                        .iter()
                        .all(|w| c.iter().any(|(k, n)| k == "ReplicaSet" && n.starts_with(w))) =>
                {
                    Check::Done(())
                }
                Ok(c) => Check::Pending(format!("{c:?}")),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;

    // The ProxyConfig changes: new pods get the new values; running ones keep theirs.
    let new_http = "http://proxy2.corp.example:3128";
    proxy_configs(&world)
        .patch(
            "corp",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"httpProxy": new_http}})),
        )
        .await?;
    let corp = wait_proxy_config(&world, "corp", "the new generation Ready", |o| {
        ready_for_generation(o) && o.metadata.generation != Some(gen1)
    })
    .await?;
    let gen2 = corp.metadata.generation.context("generation")?;
    wait_webhook_injects(&world, new_http).await?;
    let old_name = tmpl.metadata.name.clone().context("name")?;
    pods(&world)
        .delete(&old_name, &DeleteParams::default())
        .await?;
    let replaced = pod_of(&world, "tmpl", Some(&old_name)).await?;
    assert_injected(&replaced, new_http, gen2)?;
    assert_injected(
        &pods(&world)
            .get(outer.metadata.name.as_deref().unwrap_or_default())
            .await?,
        HTTP_PROXY,
        gen1,
    )?;

    // Two defaults: a condition on both, and labelled pods are admitted unchanged with an
    // Event saying why — unless they name one.
    create_proxy_config(&world, proxy_config("second", true, HTTP_PROXY, None)).await?;
    for (name, other) in [("corp", "second"), ("second", "corp")] {
        wait_proxy_config(&world, name, "DefaultUnique=False MultipleDefaults", |o| {
            condition(o, "DefaultUnique")
                .is_some_and(|c| c.0 == "False" && c.1 == "MultipleDefaults" && c.2.contains(other))
                && condition(o, "Ready").is_some_and(|c| c.0 == "False")
        })
        .await?;
    }
    let ambiguous = pods(&world)
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod_manifest("ambiguous", true, json!({})))?,
        )
        .await?;
    untouched(&ambiguous)?;
    let uid = ambiguous.metadata.uid.clone().context("uid")?;
    let name = ambiguous.metadata.name.clone().context("name")?;
    // The Event regards the pod by name (it has no uid yet at admission).
    wait_for(
        "Event ProxyNotInjected for the ambiguous pod",
        TIMEOUT,
        || async {
            let events: Api<k8s_openapi::api::events::v1::Event> =
                Api::namespaced(world.client.clone(), &world.ns);
            match events.list(&ListParams::default()).await {
                Ok(l) => {
                    let found = l.items.iter().any(|e| {
                        e.reason.as_deref() == Some("ProxyNotInjected")
                            && e.regarding.as_ref().is_some_and(|r| {
                                r.name.as_deref() == Some(name.as_str())
                                    || r.uid.as_deref() == Some(uid.as_str())
                            })
                            && e.note
                                .as_deref()
                                .is_some_and(|n| n.contains("default ProxyConfigs"))
                    });
                    if found {
                        Check::Done(())
                    } else {
                        Check::Pending(format!("{} events", l.items.len()))
                    }
                }
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;
    let named = pods(&world)
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod_manifest(
                "named",
                true,
                json!({"azop.dev/proxy-config": "corp"}),
            ))?,
        )
        .await?;
    assert_injected(&named, new_http, gen2)?;
    proxy_configs(&world)
        .delete("second", &DeleteParams::default())
        .await?;
    wait_proxy_config(&world, "corp", "the only default again", |o| {
        condition(o, "DefaultUnique").is_some_and(|c| c.0 == "True") && ready_for_generation(o)
    })
    .await?;

    // The caBundle is kept current: overwritten, the operator puts its CA back.
    for i in 0..2 {
        change_webhook(&world, i, |h| {
            h.client_config.ca_bundle = Some(k8s_openapi::ByteString(b"not a CA".to_vec()));
        })
        .await?;
    }
    wait_ca_bundle_current(&world).await?;
    wait_webhook_injects(&world, new_http).await?;

    // The webhook down. failurePolicy Ignore (the chart's default): labelled pods are
    // admitted at once, without the proxy.
    op.kill();
    let t = Instant::now();
    let down = pods(&world)
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod_manifest("while-down", true, json!({})))?,
        )
        .await
        .context("with Ignore a labelled pod is admitted while the webhook is down")?;
    let took = t.elapsed();
    untouched(&down)?;
    ensure!(
        took < Duration::from_secs(5),
        "admission waited {took:?} for a webhook that is down"
    );
    // failurePolicy Fail: labelled pods are refused, naming the webhook; others unaffected.
    let hooks = webhook_config(&world).await?.webhooks.unwrap_or_default();
    let pods_index = hooks
        .iter()
        .position(|h| h.name.starts_with("pods."))
        .context("pods webhook")?;
    change_webhook(&world, pods_index, |h| {
        h.failure_policy = Some("Fail".into())
    })
    .await?;
    let refused = wait_for(
        "a labelled pod refused with failurePolicy Fail",
        TIMEOUT,
        || async {
            let manifest: Pod =
                match serde_json::from_value(pod_manifest("refused", true, json!({}))) {
                    Ok(m) => m,
                    Err(e) => return Check::Pending(e.to_string()),
                };
            match pods(&world).create(&PostParams::default(), &manifest).await {
                Err(e) => Check::Done(e.to_string()),
                Ok(_) => {
                    // Admitted before the API server saw the new policy: try again.
                    let _ = pods(&world)
                        .delete("refused", &DeleteParams::default())
                        .await;
                    Check::Pending("admitted".into())
                }
            }
        },
    )
    .await?;
    ensure!(
        refused.contains("pods.proxy-injector.azop.dev"),
        "the refusal names the webhook: {refused}"
    );
    pods(&world)
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod_manifest("unlabelled-while-down", false, json!({})))?,
        )
        .await
        .context("an unlabelled pod is never sent to the webhook")?;
    change_webhook(&world, pods_index, |h| {
        h.failure_policy = Some("Ignore".into())
    })
    .await?;
    Ok(())
}

fn cloud_init() -> PathBuf {
    std::env::var_os("AZOP_CLOUD_INIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cloud-init"))
}

/// `cloud-init schema` (Debian's cloud-init) on a document.
fn cloud_init_schema(dir: &std::path::Path, name: &str, doc: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, doc)?;
    let out = Command::new(cloud_init())
        .args(["schema", "--config-file"])
        .arg(&path)
        .output()
        .context("run cloud-init schema (install Debian's cloud-init: make testenv)")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success() && text.contains("Valid cloud-config"),
        "cloud-init schema: {text}\n{doc}"
    );
    Ok(())
}

fn small_cluster(name: &str, rg: &str, proxy_ref: Option<&str>, bootstrap: Option<&str>) -> Value {
    let mut c = ac::cluster(name, rg, 1);
    c["spec"]["controlPlane"] = json!({"replicas": 1, "vmSize": "Standard_D4s_v5", "zones": ["1"]});
    c["spec"]["workerPools"][0]["zones"] = json!(["1"]);
    if let Some(p) = proxy_ref {
        c["spec"]["proxyConfigRef"] = json!({"name": p});
    }
    if let Some(b) = bootstrap {
        c["spec"]["bootstrapDataSecretRef"] = json!({"name": b, "key": "value"});
    }
    c
}

fn vm_custom_data(world: &World) -> Vec<(String, Option<String>)> {
    ac::by_type(&world.sim.inventory(), VM_TYPE)
        .into_iter()
        .filter_map(|vm| {
            let id = vm["id"].as_str()?.to_string();
            let name = vm["name"].as_str()?.to_string();
            Some((name, world.sim.vm_custom_data(&id)))
        })
        .collect()
}

#[tokio::test]
async fn azure_cluster_vms_get_the_proxy_drop_ins_in_their_custom_data() -> Result<()> {
    let world = world("proxy-iaas", SimConfig::default()).await?;
    ca_secret(&world, "corp-ca").await?;
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    let user = "#cloud-config\nruncmd:\n  - [kubeadm, init, --config, /etc/kubeadm.yaml]\n";
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bootstrap"},
                "stringData": {"value": user},
            }))?,
        )
        .await?;
    create_proxy_config(
        &world,
        proxy_config("corp", true, HTTP_PROXY, Some("corp-ca")),
    )
    .await?;
    let _op = world.start_operator("iaas", &["--controllers", "azurecluster,proxyconfig"])?;

    // No proxyConfigRef: the namespace default applies.
    ac::create(
        &world,
        small_cluster("edge", "rg-proxy-edge", None, Some("bootstrap")),
    )
    .await?;
    ac::wait_ready(&world, "edge").await?;
    let vms = vm_custom_data(&world);
    ensure!(vms.len() == 2, "two VMs: {vms:?}");
    let dir = world.env.dir().join(format!("cloud-init-{}", world.ns));
    std::fs::create_dir_all(&dir)?;
    let ca = world.env.ca_pem();
    let ca_first_line = ca.lines().nth(1).unwrap_or_default().to_string();
    for (name, data) in &vms {
        let data = data
            .as_deref()
            .with_context(|| format!("{name} has no customData"))?;
        ensure!(data.starts_with("#cloud-config\n"), "{name}: {data}");
        let v: serde_yaml::Value = serde_yaml::from_str(data)?;
        let files: Vec<(String, String)> = v["write_files"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["path"].as_str().unwrap_or_default().to_string(),
                    f["content"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let file = |p: &str| {
            files
                .iter()
                .find(|(path, _)| path == p)
                .map(|(_, c)| c.clone())
        };
        for drop_in in [
            "/etc/systemd/system/containerd.service.d/http-proxy.conf",
            "/etc/systemd/system/kubelet.service.d/http-proxy.conf",
        ] {
            let content = file(drop_in).with_context(|| format!("{name}: no {drop_in}"))?;
            for line in [
                format!("Environment=\"HTTP_PROXY={HTTP_PROXY}\""),
                format!("Environment=\"https_proxy={HTTPS_PROXY}\""),
            ] {
                ensure!(
                    content.lines().any(|l| l == line),
                    "{name}: {drop_in} lacks {line}:\n{content}"
                );
            }
            let no_proxy = content
                .lines()
                .find(|l| l.starts_with("Environment=\"NO_PROXY="))
                .with_context(|| format!("{name}: {drop_in} has no NO_PROXY"))?;
            for want in [
                "169.254.169.254",
                "168.63.129.16",
                ".corp.example",
                "10.0.0.0/8",
            ] {
                ensure!(
                    no_proxy.contains(want),
                    "{name}: NO_PROXY lacks {want}: {no_proxy}"
                );
            }
        }
        let node_ca = file("/usr/local/share/ca-certificates/azop-proxy-ca.crt")
            .with_context(|| format!("{name}: no CA file"))?;
        ensure!(
            node_ca.contains(&ca_first_line),
            "{name}: the CA file is not the ProxyConfig's CA"
        );
        let cmds = v["runcmd"].as_sequence().cloned().unwrap_or_default();
        let words = |c: &serde_yaml::Value| {
            c.as_sequence()
                .map(|s| {
                    s.iter()
                        .filter_map(|w| w.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        };
        let update = cmds
            .iter()
            .position(|c| words(c) == "update-ca-certificates");
        let kubeadm = cmds
            .iter()
            .position(|c| words(c).starts_with("kubeadm init"));
        ensure!(
            matches!((update, kubeadm), (Some(u), Some(k)) if u < k),
            "{name}: the proxy's commands must precede the bootstrap's: {cmds:?}"
        );
        cloud_init_schema(&dir, &format!("{name}.yaml"), data)?;
    }
    wait_for(
        "AzureCluster edge among corp's consumers",
        TIMEOUT,
        || async {
            match consumers(&world, "corp").await {
                Ok(c) if c.iter().any(|(k, n)| k == "AzureCluster" && n == "edge") => {
                    Check::Done(())
                }
                Ok(c) => Check::Pending(format!("{c:?}")),
                Err(e) => Check::Pending(e.to_string()),
            }
        },
    )
    .await?;

    // A cluster naming a ProxyConfig that does not exist waits, saying so; creating it wakes
    // the cluster through the ProxyConfig watch, well before the 60 s safety net.
    ac::create(
        &world,
        small_cluster("late", "rg-proxy-late", Some("later"), None),
    )
    .await?;
    ac::wait_object(
        &world,
        "late",
        "MissingReference naming ProxyConfig later",
        TIMEOUT,
        |o| {
            condition(o, "Ready")
                .is_some_and(|c| c.1 == "MissingReference" && c.2.contains("later"))
        },
    )
    .await?;
    // Let the first requeue pass so only a wake-up can explain a fast recovery.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = Instant::now();
    create_proxy_config(
        &world,
        proxy_config("later", false, "http://later.corp.example:3128", None),
    )
    .await?;
    ac::wait_object(
        &world,
        "late",
        "past MissingReference",
        Duration::from_secs(40),
        |o| condition(o, "Ready").is_some_and(|c| c.1 != "MissingReference"),
    )
    .await?;
    ensure!(
        t.elapsed() < Duration::from_secs(40),
        "the ProxyConfig watch did not wake the cluster: {:?}",
        t.elapsed()
    );
    ac::wait_ready(&world, "late").await?;
    let late_cp = vm_custom_data(&world)
        .into_iter()
        .find(|(n, _)| n.starts_with("late-"))
        .and_then(|(_, d)| d)
        .context("late's VM customData")?;
    ensure!(
        late_cp.contains("HTTP_PROXY=http://later.corp.example:3128"),
        "late uses ProxyConfig later:\n{late_cp}"
    );
    ensure!(
        !late_cp.contains("azop-proxy-ca.crt"),
        "later has no CA: no CA file"
    );
    cloud_init_schema(&dir, "late.yaml", &late_cp)?;
    Ok(())
}

fn tinyproxy() -> PathBuf {
    std::env::var_os("AZOP_TINYPROXY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tinyproxy"))
}

/// A tinyproxy of this test's own (foreground), killed when dropped.
struct ForwardProxy {
    child: Child,
    log: PathBuf,
}

impl ForwardProxy {
    fn start(dir: &std::path::Path, port: u16) -> Result<ForwardProxy> {
        std::fs::create_dir_all(dir)?;
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        // No ConnectPort line: CONNECT to any port (armsim's is random).
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 50\nAllow 127.0.0.1\n",
                log.display()
            ),
        )?;
        let child = Command::new(tinyproxy())
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start tinyproxy (install Debian's tinyproxy: make testenv)")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("tinyproxy did not listen on 127.0.0.1:{port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(ForwardProxy { child, log })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_operators_arm_and_entra_traffic_goes_through_a_forward_proxy() -> Result<()> {
    // armsim over TLS at 127.0.0.2: NO_PROXY's 127.0.0.1 and localhost (the API server) do not
    // cover it, so ARM and the token endpoint must be reached through the proxy (CONNECT).
    let sim = SimConfig {
        addr: "127.0.0.2:0".parse()?,
        tls: true,
        ..SimConfig::default()
    };
    let world = world("proxy-egress", sim).await?;
    ensure!(
        world.sim.url().starts_with("https://127.0.0.2:"),
        "{}",
        world.sim.url()
    );
    let sim_port = world
        .sim
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let dir = world.env.dir().join(format!("tinyproxy-{}", world.ns));
    let proxy = ForwardProxy::start(&dir, ports().1)?;
    let ca_file = dir.join("armsim-ca.pem");
    std::fs::write(
        &ca_file,
        world.sim.ca_pem().context("armsim TLS certificate")?,
    )?;

    let env = chart_proxy_env(&world).await?;
    let no_proxy = env
        .iter()
        .find(|(k, _)| k == "NO_PROXY")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    ensure!(
        no_proxy.split(',').any(|e| e == "127.0.0.1"),
        "the chart's NO_PROXY keeps the API server direct: {no_proxy}"
    );
    let ca = ca_file.to_string_lossy().into_owned();
    let _op = world.start_operator_with_env("egress", &["--ca-file", &ca], &env)?;
    ac::create(
        &world,
        small_cluster("egress", "rg-proxy-egress", None, None),
    )
    .await?;
    ac::wait_ready(&world, "egress").await?;

    let log = proxy.log();
    let connects = log
        .lines()
        .filter(|l| l.contains(&format!("CONNECT 127.0.0.2:{sim_port} ")))
        .count();
    ensure!(
        connects >= 1,
        "tinyproxy saw no CONNECT to armsim (127.0.0.2:{sim_port}):\n{log}"
    );
    ensure!(world.arm_requests() > 0, "armsim saw no ARM request");
    let tokens = world
        .sim
        .requests(&azop_armsim::RequestFilter::default())
        .into_iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count();
    ensure!(tokens > 0, "no token request reached armsim");
    Ok(())
}

/// deletionPolicy Orphan on a ProxyConfig keeps the CA bundle ConfigMap pods mount: it never
/// carries an owner reference, so the garbage collector leaves it when the ProxyConfig goes;
/// with the default (Delete) it goes with its ProxyConfig.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_proxy_configs_ca_bundle_stays() -> Result<()> {
    let world = world("proxy-orphan", SimConfig::default()).await?;
    ca_secret(&world, "corp-ca").await?;
    let mut keep = proxy_config("keep", false, HTTP_PROXY, Some("corp-ca"));
    keep["spec"]["deletionPolicy"] = json!("Orphan");
    create_proxy_config(&world, keep).await?;
    create_proxy_config(
        &world,
        proxy_config("gone", false, HTTP_PROXY, Some("corp-ca")),
    )
    .await?;
    let mut op = world.start_operator("a", &["--controllers", "proxyconfig"])?;
    wait_proxy_config(&world, "keep", "Ready", ready_for_generation).await?;
    wait_proxy_config(&world, "gone", "Ready", ready_for_generation).await?;
    let cms: Api<ConfigMap> = Api::namespaced(world.client.clone(), &world.ns);
    let owners = |cm: &ConfigMap| cm.metadata.owner_references.clone().unwrap_or_default();
    let kept = wait_for("both CA ConfigMaps", TIMEOUT, || async {
        match (
            cms.get_opt("keep-proxy-ca").await,
            cms.get_opt("gone-proxy-ca").await,
        ) {
            (Ok(Some(k)), Ok(Some(g))) => Check::Done((k, g)),
            other => Check::Pending(format!("{:?}", other.0.map(|c| c.is_some()))),
        }
    })
    .await?;
    ensure!(owners(&kept.0).is_empty(), "Orphan: {:?}", owners(&kept.0));
    ensure!(
        owners(&kept.1)
            .iter()
            .any(|r| r.kind == "ProxyConfig" && r.name == "gone"),
        "Delete: {:?}",
        owners(&kept.1)
    );
    for name in ["keep", "gone"] {
        proxy_configs(&world)
            .delete(name, &DeleteParams::default())
            .await?;
    }
    wait_for("gone-proxy-ca garbage-collected", TIMEOUT, || async {
        match cms.get_opt("gone-proxy-ca").await {
            Ok(None) => Check::Done(()),
            Ok(Some(_)) => Check::Pending("still there".into()),
            Err(e) => Check::Pending(e.to_string()),
        }
    })
    .await?;
    let still = cms.get("keep-proxy-ca").await?;
    ensure!(
        still.data == kept.0.data,
        "the orphaned bundle changed: {:?}",
        still.data
    );
    op.kill();
    Ok(())
}
