//! Managed images from a VHD blob (or a managed disk / snapshot): storageProfile.osDisk
//! {osType, osState, blobUri, storageAccountType}, hyperVGeneration.

use super::{IMAGE, invalid_parameter};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource};
use crate::types::network::{as_int, canonical, props_of};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Value, json};
use std::time::Duration;

pub struct Images;

/// Is `s` an absolute http(s) URL of a blob (`https://{account}.blob…/{container}/{name}`)?
fn blob_uri_ok(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| {
        matches!(u.scheme(), "https" | "http")
            && u.host_str().is_some()
            && u.path_segments()
                .is_some_and(|seg| seg.filter(|x| !x.is_empty()).count() >= 2)
    })
}

impl ResourceType for Images {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        IMAGE
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let src = props_of(&ctx.body);
        let os = src
            .get("storageProfile")
            .and_then(|s| s.get("osDisk"))
            .cloned()
            .unwrap_or(Value::Null);
        let source_vm = src
            .get("sourceVirtualMachine")
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str);
        if let Some(vm) = source_vm
            && !ctx.store.contains(vm)
        {
            return Err(ArmError::not_found(
                "NotFound",
                format!(
                    "Source Virtual Machine '{vm}' specified in the request does not exist in this Azure location."
                ),
            ));
        }
        if os.is_null() && source_vm.is_none() {
            return Err(invalid_parameter(
                "storageProfile.osDisk",
                "Required parameter 'storageProfile.osDisk' is missing (null).",
            ));
        }
        let mut osd = os.as_object().cloned().unwrap_or_default();
        if !os.is_null() {
            let os_type = os.get("osType").and_then(Value::as_str).unwrap_or("");
            let os_type = canonical(os_type, &["Linux", "Windows"]).ok_or_else(|| {
                invalid_parameter(
                    "storageProfile.osDisk.osType",
                    "Required parameter 'osType' is missing or invalid.",
                )
            })?;
            let state = os.get("osState").and_then(Value::as_str).unwrap_or("");
            let state = canonical(state, &["Generalized", "Specialized"]).ok_or_else(|| {
                invalid_parameter(
                    "storageProfile.osDisk.osState",
                    "Required parameter 'osState' is missing or invalid.",
                )
            })?;
            let blob = os.get("blobUri").and_then(Value::as_str);
            let disk = os
                .get("managedDisk")
                .and_then(|d| d.get("id"))
                .and_then(Value::as_str);
            let snap = os
                .get("snapshot")
                .and_then(|d| d.get("id"))
                .and_then(Value::as_str);
            match (blob, disk, snap) {
                (Some(b), _, _) if !blob_uri_ok(b) => {
                    return Err(invalid_parameter(
                        "storageProfile.osDisk.blobUri",
                        format!("The value '{b}' of parameter 'blobUri' is not a valid blob URI."),
                    ));
                }
                (None, Some(d), _) if !ctx.store.contains(d) => {
                    return Err(ArmError::not_found(
                        "NotFound",
                        format!("Resource {d} not found."),
                    ));
                }
                (None, None, None) => {
                    return Err(invalid_parameter(
                        "storageProfile.osDisk",
                        "One of 'blobUri', 'managedDisk' or 'snapshot' is required for the OS disk of an image.",
                    ));
                }
                _ => {}
            }
            osd.insert("osType".into(), json!(os_type));
            osd.insert("osState".into(), json!(state));
            let sat = os
                .get("storageAccountType")
                .and_then(Value::as_str)
                .unwrap_or("Standard_LRS");
            osd.insert("storageAccountType".into(), json!(sat));
            osd.insert(
                "caching".into(),
                os.get("caching").cloned().unwrap_or(json!("ReadWrite")),
            );
            if let Some(gb) = os.get("diskSizeGB").and_then(as_int) {
                osd.insert("diskSizeGB".into(), json!(gb));
            }
        }
        let hv = src
            .get("hyperVGeneration")
            .and_then(Value::as_str)
            .unwrap_or("V1");
        let hv = canonical(hv, &["V1", "V2"]).ok_or_else(|| {
            invalid_parameter(
                "hyperVGeneration",
                format!("The value '{hv}' of parameter 'hyperVGeneration' is not allowed."),
            )
        })?;
        if let Some(e) = ctx.existing {
            let old = e
                .body
                .pointer("/properties/hyperVGeneration")
                .and_then(Value::as_str)
                .unwrap_or("V1");
            if old != hv {
                return Err(super::change_not_allowed("hyperVGeneration"));
            }
        }
        let data = src
            .get("storageProfile")
            .and_then(|s| s.get("dataDisks"))
            .cloned()
            .unwrap_or(json!([]));
        let zr = src
            .get("storageProfile")
            .and_then(|s| s.get("zoneResilient"))
            .cloned()
            .unwrap_or(json!(false));
        let mut props = json!({
            "storageProfile": {"osDisk": osd, "dataDisks": data, "zoneResilient": zr},
            "hyperVGeneration": hv,
        });
        if let Some(vm) = source_vm {
            props["sourceVirtualMachine"] = json!({"id": vm});
        }
        let mut out = json!({"location": location, "properties": props});
        for k in ["tags", "extendedLocation"] {
            if let Some(v) = ctx.body.get(k) {
                out[k] = v.clone();
            }
        }
        Ok(out)
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }

    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }

    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Delete => Duration::from_secs(5),
            _ => Duration::from_secs(45),
        }
    }

    fn render(&self, res: &Resource, _store: &crate::store::Store) -> Value {
        res.body.clone()
    }
}
