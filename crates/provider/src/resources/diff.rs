//! Helpers for the pure `diff` functions: comparisons that know ARM's habits (case-folded
//! locations and ids, server-added tags, enums on the wire).

use super::Difference;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Collects differences.
#[derive(Debug, Default)]
pub struct Diff {
    out: Vec<Difference>,
}

impl Diff {
    pub fn new() -> Self {
        Diff::default()
    }

    pub fn finish(self) -> Vec<Difference> {
        self.out
    }

    pub fn push(&mut self, field: &str, desired: impl ToString, observed: impl ToString) {
        self.out.push(Difference {
            field: field.to_owned(),
            desired: desired.to_string(),
            observed: observed.to_string(),
        });
    }

    /// A managed value: compared only when desired is set; absent observed counts as different.
    pub fn value(
        &mut self,
        field: &str,
        desired: Option<&str>,
        observed: Option<&str>,
        eq: fn(&str, &str) -> bool,
    ) {
        if let Some(d) = desired {
            match observed {
                Some(o) if eq(d, o) => {}
                other => self.push(field, d, other.unwrap_or("<unset>")),
            }
        }
    }

    pub fn exact(&mut self, field: &str, desired: Option<&str>, observed: Option<&str>) {
        self.value(field, desired, observed, |a, b| a == b);
    }

    pub fn ignore_case(&mut self, field: &str, desired: Option<&str>, observed: Option<&str>) {
        self.value(field, desired, observed, |a, b| a.eq_ignore_ascii_case(b));
    }

    pub fn location(&mut self, desired: &str, observed: Option<&str>) {
        self.value("location", Some(desired), observed, same_location);
    }

    pub fn boolean(&mut self, field: &str, desired: Option<bool>, observed: Option<bool>) {
        if let Some(d) = desired
            && observed != Some(d)
        {
            self.push(
                field,
                d,
                observed.map_or("<unset>".to_owned(), |o| o.to_string()),
            );
        }
    }

    /// Resource ids as a set, case-insensitively (ARM may lower-case them).
    pub fn id_set<'a>(
        &mut self,
        field: &str,
        desired: impl IntoIterator<Item = &'a str>,
        observed: impl IntoIterator<Item = &'a str>,
    ) {
        let d: BTreeSet<String> = desired.into_iter().map(str::to_ascii_lowercase).collect();
        let o: BTreeSet<String> = observed.into_iter().map(str::to_ascii_lowercase).collect();
        if d != o {
            self.push(field, join(&d), join(&o));
        }
    }

    /// Strings as a set, exactly.
    pub fn string_set<'a>(
        &mut self,
        field: &str,
        desired: impl IntoIterator<Item = &'a str>,
        observed: impl IntoIterator<Item = &'a str>,
    ) {
        let d: BTreeSet<&str> = desired.into_iter().collect();
        let o: BTreeSet<&str> = observed.into_iter().collect();
        if d != o {
            self.push(
                field,
                d.into_iter().collect::<Vec<_>>().join(","),
                o.into_iter().collect::<Vec<_>>().join(","),
            );
        }
    }

    /// Every desired tag present with its value (names case-insensitive, as in Azure). Tags
    /// added by others (Azure Policy, cost tooling) are not drift: removing them would start
    /// a PUT war with whoever adds them.
    pub fn tags(
        &mut self,
        desired: &BTreeMap<String, String>,
        observed: &BTreeMap<String, String>,
    ) {
        // Only the tags that differ, on both sides (`env=prod` → `env=test`, or `env=<unset>`),
        // so an Event or a plan says what changed, not the whole map.
        let differing: Vec<(&String, &String)> = desired
            .iter()
            .filter(|(k, v)| tag_value(observed, k) != Some(v.as_str()))
            .collect();
        if !differing.is_empty() {
            let want: Vec<String> = differing.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let have: Vec<String> = differing
                .iter()
                .map(|(k, _)| format!("{k}={}", tag_value(observed, k).unwrap_or("<unset>")))
                .collect();
            self.push("tags", want.join(","), have.join(","));
        }
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

/// `West Europe` == `westeurope`.
pub fn same_location(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

/// A tag's value, names compared case-insensitively.
pub fn tag_value<'a>(tags: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Tags as the generated models carry them (`Option<serde_json::Value>`).
pub fn tags_from_value(v: &Option<serde_json::Value>) -> BTreeMap<String, String> {
    v.as_ref()
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn tags_to_value(tags: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// A generated enum's wire string (`MinimumTlsVersion::Tls12` → `TLS1_2`).
pub fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_fold_what_arm_folds() {
        assert!(same_location("West Europe", "westeurope"));
        let mut d = Diff::new();
        d.id_set(
            "ids",
            ["/subscriptions/S/resourceGroups/RG/x"],
            ["/subscriptions/s/resourcegroups/rg/x"],
        );
        d.ignore_case("sku", Some("Standard_LRS"), Some("standard_lrs"));
        d.boolean("flag", None, Some(true));
        d.exact("unset", None, None);
        assert!(d.finish().is_empty());
        let mut d = Diff::new();
        d.boolean("flag", Some(false), None);
        d.exact("name", Some("a"), Some("b"));
        let out = d.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].to_string(), "name: b -> a");
    }

    #[test]
    fn extra_tags_are_not_drift_but_missing_ones_are() {
        let desired: BTreeMap<String, String> =
            [("a".to_owned(), "1".to_owned())].into_iter().collect();
        let mut observed = desired.clone();
        observed.insert("costCenter".into(), "42".into());
        let mut d = Diff::new();
        d.tags(&desired, &observed);
        assert!(d.finish().is_empty());
        let mut d = Diff::new();
        d.tags(&desired, &BTreeMap::new());
        let out = d.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_string(), "tags: a=<unset> -> a=1");
        let mut changed = observed.clone();
        changed.insert("a".into(), "2".into());
        let mut d = Diff::new();
        d.tags(&desired, &changed);
        assert_eq!(d.finish()[0].to_string(), "tags: a=2 -> a=1");
        let upper: BTreeMap<String, String> =
            [("A".to_owned(), "1".to_owned())].into_iter().collect();
        let mut d = Diff::new();
        d.tags(&desired, &upper);
        assert!(d.finish().is_empty());
    }
}
