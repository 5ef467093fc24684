//! Microsoft.Compute: virtual machines, managed disks, images.
//!
//! Compute answers PUT with 201/200 and `Azure-AsyncOperation` (VMs, images) or 202 with
//! `Location` (disks: the SDKs accept only 200/202 there), DELETE with 202 and both headers.
//! Referenced resources that do not exist are 404 `NotFound` (unverified), property
//! changes Azure forbids are 409 `PropertyChangeNotAllowed`.

pub mod disk;
pub mod image;
pub mod vm;

use super::Registry;
use crate::errors::ArmError;

pub const VM: &str = "Microsoft.Compute/virtualMachines";
pub const DISK: &str = "Microsoft.Compute/disks";
pub const IMAGE: &str = "Microsoft.Compute/images";

pub fn register(reg: &mut Registry) {
    reg.add(vm::VirtualMachines);
    reg.add(disk::Disks);
    reg.add(image::Images);
}

/// 400 `InvalidParameter` naming the offending property, as Compute does.
pub fn invalid_parameter(target: &str, message: impl Into<String>) -> ArmError {
    let m: String = message.into();
    ArmError::bad_request("InvalidParameter", format!("{m} (target: '{target}')"))
}

/// 409 `PropertyChangeNotAllowed`.
pub fn change_not_allowed(property: &str) -> ArmError {
    ArmError::conflict(
        "PropertyChangeNotAllowed",
        format!("Changing property '{property}' is not allowed."),
    )
}

/// Now, RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
