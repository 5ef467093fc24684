//! Waiting for something to become true, with a timeout and a failure message that says what
//! was last seen.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use kube::api::Api;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// What one check found: done (with a value), or not yet (with what it saw, for the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T> {
    /// The condition holds.
    Done(T),
    /// Not yet; the string describes the state observed.
    Pending(String),
}

/// How often [`wait_for`] checks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Calls `check` every [`POLL_INTERVAL`] until it returns [`Check::Done`] or `timeout` passes.
/// On timeout the error names `what` and the last [`Check::Pending`] description.
pub async fn wait_for<T, F, Fut>(
    what: impl Into<String>,
    timeout: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Check<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Check::Done(v) => return Ok(v),
            Check::Pending(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.into(),
                timeout,
                last,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `Some(true|false)` when `obj.status.conditions` has an entry of type `condition`, comparing
/// its status with "True"; `None` when there is no such condition.
pub fn condition_is_true(obj: &serde_json::Value, condition: &str) -> Option<bool> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(|t| t.as_str()) == Some(condition))
        .map(|c| c.get("status").and_then(|s| s.as_str()) == Some("True"))
}

/// A one-line summary of `status.conditions`, for failure messages.
pub fn conditions_summary(obj: &serde_json::Value) -> String {
    let Some(conds) = obj.pointer("/status/conditions").and_then(|c| c.as_array()) else {
        return "no status.conditions".to_string();
    };
    let parts: Vec<String> = conds
        .iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("");
            format!(
                "{}={} ({}: {})",
                s("type"),
                s("status"),
                s("reason"),
                s("message")
            )
        })
        .collect();
    format!("conditions [{}]", parts.join("; "))
}

/// Waits until the object `name` has condition `condition` with status "True"; returns it.
pub async fn wait_for_condition<K>(
    api: &Api<K>,
    name: &str,
    condition: &str,
    timeout: Duration,
) -> Result<K>
where
    K: Clone + DeserializeOwned + Serialize + Debug,
{
    let what = format!("{name} to have condition {condition}=True");
    wait_for(what, timeout, || async {
        match api.get(name).await {
            Ok(obj) => match serde_json::to_value(&obj) {
                Ok(v) if condition_is_true(&v, condition) == Some(true) => Check::Done(obj),
                Ok(v) => Check::Pending(conditions_summary(&v)),
                Err(e) => Check::Pending(format!("cannot serialise object: {e}")),
            },
            Err(e) => Check::Pending(format!("get failed: {e}")),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn times_out_with_last_state() {
        let mut n = 0;
        let err = wait_for("the thing", Duration::from_millis(250), || {
            n += 1;
            let seen = format!("attempt {n}");
            async move { Check::<()>::Pending(seen) }
        })
        .await
        .expect_err("must time out");
        let msg = err.to_string();
        assert!(msg.contains("waiting for the thing"), "{msg}");
        assert!(msg.contains("last seen: attempt"), "{msg}");
    }

    #[tokio::test]
    async fn returns_value_when_done() {
        let mut n = 0;
        let v = wait_for("three tries", Duration::from_secs(5), || {
            n += 1;
            let k = n;
            async move {
                if k >= 3 {
                    Check::Done(k)
                } else {
                    Check::Pending(k.to_string())
                }
            }
        })
        .await
        .expect("done");
        assert_eq!(v, 3);
    }

    #[test]
    fn condition_lookup() {
        let obj = serde_json::json!({"status": {"conditions": [
            {"type": "Established", "status": "True"},
            {"type": "NamesAccepted", "status": "False", "reason": "Clash", "message": "m"}
        ]}});
        assert_eq!(condition_is_true(&obj, "Established"), Some(true));
        assert_eq!(condition_is_true(&obj, "NamesAccepted"), Some(false));
        assert_eq!(condition_is_true(&obj, "Ready"), None);
        assert!(conditions_summary(&obj).contains("NamesAccepted=False (Clash: m)"));
    }
}
