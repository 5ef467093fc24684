//! JSON merge patch (RFC 7386), which ARM PATCH bodies follow.

use serde_json::Value;

pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                apply(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// ARM's PATCH: a merge patch, except that `tags` given in the patch replace the tags
/// wholesale (ARM RPC: tags are a single unit; merging them is the Tags API's job).
pub fn apply_arm(target: &mut Value, patch: &Value) {
    apply(target, patch);
    if let (Some(tags), Some(obj)) = (patch.get("tags"), target.as_object_mut()) {
        if tags.is_null() {
            obj.remove("tags");
        } else {
            obj.insert("tags".into(), tags.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn merges_and_removes() {
        let mut t = json!({"tags": {"a": "1", "b": "2"}, "properties": {"x": 1}});
        super::apply(&mut t, &json!({"tags": {"b": null, "c": "3"}}));
        assert_eq!(
            t,
            json!({"tags": {"a": "1", "c": "3"}, "properties": {"x": 1}})
        );
    }
}
