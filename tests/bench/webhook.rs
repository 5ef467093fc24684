//! Run 3: the ProxyConfig webhook under load (docs/benchmarks.md).
//!
//! The operator serves the webhook over TLS on loopback (operator-managed certificate) with a
//! namespace default ProxyConfig that has a trusted CA, so every admission is a full
//! injection (6 variables, the CA volume and mount in two containers, the annotation). Load is
//! open loop: request `i` leaves at `start + i / rate` whether or not earlier ones answered,
//! so a slow webhook shows up as latency instead of a lower offered rate.
//!
//! - direct: AdmissionReviews POSTed to `/mutate-pods` (what the API server sends);
//! - through the API server: dry-run creation of a labelled Pod (admission runs, nothing is
//!   stored) with a MutatingWebhookConfiguration pointing at the operator, against the same
//!   for an unlabelled Pod (not sent to the webhook): the difference is what the webhook adds
//!   to pod creation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

use crate::process::{Operator, OperatorOptions};
use crate::{Bench, kit, print_memory};

const LABEL: &str = "spectrocloud.com/connection";
const SECRET_NAME: &str = "azop-bench-webhook-tls";
const CONFIG_NAME: &str = "azop-bench-proxy-injector";

fn pod(labelled: bool) -> Value {
    let mut labels = json!({"app": "bench"});
    if labelled {
        labels[LABEL] = json!("proxy");
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "bench-", "labels": labels},
        "spec": {
            "initContainers": [{"name": "init", "image": "registry.invalid/init:1"}],
            "containers": [{"name": "app", "image": "registry.invalid/app:1",
                            "env": [{"name": "LOG_LEVEL", "value": "info"}]}],
        }
    })
}

fn review(ns: &str, i: usize) -> Value {
    let mut object = pod(true);
    object["metadata"]["namespace"] = json!(ns);
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("00000000-0000-0000-0000-{i:012}"),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": ns, "operation": "CREATE", "object": object,
        }
    })
}

/// p-th percentile (0–100) of sorted durations, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Latencies of one open-loop run; `Err` entries are failed requests.
struct Run {
    latencies: Vec<Duration>,
    failures: usize,
    wall: Duration,
}

impl Run {
    fn print(&self, what: &str, rate: u32) {
        let mut l = self.latencies.clone();
        l.sort();
        let n = l.len() + self.failures;
        println!(
            "{what}: {n} requests offered at {rate}/s, achieved {:.0}/s, {} failed; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            n as f64 / self.wall.as_secs_f64(),
            self.failures,
            ms(percentile(&l, 50.0)),
            ms(percentile(&l, 90.0)),
            ms(percentile(&l, 99.0)),
            ms(l.last().copied().unwrap_or_default()),
        );
    }
}

/// Sends `rate × seconds` requests made by `send`, request `i` at `start + i / rate`.
async fn open_loop<F, Fut>(rate: u32, seconds: u64, send: F) -> Run
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let total = rate as usize * seconds as usize;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until(start + period * i as u32).await;
        let fut = send(i);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            fut.await.map(|()| t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(d)) => latencies.push(d),
            _ => failures += 1,
        }
    }
    Run {
        latencies,
        failures,
        wall: start.elapsed(),
    }
}

impl Bench {
    pub(crate) async fn webhook(&self, rate: u32, api_rate: u32, seconds: u64) -> Result<()> {
        println!(
            "\n## webhook: {rate} admissions/s direct, {api_rate}/s through the API server, {seconds} s each"
        );
        let ns = self.env.new_namespace("bench-hook").await?;
        kit::apply(
            &self.client,
            &ns,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "corp-ca"},
                    "stringData": {"ca.crt": self.env.ca_pem()}}),
        )
        .await?;
        kit::apply(
            &self.client,
            &ns,
            &json!({"apiVersion": "azop.dev/v1alpha1", "kind": "ProxyConfig", "metadata": {"name": "corp"},
                    "spec": {"httpProxy": "http://proxy.corp.example:3128", "httpsProxy": "http://proxy.corp.example:3128",
                             "noProxy": [".corp.example"], "default": true,
                             "trustedCA": {"secretRef": {"name": "corp-ca", "key": "ca.crt"}}}}),
        )
        .await?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("a free port for the webhook")?
            .port();
        let admin_kubeconfig = self.env.kubeconfig_path();
        // The admin kubeconfig: the certificate Secret and the configuration's caBundle are
        // the chart's webhook Role's, not config/rbac's (latency does not depend on it).
        let mut op = Operator::spawn(OperatorOptions {
            binary: &self.azop,
            kubeconfig: &admin_kubeconfig,
            sim_url: "http://127.0.0.1:9",
            namespace: &ns,
            lease: "azop-bench-webhook",
            resync_seconds: 300,
            log: self.env.dir().join(format!("operator-{ns}.log")),
            extra_args: [
                "--controllers=proxyconfig",
                &format!("--webhook-addr=127.0.0.1:{port}"),
                "--webhook-extra-sans=127.0.0.1",
                &format!("--webhook-secret-name={SECRET_NAME}"),
                &format!("--webhook-config-name={CONFIG_NAME}"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            identity: None,
        })?;
        op.wait_ready(&self.http, Duration::from_secs(60)).await?;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), kit::OPERATOR_NAMESPACE);
        let mut ca = None;
        for _ in 0..200 {
            ca = secrets
                .get_opt(SECRET_NAME)
                .await?
                .and_then(|s| s.data)
                .and_then(|d| d.get("ca.crt").map(|b| b.0.clone()));
            if ca.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ca = ca.context("the operator wrote no webhook certificate")?;
        let https = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .timeout(Duration::from_secs(10))
            .build()?;
        let url = format!("https://127.0.0.1:{port}/mutate-pods");
        // Wait until it answers with a patch (its ProxyConfig cache is filled).
        let mut patched = false;
        for _ in 0..200 {
            let r: Value = match https.post(&url).json(&review(&ns, 0)).send().await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Value::Null,
            };
            if r.pointer("/response/patch").is_some() {
                patched = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !patched {
            bail!("the webhook never injected (log: {})", op.log.display());
        }
        print_memory("webhook idle", op.memory()?);

        let body = Arc::new(review(&ns, 1));
        let direct = open_loop(rate, seconds, |_| {
            let (https, url, body) = (https.clone(), url.clone(), body.clone());
            async move {
                let r = https.post(&url).json(&*body).send().await?;
                let v: Value = r.error_for_status()?.json().await?;
                if v.pointer("/response/patch").is_none() {
                    bail!("no patch");
                }
                Ok(())
            }
        })
        .await;
        direct.print("direct /mutate-pods (TLS, keep-alive)", rate);
        print_memory("after the direct run", op.memory()?);

        // Through the API server: a configuration for this namespace pointing at the operator
        // (its caBundle kept by the operator, as in a cluster).
        let configs: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        let mwc: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": CONFIG_NAME},
            "webhooks": [{
                "name": "pods.proxy-injector.azop.dev",
                "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Ignore", "timeoutSeconds": 5, "reinvocationPolicy": "IfNeeded",
                "objectSelector": {"matchLabels": {LABEL: "proxy"}},
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"}],
                "clientConfig": {"url": format!("https://127.0.0.1:{port}/mutate-pods"),
                                 "caBundle": base64_encode(&ca)},
            }]
        }))?;
        configs.create(&PostParams::default(), &mwc).await?;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let dry = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let labelled: Pod = serde_json::from_value(pod(true))?;
        let plain: Pod = serde_json::from_value(pod(false))?;
        // Until the API server has the configuration: a dry-run create comes back injected.
        let mut seen = false;
        for _ in 0..200 {
            let p = pods.create(&dry, &labelled).await?;
            if p.metadata
                .annotations
                .is_some_and(|a| a.contains_key("azop.dev/proxy-injected"))
            {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !seen {
            bail!("the API server never called the webhook");
        }
        for (what, pod, injected) in [
            (
                "API server, dry-run create, unlabelled Pod (no webhook call)",
                plain,
                false,
            ),
            (
                "API server, dry-run create, labelled Pod (webhook called)",
                labelled,
                true,
            ),
        ] {
            let pod = Arc::new(pod);
            let run = open_loop(api_rate, seconds, |_| {
                let (pods, dry, pod) = (pods.clone(), dry.clone(), pod.clone());
                async move {
                    let got = pods.create(&dry, &pod).await?;
                    // A labelled Pod admitted without the annotation: the webhook call failed
                    // or timed out (failurePolicy Ignore) — counted as a failure.
                    let has = got
                        .metadata
                        .annotations
                        .is_some_and(|a| a.contains_key("azop.dev/proxy-injected"));
                    if has != injected {
                        bail!("injected: {has}, expected {injected}");
                    }
                    Ok(())
                }
            })
            .await;
            run.print(what, api_rate);
        }
        print_memory("after the API server runs", op.memory()?);
        configs
            .delete(CONFIG_NAME, &DeleteParams::default())
            .await?;
        op.stop();
        Ok(())
    }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&d, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&d, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
