//! The seeded chaos suite's plan (`tests/e2e/chaos.rs`): which disruptions hit which phase of
//! the run, when, and how the objects are scaled — all drawn from one seed, so a failing run
//! replays from the seed it printed. Pure; the test does the I/O.
//!
//! Every seed's run has three phases (create, scale, delete). Each phase gets at least one
//! SIGKILL of the operator; over the run each of the other disruptions occurs at least once
//! (armsim restarted from its state file, kube-apiserver restarted, a 429 window, a 500
//! window), each in a phase the seed picks, and up to two more disruptions of any kind fall
//! anywhere. Each step waits a drawn delay first, so it lands at a different point of the
//! operator's work from seed to seed.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// The seeds CI runs when no environment variable says otherwise.
pub const CI_SEEDS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Create,
    Scale,
    Delete,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Create, Phase::Scale, Phase::Delete];
}

/// One thing that goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disruption {
    /// SIGKILL of the operator; a new process (a new identity, as a replacement pod) starts.
    KillOperator,
    /// armsim stops as a crash would and starts again from its state file at its address.
    RestartSim,
    /// kube-apiserver stops and starts again (etcd keeps running).
    RestartApiserver,
    /// For `millis`, ARM answers `status` (429 with Retry-After 1 s, or 500) to the requests
    /// of `method` (any when `None`) on paths matching `path` (an armsim fault glob).
    FaultWindow {
        status: u16,
        method: Option<&'static str>,
        path: &'static str,
        millis: u64,
    },
}

/// A disruption and the delay before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub delay: Duration,
    pub disruption: Disruption,
}

/// What one seed does: the scale targets and the steps of each phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub seed: u64,
    /// The AzureCluster's worker pool replicas at create and after the scale.
    pub workers: (usize, usize),
    /// The AksCluster's system pool count at create and after the scale.
    pub aks_nodes: (usize, usize),
    pub create: Vec<Step>,
    pub scale: Vec<Step>,
    pub delete: Vec<Step>,
}

impl Plan {
    pub fn steps(&self, phase: Phase) -> &[Step] {
        match phase {
            Phase::Create => &self.create,
            Phase::Scale => &self.scale,
            Phase::Delete => &self.delete,
        }
    }
}

/// Request classes a fault window may hit: every kind's resources, and everything.
const FAULT_PATHS: [&str; 5] = [
    "/subscriptions/*/providers/Microsoft.Compute/virtualMachines/*",
    "/subscriptions/*/providers/Microsoft.Network/*",
    "/subscriptions/*/providers/Microsoft.ContainerService/*",
    "/subscriptions/*/providers/Microsoft.Storage/*",
    "/subscriptions/*",
];
const FAULT_METHODS: [Option<&str>; 4] = [None, Some("PUT"), Some("GET"), Some("DELETE")];

fn fault_window(rng: &mut StdRng, status: u16) -> Disruption {
    Disruption::FaultWindow {
        status,
        method: FAULT_METHODS[rng.random_range(0..FAULT_METHODS.len())],
        path: FAULT_PATHS[rng.random_range(0..FAULT_PATHS.len())],
        millis: rng.random_range(1_000..=4_000),
    }
}

fn any_disruption(rng: &mut StdRng) -> Disruption {
    match rng.random_range(0..5) {
        0 => Disruption::KillOperator,
        1 => Disruption::RestartSim,
        2 => Disruption::RestartApiserver,
        3 => fault_window(rng, 429),
        _ => fault_window(rng, 500),
    }
}

/// The plan of `seed` (pure: the same seed gives the same plan).
pub fn plan(seed: u64) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let workers_before = rng.random_range(1..=2);
    let workers = (workers_before, workers_before + rng.random_range(1..=2));
    let aks_before = rng.random_range(1..=2);
    let aks_nodes = (aks_before, aks_before + 1);
    let mut phases: [Vec<Disruption>; 3] = [
        vec![Disruption::KillOperator],
        vec![Disruption::KillOperator],
        vec![Disruption::KillOperator],
    ];
    let mut once = vec![
        Disruption::RestartSim,
        Disruption::RestartApiserver,
        fault_window(&mut rng, 429),
        fault_window(&mut rng, 500),
    ];
    for _ in 0..rng.random_range(0..=2) {
        once.push(any_disruption(&mut rng));
    }
    for d in once {
        phases[rng.random_range(0..3)].push(d);
    }
    let mut steps = phases.map(|mut ds| {
        ds.shuffle(&mut rng);
        ds.into_iter()
            .map(|disruption| Step {
                delay: Duration::from_millis(rng.random_range(0..=2_500)),
                disruption,
            })
            .collect::<Vec<_>>()
    });
    Plan {
        seed,
        workers,
        aks_nodes,
        create: std::mem::take(&mut steps[0]),
        scale: std::mem::take(&mut steps[1]),
        delete: std::mem::take(&mut steps[2]),
    }
}

/// The seeds to run: `AZOP_CHAOS_SEED` replays one; else `AZOP_CHAOS_SEEDS` (default
/// [`CI_SEEDS`]) fresh ones from `fresh`.
pub fn seeds(
    replay: Option<&str>,
    count: Option<&str>,
    mut fresh: impl FnMut() -> u64,
) -> Result<Vec<u64>, String> {
    if let Some(s) = replay {
        return s
            .trim()
            .parse()
            .map(|s| vec![s])
            .map_err(|e| format!("AZOP_CHAOS_SEED={s:?} is not a u64: {e}"));
    }
    let n = match count {
        Some(c) => c
            .trim()
            .parse::<usize>()
            .map_err(|e| format!("AZOP_CHAOS_SEEDS={c:?} is not a count: {e}"))?,
        None => CI_SEEDS,
    };
    if n == 0 {
        return Err("AZOP_CHAOS_SEEDS=0 runs nothing: give at least 1".into());
    }
    Ok((0..n).map(|_| fresh()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_plan() {
        assert_eq!(plan(42), plan(42));
        assert_ne!(plan(42), plan(43));
    }

    #[test]
    fn every_plan_kills_in_every_phase_and_has_every_disruption() {
        for seed in 0..500 {
            let p = plan(seed);
            for phase in Phase::ALL {
                assert!(
                    p.steps(phase)
                        .iter()
                        .any(|s| s.disruption == Disruption::KillOperator),
                    "seed {seed}: no kill in {phase:?}"
                );
            }
            let all: Vec<&Disruption> = Phase::ALL
                .iter()
                .flat_map(|ph| p.steps(*ph))
                .map(|s| &s.disruption)
                .collect();
            assert!(all.contains(&&Disruption::RestartSim), "seed {seed}");
            assert!(all.contains(&&Disruption::RestartApiserver), "seed {seed}");
            for status in [429, 500] {
                assert!(
                    all.iter().any(
                        |d| matches!(d, Disruption::FaultWindow { status: s, .. } if *s == status)
                    ),
                    "seed {seed}: no {status} window"
                );
            }
            assert!(p.workers.1 > p.workers.0 && p.aks_nodes.1 > p.aks_nodes.0);
            assert!(all.len() <= 3 + 4 + 2);
        }
    }

    #[test]
    fn seeds_come_from_the_environment() {
        let mut n = 0;
        let mut fresh = || {
            n += 1;
            n
        };
        assert_eq!(seeds(Some("17"), Some("5"), &mut fresh), Ok(vec![17]));
        assert_eq!(seeds(None, Some("3"), &mut fresh), Ok(vec![1, 2, 3]));
        assert_eq!(seeds(None, None, &mut fresh).map(|s| s.len()), Ok(CI_SEEDS));
        assert!(seeds(Some("x"), None, &mut fresh).is_err());
        assert!(seeds(None, Some("0"), &mut fresh).is_err());
    }
}
