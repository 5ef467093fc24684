//! `kubectl azop why <object>`: why an object is not Ready — `Ready`, the first part that is
//! not (the condition ladder's own order), the objects it waits for, each with its fix.

use anyhow::Result;
use azop_api::v1alpha1::IN_SYNC;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use serde::Serialize;

use crate::kube_args::Connected;
use crate::objects::{self, Kind, View};
use crate::output::{self, Format, Palette};

/// `kubectl azop why <object>`.
#[derive(clap::Args, Debug)]
pub struct WhyArgs {
    /// The object: `<kind>/<name>`, `<kind> <name>`, or `<name>` when only one kind has it.
    #[arg(required = true, num_args = 1..=2)]
    pub object: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// One link of the chain.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// `AzureCluster demo/demo`.
    pub object: String,
    pub condition: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// What to do for a condition reason (pure). The reasons are the operator's (docs/controllers.md,
/// README "Troubleshooting").
pub fn fix_for(reason: &str) -> &'static str {
    match reason {
        "Ready" | "NoDrift" | "ExistingResourceGroup" | "Public" | "VnetRestricted" | "Private" => {
            "nothing: this part is fine"
        }
        "Provisioning" | "Updating" | "Upgrading" | "Copying" | "Deleting" | "DriftCorrecting" => {
            "nothing: azop is at work; `kubectl azop status` shows the Azure operations in flight"
        }
        "Replacing" => {
            "nothing, unless it stays: a machine is replaced one at a time; a drain held by a PodDisruptionBudget needs the budget relaxed or the pod moved"
        }
        "InvalidSpec" => {
            "change the spec as the message says (`kubectl edit`); azop tries again at once"
        }
        "AzureInvalidSpec" | "ProvisioningFailed" => {
            "Azure refused it (its code and message above): fix the spec or the Azure side accordingly; azop retries with backoff"
        }
        "MissingReference" => {
            "create the object or Secret the message names, or wait until it is ready; azop is woken when it changes"
        }
        "NotOwned" => {
            "a resource with azop's name exists without this object's azop.dev_uid tag: azop never touches it; delete or rename it in Azure, or rename this object"
        }
        "ResourceGroupNotFound" => {
            "create the resource group, or set spec.createResourceGroup: true to let azop create and own it"
        }
        "AzureAuthorizationFailed" => {
            "grant the service principal the Azure RBAC action the message names, at the scope it names; azop looks again every 2 minutes"
        }
        "CredentialsInvalid" => {
            "fix the credentials Secret: keys tenantId, clientId and clientSecret (or federatedTokenFile)"
        }
        "CredentialsRejected" => {
            "Entra ID refused the Secret's credentials: put a valid client secret in it (azop retries when it changes)"
        }
        "StaticPlacementInvalid" => {
            "fix the existing network as listed (subnets, CIDRs, NSGs, the 6443 rule) or the spec's names"
        }
        "StorageAccountNotFound" | "ContainerNotFound" => {
            "create the storage account or container first, or remove its name from the spec to let azop create one"
        }
        "SubnetNotFound" => "create the subnets named, or correct spec.networkAccess",
        "SubnetMissingServiceEndpoint" => {
            "add Microsoft.Storage to the named subnets' service endpoints"
        }
        "VhdInvalid" => {
            "Azure needs a fixed VHD of a whole number of MiB: qemu-img convert -O vpc -o subformat=fixed,force_size in.raw out.vhd"
        }
        "CopyFailed" => {
            "check the VHD source and its SAS (an expired SAS: put a new one in the Secret)"
        }
        "InUse" => "delete the AzureClusters named, or point them at another image",
        "KubernetesVersionNotOffered" => {
            "set spec.kubernetesVersion to one the region offers (listed in the message)"
        }
        "OutdatedMachines" => {
            "control-plane machines keep their image and OS disk: azop does not replace them yet (docs/machines.md)"
        }
        "DeleteBlocked" => {
            "fix what the message names; removing the finalizer gives up and leaves those resources in Azure"
        }
        "DetectOnly" | "DriftDetected" => {
            "spec.reconcilePolicy is DetectOnly: set it to Manage to let azop create and correct"
        }
        "AzureThrottled" | "AzureBusy" | "AzureTransient" | "Busy" => {
            "nothing: a passing condition in Azure; azop retries on its own"
        }
        _ => "see the message; `kubectl describe` shows the Events",
    }
}

fn link(v: &View, c: &Condition) -> Link {
    Link {
        object: format!("{} {}", v.kind.as_str(), v.key()),
        condition: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        fix: fix_for(&c.reason).to_string(),
    }
}

/// The links of one object (pure): `Ready` and the first part that is not True — the part
/// `Ready` names — and `InSync` when False.
pub fn links_of(v: &View) -> Vec<Link> {
    let mut out = Vec::new();
    if let Some(ready) = v.condition("Ready")
        && ready.status != "True"
    {
        out.push(link(v, ready));
        // Ready's message starts with the part it rolled up from ("NetworkReady: …").
        let part = v.conditions.iter().find(|c| {
            c.type_ != "Ready"
                && c.type_ != IN_SYNC
                && c.status != "True"
                && ready.message.starts_with(&format!("{}:", c.type_))
        });
        if let Some(p) = part {
            out.push(link(v, p));
        }
    }
    if let Some(s) = v.condition(IN_SYNC)
        && s.status != "True"
    {
        out.push(link(v, s));
    }
    out
}

/// The chain: the object's links, then those of each azop object it references that is not
/// Ready, depth first, each object once.
pub async fn chain(client: &Client, start: &View) -> Result<Vec<Link>> {
    let mut out = Vec::new();
    let mut seen: Vec<(Kind, String, String)> = Vec::new();
    let mut todo = vec![start.clone()];
    while let Some(v) = todo.pop() {
        let id = (v.kind, v.namespace.clone(), v.name.clone());
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        out.extend(links_of(&v));
        for (kind, name) in v.references.iter().rev() {
            match objects::get_view(client, &v.namespace, *kind, name).await? {
                Some(r) if r.ready() != "True" => todo.push(r),
                Some(_) => {}
                None => out.push(Link {
                    object: format!("{} {}/{name}", kind.as_str(), v.namespace),
                    condition: "Exists".into(),
                    status: "False".into(),
                    reason: "MissingReference".into(),
                    message: format!(
                        "{} {}/{} refers to it, and it does not exist",
                        v.kind.as_str(),
                        v.namespace,
                        v.name
                    ),
                    fix: fix_for("MissingReference").into(),
                }),
            }
        }
    }
    Ok(out)
}

/// The chain as text (pure).
pub fn text(v: &View, links: &[Link], p: Palette) -> String {
    let phase = v
        .phase
        .map(|ph| format!("{ph:?}"))
        .unwrap_or_else(|| "-".into());
    if links.is_empty() {
        return format!(
            "{} {} is Ready (phase {phase}); nothing blocks it.\n",
            v.kind.as_str(),
            v.key()
        );
    }
    let mut out = format!(
        "{} {} is {} (phase {phase}{}):\n",
        v.kind.as_str(),
        v.key(),
        if v.ready() == "True" {
            "Ready"
        } else {
            "not Ready"
        },
        if v.up_to_date {
            ""
        } else {
            "; status is older than the spec"
        },
    );
    let mut last_object = format!("{} {}", v.kind.as_str(), v.key());
    for (i, l) in links.iter().enumerate() {
        if l.object != last_object {
            out.push_str(&format!("{}└─ {}\n", "  ".repeat(i), p.bold(&l.object)));
            last_object = l.object.clone();
        }
        let indent = "  ".repeat(i + 1);
        out.push_str(&format!(
            "{indent}{} {}={} {}: {}\n",
            if i == 0 { "•" } else { "└─" },
            l.condition,
            l.status,
            p.yellow(&l.reason),
            l.message
        ));
        out.push_str(&format!("{indent}   fix: {}\n", p.green(&l.fix)));
    }
    out
}

pub async fn run(c: &Connected, args: &WhyArgs) -> Result<String> {
    let (kind, name) = objects::split_ref(&args.object)?;
    let v = objects::find(&c.client, &c.namespace, kind, &name).await?;
    let links = chain(&c.client, &v).await?;
    Ok(match output::structured(args.output, &links)? {
        Some(s) => s,
        None => text(&v, &links, Palette::for_stdout()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_api::v1alpha1::{Phase, ReconcilePolicy};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn cond(t: &str, s: &str, r: &str, m: &str) -> Condition {
        Condition {
            type_: t.into(),
            status: s.into(),
            reason: r.into(),
            message: m.into(),
            observed_generation: None,
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn the_chain_follows_ready_to_the_part_it_names() {
        let v = View {
            kind: Kind::AzureCluster,
            namespace: "demo".into(),
            name: "demo".into(),
            phase: Some(Phase::Provisioning),
            reconcile_policy: ReconcilePolicy::Manage,
            deleting: false,
            up_to_date: true,
            conditions: vec![
                cond(
                    "Ready",
                    "False",
                    "NotOwned",
                    "NetworkReady: virtualNetworks demo-vnet is not ours",
                ),
                cond("ResourceGroupReady", "True", "Ready", "1 of 1"),
                cond(
                    "NetworkReady",
                    "False",
                    "NotOwned",
                    "virtualNetworks demo-vnet is not ours",
                ),
                cond("WorkersReady", "False", "Provisioning", "waiting"),
            ],
            resources: vec![],
            operations: vec![],
            drift: vec![],
            references: vec![],
        };
        let links = links_of(&v);
        assert_eq!(
            links
                .iter()
                .map(|l| l.condition.as_str())
                .collect::<Vec<_>>(),
            vec!["Ready", "NetworkReady"]
        );
        assert!(links[1].fix.contains("uid"), "{}", links[1].fix);
        let t = text(&v, &links, Palette::plain());
        assert!(t.contains("is not Ready (phase Provisioning)"), "{t}");
        assert!(t.contains("NetworkReady=False NotOwned"), "{t}");
        assert_eq!(
            fix_for("SomethingNew"),
            "see the message; `kubectl describe` shows the Events"
        );
    }
}
