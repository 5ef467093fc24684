//! Walks shared between replicas: what one replica's walk of a type says, small enough to
//! hand to the others (through the API server: `azop run --shards N`), and the stable
//! hashes it is made of.
//!
//! A digest is the walk's start (wall clock: it crosses processes) and, for every resource
//! listed, a hash of its id key and its fingerprint (ETag with provisioning state, else the
//! body's hash). No bodies, no ids, no tags: 16 bytes a resource, ~100 KB for the 6,000
//! NICs of 1,000 clusters. A replica applying it ([`super::entries::TypeState::attest`])
//! compares its own entries: a resource whose fingerprint differs, or that the walk did not
//! list, is read again by GET before it is trusted, and its owner is woken; when the walk
//! listed nothing this replica does not know of, its listing counts as walked then. So the
//! replicas walk a subscription once per listing age between them, instead of once each.
//!
//! The hashes are FNV-1a over explicit bytes, not `std`'s `DefaultHasher`: two replicas
//! built by different compilers must compute the same fingerprint for the same resource.
//! [`FORMAT`] names the scheme; a digest of another format is ignored (its reader walks).

use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

/// The digest scheme: a replica ignores digests of another (a rolling upgrade that changed
/// it walks for itself until every replica runs the new one).
pub const FORMAT: &str = "fnv1a64-v1";

/// FNV-1a, 64 bits, over `parts`, each followed by a separator byte (so `["ab", "c"]` and
/// `["a", "bc"]` differ). Stable across builds and platforms. Pure.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

/// The hash a digest carries for a resource's id key (`target::id_key`, lower case). Pure.
pub fn key_hash(key: &str) -> u64 {
    stable_hash(&[key.as_bytes()])
}

/// What a digest names credentials by: a hash of the credentials' cache key (itself a hash
/// of the Secret), so the API server holds nothing derived from a secret that a reader could
/// use, and two replicas reading the same Secret agree. Pure.
pub fn credential_tag(credential_key: &str) -> String {
    let d = Sha256::digest(credential_key.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// One walk of one type across one subscription, as another replica can use it.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkDigest {
    /// [`credential_tag`] of the credentials that walked.
    pub credential: String,
    /// Lower case.
    pub subscription: String,
    /// Lower case.
    pub type_name: String,
    pub api_version: String,
    /// When the walk started, by the walker's clock.
    pub started: SystemTime,
    /// `(key_hash, fingerprint)` of every resource listed, sorted by key hash.
    pub entries: Vec<(u64, u64)>,
}

/// A digest's entries that cannot be read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a walk digest's entries are {0} bytes, not a multiple of 16")]
pub struct BadEntries(pub usize);

impl WalkDigest {
    /// Where this walk's digest is kept: one name per (credentials, subscription, type,
    /// api-version), so each walk replaces the previous one. Hex, 16 characters. Pure.
    pub fn slot(&self) -> String {
        format!(
            "{:016x}",
            stable_hash(&[
                self.credential.as_bytes(),
                self.subscription.as_bytes(),
                self.type_name.as_bytes(),
                self.api_version.as_bytes(),
            ])
        )
    }

    /// The entries as bytes: each pair little-endian, key hash first. Pure.
    pub fn encode_entries(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 16);
        for (k, f) in &self.entries {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&f.to_le_bytes());
        }
        out
    }

    /// [`Self::encode_entries`] read back. Pure.
    pub fn decode_entries(bytes: &[u8]) -> Result<Vec<(u64, u64)>, BadEntries> {
        if !bytes.len().is_multiple_of(16) {
            return Err(BadEntries(bytes.len()));
        }
        Ok(bytes
            .chunks_exact(16)
            .map(|c| {
                let (k, f) = c.split_at(8);
                let word = |b: &[u8]| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    u64::from_le_bytes(a)
                };
                (word(k), word(f))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_and_separates_parts() {
        // FNV-1a 64 of "a" followed by the separator 0xff, by hand from the published
        // offset and prime: a compiler or platform change must not move it.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in [b'a', 0xff] {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(stable_hash(&[b"a"]), h);
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
        assert_eq!(key_hash("/x"), key_hash("/x"));
    }

    #[test]
    fn entries_round_trip_and_a_torn_buffer_is_refused() {
        let d = WalkDigest {
            credential: credential_tag("k"),
            subscription: "s".into(),
            type_name: "microsoft.network/networksecuritygroups".into(),
            api_version: "2024-05-01".into(),
            started: SystemTime::UNIX_EPOCH,
            entries: vec![(1, u64::MAX), (u64::MAX - 1, 0)],
        };
        let bytes = d.encode_entries();
        assert_eq!(bytes.len(), 32);
        assert_eq!(WalkDigest::decode_entries(&bytes), Ok(d.entries.clone()));
        assert_eq!(
            WalkDigest::decode_entries(&bytes[..31]),
            Err(BadEntries(31))
        );
        assert_eq!(d.credential.len(), 16);
        assert_ne!(d.credential, credential_tag("k2"));
        // One slot per (credentials, subscription, type, version); the walk's time is not
        // part of it.
        let mut later = d.clone();
        later.started = SystemTime::now();
        assert_eq!(later.slot(), d.slot());
        later.api_version = "2023-09-01".into();
        assert_ne!(later.slot(), d.slot());
    }
}
