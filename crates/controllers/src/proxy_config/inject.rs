//! The proxy webhook's decisions (pure): AdmissionReview in, AdmissionReview with a JSON
//! patch out. They sit beside the ProxyConfig controller whose rules they share (which
//! ProxyConfig applies, the effective noProxy, the CA bundle ConfigMap); the operator binary
//! only serves them over HTTPS.
//!
//! Pods carrying the proxy label get the proxy variables, and with a trusted CA the bundle,
//! in every container and init container. Workloads carrying the label get it copied onto
//! their pod template, so their pods are injected when they are created (see docs/proxy.md
//! for why the template and not the pods' owner chain).
//!
//! Everything works on `serde_json::Value`, never on typed objects: the API server may be
//! newer than k8s-openapi, and a round trip through typed structs would drop fields it does
//! not know — and the diff would then remove them from the pod.

use std::collections::BTreeSet;

use super::ca::{CA_CONFIGMAP_KEY, ca_configmap_name, label_value};
use super::compute::INJECTED_LABEL;
use super::inherit::proxy_env;
use super::resolve::{ResolvedProxy, effective_proxy_for};
use azop_api::proxy::effective_no_proxy;
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Annotation naming the ProxyConfig to use (else the namespace default).
pub const SELECT_ANNOTATION: &str = "azop.dev/proxy-config";
/// Annotation recording what was injected: `<ProxyConfig name>/<generation>`.
pub const INJECTED_ANNOTATION: &str = "azop.dev/proxy-injected";
pub const CA_VOLUME: &str = "azop-proxy-ca";
pub const CA_MOUNT_DIR: &str = "/etc/azop/proxy-ca";

/// What the webhook is configured with.
#[derive(Clone, Debug)]
pub struct MutationSettings {
    pub label_key: String,
    pub label_value: String,
    /// Namespaces never touched (kube-system, the operator's own), whatever the
    /// MutatingWebhookConfiguration's selector says.
    pub excluded_namespaces: BTreeSet<String>,
    /// Added to every injected NO_PROXY: the management cluster's own pod and service
    /// CIDRs (a pod reaching the API server by its service IP must not go to the proxy).
    pub extra_no_proxy: Vec<String>,
}

impl MutationSettings {
    /// `key=value`, as `--proxy-label` takes it.
    pub fn parse_label(s: &str) -> Result<(String, String), String> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{s:?} is not key=value")),
        }
    }
}

// --- AdmissionReview (admission.k8s.io/v1), only the fields used. Own types rather than
// kube's `admission` feature: that feature recompiles the whole kube stack for five structs.

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Base64 of the JSON patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What the webhook decided for one object.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per admission, moved once; boxing would only add an allocation"
)]
pub enum Outcome {
    /// Not ours to touch (no label, excluded namespace, not a kind we mutate, already done).
    Unchanged,
    /// Labelled, but no ProxyConfig applies: admitted unchanged, and an Event says why.
    Skipped { reason: String },
    /// The patch to apply; `injected` names the ProxyConfig for pods (None for workloads).
    Patched {
        patch: json_patch::Patch,
        injected: Option<ResolvedProxy>,
    },
}

/// The response to `review`: always allowed — the webhook adds settings, it never refuses a
/// pod — with a patch when there is one.
pub fn review(
    review: &AdmissionReview,
    settings: &MutationSettings,
    proxies: &[impl std::ops::Deref<Target = ProxyConfig>],
) -> (AdmissionReview, Outcome) {
    let Some(req) = &review.request else {
        return (
            respond(&review.api_version, "", &Outcome::Unchanged),
            Outcome::Unchanged,
        );
    };
    let ns = req.namespace.clone().unwrap_or_default();
    let outcome = match (&req.object, req.kind.kind.as_str()) {
        _ if settings.excluded_namespaces.contains(&ns) => Outcome::Unchanged,
        (Some(obj), "Pod") if req.kind.group.is_empty() => mutate_pod(&ns, obj, settings, proxies),
        (Some(obj), kind) => mutate_workload(kind, &req.operation, obj, settings),
        (None, _) => Outcome::Unchanged,
    };
    (respond(&review.api_version, &req.uid, &outcome), outcome)
}

fn respond(api_version: &str, uid: &str, outcome: &Outcome) -> AdmissionReview {
    use base64::Engine;
    let mut response = AdmissionResponse {
        uid: uid.to_string(),
        allowed: true,
        ..AdmissionResponse::default()
    };
    match outcome {
        Outcome::Patched { patch, .. } => {
            let bytes = serde_json::to_vec(patch).unwrap_or_else(|_| b"[]".to_vec());
            response.patch_type = Some("JSONPatch".into());
            response.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        Outcome::Skipped { reason } => {
            response
                .warnings
                .push(format!("azop: proxy not injected: {reason}"));
        }
        Outcome::Unchanged => {}
    }
    AdmissionReview {
        api_version: if api_version.is_empty() {
            "admission.k8s.io/v1".into()
        } else {
            api_version.to_string()
        },
        kind: "AdmissionReview".into(),
        request: None,
        response: Some(response),
    }
}

fn labelled(meta: Option<&Value>, settings: &MutationSettings) -> bool {
    meta.and_then(|m| m.pointer("/labels"))
        .and_then(|l| l.get(&settings.label_key))
        .and_then(Value::as_str)
        == Some(settings.label_value.as_str())
}

/// Injects the proxy into a labelled pod.
pub fn mutate_pod(
    ns: &str,
    pod: &Value,
    settings: &MutationSettings,
    proxies: &[impl std::ops::Deref<Target = ProxyConfig>],
) -> Outcome {
    if !labelled(pod.get("metadata"), settings) {
        return Outcome::Unchanged;
    }
    let reference = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(SELECT_ANNOTATION))
        .and_then(Value::as_str);
    let proxy = match effective_proxy_for(ns, reference, proxies) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Outcome::Skipped {
                reason: format!(
                    "namespace {ns} has no default ProxyConfig and the pod names none (annotation {SELECT_ANNOTATION})"
                ),
            };
        }
        Err(problem) => {
            return Outcome::Skipped {
                reason: problem.to_string(),
            };
        }
    };
    let no_proxy = effective_no_proxy(&proxy.no_proxy, &settings.extra_no_proxy).join(",");
    let env = proxy_env(
        proxy.http_proxy.as_deref(),
        proxy.https_proxy.as_deref(),
        &no_proxy,
    );
    let ca_file = format!("{CA_MOUNT_DIR}/{CA_CONFIGMAP_KEY}");
    let with_ca = proxy.trusted_ca.is_some();

    let mut out = pod.clone();
    for list in ["containers", "initContainers"] {
        let Some(containers) = out
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in containers {
            add_env(c, &env);
            if with_ca {
                add_env(c, &[("SSL_CERT_FILE".to_string(), ca_file.clone())]);
                add_mount(c);
            }
        }
    }
    if with_ca {
        add_volume(&mut out, &ca_configmap_name(&proxy.name));
    }
    set_map_entry(
        &mut out,
        "annotations",
        INJECTED_ANNOTATION,
        &format!("{}/{}", proxy.name, proxy.generation),
    );
    set_map_entry(
        &mut out,
        "labels",
        INJECTED_LABEL,
        &label_value(&proxy.name),
    );
    let patch = json_patch::diff(pod, &out);
    if patch.0.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Patched {
            patch,
            injected: Some(proxy),
        }
    }
}

/// Adds each variable the container does not set itself. A variable and its lower-case twin
/// are one setting: when the pod sets either, neither is added, so the two never disagree.
fn add_env(container: &mut Value, vars: &[(String, String)]) {
    let Some(obj) = container.as_object_mut() else {
        return;
    };
    let env = obj.entry("env").or_insert_with(|| json!([]));
    let Some(env) = env.as_array_mut() else {
        return;
    };
    let present: BTreeSet<String> = env
        .iter()
        .filter_map(|e| e.get("name").and_then(Value::as_str))
        .map(str::to_ascii_uppercase)
        .collect();
    let already = present.clone();
    for (name, value) in vars {
        if already.contains(&name.to_ascii_uppercase()) {
            continue;
        }
        env.push(json!({"name": name, "value": value}));
    }
}

fn add_mount(container: &mut Value) {
    let Some(obj) = container.as_object_mut() else {
        return;
    };
    let mounts = obj.entry("volumeMounts").or_insert_with(|| json!([]));
    let Some(mounts) = mounts.as_array_mut() else {
        return;
    };
    let taken = mounts.iter().any(|m| {
        m.get("name").and_then(Value::as_str) == Some(CA_VOLUME)
            || m.get("mountPath").and_then(Value::as_str) == Some(CA_MOUNT_DIR)
    });
    if !taken {
        mounts.push(json!({"name": CA_VOLUME, "mountPath": CA_MOUNT_DIR, "readOnly": true}));
    }
}

fn add_volume(pod: &mut Value, config_map: &str) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    let Some(volumes) = volumes.as_array_mut() else {
        return;
    };
    if !volumes
        .iter()
        .any(|v| v.get("name").and_then(Value::as_str) == Some(CA_VOLUME))
    {
        volumes.push(json!({
            "name": CA_VOLUME,
            "configMap": {"name": config_map, "items": [{"key": CA_CONFIGMAP_KEY, "path": CA_CONFIGMAP_KEY}]},
        }));
    }
}

fn set_map_entry(obj: &mut Value, map: &str, key: &str, value: &str) {
    let Some(meta) = obj
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let m = meta.entry(map).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        m.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Where each workload kind keeps its pod template.
fn template_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => Some("/spec/template"),
        "CronJob" => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// A labelled workload: the label (and the ProxyConfig annotation, if the workload names one)
/// go onto its pod template, unless the template says otherwise. Pods are then injected at
/// their own admission, with the ProxyConfig current at that moment.
pub fn mutate_workload(
    kind: &str,
    operation: &str,
    obj: &Value,
    settings: &MutationSettings,
) -> Outcome {
    let Some(template) = template_pointer(kind) else {
        return Outcome::Unchanged;
    };
    // A Job's template is immutable after creation: touching it on UPDATE would make the
    // API server refuse the user's update.
    if kind == "Job" && operation != "CREATE" {
        return Outcome::Unchanged;
    }
    if !labelled(obj.get("metadata"), settings) {
        return Outcome::Unchanged;
    }
    let mut out = obj.clone();
    let selection = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(SELECT_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(tpl) = out.pointer_mut(template) else {
        return Outcome::Unchanged;
    };
    let has_label = tpl
        .pointer("/metadata/labels")
        .and_then(|l| l.get(&settings.label_key))
        .is_some();
    if !has_label {
        set_map_entry(tpl, "labels", &settings.label_key, &settings.label_value);
    }
    if let Some(sel) = selection {
        let has_sel = tpl
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(SELECT_ANNOTATION))
            .is_some();
        if !has_sel {
            set_map_entry(tpl, "annotations", SELECT_ANNOTATION, &sel);
        }
    }
    let patch = json_patch::diff(obj, &out);
    if patch.0.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Patched {
            patch,
            injected: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_api::v1alpha1::KeyRef;
    use azop_api::v1alpha1::proxy_config::{ProxyConfigSpec, TrustedCa};
    use std::sync::Arc;

    fn settings() -> MutationSettings {
        MutationSettings {
            label_key: "spectrocloud.com/connection".into(),
            label_value: "proxy".into(),
            excluded_namespaces: ["kube-system".to_string(), "azop-system".to_string()].into(),
            extra_no_proxy: vec!["10.96.0.0/12".into()],
        }
    }

    fn proxy(ns: &str, name: &str, default: bool, ca: bool) -> Arc<ProxyConfig> {
        let mut p = ProxyConfig::new(
            name,
            ProxyConfigSpec {
                http_proxy: Some(format!("http://{name}.corp:3128")),
                https_proxy: Some(format!("http://{name}.corp:3128")),
                no_proxy: vec![".corp".into()],
                trusted_ca: ca.then(|| TrustedCa {
                    secret_ref: Some(KeyRef {
                        name: "ca".into(),
                        key: "ca.crt".into(),
                    }),
                    config_map_ref: None,
                }),
                default,
                reconcile_policy: Default::default(),
                deletion_policy: Default::default(),
            },
        );
        p.metadata.namespace = Some(ns.into());
        p.metadata.generation = Some(2);
        Arc::new(p)
    }

    fn pod(labels: Value, annotations: Value, containers: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "web-", "labels": labels, "annotations": annotations},
            "spec": {"containers": containers, "initContainers": [{"name": "init", "image": "busybox"}],
                     "someFutureField": {"kept": true}},
        })
    }

    fn admission(kind: &str, group: &str, op: &str, ns: &str, obj: Value) -> AdmissionReview {
        AdmissionReview {
            api_version: "admission.k8s.io/v1".into(),
            kind: "AdmissionReview".into(),
            request: Some(AdmissionRequest {
                uid: "u-1".into(),
                kind: GroupVersionKind {
                    group: group.into(),
                    version: "v1".into(),
                    kind: kind.into(),
                },
                namespace: Some(ns.into()),
                operation: op.into(),
                object: Some(obj),
                ..AdmissionRequest::default()
            }),
            response: None,
        }
    }

    /// Applies the response's patch to the request's object.
    fn patched(req: &AdmissionReview, resp: &AdmissionReview) -> Value {
        use base64::Engine;
        let mut obj = req
            .request
            .as_ref()
            .and_then(|r| r.object.clone())
            .expect("object");
        let r = resp.response.as_ref().expect("response");
        assert!(r.allowed);
        assert_eq!(r.uid, "u-1");
        if let Some(p) = &r.patch {
            assert_eq!(r.patch_type.as_deref(), Some("JSONPatch"));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(p)
                .expect("base64");
            let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("patch");
            json_patch::patch(&mut obj, &patch).expect("patch applies");
        }
        obj
    }

    fn env_of(obj: &Value, pointer: &str) -> Vec<(String, String)> {
        obj.pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["name"].as_str().unwrap_or_default().to_string(),
                            e["value"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn value_of(env: &[(String, String)], name: &str) -> Option<String> {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const LABEL: &str = "spectrocloud.com/connection";

    /// The table: (case, namespace, pod, proxies) → expected facts about the result.
    #[test]
    fn pod_table() {
        struct Case {
            name: &'static str,
            ns: &'static str,
            pod: Value,
            proxies: Vec<Arc<ProxyConfig>>,
            // None: unchanged; Some(name): injected from that ProxyConfig.
            injected: Option<&'static str>,
            skipped: bool,
        }
        let labelled = || json!({LABEL: "proxy"});
        let app = || json!([{"name": "app", "image": "nginx"}]);
        let cases = vec![
            Case {
                name: "labelled pod, namespace default",
                ns: "a",
                pod: pod(labelled(), json!({}), app()),
                proxies: vec![proxy("a", "dflt", true, false)],
                injected: Some("dflt"),
                skipped: false,
            },
            Case {
                name: "unlabelled pod is untouched",
                ns: "a",
                pod: pod(json!({"app": "x"}), json!({}), app()),
                proxies: vec![proxy("a", "dflt", true, false)],
                injected: None,
                skipped: false,
            },
            Case {
                name: "label with another value is untouched",
                ns: "a",
                pod: pod(json!({LABEL: "direct"}), json!({}), app()),
                proxies: vec![proxy("a", "dflt", true, false)],
                injected: None,
                skipped: false,
            },
            Case {
                name: "annotation names a non-default ProxyConfig",
                ns: "a",
                pod: pod(labelled(), json!({SELECT_ANNOTATION: "other"}), app()),
                proxies: vec![
                    proxy("a", "dflt", true, false),
                    proxy("a", "other", false, false),
                ],
                injected: Some("other"),
                skipped: false,
            },
            Case {
                name: "no default: admitted unchanged, with a reason",
                ns: "a",
                pod: pod(labelled(), json!({}), app()),
                proxies: vec![proxy("b", "elsewhere", true, false)],
                injected: None,
                skipped: true,
            },
            Case {
                name: "two defaults: admitted unchanged, with a reason",
                ns: "a",
                pod: pod(labelled(), json!({}), app()),
                proxies: vec![
                    proxy("a", "one", true, false),
                    proxy("a", "two", true, false),
                ],
                injected: None,
                skipped: true,
            },
            Case {
                name: "excluded namespace",
                ns: "kube-system",
                pod: pod(labelled(), json!({}), app()),
                proxies: vec![proxy("kube-system", "dflt", true, false)],
                injected: None,
                skipped: false,
            },
        ];
        for c in cases {
            let req = admission("Pod", "", "CREATE", c.ns, c.pod.clone());
            let (resp, outcome) = review(&req, &settings(), &c.proxies);
            let out = patched(&req, &resp);
            let warnings = &resp.response.as_ref().expect("response").warnings;
            assert_eq!(
                matches!(outcome, Outcome::Skipped { .. }),
                c.skipped,
                "{}: {outcome:?}",
                c.name
            );
            assert_eq!(!warnings.is_empty(), c.skipped, "{}: {warnings:?}", c.name);
            match c.injected {
                None => assert_eq!(out, c.pod, "{}: must be unchanged", c.name),
                Some(p) => {
                    assert_eq!(
                        out.pointer(&format!(
                            "/metadata/annotations/{}",
                            INJECTED_ANNOTATION.replace('/', "~1")
                        )),
                        Some(&json!(format!("{p}/2"))),
                        "{}",
                        c.name
                    );
                    for pointer in ["/spec/containers/0/env", "/spec/initContainers/0/env"] {
                        let env = env_of(&out, pointer);
                        let want = format!("http://{p}.corp:3128");
                        for v in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
                            assert_eq!(value_of(&env, v), Some(want.clone()), "{}: {v}", c.name);
                        }
                        let np = value_of(&env, "NO_PROXY").expect("NO_PROXY");
                        assert_eq!(value_of(&env, "no_proxy"), Some(np.clone()));
                        assert!(
                            np.starts_with(".corp,169.254.169.254,168.63.129.16,"),
                            "{np}"
                        );
                        assert!(np.ends_with(",10.96.0.0/12"), "{np}");
                    }
                    assert_eq!(out["spec"]["someFutureField"], json!({"kept": true}));
                }
            }
        }
    }

    #[test]
    fn the_pods_own_env_wins_and_twins_follow_it() {
        let containers = json!([{"name": "app", "image": "nginx", "env": [
            {"name": "https_proxy", "value": "http://mine:1"},
            {"name": "NO_PROXY", "value": "only-me"},
        ]}]);
        let req = admission(
            "Pod",
            "",
            "CREATE",
            "a",
            pod(json!({LABEL: "proxy"}), json!({}), containers),
        );
        let (resp, _) = review(&req, &settings(), &[proxy("a", "dflt", true, false)]);
        let env = env_of(&patched(&req, &resp), "/spec/containers/0/env");
        assert_eq!(
            value_of(&env, "https_proxy").as_deref(),
            Some("http://mine:1")
        );
        assert_eq!(
            value_of(&env, "HTTPS_PROXY"),
            None,
            "twin of a pod-set variable"
        );
        assert_eq!(value_of(&env, "NO_PROXY").as_deref(), Some("only-me"));
        assert_eq!(value_of(&env, "no_proxy"), None);
        assert_eq!(
            value_of(&env, "HTTP_PROXY").as_deref(),
            Some("http://dflt.corp:3128")
        );
    }

    #[test]
    fn a_trusted_ca_is_mounted_and_ssl_cert_file_points_at_it() {
        let req = admission(
            "Pod",
            "",
            "CREATE",
            "a",
            pod(
                json!({LABEL: "proxy"}),
                json!({}),
                json!([{"name": "app"}, {"name": "side", "env": [{"name": "SSL_CERT_FILE", "value": "/mine"}]}]),
            ),
        );
        let (resp, _) = review(&req, &settings(), &[proxy("a", "corp", true, true)]);
        let out = patched(&req, &resp);
        let vols = out["spec"]["volumes"].as_array().expect("volumes");
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0]["configMap"]["name"], "corp-proxy-ca");
        for c in [
            "/spec/containers/0",
            "/spec/containers/1",
            "/spec/initContainers/0",
        ] {
            let mounts = out.pointer(&format!("{c}/volumeMounts")).expect("mounts");
            assert_eq!(mounts[0]["mountPath"], CA_MOUNT_DIR);
            assert_eq!(mounts[0]["readOnly"], true);
        }
        let env0 = env_of(&out, "/spec/containers/0/env");
        assert_eq!(
            value_of(&env0, "SSL_CERT_FILE").as_deref(),
            Some("/etc/azop/proxy-ca/ca.crt")
        );
        let env1 = env_of(&out, "/spec/containers/1/env");
        assert_eq!(value_of(&env1, "SSL_CERT_FILE").as_deref(), Some("/mine"));
        assert_eq!(out["metadata"]["labels"][INJECTED_LABEL], "corp");
    }

    #[test]
    fn reinvocation_is_a_no_op() {
        let proxies = [proxy("a", "corp", true, true)];
        let req = admission(
            "Pod",
            "",
            "CREATE",
            "a",
            pod(json!({LABEL: "proxy"}), json!({}), json!([{"name": "app"}])),
        );
        let (resp, _) = review(&req, &settings(), &proxies);
        let once = patched(&req, &resp);
        let again = admission("Pod", "", "CREATE", "a", once.clone());
        let (resp2, outcome) = review(&again, &settings(), &proxies);
        assert_eq!(outcome, Outcome::Unchanged);
        assert_eq!(resp2.response.expect("response").patch, None);
    }

    #[test]
    fn workloads_get_the_label_on_their_template() {
        let dep = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {LABEL: "proxy"}, "annotations": {SELECT_ANNOTATION: "other"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}},
        });
        let req = admission("Deployment", "apps", "CREATE", "a", dep.clone());
        let none: [Arc<ProxyConfig>; 0] = [];
        let (resp, _) = review(&req, &settings(), &none);
        let out = patched(&req, &resp);
        assert_eq!(
            out["spec"]["template"]["metadata"]["labels"][LABEL],
            "proxy"
        );
        assert_eq!(out["spec"]["template"]["metadata"]["labels"]["app"], "web");
        assert_eq!(
            out["spec"]["template"]["metadata"]["annotations"][SELECT_ANNOTATION],
            "other"
        );
        // Idempotent.
        let (_, again) = review(
            &admission("Deployment", "apps", "UPDATE", "a", out),
            &settings(),
            &none,
        );
        assert_eq!(again, Outcome::Unchanged);

        let cron = json!({
            "kind": "CronJob", "metadata": {"labels": {LABEL: "proxy"}},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}},
        });
        let req = admission("CronJob", "batch", "CREATE", "a", cron);
        let (resp, _) = review(&req, &settings(), &none);
        let out = patched(&req, &resp);
        assert_eq!(
            out["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"][LABEL],
            "proxy"
        );

        // A Job's template is immutable: only at CREATE.
        let job = json!({"kind": "Job", "metadata": {"labels": {LABEL: "proxy"}}, "spec": {"template": {}}});
        let (_, o) = review(
            &admission("Job", "batch", "UPDATE", "a", job.clone()),
            &settings(),
            &none,
        );
        assert_eq!(o, Outcome::Unchanged);
        let (_, o) = review(
            &admission("Job", "batch", "CREATE", "a", job),
            &settings(),
            &none,
        );
        assert!(matches!(o, Outcome::Patched { injected: None, .. }));
        // Unlabelled workload and unknown kinds are untouched.
        let plain = json!({"kind": "Deployment", "metadata": {}, "spec": {"template": {}}});
        let (_, o) = review(
            &admission("Deployment", "apps", "CREATE", "a", plain),
            &settings(),
            &none,
        );
        assert_eq!(o, Outcome::Unchanged);
    }

    #[test]
    fn label_flag_parses() {
        assert_eq!(
            MutationSettings::parse_label("spectrocloud.com/connection=proxy"),
            Ok(("spectrocloud.com/connection".into(), "proxy".into()))
        );
        assert!(MutationSettings::parse_label("nolabel").is_err());
    }
}
