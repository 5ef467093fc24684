//! Walks asked for by passes that do not wait for them. Pure (time comes in as an argument).
//!
//! A deletion pass reading what azop deleted needs a walk of the type that started after the
//! delete ([`super::entries::Lookup::WalkSince`]). Waiting for it inside the pass held one of
//! the controller's few slots for up to `min_walk_interval` plus the walk, while the passes of
//! every other object waited behind it. Instead the pass notes what it needs here and ends
//! (the resource counts as still being deleted); one background walker per type serves
//! every need noted, and wakes each waiting owner once a walk that started after its instant
//! has been applied.

use std::time::Instant;

/// One pass's need: a walk that started at or after `since`; `owner` (the `azop.dev_uid` of
/// the resource asked for, when known) is woken once it has happened.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Waiter {
    since: Instant,
    owner: Option<String>,
}

/// The needs of one type's listing not yet served. A walker runs while there are any.
#[derive(Debug, Default)]
pub struct WantedWalks {
    waiters: Vec<Waiter>,
}

impl WantedWalks {
    /// Notes a need; `true` when no walker runs yet and the caller must start one.
    pub fn ask(&mut self, since: Instant, owner: Option<String>) -> bool {
        let start = self.waiters.is_empty();
        if !self
            .waiters
            .iter()
            .any(|w| w.since >= since && w.owner == owner)
        {
            self.waiters.push(Waiter { since, owner });
        }
        start
    }

    /// The instant the next walk must start after to serve every need: the latest asked.
    pub fn latest(&self) -> Option<Instant> {
        self.waiters.iter().map(|w| w.since).max()
    }

    /// A walk that started at `started` was applied: the needs it serves are removed, and
    /// their owners returned (each once) to be woken. The walker stops when nothing is left
    /// (decided here, under the same lock as [`WantedWalks::ask`], so no need is stranded).
    pub fn served(&mut self, started: Instant) -> Vec<String> {
        let mut woken: Vec<String> = self
            .waiters
            .iter()
            .filter(|w| w.since <= started)
            .filter_map(|w| w.owner.clone())
            .collect();
        self.waiters.retain(|w| w.since > started);
        woken.sort();
        woken.dedup();
        woken
    }

    /// The walker gives up (the walk failed): every need is dropped — the passes come back
    /// at their own requeue and ask again — and a later ask starts a new walker.
    pub fn abandon(&mut self) -> Vec<String> {
        let mut owners: Vec<String> = self.waiters.drain(..).filter_map(|w| w.owner).collect();
        owners.sort();
        owners.dedup();
        owners
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_walker_serves_every_need_and_wakes_each_owner_once() {
        let t0 = Instant::now();
        let t = |ms: u64| t0 + Duration::from_millis(ms);
        let mut w = WantedWalks::default();
        // The first need starts the walker; the others join it.
        assert!(w.ask(t(0), Some("a".into())));
        assert!(!w.ask(t(10), Some("b".into())));
        assert!(!w.ask(t(20), Some("a".into())));
        assert!(!w.ask(t(5), None));
        assert_eq!(w.latest(), Some(t(20)));
        // A walk that started between the needs serves the earlier ones only (a's first).
        assert_eq!(w.served(t(15)), vec!["a".to_string(), "b".to_string()]);
        assert!(!w.is_empty(), "a's later need is still open");
        assert_eq!(w.latest(), Some(t(20)));
        // Never a walk that started before the instant asked for.
        assert!(w.served(t(19)).is_empty());
        assert_eq!(w.served(t(20)), vec!["a".to_string()]);
        assert!(w.is_empty(), "the walker stops");
        // The next need starts a new one.
        assert!(w.ask(t(30), Some("c".into())));
        assert_eq!(w.abandon(), vec!["c".to_string()]);
        assert!(w.ask(t(40), None), "after giving up, a new walker");
    }
}
