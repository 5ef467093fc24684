//! A listed resource's body as the listing keeps it: LZ4-compressed JSON.
//!
//! The listing keeps the body of every resource azop owns (issue 24: with 1,000 clusters in
//! one subscription, 22,000 of them), because a pass reads its resources from the listing
//! instead of by GET. ARM bodies repeat the subscription's and the group's path in every id
//! they hold, which LZ4 takes to a little over half (a VM: 668 bytes for 1,191), and a body
//! is decompressed only when a pass reads it (a few per pass, each a few KiB, microseconds).
//! LZ4 rather than zstd: `lz4_flex` is pure Rust, with no `unsafe` in the features used
//! here, and builds in seconds; zstd links a C library.
//!
//! Alone, a body of a few hundred bytes gives LZ4 little to find: most of what it repeats is
//! repeated across bodies (property names, the subscription's path, the location, tag
//! names). So the bodies of one ARM type in one subscription are compressed against a shared
//! dictionary, the first body of that type kept ([`Dicts`]): what a body shares with it
//! costs a back-reference.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

/// A compressed JSON body; cheap to clone (shared).
#[derive(Clone, PartialEq, Eq)]
pub struct KeptBody {
    bytes: Arc<[u8]>,
    /// What it was compressed against, if anything (shared by the bodies of its type).
    dict: Option<Dict>,
}

/// A dictionary that bodies are compressed against: JSON of the same type. (A thin pointer:
/// every kept body carries one.)
#[derive(Clone, PartialEq, Eq)]
pub struct Dict(Arc<Vec<u8>>);

impl KeptBody {
    /// Keeps `json` compressed on its own.
    pub fn new(json: &[u8]) -> KeptBody {
        KeptBody {
            bytes: Arc::from(lz4_flex::compress_prepend_size(json)),
            dict: None,
        }
    }

    /// Keeps `json` compressed against `dict`.
    pub fn with_dict(json: &[u8], dict: &Dict) -> KeptBody {
        KeptBody {
            bytes: Arc::from(lz4_flex::block::compress_prepend_size_with_dict(
                json, &dict.0,
            )),
            dict: Some(dict.clone()),
        }
    }

    /// The JSON, as it was given.
    pub fn json(&self) -> Result<Vec<u8>, lz4_flex::block::DecompressError> {
        match &self.dict {
            Some(d) => lz4_flex::block::decompress_size_prepended_with_dict(&self.bytes, &d.0),
            None => lz4_flex::decompress_size_prepended(&self.bytes),
        }
    }

    /// Bytes held by this body alone (compressed; the shared dictionary is not counted).
    pub fn held_len(&self) -> usize {
        self.bytes.len()
    }
}

impl fmt::Debug for KeptBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeptBody({} bytes compressed)", self.bytes.len())
    }
}

/// One dictionary per ARM type (lower case): the first body of the type kept becomes it, for
/// as long as the process runs. One per subscription's listing, so that the subscription's
/// path in it matches the ids of the bodies compressed against it.
#[derive(Debug, Default)]
pub struct Dicts(Mutex<HashMap<String, Dict>>);

impl Dicts {
    /// Keeps `json`, a body of `type_name`, compressed against the type's dictionary.
    pub fn keep(&self, type_name: &str, json: &[u8]) -> KeptBody {
        let dict = self
            .0
            .lock()
            .entry(type_name.to_ascii_lowercase())
            .or_insert_with(|| Dict(Arc::new(json.to_vec())))
            .clone();
        KeptBody::with_dict(json, &dict)
    }
}

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dict({} bytes)", self.0.len())
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
    fn bodies_of_one_type_are_kept_against_its_dictionary() {
        let dicts = Dicts::default();
        let first = serde_json::to_vec(&vm(1)).expect("json");
        let json = serde_json::to_vec(&vm(42)).expect("json");
        let alone = KeptBody::new(&json);
        dicts.keep("Microsoft.Compute/virtualMachines", &first);
        let kept = dicts.keep("microsoft.compute/virtualmachines", &json);
        assert_eq!(kept.json().expect("decompress"), json);
        // 107 bytes for this VM's 1,191 at the time of writing, against 668 alone.
        assert!(
            kept.held_len() * 2 < alone.held_len(),
            "{} bytes against the dictionary, {} alone",
            kept.held_len(),
            alone.held_len()
        );
        // Another type has its own.
        let other = dicts.keep("Microsoft.Network/networkInterfaces", b"{\"x\":1}");
        assert_eq!(other.json().expect("decompress"), b"{\"x\":1}");
        assert_eq!(dicts.0.lock().len(), 2);
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
