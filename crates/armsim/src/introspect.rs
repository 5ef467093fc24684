//! The request log behind `/_sim/requests`.
//!
//! Record shape: `{"method","path","query","status","principal","time","durationMs","body"}`;
//! `body` is the request's JSON body (PUT, PATCH, POST), so tests can check exactly what a
//! client sent.
//! Filters (query parameters of GET): `method`, `path` (substring, case-insensitive),
//! `status`, `principal`.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub principal: Option<String>,
    pub time: String,
    pub duration_ms: f64,
    /// The request's JSON body, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Default, Clone)]
pub struct RequestFilter {
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub principal: Option<String>,
}

impl RequestFilter {
    pub fn matches(&self, r: &RequestRecord) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&r.method))
            && self.path.as_deref().is_none_or(|p| {
                r.path
                    .to_ascii_lowercase()
                    .contains(&p.to_ascii_lowercase())
            })
            && self.status.is_none_or(|s| s == r.status)
            && self
                .principal
                .as_deref()
                .is_none_or(|p| r.principal.as_deref() == Some(p))
    }
}

pub struct RequestLog {
    inner: Mutex<VecDeque<RequestRecord>>,
    capacity: usize,
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&self, r: RequestRecord) {
        let mut q = self.inner.lock();
        if q.len() >= self.capacity {
            q.pop_front();
        }
        q.push_back(r);
    }

    pub fn list(&self, f: &RequestFilter) -> Vec<RequestRecord> {
        self.inner
            .lock()
            .iter()
            .filter(|r| f.matches(r))
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.inner.lock().clear();
    }
}
