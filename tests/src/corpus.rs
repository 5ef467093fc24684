//! The bad-input corpus: every valid sample in config/samples mutated into manifests its
//! rules refuse. Pure and seeded, so a failing case replays from its seed.
//!
//! Three sources of cases:
//! - **known**: the inputs issue 26 found reaching Azure (subnets too small for their
//!   machines, reserved ranges, label/taint syntax, combined name lengths, AKS System pools
//!   and reserved ranges, per-type tag limits), applied to every sample they fit;
//! - **leaves**: every leaf of every sample's `spec` (and its name) replaced by values of the
//!   wrong shape (empty, too long, forbidden characters, negative, huge, an empty list, a
//!   duplicated item, a bad map key);
//! - **combinations**: two or three of the above on one sample, chosen by the seed.
//!
//! azop's own `validate()` is the oracle that decides whether a mutated manifest is bad: a
//! leaf mutation it accepts (a free-text field) is not a bad input and is left out, and every
//! known mutation must be refused by it (a unit test below). The end-to-end test
//! (`e2e/bad_input.rs`) then checks each case is refused by the API server or, if admitted,
//! by a condition — with no ARM write.

use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use azop_api::v1alpha1::{AksCluster, AzureCluster, ProxyConfig, StorageBinding};
use azop_api::validation::{Validate, parse_object};

/// One bad manifest.
#[derive(Clone, Debug)]
pub struct Case {
    /// The valid sample it came from (file name).
    pub sample: String,
    /// What was done to it, in order.
    pub mutations: Vec<String>,
    /// The manifest (kind, metadata.name, spec).
    pub object: Value,
}

impl Case {
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn describe(&self) -> String {
        format!("{} [{}]", self.sample, self.mutations.join(" + "))
    }
}

/// What validate() says of an azop object: `Err` with its messages when refused.
pub fn oracle(object: &Value) -> Result<(), String> {
    fn check<K: serde::de::DeserializeOwned + Validate>(v: &Value) -> Result<(), String> {
        let k: K = parse_object(v.clone()).map_err(|e| e.to_string())?;
        k.validate().map_err(|e| e.to_string())
    }
    match object["kind"].as_str() {
        Some("AzureCluster") => check::<AzureCluster>(object),
        Some("AksCluster") => check::<AksCluster>(object),
        Some("StorageBinding") => check::<StorageBinding>(object),
        Some("ProxyConfig") => check::<ProxyConfig>(object),
        other => Err(format!("not an azop kind: {other:?}")),
    }
}

/// The azop objects of config/samples (file name, object), without their namespace.
pub fn valid_objects(dir: &Path) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (path, docs) in crate::samples::valid_samples(dir)? {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for mut doc in docs {
            if doc["apiVersion"] != "azop.dev/v1alpha1" {
                continue;
            }
            if let Some(meta) = doc["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
            out.push((file.clone(), doc));
        }
    }
    Ok(out)
}

/// A named change to a manifest; `None` when it does not apply to this one.
type Known = (&'static str, fn(&Value) -> Option<Value>);

fn with(obj: &Value, f: impl FnOnce(&mut Value) -> Option<()>) -> Option<Value> {
    let mut o = obj.clone();
    f(&mut o).map(|()| o)
}

fn kind_is(obj: &Value, kind: &str) -> Option<()> {
    (obj["kind"] == kind).then_some(())
}

fn first_worker_pool(o: &mut Value) -> Option<&mut Value> {
    o.pointer_mut("/spec/workerPools/0")
}

fn set_label(o: &mut Value, pool: &str, key: &str, value: &str) -> Option<()> {
    let p = o.pointer_mut(pool)?.as_object_mut()?;
    let labels = p.entry("labels").or_insert_with(|| json!({}));
    labels.as_object_mut()?.insert(key.into(), json!(value));
    Some(())
}

fn set_tag(o: &mut Value, key: &str, value: &str) -> Option<()> {
    let spec = o.pointer_mut("/spec")?.as_object_mut()?;
    let tags = spec.entry("tags").or_insert_with(|| json!({}));
    tags.as_object_mut()?.insert(key.into(), json!(value));
    Some(())
}

/// ProxyConfig has no tags (it writes nothing to Azure).
fn not_proxy(o: &Value) -> Option<()> {
    (o["kind"] != "ProxyConfig").then_some(())
}

fn cluster_kind(o: &Value) -> Option<()> {
    kind_is(o, "AzureCluster").or_else(|| kind_is(o, "AksCluster"))
}

/// The inputs issue 26 found reaching Azure. Every one must be refused by validate().
pub const KNOWN: &[Known] = &[
    ("worker subnet /30", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            o["spec"]["network"]["vnetCidr"] = json!("10.0.0.0/16");
            o["spec"]["network"]["controlPlaneSubnet"] = json!({"cidr": "10.0.0.0/24"});
            o["spec"]["network"]["workerSubnet"] = json!({"cidr": "10.0.1.0/30"});
            Some(())
        })
    }),
    ("5 control-plane machines in a /29", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            o["spec"]["network"]["vnetCidr"] = json!("10.0.0.0/16");
            o["spec"]["network"]["controlPlaneSubnet"] = json!({"cidr": "10.0.0.0/29"});
            o["spec"]["network"]["workerSubnet"] = json!({"cidr": "10.0.1.0/24"});
            o["spec"]["controlPlane"]["replicas"] = json!(5);
            Some(())
        })
    }),
    ("20 workers in a /28", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            o["spec"]["network"]["vnetCidr"] = json!("10.0.0.0/16");
            o["spec"]["network"]["controlPlaneSubnet"] = json!({"cidr": "10.0.0.0/24"});
            o["spec"]["network"]["workerSubnet"] = json!({"cidr": "10.0.1.0/28"});
            first_worker_pool(o)?["replicas"] = json!(20);
            Some(())
        })
    }),
    ("VNet in 169.254.0.0/16", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            o["spec"]["network"] = json!({"vnetCidr": "169.254.0.0/16",
                "controlPlaneSubnet": {"cidr": "169.254.0.0/24"}, "workerSubnet": {"cidr": "169.254.1.0/24"}});
            Some(())
        })
    }),
    ("VNet in 127.0.0.0/8", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            o["spec"]["network"] = json!({"vnetCidr": "127.0.0.0/16",
                "controlPlaneSubnet": {"cidr": "127.0.0.0/24"}, "workerSubnet": {"cidr": "127.0.1.0/24"}});
            Some(())
        })
    }),
    ("VNet in 224.0.0.0/4", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            o["spec"]["network"] = json!({"vnetCidr": "224.0.0.0/16",
                "controlPlaneSubnet": {"cidr": "224.0.0.0/24"}, "workerSubnet": {"cidr": "224.0.1.0/24"}});
            Some(())
        })
    }),
    ("taint key with two slashes", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            first_worker_pool(o)?["taints"] =
                json!([{"key": "a/b/c", "value": "x", "effect": "NoSchedule"}]);
            Some(())
        })
    }),
    ("taint key with a space", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            first_worker_pool(o)?["taints"] = json!([{"key": "gpu only", "effect": "NoSchedule"}]);
            Some(())
        })
    }),
    ("64-character label value", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            set_label(o, "/spec/workerPools/0", "tier", &"v".repeat(64))
        })
    }),
    ("node-role label kubelet may not set", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            set_label(
                o,
                "/spec/workerPools/0",
                "node-role.kubernetes.io/worker",
                "",
            )
        })
    }),
    ("44-character cluster, 20-character pool", |o| {
        with(o, |o| {
            kind_is(o, "AzureCluster")?;
            o["metadata"]["name"] = json!(format!("c{}", "x".repeat(43)));
            first_worker_pool(o)?["name"] = json!(format!("p{}", "q".repeat(19)));
            Some(())
        })
    }),
    ("Windows System pool", |o| {
        with(o, |o| {
            kind_is(o, "AksCluster")?;
            o.pointer_mut("/spec/nodePools/0")?["osType"] = json!("Windows");
            o.pointer_mut("/spec/nodePools/0")?["mode"] = json!("System");
            o.pointer_mut("/spec/nodePools/0")?["name"] = json!("sys");
            Some(())
        })
    }),
    ("AKS service CIDR 172.30.0.0/16", |o| {
        with(o, |o| {
            kind_is(o, "AksCluster")?;
            let net = o["spec"]
                .as_object_mut()?
                .entry("network")
                .or_insert_with(|| json!({}));
            net["serviceCidr"] = json!("172.30.0.0/16");
            net["dnsServiceIp"] = json!("172.30.0.10");
            Some(())
        })
    }),
    ("AKS service CIDR 192.0.2.0/24", |o| {
        with(o, |o| {
            kind_is(o, "AksCluster")?;
            let net = o["spec"]
                .as_object_mut()?
                .entry("network")
                .or_insert_with(|| json!({}));
            net["serviceCidr"] = json!("192.0.2.0/24");
            net["dnsServiceIp"] = json!("192.0.2.10");
            Some(())
        })
    }),
    ("AKS node label key with a space", |o| {
        with(o, |o| {
            kind_is(o, "AksCluster")?;
            set_label(o, "/spec/nodePools/0", "team name", "a")
        })
    }),
    ("storage account tag key of 129 characters", |o| {
        with(o, |o| {
            kind_is(o, "StorageBinding")?;
            if o.pointer("/spec/storageAccount/name").is_some() {
                return None;
            }
            set_tag(o, &"k".repeat(129), "v")
        })
    }),
    ("tag key with a slash", |o| {
        with(o, |o| {
            not_proxy(o)?;
            set_tag(o, "team/name", "a")
        })
    }),
    ("tag value of 257 characters", |o| {
        with(o, |o| {
            not_proxy(o)?;
            set_tag(o, "long", &"v".repeat(257))
        })
    }),
    ("tag keys differing only in case", |o| {
        with(o, |o| {
            not_proxy(o)?;
            set_tag(o, "Owner", "a")?;
            set_tag(o, "owner", "b")
        })
    }),
    ("azop's own tag", |o| {
        with(o, |o| {
            cluster_kind(o)?;
            set_tag(o, "azop.dev_uid", "forged")
        })
    }),
    ("azop's shared-resource tag", |o| {
        with(o, |o| {
            not_proxy(o)?;
            set_tag(o, "Azop.Dev_Shared", "true")
        })
    }),
];

/// Values of the wrong shape for a leaf.
fn bad_values(leaf: &Value) -> Vec<Value> {
    match leaf {
        Value::String(s) => vec![
            json!(""),
            json!("x".repeat(1100)),
            json!(format!("{s} <bad>/?%")),
            json!(format!("-{s}\t")),
            json!("999.1.2.3/33"),
            json!("é".repeat(70)),
        ],
        Value::Number(_) => vec![json!(-1), json!(0), json!(1_000_000), json!(2.5)],
        Value::Bool(b) => vec![json!(!b), json!("yes")],
        Value::Array(items) => {
            let mut out = vec![json!([])];
            if let Some(first) = items.first() {
                let mut dup = items.clone();
                dup.push(first.clone());
                out.push(Value::Array(dup));
                out.push(Value::Array(vec![first.clone(); 200]));
            }
            out
        }
        Value::Object(map) => {
            let mut bad = map.clone();
            bad.insert("bad key/with spaces//".into(), json!("x".repeat(300)));
            vec![Value::Object(bad), json!("not an object")]
        }
        Value::Null => vec![],
    }
}

/// JSON pointers of every leaf (and every list and map) under `spec`, and `/metadata/name`.
fn leaf_pointers(obj: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                out.push(at.clone());
                for (k, c) in m {
                    walk(
                        c,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(a) => {
                out.push(at.clone());
                for (i, c) in a.iter().enumerate() {
                    walk(c, format!("{at}/{i}"), out);
                }
            }
            _ => out.push(at),
        }
    }
    let mut out = vec!["/metadata/name".to_string()];
    walk(&obj["spec"], "/spec".to_string(), &mut out);
    out
}

/// Every leaf mutation of `obj` that validate() refuses: (label, object).
fn leaf_mutations(obj: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for ptr in leaf_pointers(obj) {
        let Some(leaf) = obj.pointer(&ptr) else {
            continue;
        };
        for bad in bad_values(leaf) {
            let mut o = obj.clone();
            if let Some(slot) = o.pointer_mut(&ptr) {
                *slot = bad.clone();
            }
            if oracle(&o).is_err() {
                let shown: String = bad.to_string().chars().take(40).collect();
                out.push((format!("{ptr}={shown}"), o));
            }
        }
    }
    out
}

/// The corpus for `seed`: every known mutation on every sample it fits, `leaves` leaf
/// mutations and `combinations` combinations drawn from all of them (each combination on one
/// sample, two or three mutations in a row, kept only when validate() refuses the result).
pub fn generate(
    samples: &[(String, Value)],
    seed: u64,
    leaves: usize,
    combinations: usize,
) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases = Vec::new();
    let mut leaf_pool: Vec<Case> = Vec::new();
    for (file, obj) in samples {
        for (label, mutate) in KNOWN {
            if let Some(o) = mutate(obj) {
                cases.push(Case {
                    sample: file.clone(),
                    mutations: vec![(*label).to_string()],
                    object: o,
                });
            }
        }
        for (label, o) in leaf_mutations(obj) {
            leaf_pool.push(Case {
                sample: file.clone(),
                mutations: vec![label],
                object: o,
            });
        }
    }
    leaf_pool.shuffle(&mut rng);
    let drawn: Vec<Case> = leaf_pool.iter().take(leaves).cloned().collect();
    let singles: Vec<Case> = cases.iter().chain(leaf_pool.iter()).cloned().collect();
    let mut combos = Vec::new();
    let mut attempts = 0;
    while combos.len() < combinations && attempts < combinations * 20 && !singles.is_empty() {
        attempts += 1;
        let Some(base) = singles.choose(&mut rng) else {
            break;
        };
        let mut case = base.clone();
        for _ in 0..rng.random_range(1..=2) {
            let mut o = case.object.clone();
            // A named mutation assumes the samples' shape (`spec.controlPlane` an object, …);
            // after a leaf mutation (labels `/pointer=value`) that shape may be gone, so only
            // leaf mutations follow one.
            let leafed = case.mutations.iter().any(|m| m.starts_with('/'));
            let label = if !leafed && rng.random_bool(0.5) {
                let fits: Vec<&Known> = KNOWN.iter().filter(|(_, m)| m(&o).is_some()).collect();
                let Some((label, m)) = fits.choose(&mut rng) else {
                    continue;
                };
                o = m(&o).unwrap_or(o);
                (*label).to_string()
            } else {
                let ptrs = leaf_pointers(&o);
                let Some(ptr) = ptrs.choose(&mut rng) else {
                    continue;
                };
                let Some(bad) = o
                    .pointer(ptr)
                    .map(bad_values)
                    .and_then(|b| b.choose(&mut rng).cloned())
                else {
                    continue;
                };
                if let Some(slot) = o.pointer_mut(ptr) {
                    *slot = bad.clone();
                }
                format!(
                    "{ptr}={}",
                    bad.to_string().chars().take(40).collect::<String>()
                )
            };
            case.object = o;
            case.mutations.push(label);
        }
        if case.mutations.len() > 1 && oracle(&case.object).is_err() {
            combos.push(case);
        }
    }
    cases.extend(drawn);
    cases.extend(combos);
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<(String, Value)> {
        valid_objects(&azop_testenv::samples_dir()).expect("samples")
    }

    #[test]
    fn every_valid_sample_passes_the_oracle() {
        let s = samples();
        assert!(s.len() >= 8, "{}", s.len());
        for (file, o) in &s {
            assert_eq!(oracle(o), Ok(()), "{file}");
        }
    }

    #[test]
    fn every_known_mutation_applies_somewhere_and_is_refused() {
        let s = samples();
        for (label, m) in KNOWN {
            let mut applied = 0;
            for (file, o) in &s {
                if let Some(bad) = m(o) {
                    applied += 1;
                    assert!(oracle(&bad).is_err(), "{label} on {file} accepted: {bad}");
                }
            }
            assert!(applied > 0, "{label} applies to no sample");
        }
    }

    #[test]
    fn the_corpus_is_seeded_and_refused_by_the_oracle() {
        let s = samples();
        let a = generate(&s, 7, 50, 30);
        let b = generate(&s, 7, 50, 30);
        assert_eq!(
            a.iter().map(Case::describe).collect::<Vec<_>>(),
            b.iter().map(Case::describe).collect::<Vec<_>>()
        );
        assert!(a.len() >= 100, "{}", a.len());
        for c in &a {
            assert!(oracle(&c.object).is_err(), "{}", c.describe());
        }
        // Every kind is in it.
        for kind in [
            "AzureCluster",
            "AksCluster",
            "StorageBinding",
            "ProxyConfig",
        ] {
            assert!(a.iter().any(|c| c.kind() == kind), "{kind}");
        }
    }
}
