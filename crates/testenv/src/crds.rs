//! Installing CustomResourceDefinitions by server-side apply and waiting until they are
//! Established (served).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

use crate::error::{Error, Result};
use crate::manifests;
use crate::wait::wait_for_condition;

/// Field manager used for everything this crate applies.
pub const FIELD_MANAGER: &str = "azop-testenv";

/// How long a CRD may take to become Established.
pub const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// The key under which CRD schemas carry CEL rules (Kubernetes ≥ 1.25).
pub const CEL_RULES_KEY: &str = "x-kubernetes-validations";

/// Removes every `x-kubernetes-validations` entry from `value` (recursively); returns how
/// many were removed.
///
/// Why: API servers before 1.25 do not know the field. A create or update silently drops it,
/// but server-side apply refuses the whole CRD ("field not declared in schema"). So on such
/// servers the rules are stripped before applying, which stores exactly what a create would.
pub fn strip_cel_rules(value: &mut serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => {
            let here = usize::from(map.remove(CEL_RULES_KEY).is_some());
            here + map.values_mut().map(strip_cel_rules).sum::<usize>()
        }
        serde_json::Value::Array(items) => items.iter_mut().map(strip_cel_rules).sum(),
        _ => 0,
    }
}

/// Whether a server of this version enforces CEL rules in CRDs (1.25+, where
/// `x-kubernetes-validations` became available by default).
pub fn server_knows_cel(major: &str, minor: &str) -> bool {
    let num = |s: &str| s.trim_end_matches('+').parse::<u32>().unwrap_or(0);
    num(major) > 1 || (num(major) == 1 && num(minor) >= 25)
}

/// Every CustomResourceDefinition document in the YAML files under `dir` (recursive).
pub fn load_crds(dir: &Path) -> Result<Vec<(PathBuf, CustomResourceDefinition)>> {
    let mut crds = Vec::new();
    for file in manifests::yaml_files(dir, &[])? {
        for doc in manifests::read_documents(&file)? {
            if doc.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
                continue;
            }
            let crd: CustomResourceDefinition =
                serde_json::from_value(doc).map_err(|e| Error::Manifest {
                    path: file.clone(),
                    message: format!(
                        "not a valid apiextensions.k8s.io/v1 CustomResourceDefinition: {e}"
                    ),
                })?;
            crds.push((file.clone(), crd));
        }
    }
    Ok(crds)
}

/// Applies every CRD found under `dir` (server-side apply, forced) and waits until each is
/// Established. Returns the CRD names. Fails when `dir` holds none. On servers older than 1.25
/// the CEL rules are stripped first (see [`strip_cel_rules`]).
pub async fn install_crds(client: &kube::Client, dir: &Path) -> Result<Vec<String>> {
    let crds = load_crds(dir)?;
    if crds.is_empty() {
        return Err(Error::NoCrds {
            dir: dir.to_path_buf(),
        });
    }
    let version = client
        .apiserver_version()
        .await
        .map_err(|source| Error::Kube {
            action: "read the API server version".to_string(),
            source,
        })?;
    let keep_cel = server_knows_cel(&version.major, &version.minor);
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for (file, crd) in &crds {
        let name = crd.metadata.name.clone().ok_or_else(|| Error::Manifest {
            path: file.clone(),
            message: "CustomResourceDefinition without metadata.name".to_string(),
        })?;
        let mut body = serde_json::to_value(crd).map_err(|source| Error::Json {
            action: "serialise",
            path: file.clone(),
            source,
        })?;
        if !keep_cel {
            let n = strip_cel_rules(&mut body);
            tracing::debug!(crd = %name, rules = n, server = %version.git_version,
                "stripped CEL rules the server does not know");
        }
        api.patch(&name, &params, &Patch::Apply(&body))
            .await
            .map_err(|source| Error::Kube {
                action: format!(
                    "apply CustomResourceDefinition {name} from {}",
                    file.display()
                ),
                source,
            })?;
        names.push(name);
    }
    for name in &names {
        wait_for_condition(&api, name, "Established", ESTABLISH_TIMEOUT).await?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cel_rules_are_stripped_everywhere() {
        let mut v = serde_json::json!({
            "x-kubernetes-validations": [{"rule": "a"}],
            "properties": {"spec": {"x-kubernetes-validations": [], "items": [{"x-kubernetes-validations": []}], "type": "object"}}
        });
        assert_eq!(strip_cel_rules(&mut v), 3);
        assert_eq!(
            v,
            serde_json::json!({"properties": {"spec": {"items": [{}], "type": "object"}}})
        );
    }

    #[test]
    fn cel_arrived_in_1_25() {
        assert!(!server_knows_cel("1", "20"));
        assert!(!server_knows_cel("1", "24+"));
        assert!(server_knows_cel("1", "25"));
        assert!(server_knows_cel("1", "33+"));
        assert!(server_knows_cel("2", "0"));
    }
}
