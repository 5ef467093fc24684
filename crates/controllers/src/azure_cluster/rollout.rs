//! Which machines a worker pool keeps, retires and adds this pass (pure): scaling, and the
//! rolling replacement of machines that no longer match the pool (a changed VM size, image or
//! OS disk).
//!
//! The rules, as Cluster API's MachineDeployment with `maxSurge: 1, maxUnavailable: 0`:
//!
//! - a new machine comes first; an outdated one is removed only once a new one is ready, so
//!   the pool never has fewer ready machines than its size;
//! - one at a time: no new machine while another is still coming up or an outdated one is
//!   still being removed (drained, then deleted);
//! - outdated machines are never updated in place: they run as they are until removed;
//! - ready means the VM has provisioned and, when the workload cluster answers, its node is
//!   `Ready` (azop cannot see nodes otherwise);
//! - without outdated machines it is plain scaling: missing machines are all created at once
//!   at the lowest free indexes, extra ones removed from the highest index down.

use std::collections::BTreeSet;

/// One machine of the pool, as this pass found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The number in its name (`<cluster>-<pool>-<index>`).
    pub index: usize,
    /// Matches the pool as the spec stands (VM size, image, OS disk).
    pub current: bool,
    /// Provisioned, and its node Ready when the workload cluster answers.
    pub ready: bool,
    /// Azure is deleting it already.
    pub deleting: bool,
    /// Its node is cordoned (a removal under way that must be finished, not switched).
    pub cordoned: bool,
}

/// What the pool does this pass. Machines in none of the lists are removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolDecision {
    /// Current machines kept (and corrected when they drift).
    pub keep: Vec<usize>,
    /// Outdated machines kept as they are until their replacements are ready.
    pub retire: Vec<usize>,
    /// Indexes of the machines to create.
    pub create: Vec<usize>,
}

/// The decision for a pool of `replicas` machines (pure).
pub fn decide(replicas: usize, slots: &[Slot]) -> PoolDecision {
    let live: Vec<&Slot> = slots.iter().filter(|s| !s.deleting).collect();
    let mut current: Vec<&Slot> = live.iter().copied().filter(|s| s.current).collect();
    current.sort_by_key(|s| s.index);
    // Scaling down keeps the lowest indexes.
    current.truncate(replicas);
    let ready_current = current.iter().filter(|s| s.ready).count();

    // Outdated machines, in the order they should stay: a removal already started (cordoned)
    // is finished first, then broken ones go, then the highest index.
    let mut old: Vec<&Slot> = live.iter().copied().filter(|s| !s.current).collect();
    old.sort_by_key(|s| (s.cordoned, !s.ready, s.index));
    let keep_old = old.len().min(replicas.saturating_sub(ready_current));
    let retire: Vec<usize> = old.iter().take(keep_old).map(|s| s.index).collect();

    let used: BTreeSet<usize> = slots.iter().map(|s| s.index).collect();
    let create = if old.is_empty() {
        lowest_free(&used, replicas.saturating_sub(current.len()))
    } else {
        let removing = old.len() > keep_old || slots.iter().any(|s| s.deleting);
        let coming_up = current.len() > ready_current;
        let deficit = replicas.saturating_sub(current.len() + keep_old);
        let surge = usize::from(!removing && !coming_up && current.len() < replicas);
        // New names above every one in use: a name being removed (its VM or NIC still going
        // away) is never reused within a replacement.
        let next = used.iter().next_back().map_or(0, |m| m + 1);
        (next..next + deficit.max(surge)).collect()
    };
    let mut keep: Vec<usize> = current.iter().map(|s| s.index).collect();
    keep.sort_unstable();
    let mut retire = retire;
    retire.sort_unstable();
    PoolDecision {
        keep,
        retire,
        create,
    }
}

/// One move of a pool's machines, in the order the passes make them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// A machine with this index is created.
    Add(usize),
    /// The machine with this index is removed (drained, then deleted).
    Remove(usize),
}

/// The moves from `slots` to a pool that matches the spec, [`decide`]d pass after pass as the
/// controller does, assuming each new machine becomes ready and each removal finishes before
/// the next pass (pure). What `azop plan` shows of a rolling replacement: the same decision
/// as the operator's, walked to its end.
pub fn schedule(replicas: usize, slots: &[Slot]) -> Vec<Move> {
    let mut slots: Vec<Slot> = slots.iter().filter(|s| !s.deleting).copied().collect();
    let mut moves = Vec::new();
    // Every pass adds or removes at least one machine until none is left to move; the bound
    // only guards against a decision that never settles.
    for _ in 0..4 * (replicas + slots.len()) + 4 {
        let d = decide(replicas, &slots);
        let kept = |s: &Slot| d.keep.contains(&s.index) || d.retire.contains(&s.index);
        let removed: Vec<usize> = slots.iter().filter(|s| !kept(s)).map(|s| s.index).collect();
        if d.create.is_empty() && removed.is_empty() {
            break;
        }
        moves.extend(d.create.iter().map(|&i| Move::Add(i)));
        moves.extend(removed.iter().map(|&i| Move::Remove(i)));
        slots.retain(kept);
        for s in &mut slots {
            s.ready = true;
            s.cordoned = false;
        }
        slots.extend(d.create.iter().map(|&index| Slot {
            index,
            current: true,
            ready: true,
            deleting: false,
            cordoned: false,
        }));
    }
    moves
}

/// Pairs each removal with the newest unpaired machine added before it: `(old, new)`
/// swaps, then the additions and removals that are not swaps (pure).
pub fn swaps(moves: &[Move]) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut added: Vec<usize> = Vec::new();
    let mut pairs = Vec::new();
    let mut removed = Vec::new();
    for m in moves {
        match *m {
            Move::Add(i) => added.push(i),
            Move::Remove(i) => match added.pop() {
                Some(new) => pairs.push((i, new)),
                None => removed.push(i),
            },
        }
    }
    (pairs, added, removed)
}

fn lowest_free(used: &BTreeSet<usize>, count: usize) -> Vec<usize> {
    (0..).filter(|i| !used.contains(i)).take(count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(index: usize, current: bool, ready: bool) -> Slot {
        Slot {
            index,
            current,
            ready,
            deleting: false,
            cordoned: false,
        }
    }

    fn new(index: usize) -> Slot {
        slot(index, true, true)
    }

    fn old(index: usize) -> Slot {
        slot(index, false, true)
    }

    fn decision(keep: &[usize], retire: &[usize], create: &[usize]) -> PoolDecision {
        PoolDecision {
            keep: keep.to_vec(),
            retire: retire.to_vec(),
            create: create.to_vec(),
        }
    }

    #[test]
    fn plain_scaling_creates_all_missing_at_the_lowest_free_indexes_and_removes_the_highest() {
        assert_eq!(decide(3, &[]), decision(&[], &[], &[0, 1, 2]));
        assert_eq!(
            decide(3, &[new(0), slot(1, true, false)]),
            decision(&[0, 1], &[], &[2])
        );
        assert_eq!(
            decide(2, &[new(0), new(1), new(2), new(3)]),
            decision(&[0, 1], &[], &[])
        );
        // A name still being deleted is not reused by a scale-up.
        let mut going = new(1);
        going.deleting = true;
        assert_eq!(decide(2, &[new(0), going]), decision(&[0], &[], &[2]));
        assert_eq!(decide(0, &[new(0)]), decision(&[], &[], &[]));
    }

    /// Walks a three-machine pool through a whole replacement, as the controller would see
    /// it pass after pass, and checks the invariants at every step.
    #[test]
    fn a_replacement_goes_one_machine_at_a_time_never_below_the_pools_size() {
        let replicas = 3;
        let mut slots = vec![old(0), old(1), old(2)];
        let mut created = Vec::new();
        for _pass in 0..40 {
            let d = decide(replicas, &slots);
            let ready = slots
                .iter()
                .filter(|s| {
                    s.ready
                        && !s.deleting
                        && (d.keep.contains(&s.index) || d.retire.contains(&s.index))
                })
                .count();
            assert!(ready >= replicas, "below size: {slots:?} → {d:?}");
            let live = slots.iter().filter(|s| !s.deleting).count();
            assert!(
                live + d.create.len() <= replicas + 1,
                "surge above one: {slots:?} → {d:?}"
            );
            assert!(d.create.len() <= 1, "{d:?}");
            // Apply the decision: removed machines start deleting, deleting ones vanish,
            // created ones appear not ready, not-ready ones become ready.
            let mut next = Vec::new();
            for s in &slots {
                if s.deleting {
                    continue;
                }
                let kept = d.keep.contains(&s.index) || d.retire.contains(&s.index);
                next.push(Slot {
                    deleting: !kept,
                    ready: s.ready || kept,
                    ..*s
                });
            }
            for &i in &d.create {
                created.push(i);
                next.push(slot(i, true, false));
            }
            slots = next;
            if slots.iter().all(|s| s.current && s.ready && !s.deleting) && slots.len() == replicas
            {
                break;
            }
        }
        assert_eq!(created, vec![3, 4, 5], "new names, one after another");
        let mut left: Vec<usize> = slots.iter().map(|s| s.index).collect();
        left.sort_unstable();
        assert_eq!(left, vec![3, 4, 5]);
    }

    #[test]
    fn the_schedule_walks_a_replacement_to_its_end_in_the_operators_order() {
        let moves = schedule(3, &[old(0), old(1), old(2)]);
        assert_eq!(
            moves,
            vec![
                Move::Add(3),
                Move::Remove(2),
                Move::Add(4),
                Move::Remove(1),
                Move::Add(5),
                Move::Remove(0),
            ]
        );
        let (pairs, added, removed) = swaps(&moves);
        assert_eq!(pairs, vec![(2, 3), (1, 4), (0, 5)]);
        assert!(added.is_empty() && removed.is_empty());
        // Half-way (the operator already swapped one): the rest, from where it stands.
        let mut going = old(2);
        going.deleting = true;
        assert_eq!(
            swaps(&schedule(3, &[old(0), old(1), going, new(3)])).0,
            vec![(1, 4), (0, 5)]
        );
        // Plain scaling: additions or removals, no swaps.
        assert_eq!(swaps(&schedule(3, &[new(0)])), (vec![], vec![1, 2], vec![]));
        assert_eq!(
            swaps(&schedule(1, &[new(0), new(1), new(2)])),
            (vec![], vec![], vec![1, 2])
        );
        assert!(schedule(2, &[new(0), new(1)]).is_empty());
        // Scaled up during a replacement: the extra machines are additions.
        let (pairs, added, _) = swaps(&schedule(4, &[old(0), old(1)]));
        assert_eq!(pairs.len(), 2);
        assert_eq!(added.len(), 2);
    }

    #[test]
    fn each_replacement_state() {
        let mut cordoned = old(1);
        cordoned.cordoned = true;
        let mut deleting = old(2);
        deleting.deleting = true;
        let broken = slot(0, false, false);
        let table: Vec<(&str, usize, Vec<Slot>, PoolDecision)> = vec![
            (
                "start: one new machine, every old one kept",
                3,
                vec![old(0), old(1), old(2)],
                decision(&[], &[0, 1, 2], &[3]),
            ),
            (
                "the new one is coming up: nothing else moves",
                3,
                vec![old(0), old(1), old(2), slot(3, true, false)],
                decision(&[3], &[0, 1, 2], &[]),
            ),
            (
                "the new one is ready: the highest old index goes, no new one yet",
                3,
                vec![old(0), old(1), old(2), new(3)],
                decision(&[3], &[0, 1], &[]),
            ),
            (
                "an old one is being deleted: wait for it",
                3,
                vec![old(0), old(1), deleting, new(3)],
                decision(&[3], &[0, 1], &[]),
            ),
            (
                "a removal under way (cordoned) is finished before another is chosen",
                3,
                vec![old(0), cordoned, old(2), new(3)],
                decision(&[3], &[0, 2], &[]),
            ),
            (
                "a broken old machine goes first",
                3,
                vec![broken, old(1), old(2), new(3)],
                decision(&[3], &[1, 2], &[]),
            ),
            (
                "scaled down during a replacement: the excess goes at once",
                1,
                vec![old(0), old(1), old(2)],
                decision(&[], &[0], &[]),
            ),
            (
                "scaled up during a replacement: the missing ones are created at once",
                4,
                vec![old(0), new(3)],
                decision(&[3], &[0], &[4, 5]),
            ),
            (
                "a pool scaled to zero drops its old machines",
                0,
                vec![old(0), old(1)],
                decision(&[], &[], &[]),
            ),
        ];
        for (name, replicas, slots, want) in table {
            assert_eq!(decide(replicas, &slots), want, "{name}");
        }
    }
}
