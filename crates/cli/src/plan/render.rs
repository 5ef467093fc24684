//! The plan as people read it: one block per object, one line per resource (unchanged ones
//! counted), the changed paths old → new under each update and replacement, refusals and
//! what an object waits for, and a summary line. Colours only on a terminal.

use azop_controllers::engine::preview::{Action, Change};

use super::{ObjectPlan, PlanReport};
use crate::output::{Palette, columns};

fn short(t: &str) -> &str {
    t.rsplit('/').next().unwrap_or(t)
}

fn symbol(a: Action) -> &'static str {
    match a {
        Action::Create => "+ create",
        Action::Update => "~ update",
        Action::Replace => "± replace",
        Action::Delete => "- delete",
        Action::Untouched => "= unchanged",
        Action::InProgress => "… in progress",
        Action::Reported => "? drift",
        Action::Refused => "! refused",
    }
}

fn paint(p: Palette, a: Action, text: &str) -> String {
    match a {
        Action::Create => p.green(text),
        Action::Update => p.yellow(text),
        Action::Replace => p.magenta(text),
        Action::Delete | Action::Refused => p.red(text),
        Action::Untouched | Action::InProgress => p.dim(text),
        Action::Reported => p.yellow(text),
    }
}

fn row(c: &Change) -> Vec<String> {
    let action = match c.order {
        Some(n) => format!("{} {n}", symbol(c.action)),
        None => symbol(c.action).to_string(),
    };
    let name = match &c.replaced_by {
        Some(new) => format!("{} → {new}", c.name),
        None => c.name.clone(),
    };
    vec![action, short(&c.kind).to_string(), name, c.reason.clone()]
}

fn object_block(o: &ObjectPlan, show_unchanged: bool, p: Palette) -> String {
    let mut out = format!(
        "{} {}/{}{}\n",
        p.bold(&o.kind),
        o.namespace,
        o.name,
        p.dim(&format!(
            "  ({}; {})",
            if o.new { "new" } else { "in the cluster" },
            o.source
        ))
    );
    if let Some(r) = &o.admission_refusal {
        out.push_str(&format!(
            "  {} {}: {}\n",
            p.red("! refused by admission"),
            r.reason,
            r.message
        ));
    }
    if let Some(e) = &o.error {
        out.push_str(&format!("  {} {e}\n", p.red("! error:")));
    }
    for r in &o.preview.refusals {
        out.push_str(&format!(
            "  {} {}: {}\n",
            p.red("! refused"),
            r.reason,
            r.message
        ));
    }
    if let Some(w) = &o.preview.waiting {
        out.push_str(&format!(
            "  {} {}: {} (azop writes nothing until then; the plan cannot say more yet)\n",
            p.yellow("… waits"),
            w.reason,
            w.message
        ));
    }
    let shown: Vec<&Change> = o
        .preview
        .changes
        .iter()
        .filter(|c| show_unchanged || !matches!(c.action, Action::Untouched | Action::Refused))
        .collect();
    let table = columns(&shown.iter().map(|c| row(c)).collect::<Vec<_>>());
    for (line, c) in table.lines().zip(&shown) {
        out.push_str(&format!("  {}\n", paint(p, c.action, line)));
        for d in &c.changes {
            out.push_str(&format!(
                "      {}: {} → {}\n",
                d.path,
                p.red(&d.azure),
                p.green(&d.spec)
            ));
        }
    }
    let unchanged = o
        .preview
        .changes
        .iter()
        .filter(|c| c.action == Action::Untouched)
        .count();
    if unchanged > 0 && !show_unchanged {
        out.push_str(&format!(
            "  {}\n",
            p.dim(&format!("= {unchanged} unchanged"))
        ));
    }
    for n in &o.notes {
        out.push_str(&format!("  {}\n", p.dim(&format!("note: {n}"))));
    }
    out
}

/// The whole plan as text (pure).
pub fn table(r: &PlanReport, show_unchanged: bool, p: Palette) -> String {
    let mut out = String::new();
    if r.objects.is_empty() {
        out.push_str("No azop objects in the manifests.\n");
    }
    for o in &r.objects {
        out.push_str(&object_block(o, show_unchanged, p));
        out.push('\n');
    }
    if !r.other.is_empty() {
        out.push_str(&format!(
            "{}\n\n",
            p.dim(&format!(
                "Not azop objects (left to kubectl): {}",
                r.other.join(", ")
            ))
        ));
    }
    let s = &r.summary;
    out.push_str(&format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete; {} unchanged, {} in progress, {} drift left as it is (DetectOnly); {} refused, {} errors.\n",
        s.create, s.update, s.replace, s.delete, s.untouched, s.in_progress, s.reported, s.refused, s.errors
    ));
    out
}
