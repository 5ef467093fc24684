//! Virtual machines: size, image (marketplace reference or a managed image that must exist),
//! OS disk created as a `Microsoft.Compute/disks` resource (deleted with the VM when its
//! `deleteOption` is `Delete`), data disks (Attach / Empty), osProfile (customData and
//! adminPassword accepted and never echoed back), NICs (must exist, one VM each), zones;
//! `instanceView` as a GET view and as `$expand`.

use super::disk::{attached_to, disk_body, finish_props};
use super::{DISK, IMAGE, VM, change_not_allowed, invalid_parameter, now_rfc3339};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store, new_etag};
use crate::types::network::refs::{RefKind, incoming};
use crate::types::network::{NIC, as_int, canonical, lookup, props_of};
use crate::types::util::require_location;
use crate::types::{ActionContext, Flow, PutContext, ResourceType};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct VirtualMachines;

fn not_found(id: &str) -> ArmError {
    ArmError::not_found("NotFound", format!("Resource {id} not found."))
}

fn disk_id(ctx: &PutContext<'_>, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/{DISK}/{name}",
        ctx.id.subscription, ctx.id.resource_group
    )
}

fn hex_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Validates the image reference; returns it normalized and the image's OS type if known.
fn image_reference(ctx: &PutContext<'_>, r: &Value) -> Result<(Value, Option<String>), ArmError> {
    if let Some(id) = r.get("id").and_then(Value::as_str) {
        let is_managed_image = id
            .to_ascii_lowercase()
            .contains("/providers/microsoft.compute/images/");
        if is_managed_image {
            let img = lookup(ctx.store, id, IMAGE).ok_or_else(|| {
                ArmError::not_found(
                    "NotFound",
                    format!(
                        "The Image '{id}' cannot be found in '{}' region.",
                        ctx.body
                            .get("location")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ),
                )
            })?;
            let os = img
                .body
                .pointer("/properties/storageProfile/osDisk/osType")
                .and_then(Value::as_str)
                .map(str::to_string);
            return Ok((json!({"id": img.id}), os));
        }
        if !ctx.store.contains(id) {
            return Err(not_found(id));
        }
        return Ok((json!({"id": id}), None));
    }
    let mut out = Map::new();
    for k in ["publisher", "offer", "sku", "version"] {
        let v = r.get(k).and_then(Value::as_str).unwrap_or("");
        if v.is_empty() {
            return Err(invalid_parameter(
                &format!("imageReference.{k}"),
                format!("Required parameter 'imageReference.{k}' is missing (null)."),
            ));
        }
        out.insert(k.into(), json!(v));
    }
    let version = r.get("version").and_then(Value::as_str).unwrap_or("");
    let exact = if version.eq_ignore_ascii_case("latest") {
        "1.0.0"
    } else {
        version
    };
    out.insert("exactVersion".into(), json!(exact));
    Ok((Value::Object(out), None))
}

fn os_profile(
    ctx: &PutContext<'_>,
    src: &Map<String, Value>,
    from_image: bool,
) -> Result<Option<Value>, ArmError> {
    let Some(p) = src.get("osProfile").and_then(Value::as_object) else {
        if from_image && ctx.existing.is_none() {
            return Err(invalid_parameter(
                "osProfile",
                "Required parameter 'osProfile' is missing (null).",
            ));
        }
        return Ok(ctx
            .existing
            .and_then(|e| e.body.pointer("/properties/osProfile"))
            .cloned());
    };
    let admin = p.get("adminUsername").and_then(Value::as_str).unwrap_or("");
    if admin.is_empty() {
        return Err(invalid_parameter(
            "osProfile.adminUsername",
            "Required parameter 'adminUsername' is missing (null).",
        ));
    }
    if let Some(cd) = p.get("customData").and_then(Value::as_str)
        && base64::engine::general_purpose::STANDARD
            .decode(cd)
            .is_err()
    {
        return Err(invalid_parameter(
            "customData",
            "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters.",
        ));
    }
    let computer = p
        .get("computerName")
        .and_then(Value::as_str)
        .unwrap_or(ctx.id.name())
        .to_string();
    if let Some(old) = ctx
        .existing
        .and_then(|e| e.body.pointer("/properties/osProfile"))
    {
        for (k, new) in [
            ("computerName", computer.as_str()),
            ("adminUsername", admin),
        ] {
            if old.get(k).and_then(Value::as_str).is_some_and(|o| o != new) {
                return Err(change_not_allowed(&format!("osProfile.{k}")));
            }
        }
    }
    let windows = p.get("windowsConfiguration").is_some();
    // Computer names: 15 characters on Windows (NetBIOS), 64 on Linux.
    let max_computer = if windows { 15 } else { 64 };
    if computer.chars().count() > max_computer {
        return Err(invalid_parameter(
            "osProfile.computerName",
            format!(
                "The computer name {computer} is too long: at most {max_computer} characters are allowed for a {} virtual machine.",
                if windows { "Windows" } else { "Linux" }
            ),
        ));
    }
    let mut out = Map::new();
    out.insert("computerName".into(), json!(computer));
    out.insert("adminUsername".into(), json!(admin));
    if windows {
        out.insert(
            "windowsConfiguration".into(),
            p["windowsConfiguration"].clone(),
        );
    } else {
        let lc = p
            .get("linuxConfiguration")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let mut l = lc.as_object().cloned().unwrap_or_default();
        let disable_pw = l
            .get("disablePasswordAuthentication")
            .and_then(Value::as_bool)
            .unwrap_or(p.get("adminPassword").is_none());
        l.insert("disablePasswordAuthentication".into(), json!(disable_pw));
        if !l.contains_key("provisionVMAgent") {
            l.insert("provisionVMAgent".into(), json!(true));
        }
        if !l.contains_key("patchSettings") {
            l.insert(
                "patchSettings".into(),
                json!({"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}),
            );
        }
        out.insert("linuxConfiguration".into(), Value::Object(l));
    }
    out.insert(
        "secrets".into(),
        p.get("secrets").cloned().unwrap_or(json!([])),
    );
    out.insert("allowExtensionOperations".into(), json!(true));
    out.insert("requireGuestProvisionSignal".into(), json!(true));
    // customData and adminPassword are write-only: accepted above, never stored or echoed.
    Ok(Some(Value::Object(out)))
}

fn network_profile(ctx: &PutContext<'_>, src: &Map<String, Value>) -> Result<Value, ArmError> {
    let nics = src
        .get("networkProfile")
        .and_then(|n| n.get("networkInterfaces"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if nics.is_empty() {
        return Err(invalid_parameter(
            "networkProfile",
            "Virtual machine must have at least one network interface (networkProfile.networkInterfaces).",
        ));
    }
    let primaries = nics
        .iter()
        .filter(|n| n.pointer("/properties/primary").and_then(Value::as_bool) == Some(true))
        .count();
    if nics.len() > 1 && primaries != 1 {
        return Err(invalid_parameter(
            "networkProfile.networkInterfaces",
            format!(
                "Virtual machine {} must have one network interface set as the primary.",
                ctx.id.name()
            ),
        ));
    }
    let mut out = Vec::new();
    for n in &nics {
        let id = n.get("id").and_then(Value::as_str).unwrap_or("");
        let nic = lookup(ctx.store, id, NIC).ok_or_else(|| not_found(id))?;
        if let Some(other) = incoming(ctx.store, &nic.id, &[RefKind::VmNic])
            .into_iter()
            .find(|e| !e.owner.eq_ignore_ascii_case(ctx.id_str))
        {
            return Err(ArmError::bad_request(
                "NicInUse",
                format!(
                    "Network Interface {} is used by existing VM {}.",
                    nic.id, other.owner
                ),
            ));
        }
        let primary = n
            .pointer("/properties/primary")
            .and_then(Value::as_bool)
            .unwrap_or(nics.len() == 1);
        let delete_option = n
            .pointer("/properties/deleteOption")
            .and_then(Value::as_str)
            .and_then(|d| canonical(d, &["Delete", "Detach"]))
            .unwrap_or("Detach");
        out.push(json!({"id": nic.id, "properties": {"primary": primary, "deleteOption": delete_option}}));
    }
    Ok(json!({"networkInterfaces": out}))
}

fn storage_profile(
    ctx: &PutContext<'_>,
    src: &Map<String, Value>,
) -> Result<(Value, bool), ArmError> {
    let sp = src.get("storageProfile").cloned().unwrap_or(Value::Null);
    let os = sp.get("osDisk").cloned().unwrap_or_else(|| json!({}));
    let opt = os
        .get("createOption")
        .and_then(Value::as_str)
        .unwrap_or("FromImage");
    let opt = canonical(opt, &["FromImage", "Attach", "Empty"]).ok_or_else(|| {
        invalid_parameter(
            "storageProfile.osDisk.createOption",
            format!("The value '{opt}' of parameter 'createOption' is not allowed."),
        )
    })?;
    let from_image = opt == "FromImage";
    let old_sp = ctx
        .existing
        .and_then(|e| e.body.pointer("/properties/storageProfile"));
    let mut out = Map::new();
    let mut os_type = os.get("osType").and_then(Value::as_str).map(str::to_string);
    if let Some(r) = sp.get("imageReference").filter(|r| !r.is_null()) {
        let (r, img_os) = image_reference(ctx, r)?;
        if let Some(old) = old_sp.and_then(|o| o.get("imageReference"))
            && old.get("id") != r.get("id")
            && ["publisher", "offer", "sku"]
                .iter()
                .any(|k| old.get(*k) != r.get(*k))
        {
            return Err(change_not_allowed("imageReference"));
        }
        os_type = os_type.or(img_os);
        out.insert("imageReference".into(), r);
    } else if from_image {
        match old_sp.and_then(|o| o.get("imageReference")) {
            Some(old) => {
                out.insert("imageReference".into(), old.clone());
            }
            None => {
                return Err(invalid_parameter(
                    "imageReference",
                    "Required parameter 'imageReference' is missing (null).",
                ));
            }
        }
    }
    let old_os = old_sp.and_then(|o| o.get("osDisk"));
    let name = os
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            old_os
                .and_then(|o| o.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("{}_OsDisk_1_{}", ctx.id.name(), hex_suffix()));
    let sat = os
        .pointer("/managedDisk/storageAccountType")
        .and_then(Value::as_str)
        .unwrap_or("Premium_LRS");
    let sat = canonical(sat, super::disk::SKUS).ok_or_else(|| {
        invalid_parameter(
            "storageProfile.osDisk.managedDisk.storageAccountType",
            format!("The value '{sat}' is not allowed."),
        )
    })?;
    let managed_id = if opt == "Attach" {
        let id = os
            .pointer("/managedDisk/id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let d = lookup(ctx.store, id, DISK).ok_or_else(|| not_found(id))?;
        if let Some(vm) =
            attached_to(ctx.store, &d.id).filter(|v| !v.eq_ignore_ascii_case(ctx.id_str))
        {
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                format!("Disk {} is attached to VM {vm}.", d.name()),
            ));
        }
        d.id.clone()
    } else {
        disk_id(ctx, &name)
    };
    let size = os.get("diskSizeGB").and_then(as_int).unwrap_or(30);
    let delete_option = os
        .get("deleteOption")
        .and_then(Value::as_str)
        .and_then(|d| canonical(d, &["Delete", "Detach"]))
        .unwrap_or("Detach");
    let linux = src
        .get("osProfile")
        .and_then(|p| p.get("windowsConfiguration"))
        .is_none();
    let os_type = os_type.unwrap_or_else(|| {
        if linux {
            "Linux".into()
        } else {
            "Windows".into()
        }
    });
    if let Some(old) = old_os.and_then(|o| o.get("name")).and_then(Value::as_str)
        && os
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n != old)
    {
        return Err(change_not_allowed("osDisk.name"));
    }
    out.insert(
        "osDisk".into(),
        json!({
            "osType": os_type, "name": name, "createOption": opt,
            "caching": os.get("caching").cloned().unwrap_or(json!("ReadWrite")),
            "managedDisk": {"storageAccountType": sat, "id": managed_id},
            "deleteOption": delete_option, "diskSizeGB": size,
        }),
    );
    let mut data = Vec::new();
    let mut luns = std::collections::HashSet::new();
    for d in sp
        .get("dataDisks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let lun = d.get("lun").and_then(as_int).ok_or_else(|| {
            invalid_parameter(
                "dataDisks.lun",
                "Required parameter 'lun' is missing (null).",
            )
        })?;
        if !luns.insert(lun) {
            return Err(invalid_parameter(
                "dataDisks",
                format!("A disk at LUN {lun} already exists."),
            ));
        }
        let dopt = d.get("createOption").and_then(Value::as_str).unwrap_or("");
        let dopt = canonical(dopt, &["Attach", "Empty"]).ok_or_else(|| {
            invalid_parameter(
                "dataDisks.createOption",
                format!("The value '{dopt}' of parameter 'createOption' is not allowed."),
            )
        })?;
        let dsat = d
            .pointer("/managedDisk/storageAccountType")
            .and_then(Value::as_str)
            .unwrap_or(sat);
        let (id, dname, dsize) = if dopt == "Attach" {
            let id = d
                .pointer("/managedDisk/id")
                .and_then(Value::as_str)
                .unwrap_or("");
            let disk = lookup(ctx.store, id, DISK).ok_or_else(|| not_found(id))?;
            if let Some(vm) =
                attached_to(ctx.store, &disk.id).filter(|v| !v.eq_ignore_ascii_case(ctx.id_str))
            {
                return Err(ArmError::conflict(
                    "OperationNotAllowed",
                    format!("Disk {} is attached to VM {vm}.", disk.name()),
                ));
            }
            let size = disk
                .body
                .pointer("/properties/diskSizeGB")
                .and_then(as_int)
                .unwrap_or(0);
            (disk.id.clone(), disk.name().to_string(), size)
        } else {
            let size = d.get("diskSizeGB").and_then(as_int).ok_or_else(|| {
                invalid_parameter(
                    "dataDisks.diskSizeGB",
                    "Required parameter 'diskSizeGB' is missing (null).",
                )
            })?;
            let dname = d
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}_disk{}_{}", ctx.id.name(), lun + 2, hex_suffix()));
            (disk_id(ctx, &dname), dname, size)
        };
        let ddel = d
            .get("deleteOption")
            .and_then(Value::as_str)
            .and_then(|x| canonical(x, &["Delete", "Detach"]))
            .unwrap_or("Detach");
        data.push(json!({
            "lun": lun, "name": dname, "createOption": dopt,
            "caching": d.get("caching").cloned().unwrap_or(json!("None")),
            "managedDisk": {"storageAccountType": dsat, "id": id},
            "deleteOption": ddel, "diskSizeGB": dsize, "toBeDetached": false,
        }));
    }
    out.insert("dataDisks".into(), Value::Array(data));
    out.insert("diskControllerType".into(), json!("SCSI"));
    Ok((Value::Object(out), from_image))
}

/// The VM's instance view: provisioning and power state.
fn instance_view(res: &Resource) -> Value {
    let now = now_rfc3339();
    let (prov_code, prov_display, power) = match &res.pending {
        Some(p) if p.kind == OpKind::Delete => (
            "ProvisioningState/deleting",
            "Deleting",
            "PowerState/deallocating",
        ),
        Some(p) if p.kind == OpKind::Create => (
            "ProvisioningState/creating",
            "Creating",
            "PowerState/starting",
        ),
        Some(_) => (
            "ProvisioningState/updating",
            "Updating",
            "PowerState/running",
        ),
        None => match res
            .body
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
        {
            Some("Failed") => (
                "ProvisioningState/failed",
                "Provisioning failed",
                "PowerState/stopped",
            ),
            // With `--machines`, the power state is the guest's.
            _ => (
                "ProvisioningState/succeeded",
                "Provisioning succeeded",
                match res
                    .body
                    .pointer(&format!("/{GUEST_KEY}/powerState"))
                    .and_then(Value::as_str)
                {
                    Some("stopped") => "PowerState/stopped",
                    Some("starting") => "PowerState/starting",
                    _ => "PowerState/running",
                },
            ),
        },
    };
    let power_display = match power {
        "PowerState/running" => "VM running",
        "PowerState/starting" => "VM starting",
        "PowerState/deallocating" => "VM deallocating",
        _ => "VM stopped",
    };
    let mut disks = Vec::new();
    if let Some(n) = res.body.pointer("/properties/storageProfile/osDisk/name") {
        disks.push(json!({"name": n, "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "time": now}]}));
    }
    json!({
        "computerName": res.body.pointer("/properties/osProfile/computerName").cloned().unwrap_or(Value::Null),
        "osName": "ubuntu",
        "osVersion": "22.04",
        "hyperVGeneration": "V2",
        "vmAgent": {"vmAgentVersion": "2.10.0.8", "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready", "message": "Guest Agent is running", "time": now}]},
        "disks": disks,
        "statuses": [
            {"code": prov_code, "level": "Info", "displayStatus": prov_display, "time": now},
            {"code": power, "level": "Info", "displayStatus": power_display},
        ],
    })
}

/// `retrieveBootDiagnosticsData`: SAS URIs of the serial console log and the screenshot,
/// valid `sasUriExpirationTimeInMinutes` (default 120). Refused unless boot diagnostics are
/// enabled. The URIs point at the simulator (`/_sim/bootdiagnostics/…`), standing in for
/// the storage account Azure manages for boot diagnostics.
fn boot_diagnostics_data(ctx: &ActionContext<'_>) -> Result<Value, ArmError> {
    let res = ctx.resource;
    let enabled = res
        .body
        .pointer("/properties/diagnosticsProfile/bootDiagnostics/enabled")
        .and_then(Value::as_bool)
        == Some(true);
    if !enabled {
        return Err(ArmError::conflict(
            "OperationNotAllowed",
            format!(
                "Boot diagnostics is not enabled for the virtual machine '{}'. Enable it (diagnosticsProfile.bootDiagnostics.enabled) and restart the virtual machine.",
                res.name()
            ),
        ));
    }
    let minutes = match ctx.query("sasUriExpirationTimeInMinutes") {
        None => 120,
        Some(m) => m
            .parse::<i64>()
            .ok()
            .filter(|m| (1..=1440).contains(m))
            .ok_or_else(|| {
                invalid_parameter(
                    "sasUriExpirationTimeInMinutes",
                    format!("The value '{m}' of parameter 'sasUriExpirationTimeInMinutes' is out of range: 1 to 1440."),
                )
            })?,
    };
    let vm_id = res
        .body
        .pointer("/properties/vmId")
        .and_then(Value::as_str)
        .unwrap_or(res.name());
    let expiry = time::OffsetDateTime::now_utc().unix_timestamp() + minutes * 60;
    let uri = |file: &str| {
        let sig = crate::bootdiag::sign(ctx.sas_key, vm_id, file, expiry);
        format!(
            "{}/_sim/bootdiagnostics/{vm_id}/{file}?se={expiry}&sig={sig}",
            ctx.base_url
        )
    };
    Ok(json!({
        "consoleScreenshotBlobUri": uri(crate::bootdiag::SCREENSHOT),
        "serialConsoleLogBlobUri": uri(crate::bootdiag::SERIAL_LOG),
    }))
}

/// Where a VM's body keeps what only its guest sees (customData) and, with `--machines`,
/// its guest's power state; removed by `render`, so no GET, list or inventory shows it.
pub const GUEST_KEY: &str = "x-armsim-guest";

/// The customData VM `id` was given (decoded text), as its guest would read it.
pub fn guest_custom_data(store: &Store, id: &str) -> Option<String> {
    let b64 = store
        .get(id)?
        .body
        .pointer(&format!("/{GUEST_KEY}/customData"))?
        .as_str()?
        .to_string();
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

impl ResourceType for VirtualMachines {
    fn tag_limits(&self) -> crate::tag_rules::TagLimits {
        crate::tag_rules::TagLimits::VIRTUAL_MACHINE
    }
    /// Linux VM names: 1-64 characters (Windows computer names are checked in osProfile).
    fn max_name_length(&self) -> Option<usize> {
        Some(64)
    }
    fn type_name(&self) -> &'static str {
        VM
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let src = props_of(&ctx.body);
        let size = src
            .get("hardwareProfile")
            .and_then(|h| h.get("vmSize"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if size.is_empty() {
            return Err(invalid_parameter(
                "hardwareProfile.vmSize",
                "Required parameter 'hardwareProfile.vmSize' is missing (null).",
            ));
        }
        let zones = ctx.body.get("zones").cloned().filter(|z| !z.is_null());
        if let Some(z) = &zones {
            let ok = z.as_array().is_some_and(|a| {
                a.len() <= 1
                    && a.iter()
                        .all(|x| matches!(x.as_str(), Some("1" | "2" | "3")))
            });
            if !ok {
                return Err(invalid_parameter(
                    "zones",
                    format!(
                        "The value {z} of parameter 'zones' is not allowed: a virtual machine is placed in at most one of zones 1, 2, 3."
                    ),
                ));
            }
        }
        if let Some(e) = ctx.existing {
            let old = e.body.get("zones").cloned().unwrap_or(json!([]));
            let new = zones.clone().unwrap_or(json!([]));
            if old != new {
                return Err(change_not_allowed("zones"));
            }
        }
        let (storage, from_image) = storage_profile(&ctx, &src)?;
        let os = os_profile(&ctx, &src, from_image)?;
        let net = network_profile(&ctx, &src)?;
        let keep = |k: &str| {
            ctx.existing
                .and_then(|e| e.body.pointer(&format!("/properties/{k}")))
                .cloned()
        };
        let mut p = Map::new();
        p.insert("hardwareProfile".into(), json!({"vmSize": size}));
        p.insert("storageProfile".into(), storage);
        if let Some(os) = os {
            p.insert("osProfile".into(), os);
        }
        p.insert("networkProfile".into(), net);
        for k in [
            "diagnosticsProfile",
            "securityProfile",
            "additionalCapabilities",
            "priority",
            "evictionPolicy",
            "licenseType",
            "userData",
            "availabilitySet",
        ] {
            if let Some(v) = src.get(k).filter(|v| !v.is_null()) {
                p.insert(k.into(), v.clone());
            }
        }
        p.remove("userData");
        p.insert(
            "vmId".into(),
            keep("vmId").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
        );
        p.insert(
            "timeCreated".into(),
            keep("timeCreated").unwrap_or_else(|| json!(now_rfc3339())),
        );
        let mut out = json!({"location": location, "properties": p});
        for k in ["tags", "identity", "plan", "extendedLocation"] {
            if let Some(v) = ctx.body.get(k).filter(|v| !v.is_null()) {
                out[k] = v.clone();
            }
        }
        if let Some(z) = zones {
            out["zones"] = z;
        }
        // The guest's view of customData: kept aside (never rendered), the last one given.
        let custom_data = src
            .get("osProfile")
            .and_then(|o| o.get("customData"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                ctx.existing
                    .and_then(|e| e.body.pointer(&format!("/{GUEST_KEY}/customData")))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        if let Some(cd) = custom_data {
            out[GUEST_KEY] = json!({"customData": cd});
        }
        Ok(out)
    }

    fn render(&self, res: &Resource, _store: &Store) -> Value {
        let mut body = res.body.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove(GUEST_KEY);
        }
        body
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }

    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }

    /// Compute returns a VM's etag in its body in the API versions azop uses (for If-Match).
    fn etag_in_body(&self) -> bool {
        true
    }

    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Create => Duration::from_secs(90),
            OpKind::Update => Duration::from_secs(20),
            OpKind::Delete => Duration::from_secs(45),
        }
    }

    /// Creates the managed disks the VM made (OS disk from the image, Empty data disks).
    fn after_write(&self, id: &str, store: &mut Store) {
        let Some(vm) = store.get(id).cloned() else {
            return;
        };
        let location = vm.location().unwrap_or("").to_string();
        let zones = vm.body.get("zones").cloned();
        let sp = vm
            .body
            .pointer("/properties/storageProfile")
            .cloned()
            .unwrap_or(Value::Null);
        let mut wanted: Vec<(String, String, Map<String, Value>)> = Vec::new();
        if let Some(os) = sp
            .get("osDisk")
            .filter(|o| o.get("createOption").and_then(Value::as_str) == Some("FromImage"))
        {
            let mut p = Map::new();
            p.insert(
                "osType".into(),
                os.get("osType").cloned().unwrap_or(json!("Linux")),
            );
            p.insert("hyperVGeneration".into(), json!("V2"));
            let image = match sp.get("imageReference") {
                Some(r) if r.get("id").is_some() => json!({"id": r["id"]}),
                Some(r) => json!({"id": format!(
                    "/Subscriptions/{}/Providers/Microsoft.Compute/Locations/{location}/Publishers/{}/ArtifactTypes/VMImage/Offers/{}/Skus/{}/Versions/{}",
                    id.split('/').nth(2).unwrap_or(""),
                    r["publisher"].as_str().unwrap_or(""), r["offer"].as_str().unwrap_or(""),
                    r["sku"].as_str().unwrap_or(""), r["exactVersion"].as_str().unwrap_or(""))}),
                None => Value::Null,
            };
            p.insert(
                "creationData".into(),
                json!({"createOption": "FromImage", "imageReference": image}),
            );
            p.insert(
                "diskSizeGB".into(),
                os.get("diskSizeGB").cloned().unwrap_or(json!(30)),
            );
            let sat = os
                .pointer("/managedDisk/storageAccountType")
                .and_then(Value::as_str)
                .unwrap_or("Premium_LRS");
            let did = os
                .pointer("/managedDisk/id")
                .and_then(Value::as_str)
                .unwrap_or("");
            wanted.push((did.to_string(), sat.to_string(), p));
        }
        for d in sp
            .get("dataDisks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if d.get("createOption").and_then(Value::as_str) != Some("Empty") {
                continue;
            }
            let mut p = Map::new();
            p.insert("creationData".into(), json!({"createOption": "Empty"}));
            p.insert(
                "diskSizeGB".into(),
                d.get("diskSizeGB").cloned().unwrap_or(json!(32)),
            );
            let sat = d
                .pointer("/managedDisk/storageAccountType")
                .and_then(Value::as_str)
                .unwrap_or("Premium_LRS");
            let did = d
                .pointer("/managedDisk/id")
                .and_then(Value::as_str)
                .unwrap_or("");
            wanted.push((did.to_string(), sat.to_string(), p));
        }
        for (did, sat, mut p) in wanted {
            if did.is_empty() || store.contains(&did) {
                continue;
            }
            finish_props(&mut p, &sat, None);
            p.insert("provisioningState".into(), json!("Succeeded"));
            let mut body = disk_body(&location, zones.as_ref(), &sat, p);
            let name = did.rsplit('/').next().unwrap_or("").to_string();
            body["id"] = json!(did);
            body["name"] = json!(name);
            body["type"] = json!(DISK);
            if let Some(t) = vm.body.get("tags") {
                body["tags"] = t.clone();
            }
            store.insert(Resource {
                id: did,
                type_name: DISK.into(),
                body,
                etag: new_etag(),
                pending: None,
            });
        }
    }

    /// Deletes the disks and NICs whose `deleteOption` is `Delete`.
    fn after_delete(&self, res: &Resource, store: &mut Store) {
        let b = &res.body;
        let mut doomed = Vec::new();
        let deleting =
            |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_str) == Some("Delete");
        if let Some(os) = b.pointer("/properties/storageProfile/osDisk")
            && deleting(os, "/deleteOption")
            && let Some(id) = os.pointer("/managedDisk/id").and_then(Value::as_str)
        {
            doomed.push(id.to_string());
        }
        for d in b
            .pointer("/properties/storageProfile/dataDisks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if deleting(d, "/deleteOption")
                && let Some(id) = d.pointer("/managedDisk/id").and_then(Value::as_str)
            {
                doomed.push(id.to_string());
            }
        }
        for n in b
            .pointer("/properties/networkProfile/networkInterfaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if deleting(n, "/properties/deleteOption")
                && let Some(id) = n.get("id").and_then(Value::as_str)
            {
                doomed.push(id.to_string());
            }
        }
        for id in doomed {
            store.remove_tree(&id);
        }
    }

    fn expand(&self, expand: &str, res: &Resource, _store: &Store, body: &mut Value) {
        if expand.eq_ignore_ascii_case("instanceView") {
            body["properties"]["instanceView"] = instance_view(res);
        }
    }

    fn action(&self, name: &str, ctx: ActionContext<'_>) -> Result<Value, ArmError> {
        if name.eq_ignore_ascii_case("instanceView") {
            return Ok(instance_view(ctx.resource));
        }
        if name.eq_ignore_ascii_case("retrieveBootDiagnosticsData") {
            return boot_diagnostics_data(&ctx);
        }
        Err(ArmError::not_found(
            "ResourceNotFound",
            format!("The action '{name}' is not supported on type '{VM}'."),
        ))
    }
}
