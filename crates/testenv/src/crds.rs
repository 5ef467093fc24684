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
/// Established. Returns the CRD names. Fails when `dir` holds none. The CRDs go in exactly as
/// users install them, CEL rules included: the server compiles and cost-checks every rule.
pub async fn install_crds(client: &kube::Client, dir: &Path) -> Result<Vec<String>> {
    let crds = load_crds(dir)?;
    if crds.is_empty() {
        return Err(Error::NoCrds {
            dir: dir.to_path_buf(),
        });
    }
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for (file, crd) in &crds {
        let name = crd.metadata.name.clone().ok_or_else(|| Error::Manifest {
            path: file.clone(),
            message: "CustomResourceDefinition without metadata.name".to_string(),
        })?;
        let body = serde_json::to_value(crd).map_err(|source| Error::Json {
            action: "serialise",
            path: file.clone(),
            source,
        })?;
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
