//! Schema transforms: CEL rules (`x-kubernetes-validations`) and list semantics
//! (`x-kubernetes-list-type`), attached with `#[schemars(transform = …)]`.

use schemars::Schema;
use serde_json::{Value, json};

/// One CEL rule: the expression, the message shared with the Rust check (from
/// [`crate::validation::messages`]) and, optionally, the field it is about, the offending
/// value to show, and a machine-readable reason.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CelRule {
    rule: &'static str,
    message: &'static str,
    field_path: &'static str,
    value: &'static str,
    reason: Option<&'static str>,
}

impl CelRule {
    /// A rule whose failure reports `message` at the node the rule sits on.
    pub(crate) const fn new(rule: &'static str, message: &'static str) -> Self {
        Self {
            rule,
            message,
            field_path: "",
            value: "",
            reason: None,
        }
    }

    /// Reports the failure at `field_path` (relative to the node, e.g. `.workerSubnet.cidr`):
    /// for a rule on a parent object that is about one of its fields.
    pub(crate) const fn at(mut self, field_path: &'static str) -> Self {
        self.field_path = field_path;
        self
    }

    /// Shows the offending value: `value` is a CEL string expression (it may use `self` and,
    /// in a transition rule, `oldSelf`) that becomes the `messageExpression`
    /// `<value> + ': ' + '<message>'`, so the shared message always follows, as in the Rust
    /// check. `message` stays as the fallback if the expression fails.
    pub(crate) const fn show(mut self, value: &'static str) -> Self {
        self.value = value;
        self
    }

    /// `reason: FieldValueInvalid` (the API server's "Invalid value").
    pub(crate) const fn invalid(mut self) -> Self {
        self.reason = Some("FieldValueInvalid");
        self
    }

    fn to_json(self) -> Value {
        let mut v = json!({ "rule": self.rule, "message": self.message });
        if !self.field_path.is_empty() {
            v["fieldPath"] = json!(self.field_path);
        }
        if !self.value.is_empty() {
            v["messageExpression"] = json!(format!(
                "{} + ': ' + {}",
                self.value,
                cel_string(self.message)
            ));
        }
        if let Some(reason) = self.reason {
            v["reason"] = json!(reason);
        }
        v
    }
}

/// `s` as a single-quoted CEL string literal.
fn cel_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Appends CEL rules to a schema: a `const` list, or an array written in the attribute.
pub(crate) fn cel(rules: impl AsRef<[CelRule]>) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| {
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        let entry = obj
            .entry("x-kubernetes-validations")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.extend(rules.as_ref().iter().map(|r| r.to_json()));
        }
    }
}

/// Marks a list as a map keyed by `key`: the API server refuses duplicate keys and server-side
/// apply merges items by key instead of replacing the whole list.
pub(crate) fn list_map(key: &'static str) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| {
        schema.insert("x-kubernetes-list-type".into(), json!("map"));
        schema.insert("x-kubernetes-list-map-keys".into(), json!([key]));
    }
}

/// Marks a list of scalars as a set: the API server refuses duplicates.
pub(crate) fn list_set(schema: &mut Schema) {
    schema.insert("x-kubernetes-list-type".into(), json!("set"));
}

/// Azure tags: at most 50 (Azure's limit per resource). Keys and values are checked by CEL
/// rules; values get no `maxLength`, because a schema length error would replace the shared
/// message and stop every CEL rule of the object, and `size()` costs CEL nothing.
pub(crate) fn tags(schema: &mut Schema) {
    schema.insert(
        "maxProperties".into(),
        json!(crate::validation::rules::MAX_USER_TAGS),
    );
}

/// A pool's node labels: at most [`crate::validation::labels::MAX_NODE_LABELS`], values at
/// most 63 characters (Kubernetes' limit). Both bound what the CEL rules reading them may
/// cost; keys are checked by the rules.
pub(crate) fn node_labels(schema: &mut Schema) {
    schema.insert(
        "maxProperties".into(),
        json!(crate::validation::labels::MAX_NODE_LABELS),
    );
    if let Some(values) = schema
        .get_mut("additionalProperties")
        .and_then(Value::as_object_mut)
    {
        values.insert("maxLength".into(), json!(63));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_expressions_quote_the_shared_message() {
        let r = CelRule::new("self != 'x'", r"a 'b' \ c")
            .at(".f")
            .show("'\"' + self + '\"'")
            .invalid()
            .to_json();
        assert_eq!(r["fieldPath"], ".f");
        assert_eq!(r["reason"], "FieldValueInvalid");
        assert_eq!(r["message"], r"a 'b' \ c");
        assert_eq!(
            r["messageExpression"],
            r#"'"' + self + '"' + ': ' + 'a \'b\' \\ c'"#
        );
        let plain = CelRule::new("true", "m").to_json();
        assert_eq!(plain, json!({ "rule": "true", "message": "m" }));
    }
}
