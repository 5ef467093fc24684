//! If-Match / If-None-Match on writes (412 PreconditionFailed).

use crate::errors::ArmError;
use crate::store::Resource;

fn same_etag(a: &str, b: &str) -> bool {
    // Weak comparison: W/"x" and "x" match.
    a.trim().trim_start_matches("W/") == b.trim().trim_start_matches("W/")
}

pub fn check(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    existing: Option<&Resource>,
) -> Result<(), ArmError> {
    if let Some(m) = if_match {
        let ok = match existing {
            None => false,
            Some(r) => m.trim() == "*" || m.split(',').any(|e| same_etag(e, &r.etag)),
        };
        if !ok {
            return Err(ArmError::precondition_failed(format!(
                "The condition '{m}' in the If-Match header was not satisfied."
            )));
        }
    }
    if let Some(m) = if_none_match {
        let bad = match existing {
            None => false,
            Some(r) => m.trim() == "*" || m.split(',').any(|e| same_etag(e, &r.etag)),
        };
        if bad {
            return Err(ArmError::precondition_failed(format!(
                "The condition '{m}' in the If-None-Match header was not satisfied."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn etag_preconditions() {
        let r = Resource {
            id: "x".into(),
            type_name: "t".into(),
            body: json!({}),
            etag: "W/\"abc\"".into(),
            pending: None,
        };
        assert!(check(Some("*"), None, None).is_err());
        assert!(check(Some("*"), None, Some(&r)).is_ok());
        assert!(check(Some("\"abc\""), None, Some(&r)).is_ok());
        assert!(check(Some("W/\"zzz\""), None, Some(&r)).is_err());
        assert!(check(None, Some("*"), Some(&r)).is_err());
        assert!(check(None, Some("*"), None).is_ok());
    }
}
