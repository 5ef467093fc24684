//! `kubectl azop drift`: where Azure differs from the spec, as the operator last found it
//! (`status.drift` and the `InSync` condition): what is left as it is under DetectOnly, and
//! the corrections made under Manage, with when.

use anyhow::Result;
use azop_api::v1alpha1::{DriftState, IN_SYNC};
use serde::Serialize;

use crate::kube_args::Connected;
use crate::objects::{self, Kind, View};
use crate::output::{self, Format, Palette, columns};

/// `kubectl azop drift [KIND[/NAME]]`.
#[derive(clap::Args, Debug)]
pub struct DriftArgs {
    /// Only this kind, or one object (`azc/demo`).
    pub object: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// One row: a change of one resource of one object.
#[derive(Serialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub reconcile_policy: String,
    pub state: String,
    pub resource: String,
    pub path: String,
    pub azure: String,
    pub spec: String,
    /// When it was found (Detected) or corrected (Corrected).
    pub at: String,
}

/// Every drift record of `views`, one row per changed path (pure).
pub fn rows(views: &[View]) -> Vec<Row> {
    let mut out = Vec::new();
    for v in views {
        for r in &v.drift {
            let at = match r.state {
                DriftState::Corrected => r.corrected_at.as_ref().unwrap_or(&r.detected_at),
                DriftState::Detected => &r.detected_at,
            };
            for c in &r.changes {
                out.push(Row {
                    kind: v.kind,
                    namespace: v.namespace.clone(),
                    name: v.name.clone(),
                    reconcile_policy: format!("{:?}", v.reconcile_policy),
                    state: format!("{:?}", r.state),
                    resource: format!("{} {}", short(&r.kind), r.name),
                    path: c.path.clone(),
                    azure: c.azure.clone(),
                    spec: c.spec.clone(),
                    at: at.0.to_string(),
                });
            }
        }
    }
    out
}

fn short(t: &str) -> &str {
    t.rsplit('/').next().unwrap_or(t)
}

/// The table (pure): the rows, then each object's `InSync` line.
pub fn table(views: &[View], all_namespaces: bool, p: Palette) -> String {
    let rows = rows(views);
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("No drift recorded.\n");
    } else {
        let mut table = vec![
            [
                all_namespaces.then_some("NAMESPACE"),
                Some("OBJECT"),
                Some("POLICY"),
                Some("STATE"),
                Some("RESOURCE"),
                Some("PATH"),
                Some("AZURE"),
                Some("SPEC"),
                Some("AT"),
            ]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect::<Vec<_>>(),
        ];
        for r in &rows {
            let mut line = Vec::new();
            if all_namespaces {
                line.push(r.namespace.clone());
            }
            let state = if r.state == "Detected" {
                p.red(&r.state)
            } else {
                p.green(&r.state)
            };
            line.extend([
                format!("{}/{}", r.kind.as_str(), r.name),
                r.reconcile_policy.clone(),
                state,
                r.resource.clone(),
                r.path.clone(),
                r.azure.clone(),
                r.spec.clone(),
                r.at.clone(),
            ]);
            table.push(line);
        }
        out.push_str(&columns(&table));
    }
    for v in views {
        if let Some(c) = v.condition(IN_SYNC)
            && c.status != "True"
        {
            out.push_str(&format!(
                "{} {}: InSync={} {}: {}\n",
                v.kind.as_str(),
                v.key(),
                c.status,
                c.reason,
                c.message
            ));
        }
    }
    out
}

pub async fn run(c: &Connected, args: &DriftArgs) -> Result<String> {
    let (kinds, name) = match &args.object {
        None => (Kind::ALL.to_vec(), None),
        Some(o) => {
            let (k, n) = match o.split_once('/') {
                Some((k, n)) => (k, Some(n.to_string())),
                None => (o.as_str(), None),
            };
            (
                vec![Kind::parse(k).ok_or_else(|| anyhow::anyhow!("unknown kind {k:?}"))?],
                n,
            )
        }
    };
    let mut views = objects::list_views(c, &kinds).await?;
    if let Some(n) = &name {
        views.retain(|v| &v.name == n);
    }
    Ok(match output::structured(args.output, &rows(&views))? {
        Some(s) => s,
        None => table(&views, c.all, Palette::for_stdout()),
    })
}
