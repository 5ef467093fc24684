//! The one-subscription run's figures from armsim's request log (pure): which ARM budget each
//! call spends, what kind of read it is, per-second counts for the CSV, and the floors ARM's
//! token buckets put under creation and deletion.

use std::collections::BTreeSet;
use std::time::Duration;

use azop_armsim::RequestRecord;
use chrono::{DateTime, Utc};

/// ARM's operation classes: each has its own bucket per subscription and principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Read,
    Write,
    Delete,
}

impl Class {
    /// As ARM counts them: GET/HEAD/OPTIONS are reads, DELETE deletes, everything else
    /// (PUT, PATCH, POST actions such as listKeys) writes.
    pub fn of_method(method: &str) -> Class {
        match method.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" | "OPTIONS" => Class::Read,
            "DELETE" => Class::Delete,
            _ => Class::Write,
        }
    }
}

/// What a read asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// A page of a list (a subscription's or a group's resources of one type, a parent's
    /// children): the observation-by-listing walks.
    ListPage,
    /// An operation's status (`Azure-AsyncOperation` / `Location` URLs).
    OperationPoll,
    /// One resource.
    Resource,
}

/// ARM paths alternate collection and name (`subscriptions/{s}/resourceGroups/{g}`,
/// `providers/{namespace}` counts as one pair), so a path with an odd number of segments ends
/// at a collection: a list. Operation URLs live under `…/locations/{l}/operations/{id}` (or
/// `operationResults`, `asyncoperations`) and are polls, whatever their length.
pub fn read_kind(path: &str) -> ReadKind {
    let lower = path.to_ascii_lowercase();
    let segs: Vec<&str> = lower.split('/').filter(|s| !s.is_empty()).collect();
    let op_collection = segs.iter().rev().nth(1).is_some_and(|s| {
        matches!(
            *s,
            "operations" | "operationresults" | "asyncoperations" | "operationstatuses"
        )
    });
    if op_collection && segs.contains(&"locations") {
        ReadKind::OperationPoll
    } else if segs.len() % 2 == 1 {
        ReadKind::ListPage
    } else {
        ReadKind::Resource
    }
}

/// One ARM call of the operator's principal, timed from the run's start.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Seconds since the run's start (when the answer was logged).
    pub at: f64,
    pub path: String,
    pub method: String,
    pub status: u16,
    pub class: Class,
}

impl Call {
    /// `None` for token requests (not ARM, no subscription budget) and records whose time
    /// does not parse.
    pub fn from_record(r: &RequestRecord, start: DateTime<Utc>) -> Option<Call> {
        if r.path.contains("/oauth2/") {
            return None;
        }
        let t = DateTime::parse_from_rfc3339(&r.time).ok()?;
        let at = (t.with_timezone(&Utc) - start).num_microseconds()? as f64 / 1e6;
        Some(Call {
            at,
            path: r.path.clone(),
            method: r.method.clone(),
            status: r.status,
            class: Class::of_method(&r.method),
        })
    }

    pub fn throttled(&self) -> bool {
        self.status == 429
    }
}

/// The calls as CSV, one row each: seconds, method, status, path. Pure.
pub fn requests_csv(calls: &[Call]) -> String {
    let mut out = String::from("second,method,status,path\n");
    for c in calls {
        out.push_str(&format!(
            "{:.3},{},{},{}\n",
            c.at, c.method, c.status, c.path
        ));
    }
    out
}

/// What the calls of `[from, to)` seconds did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    pub seconds: f64,
    /// Calls ARM served (anything but 429: a 4xx also took its token), by class.
    pub reads: usize,
    pub writes: usize,
    pub deletes: usize,
    /// Calls ARM refused with 429, by class.
    pub throttled_reads: usize,
    pub throttled_writes: usize,
    pub throttled_deletes: usize,
    /// Served reads by kind.
    pub list_pages: usize,
    pub operation_polls: usize,
    pub resource_gets: usize,
    /// Served reads answered 404 (a resource not there, or not yet).
    pub not_found_reads: usize,
    /// Served writes answered 412: a create conditional on `If-None-Match: *` that found
    /// the resource there (nothing written; a successor's stale listing after a takeover).
    pub precondition_failed_writes: usize,
    /// Distinct resources written (2xx) and deleted (2xx): the work the budget had to pay for.
    pub distinct_writes: usize,
    pub distinct_deletes: usize,
}

impl Window {
    pub fn throttled(&self) -> usize {
        self.throttled_reads + self.throttled_writes + self.throttled_deletes
    }
    pub fn reads_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.reads as f64 / self.seconds
        } else {
            0.0
        }
    }
}

pub fn summarize(calls: &[Call], from: f64, to: f64) -> Window {
    let mut w = Window {
        seconds: (to - from).max(0.0),
        ..Window::default()
    };
    let mut written = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for c in calls.iter().filter(|c| c.at >= from && c.at < to) {
        match (c.class, c.throttled()) {
            (Class::Read, true) => w.throttled_reads += 1,
            (Class::Write, true) => w.throttled_writes += 1,
            (Class::Delete, true) => w.throttled_deletes += 1,
            (Class::Read, false) => {
                w.reads += 1;
                match read_kind(&c.path) {
                    ReadKind::ListPage => w.list_pages += 1,
                    ReadKind::OperationPoll => w.operation_polls += 1,
                    ReadKind::Resource => w.resource_gets += 1,
                }
                if c.status == 404 {
                    w.not_found_reads += 1;
                }
            }
            (Class::Write, false) => {
                w.writes += 1;
                if (200..300).contains(&c.status) {
                    written.insert(c.path.to_ascii_lowercase());
                } else if c.status == 412 {
                    w.precondition_failed_writes += 1;
                }
            }
            (Class::Delete, false) => {
                w.deletes += 1;
                if (200..300).contains(&c.status) {
                    deleted.insert(c.path.to_ascii_lowercase());
                }
            }
        }
    }
    w.distinct_writes = written.len();
    w.distinct_deletes = deleted.len();
    w
}

/// The collection a path reads (`virtualmachines`, `subnets`, `resourcegroups`,
/// `operations`…): its segment before the name, or its last one for a list.
pub fn collection_of(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    let segs: Vec<&str> = lower.split('/').filter(|s| !s.is_empty()).collect();
    let at = if segs.len() % 2 == 1 {
        segs.len().checked_sub(1)
    } else {
        segs.len().checked_sub(2)
    };
    at.and_then(|i| segs.get(i))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Served reads of `[from, to)` by kind and collection, most first.
pub fn reads_by_collection(calls: &[Call], from: f64, to: f64) -> Vec<(ReadKind, String, usize)> {
    let mut counts: std::collections::BTreeMap<(u8, String), usize> = Default::default();
    for c in calls
        .iter()
        .filter(|c| c.at >= from && c.at < to && c.class == Class::Read && !c.throttled())
    {
        let kind = read_kind(&c.path);
        let k = match kind {
            ReadKind::ListPage => 0,
            ReadKind::OperationPoll => 1,
            ReadKind::Resource => 2,
        };
        *counts.entry((k, collection_of(&c.path))).or_insert(0) += 1;
    }
    let mut out: Vec<(ReadKind, String, usize)> = counts
        .into_iter()
        .map(|((k, coll), n)| {
            let kind = match k {
                0 => ReadKind::ListPage,
                1 => ReadKind::OperationPoll,
                _ => ReadKind::Resource,
            };
            (kind, coll, n)
        })
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    out
}

/// The shortest time ARM's bucket allows for `needed` calls of a class when it starts full:
/// the first `burst` go at once, the rest at `refill_per_sec`.
pub fn budget_floor(needed: usize, burst: f64, refill_per_sec: f64) -> Duration {
    if refill_per_sec <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(((needed as f64 - burst).max(0.0)) / refill_per_sec)
}

/// One second of the run, as a CSV row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub second: u64,
    pub phase: &'static str,
    pub reads: u32,
    pub writes: u32,
    pub deletes: u32,
    pub throttled_reads: u32,
    pub throttled_writes: u32,
    pub throttled_deletes: u32,
    /// Clusters Ready at the last look during this second (or before it).
    pub ready: usize,
}

pub const CSV_HEADER: &str = "second,phase,reads,writes,deletes,throttled_reads,throttled_writes,throttled_deletes,ready_clusters";

/// One row per second of `[0, end)`: calls by class and answer, the phase the second falls
/// in (`phases` are `(start second, name)` in order), and the clusters Ready at the latest
/// sample so far (`ready` are `(second, count)` in order).
pub fn per_second(
    calls: &[Call],
    end: f64,
    phases: &[(f64, &'static str)],
    ready: &[(f64, usize)],
) -> Vec<Row> {
    let n = end.max(0.0).ceil() as usize;
    let mut rows: Vec<Row> = (0..n)
        .map(|s| {
            let t = s as f64;
            Row {
                second: s as u64,
                phase: phases
                    .iter()
                    .rev()
                    .find(|(from, _)| *from <= t)
                    .map(|(_, p)| *p)
                    .unwrap_or(""),
                ready: ready
                    .iter()
                    .rev()
                    .find(|(at, _)| *at < t + 1.0)
                    .map(|(_, c)| *c)
                    .unwrap_or(0),
                ..Row::default()
            }
        })
        .collect();
    for c in calls {
        if c.at < 0.0 {
            continue;
        }
        let Some(row) = rows.get_mut(c.at as usize) else {
            continue;
        };
        let slot = match (c.class, c.throttled()) {
            (Class::Read, false) => &mut row.reads,
            (Class::Write, false) => &mut row.writes,
            (Class::Delete, false) => &mut row.deletes,
            (Class::Read, true) => &mut row.throttled_reads,
            (Class::Write, true) => &mut row.throttled_writes,
            (Class::Delete, true) => &mut row.throttled_deletes,
        };
        *slot += 1;
    }
    rows
}

pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(32 * (rows.len() + 1));
    out.push_str(CSV_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r.second,
            r.phase,
            r.reads,
            r.writes,
            r.deletes,
            r.throttled_reads,
            r.throttled_writes,
            r.throttled_deletes,
            r.ready
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    fn call(at: f64, method: &str, path: &str, status: u16) -> Call {
        Call {
            at,
            path: format!("{SUB}{path}"),
            method: method.to_string(),
            status,
            class: Class::of_method(method),
        }
    }

    #[test]
    fn classes_are_arms() {
        assert_eq!(Class::of_method("get"), Class::Read);
        assert_eq!(Class::of_method("HEAD"), Class::Read);
        assert_eq!(Class::of_method("DELETE"), Class::Delete);
        assert_eq!(Class::of_method("PUT"), Class::Write);
        assert_eq!(Class::of_method("PATCH"), Class::Write);
        assert_eq!(Class::of_method("POST"), Class::Write, "actions are writes");
    }

    #[test]
    fn reads_are_told_apart_by_path() {
        let kind = |p: &str| read_kind(&format!("{SUB}{p}"));
        assert_eq!(
            kind("/providers/Microsoft.Network/virtualNetworks"),
            ReadKind::ListPage
        );
        assert_eq!(kind("/resourcegroups"), ReadKind::ListPage);
        assert_eq!(
            kind("/resourceGroups/rg-a/providers/Microsoft.Compute/virtualMachines"),
            ReadKind::ListPage,
            "a group's list"
        );
        assert_eq!(
            kind("/resourceGroups/rg-a/providers/Microsoft.Network/virtualNetworks/v/subnets"),
            ReadKind::ListPage,
            "a parent's children"
        );
        assert_eq!(kind("/resourceGroups/rg-a"), ReadKind::Resource);
        assert_eq!(
            kind("/resourceGroups/rg-a/providers/Microsoft.Network/virtualNetworks/v/subnets/s"),
            ReadKind::Resource
        );
        assert_eq!(
            kind("/providers/Microsoft.Network/locations/westeurope/operations/0b1c"),
            ReadKind::OperationPoll
        );
        assert_eq!(
            kind("/providers/Microsoft.Storage/locations/westeurope/asyncoperations/0b1c"),
            ReadKind::OperationPoll
        );
        assert_eq!(
            kind("/providers/Microsoft.Compute/locations/westeurope/operationResults/0b1c"),
            ReadKind::OperationPoll
        );
    }

    #[test]
    fn records_become_calls_timed_from_the_start_and_tokens_are_left_out() {
        let start = DateTime::parse_from_rfc3339("2026-12-07T05:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let rec = |path: &str, time: &str| RequestRecord {
            method: "get".into(),
            path: path.into(),
            query: String::new(),
            status: 200,
            principal: Some("azop-bench".into()),
            time: time.into(),
            duration_ms: 0.1,
            body: None,
        };
        let c = Call::from_record(&rec(SUB, "2026-12-07T05:00:02.25Z"), start).unwrap();
        assert!((c.at - 2.25).abs() < 1e-9, "{c:?}");
        assert_eq!(c.class, Class::Read);
        assert!(
            Call::from_record(&rec("/t/oauth2/v2.0/token", "2026-12-07T05:00:01Z"), start)
                .is_none()
        );
        assert!(Call::from_record(&rec(SUB, "yesterday"), start).is_none());
    }

    #[test]
    fn a_window_counts_served_and_refused_calls_by_class_and_distinct_work() {
        let vm = "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm";
        let calls = vec![
            call(0.5, "PUT", vm, 201),
            call(1.0, "PUT", vm, 200), // the same resource again: not more work
            call(1.5, "PUT", "/resourceGroups/rg", 201),
            call(1.7, "PUT", vm, 412), // a conditional create that found it there
            call(2.0, "PUT", "/resourceGroups/rg2", 429),
            call(2.1, "GET", vm, 404),
            call(
                2.2,
                "GET",
                "/providers/Microsoft.Compute/virtualMachines",
                200,
            ),
            call(
                2.3,
                "GET",
                "/providers/Microsoft.Compute/locations/x/operations/1",
                200,
            ),
            call(2.4, "GET", vm, 429),
            call(3.0, "DELETE", vm, 202),
            call(3.5, "DELETE", vm, 429),
            call(9.0, "GET", vm, 200), // outside the window
        ];
        let w = summarize(&calls, 0.0, 5.0);
        assert_eq!(w.seconds, 5.0);
        assert_eq!((w.reads, w.writes, w.deletes), (3, 4, 1));
        assert_eq!(w.precondition_failed_writes, 1);
        assert_eq!(
            (w.throttled_reads, w.throttled_writes, w.throttled_deletes),
            (1, 1, 1)
        );
        assert_eq!(w.throttled(), 3);
        assert_eq!(
            (w.list_pages, w.operation_polls, w.resource_gets),
            (1, 1, 1)
        );
        assert_eq!(w.not_found_reads, 1);
        assert_eq!((w.distinct_writes, w.distinct_deletes), (2, 1));
        assert!((w.reads_per_second() - 0.6).abs() < 1e-9);
    }

    #[test]
    fn reads_are_grouped_by_collection() {
        assert_eq!(
            collection_of("/subscriptions/s/providers/Microsoft.Network/virtualNetworks"),
            "virtualnetworks"
        );
        assert_eq!(
            collection_of(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
            ),
            "subnets"
        );
        assert_eq!(
            collection_of("/subscriptions/s/resourcegroups/rg"),
            "resourcegroups"
        );
        let vm = "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm";
        let calls = vec![
            call(0.1, "GET", vm, 200),
            call(0.2, "GET", vm, 404),
            call(0.3, "GET", vm, 429), // refused: not a read ARM served
            call(
                0.4,
                "GET",
                "/providers/Microsoft.Compute/virtualMachines",
                200,
            ),
            call(0.5, "PUT", vm, 200),
        ];
        assert_eq!(
            reads_by_collection(&calls, 0.0, 1.0),
            vec![
                (ReadKind::Resource, "virtualmachines".to_string(), 2),
                (ReadKind::ListPage, "virtualmachines".to_string(), 1),
            ]
        );
    }

    #[test]
    fn floors_start_after_the_burst() {
        assert_eq!(budget_floor(2000, 200.0, 10.0), Duration::from_secs(180));
        assert_eq!(
            budget_floor(150, 200.0, 10.0),
            Duration::ZERO,
            "within the burst"
        );
        assert_eq!(budget_floor(450, 200.0, 10.0), Duration::from_secs(25));
    }

    #[test]
    fn per_second_rows_carry_counts_phase_and_ready_clusters() {
        let vm = "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm";
        let calls = vec![
            call(0.1, "PUT", vm, 201),
            call(0.9, "PUT", vm, 429),
            call(1.2, "GET", vm, 200),
            call(1.3, "GET", vm, 200),
            call(3.7, "DELETE", vm, 202),
            call(-1.0, "GET", vm, 200), // before the start
            call(9.0, "GET", vm, 200),  // after the end
        ];
        let phases = [(0.0, "creating"), (2.0, "steady"), (3.0, "deleting")];
        let ready = [(1.5, 1), (2.5, 2)];
        let rows = per_second(&calls, 4.0, &phases, &ready);
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0],
            Row {
                second: 0,
                phase: "creating",
                writes: 1,
                throttled_writes: 1,
                ..Row::default()
            }
        );
        assert_eq!(
            (rows[1].reads, rows[1].ready, rows[1].phase),
            (2, 1, "creating")
        );
        assert_eq!((rows[2].phase, rows[2].ready), ("steady", 2));
        assert_eq!((rows[3].phase, rows[3].deletes), ("deleting", 1));
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "0,creating,0,1,0,0,1,0,0");
        assert_eq!(lines[4], "3,deleting,0,0,1,0,0,0,2");
    }
}
