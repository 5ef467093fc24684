//! A listed resource's body as the listing keeps it: LZ4-compressed JSON.
//!
//! The listing keeps the body of every resource azop owns (issue 24: with 1,000 clusters in
//! one subscription, 22,000 of them), because a pass reads its resources from the listing
//! instead of by GET. ARM bodies repeat the subscription's and the group's path in every id
//! they hold, which LZ4 takes to a little over half (a VM: 668 bytes for 1,191), and a body
//! is decompressed only when a pass reads it (a few per pass, each a few KiB, microseconds).
//! LZ4 rather than zstd: `lz4_flex` is pure Rust, with no `unsafe` in the features used
//! here, and builds in seconds; zstd links a C library.

use std::fmt;
use std::sync::Arc;

/// A compressed JSON body; cheap to clone (shared).
#[derive(Clone, PartialEq, Eq)]
pub struct KeptBody(Arc<[u8]>);

impl KeptBody {
    /// Keeps `json` compressed.
    pub fn new(json: &[u8]) -> KeptBody {
        KeptBody(Arc::from(lz4_flex::compress_prepend_size(json)))
    }

    /// The JSON, as it was given to [`KeptBody::new`].
    pub fn json(&self) -> Result<Vec<u8>, lz4_flex::block::DecompressError> {
        lz4_flex::decompress_size_prepended(&self.0)
    }

    /// Bytes held (compressed).
    pub fn held_len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for KeptBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeptBody({} bytes compressed)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VM as ARM lists it, the shape most kept bodies have.
    fn vm(i: usize) -> serde_json::Value {
        let group = format!(
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/c{i:04}-rg"
        );
        serde_json::json!({
            "id": format!("{group}/providers/Microsoft.Compute/virtualMachines/c{i:04}-cp-0"),
            "name": format!("c{i:04}-cp-0"),
            "type": "Microsoft.Compute/virtualMachines",
            "location": "westeurope",
            "etag": "\"5\"",
            "tags": {"azop.dev_owner": format!("default/c{i:04}"), "azop.dev_uid": "3f1c2a9e-1d2b-4c5d-8e9f-0a1b2c3d4e5f"},
            "zones": ["1"],
            "properties": {
                "provisioningState": "Succeeded",
                "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                "storageProfile": {
                    "imageReference": {"id": format!("{group}/providers/Microsoft.Compute/images/base")},
                    "osDisk": {"name": format!("c{i:04}-cp-0-os"), "createOption": "FromImage", "managedDisk": {"storageAccountType": "Premium_LRS", "id": format!("{group}/providers/Microsoft.Compute/disks/c{i:04}-cp-0-os")}}
                },
                "osProfile": {"computerName": format!("c{i:04}-cp-0"), "adminUsername": "azop", "linuxConfiguration": {"disablePasswordAuthentication": true}},
                "networkProfile": {"networkInterfaces": [{"id": format!("{group}/providers/Microsoft.Network/networkInterfaces/c{i:04}-cp-0-nic"), "properties": {"primary": true}}]}
            }
        })
    }

    #[test]
    fn a_kept_body_gives_back_exactly_what_it_was_given() {
        for json in [
            serde_json::to_vec(&vm(7)).expect("json"),
            b"{}".to_vec(),
            Vec::new(),
            "{\"name\":\"\u{e9}t\u{e9} \u{1f600}\"}".as_bytes().to_vec(),
        ] {
            assert_eq!(KeptBody::new(&json).json().expect("decompress"), json);
        }
    }

    #[test]
    fn a_listed_body_is_kept_in_well_under_two_thirds_of_its_size() {
        // 668 bytes for this VM's 1,191 at the time of writing.
        let json = serde_json::to_vec(&vm(42)).expect("json");
        let kept = KeptBody::new(&json);
        assert!(
            kept.held_len() * 3 < json.len() * 2,
            "{} bytes kept for {} of JSON",
            kept.held_len(),
            json.len()
        );
    }
}
