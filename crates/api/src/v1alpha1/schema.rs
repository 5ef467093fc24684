//! Schema transforms: CEL rules (`x-kubernetes-validations`) and list semantics
//! (`x-kubernetes-list-type`), attached with `#[schemars(transform = …)]`.

use schemars::Schema;
use serde_json::{Value, json};

/// One CEL rule: the expression, the message shared with the Rust check, and (for rules on a
/// parent object that are about one child) the relative field path the API server reports.
pub(crate) type CelRule = (&'static str, &'static str, &'static str);

/// Appends CEL rules to a schema. An empty field path means "this node".
pub(crate) fn cel(rules: &'static [CelRule]) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| {
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        let entry = obj
            .entry("x-kubernetes-validations")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            for (rule, message, field_path) in rules {
                let mut v = json!({ "rule": rule, "message": message });
                if !field_path.is_empty() {
                    v["fieldPath"] = json!(field_path);
                }
                list.push(v);
            }
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

/// Azure tags: at most 50, values at most 256 characters (keys are checked by CEL rules).
pub(crate) fn tags(schema: &mut Schema) {
    schema.insert("maxProperties".into(), json!(50));
}
