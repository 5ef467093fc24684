//! What the demo prints (pure): the live frame for a terminal, and the change log for a
//! non-terminal (CI logs), built from plain snapshots of the object and the simulated Azure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::kit::ConditionRow;

/// One resource in the simulated Azure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRow {
    pub type_: String,
    pub name: String,
    pub state: String,
}

/// Everything one refresh shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// `None` once the object is gone.
    pub phase: Option<String>,
    pub exists: bool,
    pub conditions: Vec<ConditionRow>,
    pub resources: Vec<ResourceRow>,
}

/// Order in which a reader expects the resources: the dependency order of the plan.
const TYPE_ORDER: [&str; 10] = [
    "microsoft.resources/resourcegroups",
    "microsoft.network/networksecuritygroups",
    "microsoft.network/publicipaddresses",
    "microsoft.network/natgateways",
    "microsoft.network/virtualnetworks",
    "microsoft.network/virtualnetworks/subnets",
    "microsoft.network/loadbalancers",
    "microsoft.network/networkinterfaces",
    "microsoft.compute/virtualmachines",
    "microsoft.compute/disks",
];

/// The inventory as rows in dependency order (then by name). Resource groups have no
/// long-running create, so a missing `provisioningState` reads as Succeeded only for them.
pub fn resource_rows(inventory: &[Value]) -> Vec<ResourceRow> {
    let mut rows: Vec<ResourceRow> = inventory
        .iter()
        .map(|r| ResourceRow {
            type_: r["type"].as_str().unwrap_or("?").to_string(),
            name: r["name"].as_str().unwrap_or("?").to_string(),
            state: r
                .pointer("/properties/provisioningState")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_string(),
        })
        .collect();
    let rank = |t: &str| {
        let t = t.to_ascii_lowercase();
        TYPE_ORDER
            .iter()
            .position(|o| *o == t)
            .unwrap_or(TYPE_ORDER.len())
    };
    rows.sort_by(|a, b| {
        (rank(&a.type_), &a.type_, &a.name).cmp(&(rank(&b.type_), &b.type_, &b.name))
    });
    rows
}

/// `s` cut to `width` characters, with an ellipsis when cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The live table: the object's phase and conditions and what exists in the simulated
/// Azure. `columns` is the terminal width.
pub fn render_frame(title: &str, snap: &Snapshot, columns: usize, rows: usize) -> String {
    let columns = columns.max(60);
    let full = render_with(title, snap, columns, false);
    // A frame taller than the terminal would scroll and break the in-place redraw.
    if full.lines().count() < rows {
        full
    } else {
        render_with(title, snap, columns, true)
    }
}

fn render_with(title: &str, snap: &Snapshot, columns: usize, grouped: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", clip(title, columns));
    let _ = writeln!(out);
    match (&snap.phase, snap.exists) {
        (_, false) => {
            let _ = writeln!(out, "AzureCluster: gone");
        }
        (Some(p), true) => {
            let _ = writeln!(out, "AzureCluster phase: {p}");
        }
        (None, true) => {
            let _ = writeln!(out, "AzureCluster phase: (not reported yet)");
        }
    }
    if snap.exists {
        let _ = writeln!(
            out,
            "  {:<20} {:<8} {:<22} MESSAGE",
            "CONDITION", "STATUS", "REASON"
        );
        let msg_width = columns.saturating_sub(2 + 21 + 9 + 23).max(10);
        for c in &snap.conditions {
            let _ = writeln!(
                out,
                "  {:<20} {:<8} {:<22} {}",
                c.type_,
                c.status,
                clip(&c.reason, 22),
                clip(&c.message, msg_width)
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Simulated Azure (azop-armsim /_sim/inventory): {} resource{}",
        snap.resources.len(),
        if snap.resources.len() == 1 { "" } else { "s" }
    );
    if grouped && !snap.resources.is_empty() {
        let _ = writeln!(out, "  {:<44} {:>3}  {:<26} NAMES", "TYPE", "N", "STATES");
        for (type_, rows) in group_by_type(&snap.resources) {
            let mut states: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &rows {
                *states.entry(r.state.as_str()).or_default() += 1;
            }
            let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            let line = format!(
                "  {:<44} {:>3}  {:<26} {}",
                clip(type_, 44),
                rows.len(),
                clip(&states.join(", "), 26),
                names.join(", ")
            );
            let _ = writeln!(out, "{}", clip(&line, columns));
        }
    } else if !snap.resources.is_empty() {
        let type_width = snap
            .resources
            .iter()
            .map(|r| r.type_.len())
            .max()
            .unwrap_or(4)
            .min(44);
        let name_width = snap
            .resources
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .min(40);
        let _ = writeln!(
            out,
            "  {:<type_width$} {:<name_width$} STATE",
            "TYPE", "NAME"
        );
        for r in &snap.resources {
            let _ = writeln!(
                out,
                "  {:<type_width$} {:<name_width$} {}",
                clip(&r.type_, type_width),
                clip(&r.name, name_width),
                r.state
            );
        }
    }
    out
}

/// Rows of the same type together, in the order they come.
fn group_by_type(rows: &[ResourceRow]) -> Vec<(&str, Vec<&ResourceRow>)> {
    let mut out: Vec<(&str, Vec<&ResourceRow>)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((t, v)) if *t == r.type_ => v.push(r),
            _ => out.push((r.type_.as_str(), vec![r])),
        }
    }
    out
}

/// Lines describing what changed between two snapshots, for a log without a terminal:
/// phase, each condition's status/reason, each resource appearing, changing state or going.
pub fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if before.exists && !after.exists {
        out.push("AzureCluster deleted from the API server".to_string());
    }
    if after.exists
        && before.phase != after.phase
        && let Some(p) = &after.phase
    {
        out.push(format!("phase {p}"));
    }
    let old: BTreeMap<&str, &ConditionRow> = before
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c))
        .collect();
    for c in after.conditions.iter().filter(|_| after.exists) {
        let changed = old
            .get(c.type_.as_str())
            .is_none_or(|o| o.status != c.status || o.reason != c.reason);
        if changed && !(c.status == "Unknown" && c.reason.is_empty()) {
            let mut line = format!("condition {}={}", c.type_, c.status);
            if !c.reason.is_empty() {
                let _ = write!(line, " ({})", c.reason);
            }
            if !c.message.is_empty() {
                let _ = write!(line, ": {}", c.message);
            }
            out.push(line);
        }
    }
    let key = |r: &ResourceRow| (r.type_.to_ascii_lowercase(), r.name.to_ascii_lowercase());
    let old: BTreeMap<_, &ResourceRow> = before.resources.iter().map(|r| (key(r), r)).collect();
    let new: BTreeMap<_, &ResourceRow> = after.resources.iter().map(|r| (key(r), r)).collect();
    for r in &after.resources {
        match old.get(&key(r)) {
            None => out.push(format!("+ {} {} {}", r.type_, r.name, r.state)),
            Some(o) if o.state != r.state => {
                out.push(format!("~ {} {} {}", r.type_, r.name, r.state))
            }
            Some(_) => {}
        }
    }
    for r in &before.resources {
        if !new.contains_key(&key(r)) {
            out.push(format!("- {} {} (gone)", r.type_, r.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn snap(phase: &str, ready: &str, resources: &[(&str, &str, &str)]) -> Snapshot {
        Snapshot {
            phase: Some(phase.into()),
            exists: true,
            conditions: vec![ConditionRow {
                type_: "Ready".into(),
                status: ready.into(),
                reason: "R".into(),
                message: String::new(),
            }],
            resources: resources
                .iter()
                .map(|(t, n, s)| ResourceRow {
                    type_: (*t).into(),
                    name: (*n).into(),
                    state: (*s).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn rows_follow_the_dependency_order() {
        let inv = vec![
            json!({"type": "Microsoft.Compute/virtualMachines", "name": "a-cp-0", "properties": {"provisioningState": "Creating"}}),
            json!({"type": "Microsoft.Resources/resourceGroups", "name": "rg", "properties": {"provisioningState": "Succeeded"}}),
            json!({"type": "Microsoft.Network/natGateways", "name": "a-natgw"}),
        ];
        let rows = resource_rows(&inv);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["rg", "a-natgw", "a-cp-0"]);
        assert_eq!(rows[1].state, "-");
    }

    #[test]
    fn changes_report_new_changed_and_gone_resources_and_conditions() {
        let a = snap(
            "Provisioning",
            "False",
            &[("T", "x", "Creating"), ("T", "y", "Succeeded")],
        );
        let b = snap(
            "Running",
            "True",
            &[("T", "x", "Succeeded"), ("T", "z", "Creating")],
        );
        let lines = changes(&a, &b);
        assert_eq!(
            lines,
            [
                "phase Running",
                "condition Ready=True (R)",
                "~ T x Succeeded",
                "+ T z Creating",
                "- T y (gone)",
            ]
        );
        assert!(changes(&b, &b).is_empty());
    }

    #[test]
    fn frame_shows_conditions_and_resources_and_truncates_long_messages() {
        let mut s = snap(
            "Provisioning",
            "False",
            &[("Microsoft.Network/natGateways", "n", "Creating")],
        );
        s.conditions[0].message = "m".repeat(500);
        let f = render_frame("title", &s, 80, 50);
        assert!(f.contains("AzureCluster phase: Provisioning"));
        assert!(f.contains("Microsoft.Network/natGateways"));
        assert!(f.contains("1 resource\n"));
        assert!(f.lines().all(|l| l.chars().count() <= 80), "{f}");
    }

    #[test]
    fn a_short_terminal_gets_one_line_per_type() {
        let rows: Vec<(&str, &str, &str)> = vec![
            ("Microsoft.Network/networkInterfaces", "a-nic", "Succeeded"),
            ("Microsoft.Network/networkInterfaces", "b-nic", "Creating"),
            ("Microsoft.Compute/virtualMachines", "a", "Creating"),
        ];
        let s = snap("Provisioning", "False", &rows);
        let tall = render_frame("t", &s, 120, 100);
        assert!(tall.contains("b-nic") && tall.contains("STATE"));
        let short = render_frame("t", &s, 120, 8);
        assert!(
            short.contains("Microsoft.Network/networkInterfaces")
                && short.contains("Creating 1, Succeeded 1")
                && short.contains("a-nic, b-nic"),
            "{short}"
        );
        assert_eq!(short.matches("networkInterfaces").count(), 1, "{short}");
    }
}
