//! Managed disks: creationData, size, sku; `diskState` Unattached/Attached and `managedBy`
//! computed from the VMs that reference the disk; delete of an attached disk refused.

use super::{DISK, change_not_allowed, invalid_parameter, now_rfc3339};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use crate::types::network::refs::{RefKind, incoming};
use crate::types::network::{as_int, canonical, props_of};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct Disks;

pub const SKUS: &[&str] = &[
    "Standard_LRS",
    "Premium_LRS",
    "StandardSSD_LRS",
    "UltraSSD_LRS",
    "Premium_ZRS",
    "StandardSSD_ZRS",
    "PremiumV2_LRS",
];

/// The sku tier Azure reports for a disk sku.
fn sku_tier(name: &str) -> &'static str {
    if name.starts_with("Premium") {
        "Premium"
    } else if name.starts_with("Ultra") {
        "Ultra"
    } else {
        "Standard"
    }
}

/// The performance tier of a Premium disk of this size (P4…P80), else none.
fn perf_tier(sku: &str, gb: i64) -> Option<&'static str> {
    if !sku.starts_with("Premium_") {
        return None;
    }
    const TIERS: &[(i64, &str)] = &[
        (4, "P1"),
        (8, "P2"),
        (16, "P3"),
        (32, "P4"),
        (64, "P6"),
        (128, "P10"),
        (256, "P15"),
        (512, "P20"),
        (1024, "P30"),
        (2048, "P40"),
        (4096, "P50"),
        (8192, "P60"),
        (16384, "P70"),
        (32767, "P80"),
    ];
    TIERS.iter().find(|(max, _)| gb <= *max).map(|(_, t)| *t)
}

/// The body of a managed disk (used by VMs for their OS disks too).
pub fn disk_body(
    location: &str,
    zones: Option<&Value>,
    sku: &str,
    props: Map<String, Value>,
) -> Value {
    let mut v = json!({"location": location, "sku": {"name": sku, "tier": sku_tier(sku)}, "properties": props});
    if let Some(z) = zones {
        v["zones"] = z.clone();
    }
    v
}

/// Fills the server-side disk properties (size in bytes, ids, times, tier).
pub fn finish_props(p: &mut Map<String, Value>, sku: &str, existing: Option<&Resource>) {
    let keep = |k: &str| {
        existing
            .and_then(|e| e.body.pointer(&format!("/properties/{k}")))
            .cloned()
    };
    let gb = p.get("diskSizeGB").and_then(as_int).unwrap_or(30);
    p.insert("diskSizeGB".into(), json!(gb));
    p.insert("diskSizeBytes".into(), json!(gb * 1024 * 1024 * 1024));
    p.insert(
        "uniqueId".into(),
        keep("uniqueId").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
    );
    p.insert(
        "timeCreated".into(),
        keep("timeCreated").unwrap_or_else(|| json!(now_rfc3339())),
    );
    p.insert(
        "encryption".into(),
        json!({"type": "EncryptionAtRestWithPlatformKey"}),
    );
    p.insert("networkAccessPolicy".into(), json!("AllowAll"));
    p.insert("publicNetworkAccess".into(), json!("Enabled"));
    if let Some(t) = perf_tier(sku, gb) {
        p.insert("tier".into(), json!(t));
    }
    p.remove("diskState");
    p.remove("provisioningState");
}

/// The VM that references the disk, if any.
pub fn attached_to(store: &Store, disk_id: &str) -> Option<String> {
    incoming(store, disk_id, &[RefKind::VmDisk])
        .into_iter()
        .next()
        .map(|e| e.owner)
}

impl ResourceType for Disks {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        DISK
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let src = props_of(&ctx.body);
        let sku = ctx
            .body
            .pointer("/sku/name")
            .and_then(Value::as_str)
            .unwrap_or("Standard_LRS");
        let sku = canonical(sku, SKUS).ok_or_else(|| {
            invalid_parameter(
                "sku.name",
                format!("The value '{sku}' of parameter 'sku.name' is not allowed."),
            )
        })?;
        let cd = src.get("creationData").cloned().unwrap_or(Value::Null);
        let option = cd.get("createOption").and_then(Value::as_str).unwrap_or("");
        let option = canonical(
            option,
            &[
                "Empty",
                "Attach",
                "FromImage",
                "Import",
                "Copy",
                "Restore",
                "Upload",
                "ImportSecure",
                "UploadPreparedSecure",
                "CopyStart",
                "CopyFromSanSnapshot",
            ],
        )
        .ok_or_else(|| {
            invalid_parameter(
                "disk.creationData.createOption",
                "Required parameter 'creationData.createOption' is missing or invalid.",
            )
        })?;
        let size = src.get("diskSizeGB").and_then(as_int);
        if option == "Empty" && size.is_none() {
            return Err(invalid_parameter(
                "disk.diskSizeGB",
                "Required parameter 'diskSizeGB' is missing (null).",
            ));
        }
        if option == "Import" && cd.get("sourceUri").and_then(Value::as_str).is_none() {
            return Err(invalid_parameter(
                "disk.creationData.sourceUri",
                "Required parameter 'creationData.sourceUri' is missing (null).",
            ));
        }
        if let Some(e) = ctx.existing {
            let old = e
                .body
                .pointer("/properties/diskSizeGB")
                .and_then(as_int)
                .unwrap_or(0);
            if size.is_some_and(|s| s < old) {
                return Err(ArmError::bad_request(
                    "BadRequest",
                    format!(
                        "Disk size reduction is not supported. Current size is {old} GB, requested size is {} GB.",
                        size.unwrap_or(0)
                    ),
                ));
            }
            let old_opt = e
                .body
                .pointer("/properties/creationData/createOption")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !old_opt.eq_ignore_ascii_case(option) {
                return Err(change_not_allowed("creationData.createOption"));
            }
        }
        let mut p = Map::new();
        let mut cd_out = cd.as_object().cloned().unwrap_or_default();
        cd_out.insert("createOption".into(), json!(option));
        p.insert("creationData".into(), Value::Object(cd_out));
        if let Some(s) = size {
            p.insert("diskSizeGB".into(), json!(s));
        } else if let Some(old) = ctx
            .existing
            .and_then(|e| e.body.pointer("/properties/diskSizeGB"))
        {
            p.insert("diskSizeGB".into(), old.clone());
        }
        for k in [
            "osType",
            "hyperVGeneration",
            "diskIOPSReadWrite",
            "diskMBpsReadWrite",
            "burstingEnabled",
            "supportedCapabilities",
        ] {
            if let Some(v) = src.get(k).filter(|v| !v.is_null()) {
                p.insert(k.into(), v.clone());
            }
        }
        finish_props(&mut p, sku, ctx.existing);
        let mut out = disk_body(&location, ctx.body.get("zones"), sku, p);
        if let Some(t) = ctx.body.get("tags") {
            out["tags"] = t.clone();
        }
        Ok(out)
    }

    fn put_flow(&self) -> Flow {
        Flow::Location
    }

    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }

    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Delete => Duration::from_secs(3),
            _ => Duration::from_secs(5),
        }
    }

    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        match attached_to(store, &res.id) {
            None => Ok(()),
            Some(vm) => Err(ArmError::conflict(
                "OperationNotAllowed",
                format!("Disk {} is attached to VM {vm}.", res.name()),
            )),
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut body = res.body.clone();
        match attached_to(store, &res.id) {
            Some(vm) => {
                body["managedBy"] = json!(vm);
                body["properties"]["diskState"] = json!("Attached");
            }
            None => {
                if let Some(o) = body.as_object_mut() {
                    o.remove("managedBy");
                }
                body["properties"]["diskState"] = json!("Unattached");
            }
        }
        body
    }
}
