//! Every case of `config/argocd/resource_customizations/azop.dev/<Kind>/health_test.yaml`
//! judged by Argo CD itself: the real `argocd` binary (built by `make testenv`) evaluates each
//! testdata object with `argocd admin settings resource-overrides health --argocd-cm-path
//! config/argocd/argocd-cm.yaml` — the ConfigMap users apply, read by Argo CD's own settings
//! code, run by its own Lua VM (standard libraries only where the ConfigMap opens them) and its
//! own rule for objects being deleted (`hs.deletionMessage`, Argo CD 3.6).
//!
//! Also: the ConfigMap is exactly what `make generate` renders from the scripts; every kind's
//! cases cover Healthy, Progressing, Degraded and an object being deleted, and use every
//! testdata file; and with the `useOpenLibs` keys left out (a user who copied only the
//! scripts), no case errors or turns Unknown in Argo CD.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use azop_testenv::argocd::{
    AZOP_KINDS, argocd_cm_path, customizations_dir, read_health_scripts, render_argocd_cm,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TestFile {
    tests: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    input_path: String,
    health_status: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    status: String,
    message: String,
}

/// One case, ready to run.
struct Loaded {
    kind: &'static str,
    file: PathBuf,
    want: Verdict,
    deleting: bool,
}

fn cases() -> Vec<Loaded> {
    let root = customizations_dir();
    let mut out = Vec::new();
    for kind in AZOP_KINDS {
        let dir = root.join(kind);
        let text = std::fs::read_to_string(dir.join("health_test.yaml")).unwrap();
        let tf: TestFile = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{}/health_test.yaml: {e}", dir.display()));
        assert!(!tf.tests.is_empty(), "{kind}: no cases");
        for c in tf.tests {
            let file = dir.join(&c.input_path);
            let obj: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(obj["kind"], kind, "{}", file.display());
            out.push(Loaded {
                kind,
                deleting: obj
                    .pointer("/metadata/deletionTimestamp")
                    .is_some_and(|t| !t.is_null()),
                file,
                want: c.health_status,
            });
        }
    }
    out
}

/// What Argo CD says of the object in `file` with the ConfigMap in `cm`.
fn argocd_verdict(file: &Path, cm: &Path) -> Verdict {
    let bin = azop_testenv::binaries::argocd().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(&bin)
        .args(["admin", "settings", "resource-overrides", "health"])
        .arg(file)
        .arg("--argocd-cm-path")
        .arg(cm)
        .env("HOME", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "argocd failed on {} ({}): {}{}",
        file.display(),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        stdout
            .split_once(&format!("{name}: "))
            .map(|(_, rest)| match name {
                "STATUS" => rest.lines().next().unwrap_or_default().to_string(),
                _ => rest.trim_end_matches('\n').to_string(),
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {name} in argocd's answer for {}: {stdout}",
                    file.display()
                )
            })
    };
    // MESSAGE comes after STATUS and runs to the end.
    Verdict {
        status: field("STATUS"),
        message: field("MESSAGE"),
    }
}

/// Runs every case in parallel (each is a process of its own); returns the verdicts in order.
fn judge_all(cases: &[Loaded], cm: &Path) -> Vec<Verdict> {
    let mut out: Vec<Option<Verdict>> = vec![None; cases.len()];
    std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|c| s.spawn(move || argocd_verdict(&c.file, cm)))
            .collect();
        for (slot, h) in out.iter_mut().zip(handles) {
            *slot = Some(h.join().expect("a case panicked"));
        }
    });
    out.into_iter().map(Option::unwrap).collect()
}

#[test]
fn every_case_is_judged_by_argo_cd_as_health_test_yaml_says() {
    let cases = cases();
    let got = judge_all(&cases, &argocd_cm_path());
    let mut failures = Vec::new();
    for (c, v) in cases.iter().zip(&got) {
        if *v != c.want {
            failures.push(format!(
                "{}:\n   argocd: {} / {}\n   wants:  {} / {}",
                c.file.display(),
                v.status,
                v.message,
                c.want.status,
                c.want.message
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} cases judged by {}", cases.len(), argocd_version());
}

#[test]
fn every_kind_has_every_verdict_and_every_testdata_file_is_a_case() {
    let cases = cases();
    for kind in AZOP_KINDS {
        let mine: Vec<&Loaded> = cases.iter().filter(|c| c.kind == kind).collect();
        let statuses: BTreeSet<&str> = mine.iter().map(|c| c.want.status.as_str()).collect();
        for s in ["Healthy", "Progressing", "Degraded"] {
            assert!(statuses.contains(s), "{kind}: no case expects {s}");
        }
        let used: BTreeSet<PathBuf> = mine.iter().map(|c| c.file.clone()).collect();
        let dir = customizations_dir().join(kind).join("testdata");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert!(
                used.contains(&path),
                "{} is not a case of {kind}/health_test.yaml",
                path.display()
            );
        }
    }
    // Objects azop deletes Azure resources for show both deletion verdicts.
    for kind in ["AzureCluster", "AksCluster", "StorageBinding"] {
        let deleting: BTreeSet<&str> = cases
            .iter()
            .filter(|c| c.kind == kind && c.deleting)
            .map(|c| c.want.status.as_str())
            .collect();
        assert_eq!(
            deleting,
            BTreeSet::from(["Degraded", "Progressing"]),
            "{kind}: a deleting case of each (Deleting, DeleteBlocked)"
        );
    }
}

#[test]
fn the_config_map_is_the_one_rendered_from_the_scripts() {
    let scripts = read_health_scripts(&customizations_dir()).unwrap();
    let committed = std::fs::read_to_string(argocd_cm_path()).unwrap();
    assert!(
        committed == render_argocd_cm(&scripts),
        "config/argocd/argocd-cm.yaml differs from the health.lua files: run `make generate`"
    );
}

/// A user who copied the scripts but not the `useOpenLibs` keys: Argo CD gives the scripts no
/// `string` library. Nothing may error (that turns the object Unknown and the whole
/// Application Unknown with a ComparisonError); only a write refused for lack of permission
/// is no longer told apart, and shows as Progressing.
#[test]
fn without_open_libs_no_case_errors_and_only_permission_refusals_change() {
    let cm: Value =
        serde_yaml::from_str(&std::fs::read_to_string(argocd_cm_path()).unwrap()).unwrap();
    let mut stripped = cm.clone();
    let data = stripped["data"].as_object_mut().unwrap();
    let before = data.len();
    data.retain(|k, _| !k.starts_with("resource.customizations.useOpenLibs."));
    assert_eq!(
        data.len(),
        before - AZOP_KINDS.len(),
        "one useOpenLibs key per kind"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("argocd-cm.yaml");
    std::fs::write(&path, serde_yaml::to_string(&stripped).unwrap()).unwrap();

    let cases = cases();
    let got = judge_all(&cases, &path);
    let mut changed = 0;
    for (c, v) in cases.iter().zip(&got) {
        assert_ne!(v.status, "Unknown", "{}: {}", c.file.display(), v.message);
        if *v == c.want {
            continue;
        }
        changed += 1;
        assert!(
            c.want.status == "Degraded"
                && c.want.message.starts_with("ProvisioningFailed: ")
                && c.want.message.contains("AuthorizationFailed)")
                && v.status == "Progressing"
                && v.message == c.want.message,
            "{}: without libraries {v:?}, with them {:?}",
            c.file.display(),
            c.want
        );
    }
    assert!(changed > 0, "no case shows a write refused for permission");
}

fn argocd_version() -> String {
    let out = Command::new(azop_testenv::binaries::argocd().unwrap())
        .args(["version", "--client", "--short"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
