//! Fault injection (`/_sim/faults`): match requests by method + path pattern and answer with
//! an error, add latency, fail the started operation asynchronously, or drop the connection.
//!
//! JSON shape of a fault (POST body; GET lists them with `id`, `seen`, `fired`):
//! ```json
//! {"method": "PUT", "path": "/subscriptions/*/virtualNetworks/*", "times": 1, "after": 0,
//!  "action": {"type": "respond", "status": 429, "code": "TooManyRequests",
//!             "message": "slow down", "retryAfter": 1}}
//! ```
//! `path` is a case-insensitive glob over the path (no query; `*` matches any characters
//! including `/`, `?` one character) or, prefixed with `regex:`, a regular expression.
//! Actions: `respond {status, code, message, retryAfter?}`, `latency {ms}`,
//! `failAsync {code, message}` (the request runs, its LRO ends Failed), `drop`.

use parking_lot::Mutex;
use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub path: String,
    /// How many times it fires; absent = every time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Let this many matching requests through first.
    #[serde(default)]
    pub after: u32,
    pub action: FaultAction,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FaultAction {
    #[serde(rename_all = "camelCase")]
    Respond {
        status: u16,
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    Latency {
        ms: u64,
    },
    FailAsync {
        code: String,
        #[serde(default)]
        message: String,
    },
    Drop,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("invalid path pattern {pattern:?}")]
    Pattern {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub id: String,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub seen: u32,
    pub fired: u32,
    #[serde(skip)]
    matcher: Regex,
}

#[derive(Default)]
pub struct Faults {
    inner: Mutex<Vec<Fault>>,
}

/// Glob → anchored, case-insensitive regex.
fn compile(pattern: &str) -> Result<Regex, FaultError> {
    let re = match pattern.strip_prefix("regex:") {
        Some(r) => r.to_string(),
        None => {
            let mut s = String::from("(?i)^");
            for c in pattern.chars() {
                match c {
                    '*' => s.push_str(".*"),
                    '?' => s.push('.'),
                    c => s.push_str(&regex::escape(&c.to_string())),
                }
            }
            s.push('$');
            s
        }
    };
    Regex::new(&re).map_err(|e| FaultError::Pattern {
        pattern: pattern.to_string(),
        source: Box::new(e),
    })
}

impl Faults {
    pub fn add(&self, spec: FaultSpec) -> Result<Fault, FaultError> {
        let fault = Fault {
            id: uuid::Uuid::new_v4().to_string(),
            matcher: compile(&spec.path)?,
            spec,
            seen: 0,
            fired: 0,
        };
        self.inner.lock().push(fault.clone());
        Ok(fault)
    }

    pub fn list(&self) -> Vec<Fault> {
        self.inner.lock().clone()
    }

    pub fn clear(&self) {
        self.inner.lock().clear();
    }

    /// The actions that fire for this request (counting it against each matching fault).
    pub fn fire(&self, method: &str, path: &str) -> Vec<FaultAction> {
        let mut out = Vec::new();
        for f in self.inner.lock().iter_mut() {
            let method_ok = f
                .spec
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !method_ok || !f.matcher.is_match(path) {
                continue;
            }
            f.seen += 1;
            if f.seen <= f.spec.after || f.spec.times.is_some_and(|t| f.fired >= t) {
                continue;
            }
            f.fired += 1;
            out.push(f.spec.action.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, times: Option<u32>, after: u32) -> FaultSpec {
        FaultSpec {
            method: Some("PUT".into()),
            path: path.into(),
            times,
            after,
            action: FaultAction::Drop,
        }
    }

    #[test]
    fn glob_count_and_after() {
        let f = Faults::default();
        f.add(spec("/subscriptions/*/virtualNetworks/*", Some(1), 1))
            .expect("adds");
        let p = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualnetworks/v";
        assert!(
            f.fire("PUT", p).is_empty(),
            "after=1 lets the first through"
        );
        assert_eq!(f.fire("put", p).len(), 1);
        assert!(f.fire("PUT", p).is_empty(), "times=1 is used up");
        assert!(f.fire("GET", p).is_empty());
    }

    #[test]
    fn regex_patterns_and_json_shape() {
        let f = Faults::default();
        let s: FaultSpec = serde_json::from_value(serde_json::json!({
            "path": "regex:.*/storageAccounts/[a-z]+$",
            "action": {"type": "respond", "status": 500, "code": "InternalServerError", "retryAfter": 2}
        }))
        .expect("parses");
        f.add(s).expect("adds");
        assert_eq!(f.fire("GET", "/x/storageAccounts/abc").len(), 1);
        assert!(f.fire("GET", "/x/storageAccounts/ABC1").is_empty());
        assert!(f.add(spec("regex:(", None, 0)).is_err());
    }
}
