//! Status conditions: pure functions that keep `lastTransitionTime` stable.
//!
//! A condition's transition time changes only when its status flips. Rewriting it on every pass
//! would make every status write differ from the last one, and every write wakes the controller.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// `True`, `False` or `Unknown`, as Kubernetes spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

/// One condition as a pass computes it, before [`merge`] gives it its transition time and
/// observed generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: String,
    pub status: Status,
    pub reason: String,
    pub message: String,
}

impl Cond {
    pub fn new(type_: &str, status: Status, reason: &str, message: impl Into<String>) -> Self {
        Cond {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// A condition as status holds it, to be merged again unchanged.
    pub fn from_condition(c: &Condition) -> Self {
        Cond {
            type_: c.type_.clone(),
            status: match c.status.as_str() {
                "True" => Status::True,
                "False" => Status::False,
                _ => Status::Unknown,
            },
            reason: c.reason.clone(),
            message: c.message.clone(),
        }
    }
}

/// Merges `conditions` into `previous`, in the order given. A condition whose status is
/// unchanged keeps its `lastTransitionTime`; every condition gets `observed_generation`.
/// Conditions not observed this pass are dropped (they no longer describe the object).
pub fn merge(
    previous: &[Condition],
    conditions: &[Cond],
    observed_generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    conditions
        .iter()
        .map(|obs| {
            let old = previous.iter().find(|c| c.type_ == obs.type_);
            let last_transition_time = match old {
                Some(c) if c.status == obs.status.as_str() => c.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: obs.type_.clone(),
                status: obs.status.as_str().to_string(),
                reason: obs.reason.clone(),
                message: obs.message.clone(),
                observed_generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The `Ready` roll-up: True when every part is True; otherwise the first part that is not,
/// so the user reads the most upstream problem first.
pub fn ready_rollup(parts: &[Cond]) -> Cond {
    match parts.iter().find(|p| p.status != Status::True) {
        None => Cond::new("Ready", Status::True, "Ready", "all parts are ready"),
        Some(p) => Cond::new(
            "Ready",
            if p.status == Status::False {
                Status::False
            } else {
                Status::Unknown
            },
            &p.reason,
            format!("{}: {}", p.type_, p.message),
        ),
    }
}

/// The status of condition `type_`, if present.
pub fn status_of<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn unchanged_status_keeps_transition_time() {
        let first = merge(
            &[],
            &[Cond::new("NetworkReady", Status::False, "Creating", "vnet")],
            Some(1),
            &at(100),
        );
        let second = merge(
            &first,
            &[Cond::new(
                "NetworkReady",
                Status::False,
                "Creating",
                "subnets",
            )],
            Some(2),
            &at(200),
        );
        assert_eq!(second[0].last_transition_time, at(100));
        assert_eq!(second[0].message, "subnets");
        assert_eq!(second[0].observed_generation, Some(2));
    }

    #[test]
    fn flipped_status_moves_transition_time() {
        let first = merge(
            &[],
            &[Cond::new("NetworkReady", Status::False, "Creating", "")],
            None,
            &at(100),
        );
        let second = merge(
            &first,
            &[Cond::new("NetworkReady", Status::True, "Ready", "")],
            None,
            &at(200),
        );
        assert_eq!(second[0].last_transition_time, at(200));
    }

    #[test]
    fn rollup_names_the_first_part_not_ready() {
        let parts = [
            Cond::new("ResourceGroupReady", Status::True, "Ready", ""),
            Cond::new("NetworkReady", Status::False, "Throttled", "retry in 5s"),
            Cond::new("LoadBalancerReady", Status::Unknown, "Waiting", ""),
        ];
        let ready = ready_rollup(&parts);
        assert_eq!(ready.status, Status::False);
        assert_eq!(ready.reason, "Throttled");
        assert_eq!(ready.message, "NetworkReady: retry in 5s");
        let all = [Cond::new("A", Status::True, "Ready", "")];
        assert_eq!(ready_rollup(&all).status, Status::True);
    }
}
