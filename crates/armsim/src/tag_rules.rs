//! Azure's tag rules, checked by ARM before any resource provider sees a PUT or PATCH.
//!
//! From Microsoft Learn ("Use tags to organize your Azure resources", limitations): at most 50
//! tags a resource; names of at most 512 characters (128 on storage accounts) without
//! `< > % & \ ? /` or control characters (`InvalidTagNameCharacters`); values of at most 256;
//! Azure DNS and private DNS zones (with their records and virtual network links) at most 15
//! tags, names without spaces, special characters or a leading digit; virtual machines at most
//! 2048 characters of names and values together. The error codes other than
//! `InvalidTagNameCharacters` are unverified.

use serde_json::Value;

use crate::errors::ArmError;

/// What one resource type allows for its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagLimits {
    pub max_count: usize,
    pub max_name: usize,
    pub max_value: usize,
    /// DNS zones' rule for names: letters, digits, `_`, `.`, `-`, no leading digit.
    pub dns_names: bool,
    /// The most characters names and values may take together (virtual machines).
    pub max_total: Option<usize>,
}

impl TagLimits {
    /// Every resource type unless it says otherwise.
    pub const GENERAL: TagLimits = TagLimits {
        max_count: 50,
        max_name: 512,
        max_value: 256,
        dns_names: false,
        max_total: None,
    };
    /// Storage accounts: names of at most 128 characters.
    pub const STORAGE_ACCOUNT: TagLimits = TagLimits {
        max_name: 128,
        ..TagLimits::GENERAL
    };
    /// Public and private DNS zones, their records and virtual network links.
    pub const DNS_ZONE: TagLimits = TagLimits {
        max_count: 15,
        dns_names: true,
        ..TagLimits::GENERAL
    };
    /// Virtual machines (and scale sets): 2048 characters in all.
    pub const VIRTUAL_MACHINE: TagLimits = TagLimits {
        max_total: Some(2048),
        ..TagLimits::GENERAL
    };
}

fn bad(code: &str, message: String) -> ArmError {
    ArmError::bad_request(code, message)
}

/// Checks the `tags` of a PUT or PATCH body (after a merge patch: the tags the resource would
/// have) against `limits`.
pub fn check(limits: TagLimits, body: &Value) -> Result<(), ArmError> {
    let Some(tags) = body.get("tags").filter(|t| !t.is_null()) else {
        return Ok(());
    };
    let Some(tags) = tags.as_object() else {
        return Err(ArmError::invalid_request_content(
            "tags must be an object of names and string values",
        ));
    };
    let bad_chars: Vec<&str> = tags
        .keys()
        .filter(|k| {
            k.chars()
                .any(|c| "<>%&\\?/".contains(c) || c.is_ascii_control())
        })
        .map(String::as_str)
        .collect();
    if !bad_chars.is_empty() {
        return Err(bad(
            "InvalidTagNameCharacters",
            format!(
                "The tag names '{}' have reserved characters '<,>,%,&,\\,?,/' or control characters.",
                bad_chars.join(",")
            ),
        ));
    }
    if tags.len() > limits.max_count {
        return Err(bad(
            "InvalidTagCount",
            format!(
                "The resource has {} tags; at most {} are allowed for this resource type.",
                tags.len(),
                limits.max_count
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0usize;
    for (name, value) in tags {
        let value = value.as_str().ok_or_else(|| {
            ArmError::invalid_request_content(format!("the value of tag '{name}' is not a string"))
        })?;
        let len = name.chars().count();
        if len == 0 || len > limits.max_name {
            return Err(bad(
                "InvalidTagNameLength",
                format!(
                    "Tag name too large. Following tag name '{name}' exceeded the maximum length. Maximum allowed length for tag name - '{}' characters.",
                    limits.max_name
                ),
            ));
        }
        if value.chars().count() > limits.max_value {
            return Err(bad(
                "InvalidTagValueLength",
                format!(
                    "Tag value too large. The value of tag '{name}' exceeded the maximum length. Maximum allowed length for tag value - '{}' characters.",
                    limits.max_value
                ),
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(bad(
                "InvalidTagNameDuplicate",
                format!("Tag names are case-insensitive: '{name}' appears twice."),
            ));
        }
        if limits.dns_names && !dns_name_ok(name) {
            return Err(bad(
                "InvalidTagName",
                format!(
                    "The tag name '{name}' is not valid for DNS zones: use letters, digits, '_', '.' and '-', not starting with a digit."
                ),
            ));
        }
        total += len + value.chars().count();
    }
    if let Some(max) = limits.max_total
        && total > max
    {
        return Err(bad(
            "InvalidParameter",
            format!(
                "The tags of a virtual machine may take at most {max} characters of names and values; these take {total}. (target: 'tags')"
            ),
        ));
    }
    Ok(())
}

fn dns_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(limits: TagLimits, tags: Value) -> Option<String> {
        check(limits, &json!({ "tags": tags }))
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn azure_refuses_these() {
        let g = TagLimits::GENERAL;
        assert_eq!(
            code(g, json!({"a/b": "x"})).as_deref(),
            Some("InvalidTagNameCharacters")
        );
        assert_eq!(
            code(g, json!({"a\tb": "x"})).as_deref(),
            Some("InvalidTagNameCharacters")
        );
        assert_eq!(
            code(g, json!({"k".repeat(513): "x"})).as_deref(),
            Some("InvalidTagNameLength")
        );
        assert_eq!(
            code(g, json!({"k": "v".repeat(257)})).as_deref(),
            Some("InvalidTagValueLength")
        );
        assert_eq!(
            code(g, json!({"Env": "a", "env": "b"})).as_deref(),
            Some("InvalidTagNameDuplicate")
        );
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("t{i}"), json!("v"))).collect();
        assert_eq!(
            code(g, Value::Object(many)).as_deref(),
            Some("InvalidTagCount")
        );
        assert_eq!(
            code(TagLimits::STORAGE_ACCOUNT, json!({"k".repeat(129): "x"})).as_deref(),
            Some("InvalidTagNameLength")
        );
        assert_eq!(
            code(TagLimits::DNS_ZONE, json!({"cost center": "1"})).as_deref(),
            Some("InvalidTagName")
        );
        assert_eq!(
            code(TagLimits::DNS_ZONE, json!({"1st": "1"})).as_deref(),
            Some("InvalidTagName")
        );
        let big: serde_json::Map<String, Value> = (0..9)
            .map(|i| (format!("t{i}"), json!("v".repeat(250))))
            .collect();
        assert_eq!(
            code(TagLimits::VIRTUAL_MACHINE, Value::Object(big)).as_deref(),
            Some("InvalidParameter")
        );
    }

    #[test]
    fn and_accepts_these() {
        for limits in [
            TagLimits::GENERAL,
            TagLimits::STORAGE_ACCOUNT,
            TagLimits::DNS_ZONE,
            TagLimits::VIRTUAL_MACHINE,
        ] {
            assert_eq!(
                code(
                    limits,
                    json!({"azop.dev_owner": "AzureCluster/ns/a", "azop.dev_uid": "u", "env": "prod"})
                ),
                None
            );
        }
        assert_eq!(check(TagLimits::GENERAL, &json!({})).err(), None);
    }
}
