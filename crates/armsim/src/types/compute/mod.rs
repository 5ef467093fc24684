//! Microsoft.Compute: virtual machines, managed disks, images.
pub fn register(_reg: &mut super::Registry) {}
