//! `kubectl azop status`: every azop object with its phase, its parts (one condition each)
//! and the Azure operations in flight.

use anyhow::Result;
use azop_api::v1alpha1::{ArmAction, IN_SYNC};
use serde::Serialize;

use crate::kube_args::Connected;
use crate::objects::{self, Kind, View};
use crate::output::{self, Format, Palette, columns};

/// `kubectl azop status [KIND[/NAME]]`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Only this kind (`azc`, `aks`, `sb`, `pxc`, or the full name), or one object
    /// (`azc/demo`).
    pub object: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// One object's line of `status`, as JSON/YAML give it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    #[serde(flatten)]
    view: &'a View,
    parts: Vec<Part>,
}

#[derive(Serialize)]
struct Part {
    condition: String,
    status: String,
    reason: String,
}

fn parts(v: &View) -> Vec<Part> {
    v.conditions
        .iter()
        .filter(|c| c.type_ != "Ready" && c.type_ != IN_SYNC)
        .map(|c| Part {
            condition: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
        })
        .collect()
}

/// `Network ✓  ControlPlane … (Provisioning)` (pure).
fn parts_cell(parts: &[Part], p: Palette) -> String {
    parts
        .iter()
        .map(|x| {
            let name = x.condition.trim_end_matches("Ready");
            match x.status.as_str() {
                "True" => p.green(&format!("{name} ✓")),
                _ => p.yellow(&format!("{name} … ({})", x.reason)),
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// `PUT virtualMachines/demo-cp-0` for each operation (pure).
fn in_flight(v: &View) -> Vec<String> {
    v.operations
        .iter()
        .map(|o| {
            let mut segs = o.resource_id.rsplit('/');
            let name = segs.next().unwrap_or_default();
            let kind = segs.next().unwrap_or_default();
            let verb = match o.action {
                ArmAction::Put => "PUT",
                ArmAction::Delete => "DELETE",
            };
            format!("{verb} {kind}/{name}")
        })
        .collect()
}

/// The table (pure).
pub fn table(views: &[View], all_namespaces: bool, p: Palette) -> String {
    if views.is_empty() {
        return "No azop objects found.\n".to_string();
    }
    let mut rows = vec![
        [
            all_namespaces.then_some("NAMESPACE"),
            Some("KIND"),
            Some("NAME"),
            Some("PHASE"),
            Some("READY"),
            Some("IN SYNC"),
            Some("IN FLIGHT"),
            Some("PARTS"),
        ]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect::<Vec<_>>(),
    ];
    for v in views {
        let mut row = Vec::new();
        if all_namespaces {
            row.push(v.namespace.clone());
        }
        let phase = v
            .phase
            .map(|ph| format!("{ph:?}"))
            .unwrap_or_else(|| "-".into());
        let in_sync = v
            .condition(IN_SYNC)
            .map_or("-".to_string(), |c| c.status.clone());
        row.extend([
            v.kind.as_str().to_string(),
            v.name.clone(),
            phase,
            v.ready().to_string(),
            in_sync,
            v.operations.len().to_string(),
            parts_cell(&parts(v), p),
        ]);
        rows.push(row);
    }
    let mut out = columns(&rows);
    for v in views {
        let ops = in_flight(v);
        if !ops.is_empty() {
            out.push_str(&format!(
                "\n{} {}: in flight: {}",
                v.kind.as_str(),
                v.key(),
                ops.join(", ")
            ));
        }
        if v.ready() != "True"
            && let Some(c) = v.condition("Ready")
        {
            out.push_str(&format!(
                "\n{} {}: {}",
                v.kind.as_str(),
                v.key(),
                p.yellow(&format!("{}: {}", c.reason, c.message))
            ));
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

pub async fn run(c: &Connected, args: &StatusArgs) -> Result<String> {
    let (kinds, name) = match &args.object {
        None => (Kind::ALL.to_vec(), None),
        Some(o) => match o.split_once('/') {
            Some((k, n)) => (
                vec![Kind::parse(k).ok_or_else(|| anyhow::anyhow!("unknown kind {k:?}"))?],
                Some(n.to_string()),
            ),
            None => (
                vec![Kind::parse(o).ok_or_else(|| {
                    anyhow::anyhow!("unknown kind {o:?}: azc, aks, sb, pxc, or <kind>/<name>")
                })?],
                None,
            ),
        },
    };
    let mut views = objects::list_views(c, &kinds).await?;
    if let Some(n) = &name {
        views.retain(|v| &v.name == n);
    }
    let lines: Vec<Line> = views
        .iter()
        .map(|v| Line {
            view: v,
            parts: parts(v),
        })
        .collect();
    Ok(match output::structured(args.output, &lines)? {
        Some(s) => s,
        None => table(&views, c.all, Palette::for_stdout()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_api::v1alpha1::{ArmOperation, Phase, ReconcilePolicy};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn cond(t: &str, s: &str, r: &str) -> Condition {
        Condition {
            type_: t.into(),
            status: s.into(),
            reason: r.into(),
            message: format!("{t} message"),
            observed_generation: None,
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn the_table_shows_parts_and_what_is_in_flight() {
        let v = View {
            kind: Kind::AzureCluster,
            namespace: "demo".into(),
            name: "demo".into(),
            phase: Some(Phase::Provisioning),
            reconcile_policy: ReconcilePolicy::Manage,
            deleting: false,
            up_to_date: true,
            conditions: vec![
                cond("Ready", "False", "Provisioning"),
                cond("NetworkReady", "True", "Ready"),
                cond("WorkersReady", "False", "Provisioning"),
            ],
            resources: vec![],
            operations: vec![ArmOperation {
                resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/demo-cp-0".into(),
                action: ArmAction::Put,
                url: String::new(),
                kind: None,
                started_at: None,
                deadline: None,
            }],
            drift: vec![],
            references: vec![],
        };
        let t = table(&[v], false, Palette::plain());
        assert!(t.starts_with("KIND "), "{t}");
        assert!(t.contains("Network ✓  Workers … (Provisioning)"), "{t}");
        assert!(
            t.contains("in flight: PUT virtualMachines/demo-cp-0"),
            "{t}"
        );
        assert!(t.contains("Provisioning: Ready message"), "{t}");
        assert_eq!(
            table(&[], true, Palette::plain()),
            "No azop objects found.\n"
        );
    }
}
