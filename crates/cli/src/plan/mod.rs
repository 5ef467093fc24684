//! `azop plan -f <manifests>` and `kubectl azop plan`: what applying the manifests would do
//! in Azure, without doing it.
//!
//! For every azop object in the manifests:
//!
//! 1. **Admission**: a server-side dry run (a create for a new object, a server-side apply
//!    for one the cluster holds; field manager `azop-plan`): the API server's schema, CEL rules and
//!    admission webhooks answer, nothing is stored, and the object comes back as it would be
//!    stored (defaults filled in). A namespace that does not exist yet (it is in the same
//!    change) cannot be asked: the object is then checked with azop's own rules (the same
//!    as the CRD's) and the plan says so.
//! 2. **The operator's pass, read only**: [`azop_controllers::engine::preview`] runs the
//!    kind's own validation, references, prechecks, survey, plan and observation against
//!    Azure with the object's credentials — its Secret in the cluster, or one in the
//!    manifests — through a provider built with [`Access::ReadOnly`]: every write is refused
//!    before it is sent, whatever path asks for it.
//! 3. **The verdict**: each resource's action (create, update with paths old → new, replace
//!    in rollout order, delete, untouched, in progress, refused) and the reason.
//!
//! Exit code (like `terraform plan -detailed-exitcode`): 0 nothing would change, 2 something
//! would, 1 an error — the plan could not be made, or something would be refused (the plan
//! is still printed).

pub mod render;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use azop_api::Validate;
use azop_api::v1alpha1::{AksCluster, AzureCluster, ProxyConfig, StorageBinding};
use azop_controllers::engine::preview::{self, Action, Change, ObjectPreview, Overlay, Refusal};
use azop_controllers::proxy_config::{ca, validate};
use azop_controllers::{Context, Settings};
use azop_provider::{Access, EndpointOverrides, Provider, ProviderConfig};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde::Serialize;
use serde_json::Value;

use crate::kube_args::Connected;
use crate::manifests::{self, Doc};
use crate::objects::Kind;
use crate::output::{self, Format, Palette};

/// The field manager of the dry runs (never stored).
pub const FIELD_MANAGER: &str = "azop-plan";

/// `azop plan` / `kubectl azop plan`.
#[derive(clap::Args, Debug, Clone)]
pub struct PlanArgs {
    /// Manifests: files, directories (their .yaml, .yml and .json files) or `-` for stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Output format: a table for people, json or yaml for pipelines.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// List resources that stay as they are (the table counts them otherwise).
    #[arg(long)]
    pub show_unchanged: bool,
    /// Azure Resource Manager endpoint (azop-armsim); default: each object's cloud.
    #[arg(long, env = "AZOP_ARM_ENDPOINT")]
    pub arm_endpoint: Option<url::Url>,
    /// Entra ID authority host (azop-armsim); default: each object's cloud.
    #[arg(long, env = "AZOP_AUTHORITY_HOST")]
    pub authority_host: Option<url::Url>,
}

/// The plan of one object.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPlan {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Where it came from (`file.yaml#2`).
    pub source: String,
    /// The cluster does not hold it yet.
    pub new: bool,
    /// How admission was checked: `server` (a dry run) or `azop` (its own rules, when the
    /// namespace does not exist yet).
    pub admission: String,
    /// What admission refused (nothing else is planned then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_refusal: Option<Refusal>,
    #[serde(flatten)]
    pub preview: ObjectPreview,
    /// Things worth knowing that are not changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The plan could not be made for this object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ObjectPlan {
    fn refused(&self) -> bool {
        self.admission_refusal.is_some() || !self.preview.refusals.is_empty()
    }

    fn changes(&self) -> bool {
        self.preview.waiting.is_some() || self.preview.changes.iter().any(|c| c.action.is_change())
    }
}

/// Counts by action.
#[derive(Serialize, Debug, Default, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub untouched: usize,
    pub in_progress: usize,
    pub reported: usize,
    pub refused: usize,
    pub errors: usize,
}

/// The whole plan.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub objects: Vec<ObjectPlan>,
    /// Documents that are not azop objects (`Kind namespace/name`): left to kubectl.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
    pub summary: Summary,
    /// 0 nothing would change, 2 something would, 1 an error or a refusal.
    pub exit_code: i32,
}

/// The summary and exit code of `objects` (pure).
pub fn conclude(objects: Vec<ObjectPlan>, other: Vec<String>) -> PlanReport {
    let mut s = Summary::default();
    for o in &objects {
        if o.error.is_some() {
            s.errors += 1;
        }
        s.refused += o.preview.refusals.len() + usize::from(o.admission_refusal.is_some());
        for c in &o.preview.changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::Untouched => s.untouched += 1,
                Action::InProgress => s.in_progress += 1,
                Action::Reported => s.reported += 1,
                // Counted once per refusal above.
                Action::Refused => {}
            }
        }
    }
    let exit_code = if objects.iter().any(|o| o.error.is_some() || o.refused()) {
        1
    } else if objects.iter().any(ObjectPlan::changes) {
        2
    } else {
        0
    };
    PlanReport {
        objects,
        other,
        summary: s,
        exit_code,
    }
}

/// Secrets of the manifests, by `(namespace, name)`: credentials the cluster does not hold
/// yet (pure).
pub fn overlay(docs: &[Doc], default_ns: &str) -> Overlay {
    use base64::Engine as _;
    let mut secrets = BTreeMap::new();
    for d in docs
        .iter()
        .filter(|d| d.kind() == "Secret" && d.api_version() == "v1")
    {
        let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        if let Some(m) = d.value.get("data").and_then(Value::as_object) {
            for (k, v) in m {
                if let Some(bytes) = v
                    .as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                {
                    data.insert(k.clone(), bytes);
                }
            }
        }
        if let Some(m) = d.value.get("stringData").and_then(Value::as_object) {
            for (k, v) in m {
                if let Some(s) = v.as_str() {
                    data.insert(k.clone(), s.as_bytes().to_vec());
                }
            }
        }
        let ns = d.namespace().unwrap_or(default_ns).to_string();
        secrets.insert((ns, d.name().to_string()), data);
    }
    Overlay { secrets }
}

/// A read-only provider: every session it opens refuses writes unsent.
pub fn read_only_provider(args: &PlanArgs) -> Provider {
    Provider::new(ProviderConfig {
        overrides: EndpointOverrides {
            arm_endpoint: args.arm_endpoint.clone(),
            authority_host: args.authority_host.clone(),
        },
        access: Access::ReadOnly,
        ..ProviderConfig::default()
    })
}

fn api_resource(kind: Kind) -> ApiResource {
    let plural = match kind {
        Kind::AzureCluster => "azureclusters",
        Kind::AksCluster => "aksclusters",
        Kind::StorageBinding => "storagebindings",
        Kind::ProxyConfig => "proxyconfigs",
    };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azop.dev", "v1alpha1", kind.as_str()),
        plural,
    )
}

/// What admission says of `doc`: the object as it would be stored, or the refusal.
enum Admitted {
    Stored {
        object: Value,
        existed: bool,
    },
    Refused(Refusal),
    /// The namespace does not exist yet: only azop's own rules were asked.
    NoNamespace(Value),
}

async fn admit(client: &kube::Client, kind: Kind, ns: &str, doc: &Value) -> Result<Admitted> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces
        .get_opt(ns)
        .await
        .with_context(|| format!("read namespace {ns}"))?
        .is_none()
    {
        return Ok(Admitted::NoNamespace(doc.clone()));
    }
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &api_resource(kind));
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let existed = api
        .get_opt(&name)
        .await
        .with_context(|| format!("read {} {ns}/{name}", kind.as_str()))?
        .is_some();
    // A new object is sent as `kubectl apply` creates one: a dry-run create, which the API
    // server validates in full (a duplicate key of a list-map is a 422 there; a server-side
    // apply patch of it fails earlier with a 500, building the typed patch). An object the
    // cluster holds is patched as `kubectl apply --server-side` would, so fields other
    // managers own stay as they are.
    let answer = if existed {
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = true;
        api.patch(&name, &params, &Patch::Apply(doc)).await
    } else {
        let params = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.to_string()),
        };
        let typed: DynamicObject = serde_json::from_value(doc.clone())
            .with_context(|| format!("{} {ns}/{name} is not an object", kind.as_str()))?;
        api.create(&params, &typed).await
    };
    match answer {
        Ok(stored) => Ok(Admitted::Stored {
            object: serde_json::to_value(&stored)?,
            existed,
        }),
        Err(kube::Error::Api(e)) if matches!(e.code, 400 | 409 | 422) => {
            Ok(Admitted::Refused(Refusal {
                reason: if e.reason.is_empty() {
                    "Invalid".into()
                } else {
                    e.reason.clone()
                },
                message: e.message.clone(),
            }))
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "dry-run {} of {} {ns}/{name} (the plan needs get, create and patch on azop's kinds)",
                if existed { "apply" } else { "create" },
                kind.as_str()
            )
        }),
    }
}

/// The preview of one typed object with its kind's own hooks.
async fn preview_of(
    kind: Kind,
    object: Value,
    new: bool,
    ctx: &Context,
    overlay: &Overlay,
) -> Result<(ObjectPreview, Vec<String>)> {
    Ok(match kind {
        Kind::AzureCluster => {
            let o: AzureCluster = serde_json::from_value(object)?;
            let k = azop_controllers::azure_cluster::AzureClusterKind::default();
            (preview::preview(&k, &o, ctx, overlay).await?, Vec::new())
        }
        Kind::AksCluster => {
            let o: AksCluster = serde_json::from_value(object)?;
            let k = azop_controllers::aks_cluster::AksClusterKind;
            (preview::preview(&k, &o, ctx, overlay).await?, Vec::new())
        }
        Kind::StorageBinding => {
            let o: StorageBinding = serde_json::from_value(object)?;
            let k = azop_controllers::storage_binding::StorageBindingKind;
            let mut p = preview::preview(&k, &o, ctx, overlay).await?;
            // A new binding has no uid yet (the dry run's is thrown away): the names
            // derived from it are decided at creation.
            let notes = if new {
                mark_provisional(
                    &mut p,
                    &azop_controllers::storage_binding::names::uid_candidates(&o),
                )
            } else {
                Vec::new()
            };
            (p, notes)
        }
        Kind::ProxyConfig => {
            let o: ProxyConfig = serde_json::from_value(object)?;
            proxy_config(&o, ctx).await?
        }
    })
}

/// Names derived from a uid the object does not have yet (a new StorageBinding's generated
/// account name) are shown as `<generated>` (pure). Returns the notes to add.
fn mark_provisional(p: &mut ObjectPreview, provisional: &[String]) -> Vec<String> {
    let mut marked = false;
    for c in &mut p.changes {
        for name in provisional {
            if c.name.contains(name.as_str()) {
                c.name = c.name.replace(name.as_str(), "<generated>");
                marked = true;
            }
        }
    }
    if marked {
        vec!["<generated>: the storage account's name is chosen from the object's uid when it is created (azop + 20 hex digits, the first one Azure has free)".to_string()]
    } else {
        Vec::new()
    }
}

/// A ProxyConfig has nothing in Azure: its plan is its own check and the CA bundle
/// ConfigMap azop keeps for it, decided by the ProxyConfig controller's own functions.
async fn proxy_config(p: &ProxyConfig, ctx: &Context) -> Result<(ObjectPreview, Vec<String>)> {
    let notes = vec![
        "nothing of a ProxyConfig is in Azure: AksClusters that use it update their httpProxyConfig, and AzureCluster machines created from then on get it (running machines keep theirs)".to_string(),
    ];
    let spec = validate::spec(p);
    if spec.status != azop_controllers::conditions::Status::True {
        return Ok((
            ObjectPreview {
                refusals: vec![Refusal {
                    reason: spec.reason,
                    message: spec.message,
                }],
                ..ObjectPreview::default()
            },
            notes,
        ));
    }
    let ns = kube::ResourceExt::namespace(p).unwrap_or_default();
    let source = ca::read(&ctx.client, &ns, p.spec.trusted_ca.as_ref()).await?;
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let (_, bundle) = validate::trusted_ca(&source, now);
    let existing = ca::current_configmap(&ctx.client, p).await?;
    let changes = ca::bundle_drift(existing.as_ref(), bundle.as_ref());
    let name = ca::ca_configmap_name(&kube::ResourceExt::name_any(p));
    let row = |action, reason: &str, changes| Change {
        action,
        kind: "ConfigMap".into(),
        name: name.clone(),
        condition: String::new(),
        changes,
        reason: reason.into(),
        replaced_by: None,
        order: None,
    };
    let policy = p.spec.reconcile_policy;
    let mut out = ObjectPreview::default();
    if bundle.is_some() || existing.is_some() {
        let mut c = match (existing.is_some(), bundle.is_some(), changes.is_empty()) {
            (false, true, _) => row(
                Action::Create,
                "the trusted CA bundle pods mount",
                Vec::new(),
            ),
            (true, false, _) => row(Action::Delete, "no valid trustedCA any more", Vec::new()),
            (true, true, false) => row(Action::Update, "another CA bundle", changes),
            _ => row(Action::Untouched, "as the spec says", Vec::new()),
        };
        if policy == azop_api::v1alpha1::ReconcilePolicy::DetectOnly && c.action.is_change() {
            c.action = Action::Reported;
            c.reason = format!(
                "spec.reconcilePolicy is DetectOnly: azop writes nothing ({})",
                c.reason
            );
        }
        out.changes.push(c);
    }
    Ok((out, notes))
}

/// One azop document's plan.
async fn plan_doc(
    c: &Connected,
    ctx: &Context,
    overlay: &Overlay,
    doc: &Doc,
    kind: Kind,
) -> ObjectPlan {
    let ns = doc.namespace().unwrap_or(&c.namespace).to_string();
    let mut value = doc.value.clone();
    value["metadata"]["namespace"] = Value::from(ns.clone());
    let mut plan = ObjectPlan {
        kind: kind.as_str().to_string(),
        namespace: ns.clone(),
        name: doc.name().to_string(),
        source: doc.source.clone(),
        new: true,
        admission: "server".into(),
        admission_refusal: None,
        preview: ObjectPreview::default(),
        notes: Vec::new(),
        error: None,
    };
    let object = match admit(&c.client, kind, &ns, &value).await {
        Err(e) => {
            plan.error = Some(format!("{e:#}"));
            return plan;
        }
        Ok(Admitted::Refused(r)) => {
            plan.new = false;
            plan.admission_refusal = Some(r);
            return plan;
        }
        Ok(Admitted::Stored { object, existed }) => {
            plan.new = !existed;
            object
        }
        Ok(Admitted::NoNamespace(object)) => {
            plan.admission = "azop".into();
            plan.notes.push(format!(
                "namespace {ns} does not exist yet, so the API server could not be asked: checked with azop's own rules (the same as the CRD's schema and CEL); admission webhooks were not asked"
            ));
            if let Err(problem) = local_validation(kind, &object) {
                plan.admission_refusal = Some(Refusal {
                    reason: "Invalid".into(),
                    message: problem,
                });
                return plan;
            }
            object
        }
    };
    match preview_of(kind, object, plan.new, ctx, overlay).await {
        Ok((p, notes)) => {
            plan.preview = p;
            plan.notes.extend(notes);
        }
        Err(e) => plan.error = Some(format!("{e:#}")),
    }
    plan
}

/// azop's own rules on an object that could not be sent to the API server.
fn local_validation(kind: Kind, object: &Value) -> std::result::Result<(), String> {
    fn check<T: serde::de::DeserializeOwned + Validate>(
        v: &Value,
    ) -> std::result::Result<(), String> {
        let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        typed.validate().map_err(|e| e.to_string())
    }
    match kind {
        Kind::AzureCluster => check::<AzureCluster>(object),
        Kind::AksCluster => check::<AksCluster>(object),
        Kind::StorageBinding => check::<StorageBinding>(object),
        Kind::ProxyConfig => check::<ProxyConfig>(object),
    }
}

/// The plan of every azop object in the manifests.
pub async fn make(c: &Connected, args: &PlanArgs) -> Result<PlanReport> {
    let docs = manifests::read(&args.files, args.recursive)?;
    let overlay = overlay(&docs, &c.namespace);
    let ctx = Context::new(
        c.client.clone(),
        read_only_provider(args),
        azop_controllers::metrics::ControllerMetrics::default(),
        Settings::default(),
    );
    let mut objects = Vec::new();
    let mut other = Vec::new();
    for doc in &docs {
        let group = doc.api_version().split('/').next().unwrap_or_default();
        if group != "azop.dev" {
            other.push(format!(
                "{} {}/{}",
                doc.kind(),
                doc.namespace().unwrap_or(&c.namespace),
                doc.name()
            ));
            continue;
        }
        match Kind::parse(doc.kind()) {
            Some(kind) => objects.push(plan_doc(c, &ctx, &overlay, doc, kind).await),
            None => objects.push(ObjectPlan {
                kind: doc.kind().to_string(),
                namespace: doc.namespace().unwrap_or(&c.namespace).to_string(),
                name: doc.name().to_string(),
                source: doc.source.clone(),
                new: false,
                admission: "none".into(),
                admission_refusal: None,
                preview: ObjectPreview::default(),
                notes: Vec::new(),
                error: Some(format!(
                    "{}: azop.dev has no kind {:?} (AzureCluster, AksCluster, StorageBinding, ProxyConfig)",
                    doc.source,
                    doc.kind()
                )),
            }),
        }
    }
    Ok(conclude(objects, other))
}

/// Runs the plan; returns what to print and the exit code.
pub async fn run(c: &Connected, args: &PlanArgs) -> (String, i32) {
    match make(c, args).await {
        Ok(report) => {
            let text = match output::structured(args.output, &report) {
                Ok(Some(s)) => s,
                Ok(None) => render::table(&report, args.show_unchanged, Palette::for_stdout()),
                Err(e) => return (format!("error: {e:#}\n"), 1),
            };
            (text, report.exit_code)
        }
        Err(e) => (format!("error: {e:#}\n"), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(action: Action) -> ObjectPlan {
        ObjectPlan {
            kind: "AzureCluster".into(),
            namespace: "ns".into(),
            name: "c".into(),
            source: "x.yaml#1".into(),
            new: false,
            admission: "server".into(),
            admission_refusal: None,
            preview: ObjectPreview {
                changes: vec![Change {
                    action,
                    kind: "Microsoft.Network/virtualNetworks".into(),
                    name: "c-vnet".into(),
                    condition: "NetworkReady".into(),
                    changes: vec![],
                    reason: String::new(),
                    replaced_by: None,
                    order: None,
                }],
                ..ObjectPreview::default()
            },
            notes: vec![],
            error: None,
        }
    }

    #[test]
    fn exit_codes_follow_terraforms_detailed_exitcode() {
        assert_eq!(
            conclude(vec![object(Action::Untouched)], vec![]).exit_code,
            0
        );
        assert_eq!(
            conclude(vec![object(Action::InProgress)], vec![]).exit_code,
            0
        );
        assert_eq!(
            conclude(vec![object(Action::Reported)], vec![]).exit_code,
            0
        );
        for a in [
            Action::Create,
            Action::Update,
            Action::Replace,
            Action::Delete,
        ] {
            let r = conclude(vec![object(Action::Untouched), object(a)], vec![]);
            assert_eq!(r.exit_code, 2, "{a:?}");
        }
        let mut refused = object(Action::Create);
        refused.admission_refusal = Some(Refusal {
            reason: "Invalid".into(),
            message: "spec.x: bad".into(),
        });
        let r = conclude(vec![object(Action::Create), refused], vec![]);
        assert_eq!((r.exit_code, r.summary.refused), (1, 1));
        let mut broken = object(Action::Untouched);
        broken.error = Some("cannot read Azure".into());
        assert_eq!(conclude(vec![broken], vec![]).exit_code, 1);
        let mut waiting = object(Action::Untouched);
        waiting.preview.waiting = Some(Refusal {
            reason: "MissingReference".into(),
            message: "StorageBinding x has no image yet".into(),
        });
        assert_eq!(conclude(vec![waiting], vec![]).exit_code, 2);
    }

    #[test]
    fn secrets_in_the_manifests_are_read_from_data_and_string_data() {
        let docs = manifests::parse(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata: {tenantId: dGVuYW50}\nstringData: {clientId: app}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "m.yaml",
        )
        .expect("parse");
        let o = overlay(&docs, "team");
        let data = o
            .secrets
            .get(&("team".to_string(), "creds".to_string()))
            .expect("the Secret");
        assert_eq!(
            data.get("tenantId").map(Vec::as_slice),
            Some(&b"tenant"[..])
        );
        assert_eq!(data.get("clientId").map(Vec::as_slice), Some(&b"app"[..]));
        assert_eq!(o.secrets.len(), 1);
    }

    #[test]
    fn generated_names_are_marked() {
        let mut p = object(Action::Create).preview;
        p.changes[0].name = "azop0123456789abcdef0123-blob-pe".into();
        let notes = mark_provisional(&mut p, &["azop0123456789abcdef0123".into()]);
        assert_eq!(p.changes[0].name, "<generated>-blob-pe");
        assert_eq!(notes.len(), 1);
        assert!(mark_provisional(&mut p, &["other".into()]).is_empty());
    }
}
