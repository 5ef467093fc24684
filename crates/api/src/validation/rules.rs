//! Checks shared by the kinds: patterns, lengths, names, tags, CIDRs, versions.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{LazyLock, Mutex};

use ipnet::Ipv4Net;
use regex::Regex;

use super::{Errors, messages as msg, patterns};
use crate::v1alpha1::AzureScope;

static REGEX_CACHE: LazyLock<Mutex<HashMap<&'static str, Regex>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `value` matches one of the shared [`patterns`].
pub(crate) fn matches(pattern: &'static str, value: &str) -> bool {
    let mut cache = REGEX_CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(re) = cache.get(pattern) {
        return re.is_match(value);
    }
    match Regex::new(pattern) {
        Ok(re) => {
            let ok = re.is_match(value);
            cache.insert(pattern, re);
            ok
        }
        // The patterns are constants with tests of their own; an invalid one matches nothing.
        Err(_) => false,
    }
}

/// A value for a message, shortened so a pasted key or certificate does not flood it.
pub(crate) fn show(value: &str) -> String {
    if value.chars().count() > 48 {
        let head: String = value.chars().take(45).collect();
        format!("\"{head}...\"")
    } else {
        format!("{value:?}")
    }
}

/// A string that must match `pattern` and have `min..=max` characters.
pub(crate) fn string(
    errs: &mut Errors,
    field: &str,
    value: &str,
    pattern: &'static str,
    (min, max): (usize, usize),
    message: &str,
) {
    let len = value.chars().count();
    if len < min || len > max || !matches(pattern, value) {
        errs.push(field, format!("{} is invalid: {message}", show(value)));
    }
}

/// An optional string checked like [`string`].
pub(crate) fn opt_string(
    errs: &mut Errors,
    field: &str,
    value: Option<&String>,
    pattern: &'static str,
    bounds: (usize, usize),
    message: &str,
) {
    if let Some(v) = value {
        string(errs, field, v, pattern, bounds, message);
    }
}

/// An integer in `min..=max`.
pub(crate) fn range(
    errs: &mut Errors,
    field: &str,
    value: i32,
    (min, max): (i32, i32),
    message: &str,
) {
    if value < min || value > max {
        errs.push(field, format!("{value} is out of range: {message}"));
    }
}

/// A list of at most `max` items, each matching `pattern`, without duplicates.
pub(crate) fn string_set(
    errs: &mut Errors,
    field: &str,
    values: &[String],
    pattern: &'static str,
    max: usize,
    message: &str,
    duplicate_message: &str,
) {
    if values.len() > max {
        errs.push(
            field,
            format!("{} items, at most {max} allowed: {message}", values.len()),
        );
    }
    for (i, v) in values.iter().enumerate() {
        if !matches(pattern, v) {
            errs.push(
                format!("{field}[{i}]"),
                format!("{} is invalid: {message}", show(v)),
            );
        }
        if values[..i].contains(v) {
            errs.push(
                format!("{field}[{i}]"),
                format!("{} is listed twice: {duplicate_message}", show(v)),
            );
        }
    }
}

/// Availability zones: "1", "2" or "3", each once.
pub(crate) fn zones(errs: &mut Errors, field: &str, zones: &[String]) {
    string_set(
        errs,
        field,
        zones,
        patterns::ZONE,
        3,
        msg::ZONE,
        msg::ZONES_UNIQUE,
    );
}

/// A reference to an object in the same namespace.
pub(crate) fn object_name(errs: &mut Errors, field: &str, name: &str) {
    string(
        errs,
        field,
        name,
        patterns::OBJECT_NAME,
        (1, 253),
        msg::OBJECT_NAME,
    );
}

/// Subscription, location, resource group, credentials and tags.
pub(crate) fn scope(errs: &mut Errors, scope: &AzureScope) {
    string(
        errs,
        "spec.subscriptionId",
        &scope.subscription_id,
        patterns::GUID,
        (36, 36),
        msg::SUBSCRIPTION_ID,
    );
    string(
        errs,
        "spec.location",
        &scope.location,
        patterns::LOCATION,
        (2, 40),
        msg::LOCATION,
    );
    string(
        errs,
        "spec.resourceGroup",
        &scope.resource_group,
        patterns::RESOURCE_GROUP,
        (1, 90),
        msg::RESOURCE_GROUP,
    );
    if let Some(c) = &scope.credentials_ref {
        object_name(errs, "spec.credentialsRef.name", &c.name);
    }
    tags(errs, "spec.tags", &scope.tags);
}

/// Where an object lives in Azure never changes.
pub(crate) fn scope_update(errs: &mut Errors, old: &AzureScope, new: &AzureScope) {
    if old.subscription_id != new.subscription_id {
        errs.push("spec.subscriptionId", msg::SUBSCRIPTION_ID_IMMUTABLE);
    }
    if old.location != new.location {
        errs.push("spec.location", msg::LOCATION_IMMUTABLE);
    }
    if old.resource_group != new.resource_group {
        errs.push("spec.resourceGroup", msg::RESOURCE_GROUP_IMMUTABLE);
    }
}

const RESERVED_TAG_PREFIXES: [&str; 3] = ["azure", "microsoft", "windows"];

/// Azure's limit of tags on one resource, minus the two azop adds ([`crate::naming::TAG_OWNER`],
/// [`crate::naming::TAG_UID`]).
pub const MAX_USER_TAGS: usize = 48;

/// Azure's tag rules for every resource: reserved prefixes (case-insensitive), forbidden
/// characters, lengths, count (azop's own two included), names that differ only in case (Azure
/// compares tag names case-insensitively), and azop's own tag names.
pub(crate) fn tags(errs: &mut Errors, field: &str, tags: &BTreeMap<String, String>) {
    if tags.len() > MAX_USER_TAGS {
        errs.push(
            field,
            format!("{} tags given: {}", tags.len(), msg::TAG_COUNT),
        );
    }
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (key, value) in tags {
        let lower = key.to_lowercase();
        if let Some(prefix) = RESERVED_TAG_PREFIXES.iter().find(|p| lower.starts_with(*p)) {
            errs.push(
                field,
                format!(
                    "tag key {key:?} starts with the reserved prefix {prefix:?}: {}",
                    msg::TAG_RESERVED
                ),
            );
        }
        if !tag_key_chars_ok(key) {
            errs.push(
                field,
                format!("tag key {}: {}", show(key), msg::TAG_KEY_CHARS),
            );
        }
        if key
            .to_ascii_lowercase()
            .starts_with(crate::naming::OWN_TAG_PREFIX)
        {
            errs.push(field, format!("tag key {key:?}: {}", msg::TAG_KEY_AZOP));
        }
        if value.chars().count() > 256 {
            errs.push(
                field,
                format!("value of tag {key:?}: {}", msg::TAG_VALUE_LENGTH),
            );
        }
        if let Some(first) = seen.insert(key.to_ascii_lowercase(), key) {
            errs.push(
                field,
                format!(
                    "tag keys {first:?} and {key:?}: {}",
                    msg::TAG_KEY_CASE_DUPLICATE
                ),
            );
        }
    }
}

/// 1–512 characters, none of `<>%&\?/` nor a control character.
pub fn tag_key_chars_ok(key: &str) -> bool {
    let len = key.chars().count();
    (1..=512).contains(&len)
        && !key
            .chars()
            .any(|c| "<>%&\\?/".contains(c) || c.is_ascii_control())
}

/// Storage accounts allow tag names of at most 128 characters (other resources 512).
pub(crate) fn storage_account_tags(
    errs: &mut Errors,
    field: &str,
    tags: &BTreeMap<String, String>,
) {
    for key in tags.keys().filter(|k| k.chars().count() > 128) {
        errs.push(
            field,
            format!(
                "tag key {} has {} characters: {}",
                show(key),
                key.chars().count(),
                msg::STORAGE_TAG_KEY_LENGTH
            ),
        );
    }
}

/// The most user tags a private DNS zone (or its VNet link) can carry: Azure's 15 minus
/// azop's two.
pub const MAX_DNS_ZONE_USER_TAGS: usize = 13;

/// Private DNS zones and their VNet links hold at most 15 tags, named without spaces, special
/// characters or a leading digit.
pub(crate) fn dns_zone_tags(errs: &mut Errors, field: &str, tags: &BTreeMap<String, String>) {
    if tags.len() > MAX_DNS_ZONE_USER_TAGS {
        errs.push(
            field,
            format!("{} tags given: {}", tags.len(), msg::DNS_ZONE_TAGS),
        );
    }
    for key in tags
        .keys()
        .filter(|k| !matches(patterns::DNS_ZONE_TAG_KEY, k))
    {
        errs.push(
            field,
            format!("tag key {}: {}", show(key), msg::DNS_ZONE_TAGS),
        );
    }
}

/// What azop's own two tags can take of a VM's 2048 characters, for an object of `kind`
/// named `name`: both keys, the uid (36) and the owner `<kind>/<namespace>/<name>` with the
/// longest namespace (63), since a CEL rule cannot see the namespace.
pub fn own_tag_chars(kind: &str, name: &str) -> usize {
    crate::naming::TAG_OWNER.len()
        + crate::naming::TAG_UID.len()
        + 36
        + kind.len()
        + 1
        + 63
        + 1
        + name.chars().count()
}

/// A VM's (or a scale set's) tags may add up to 2048 characters of names and values.
pub(crate) fn vm_tags_total(
    errs: &mut Errors,
    field: &str,
    tags: &BTreeMap<String, String>,
    kind: &str,
    name: &str,
) {
    let user: usize = tags
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum();
    let own = own_tag_chars(kind, name);
    if user + own > 2048 {
        errs.push(
            field,
            format!(
                "the tags' keys and values take {user} characters and azop's own up to {own}: {}",
                msg::VM_TAGS_TOTAL
            ),
        );
    }
}

/// Ranges Azure refuses in a VNet's address space.
pub const VNET_RESERVED_RANGES: [&str; 5] = [
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "168.63.129.16/32",
];

/// Ranges AKS refuses for pod and service CIDRs.
pub const AKS_RESERVED_RANGES: [&str; 4] = [
    "169.254.0.0/16",
    "172.30.0.0/16",
    "172.31.0.0/16",
    "192.0.2.0/24",
];

/// The first of `reserved` that `net` overlaps.
pub(crate) fn overlapped_range(net: &Ipv4Net, reserved: &[&'static str]) -> Option<&'static str> {
    reserved.iter().copied().find(|r| {
        r.parse::<Ipv4Net>()
            .is_ok_and(|r: Ipv4Net| overlaps(net, &r))
    })
}

/// Addresses Azure leaves for machines in a subnet of prefix length `prefix`: all but the
/// network address, three for Azure's services and the broadcast address.
pub fn usable_subnet_addresses(prefix: u8) -> u64 {
    (1u64 << (32 - u32::from(prefix.min(32)))).saturating_sub(5)
}

/// Number of decimal digits of `n`.
pub(crate) fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Cluster names prefix Azure resource names.
pub(crate) fn cluster_name(errs: &mut Errors, name: &str) {
    if name.chars().count() > 44 {
        errs.push(
            "metadata.name",
            format!(
                "{} has {} characters: {}",
                show(name),
                name.chars().count(),
                msg::CLUSTER_NAME_LENGTH
            ),
        );
    }
    if !matches(patterns::CLUSTER_NAME, name) {
        errs.push(
            "metadata.name",
            format!("{} is invalid: {}", show(name), msg::CLUSTER_NAME_CHARS),
        );
    }
}

/// Parses an IPv4 CIDR, reporting a malformed one and one with host bits set.
pub(crate) fn cidr(errs: &mut Errors, field: &str, value: &str, message: &str) -> Option<Ipv4Net> {
    if !matches(patterns::CIDR_V4, value) {
        errs.push(field, format!("{} is invalid: {message}", show(value)));
        return None;
    }
    let net: Ipv4Net = match value.parse() {
        Ok(net) => net,
        Err(_) => {
            errs.push(field, format!("{} is invalid: {message}", show(value)));
            return None;
        }
    };
    if net.addr() != net.network() {
        errs.push(
            field,
            format!(
                "{value:?} has host bits set, use \"{}\": {}",
                net.trunc(),
                msg::CIDR_HOST_BITS
            ),
        );
        return None;
    }
    Some(net)
}

/// Parses an IPv4 address.
pub(crate) fn ipv4(errs: &mut Errors, field: &str, value: &str) -> Option<Ipv4Addr> {
    if !matches(patterns::IPV4, value) {
        errs.push(
            field,
            format!("{} is invalid: {}", show(value), msg::IPV4_FORMAT),
        );
        return None;
    }
    value.parse().ok()
}

/// Whether two networks share an address.
pub(crate) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A Kubernetes version: `1.33` or `1.33.2`.
pub(crate) fn kubernetes_version(errs: &mut Errors, field: &str, value: &str) {
    string(
        errs,
        field,
        value,
        patterns::KUBERNETES_VERSION,
        (3, 32),
        msg::KUBERNETES_VERSION,
    );
}

/// `(major, minor, patch)` of a version string, if it is one.
pub(crate) fn parse_version(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Whether `new` is not lower than `old`. The patch counts only when both give one, as in the
/// CEL rule; unparsable versions are reported elsewhere and pass here.
/// Whether `new` is at most one minor version above `base` (same major). Unparsable versions
/// are another rule's problem.
pub(crate) fn version_within_one_minor(new: &str, base: &str) -> bool {
    let (Some(n), Some(b)) = (parse_version(new), parse_version(base)) else {
        return true;
    };
    n.0 == b.0 && n.1 <= b.1 + 1
}

pub(crate) fn version_not_lower(new: &str, old: &str) -> bool {
    let (Some(n), Some(o)) = (parse_version(new), parse_version(old)) else {
        return true;
    };
    if n.0 != o.0 {
        return n.0 > o.0;
    }
    if n.1 != o.1 {
        return n.1 > o.1;
    }
    match (n.2, o.2) {
        (Some(np), Some(op)) => np >= op,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        let counts = Regex::new(r"\{(\d+)(?:,(\d+))?\}").expect("regex");
        for p in [
            patterns::GUID,
            patterns::LOCATION,
            patterns::RESOURCE_GROUP,
            patterns::OBJECT_NAME,
            patterns::DATA_KEY,
            patterns::CLUSTER_NAME,
            patterns::IPV4,
            patterns::CIDR_V4,
            patterns::VM_SIZE,
            patterns::KUBERNETES_VERSION,
            patterns::SSH_PUBLIC_KEY,
            patterns::SSH_RSA_PUBLIC_KEY,
            patterns::WORKER_POOL_NAME,
            patterns::AKS_POOL_NAME,
            patterns::ZONE,
            patterns::STORAGE_ACCOUNT_NAME,
            patterns::CONTAINER_NAME,
            patterns::MANAGED_IMAGE_ID,
            patterns::SUBNET_ID,
            patterns::NETWORK_RESOURCE_NAME,
            patterns::PROXY_URL,
            patterns::HTTP_URL,
            patterns::NO_PROXY_ENTRY,
            patterns::VHD_BLOB_NAME,
        ] {
            assert!(Regex::new(p).is_ok(), "{p}");
            // The API server compiles patterns with Go's RE2, which refuses `{n,m}` with m > 1000
            // and then rejects the whole CRD.
            for c in counts.captures_iter(p) {
                for n in [c.get(1), c.get(2)].into_iter().flatten() {
                    let n: u32 = n.as_str().parse().expect("number");
                    assert!(
                        n <= 1000,
                        "{p}: repeat count {n} is over Go's limit of 1000"
                    );
                }
            }
        }
    }

    #[test]
    fn versions_compare_like_the_cel_rule() {
        assert!(version_not_lower("1.33", "1.32.9"));
        assert!(version_not_lower("1.33", "1.33.2"));
        assert!(version_not_lower("1.33.3", "1.33.2"));
        assert!(!version_not_lower("1.33.1", "1.33.2"));
        assert!(!version_not_lower("1.32", "1.33"));
        assert!(version_not_lower("2.0", "1.99"));
        assert!(!version_not_lower("1.9", "1.10"));
    }

    #[test]
    fn tag_prefixes_are_case_insensitive() {
        let mut errs = Errors::default();
        let tags = BTreeMap::from([("Microsoft-owner".to_string(), "x".to_string())]);
        super::tags(&mut errs, "spec.tags", &tags);
        let e = errs.finish().expect_err("reserved");
        assert_eq!(
            e.0[0].message,
            "tag key \"Microsoft-owner\" starts with the reserved prefix \"microsoft\": Azure reserves tag keys starting with azure, microsoft or windows; rename the key"
        );
    }

    #[test]
    fn every_azop_tag_name_is_reserved_in_any_case() {
        for key in [
            crate::naming::TAG_OWNER,
            crate::naming::TAG_UID,
            crate::naming::TAG_SHARED,
            "Azop.Dev_Shared",
            "AZOP.DEV_future",
        ] {
            let mut errs = Errors::default();
            let tags = BTreeMap::from([(key.to_string(), "x".to_string())]);
            super::tags(&mut errs, "spec.tags", &tags);
            let e = errs.finish().expect_err(key);
            assert_eq!(
                e.0[0].message,
                format!("tag key {key:?}: {}", msg::TAG_KEY_AZOP)
            );
        }
        // Only the prefix is azop's: a tag that merely mentions it is the user's.
        let mut errs = Errors::default();
        let tags = BTreeMap::from([
            ("team.azop.dev_owner".to_string(), "x".to_string()),
            ("azop".to_string(), "x".to_string()),
        ]);
        super::tags(&mut errs, "spec.tags", &tags);
        assert!(errs.finish().is_ok());
    }

    #[test]
    fn cidrs() {
        let mut errs = Errors::default();
        assert!(cidr(&mut errs, "f", "10.0.0.0/16", msg::CIDR_FORMAT).is_some());
        assert!(cidr(&mut errs, "f", "10.0.0.1/16", msg::CIDR_FORMAT).is_none());
        assert!(cidr(&mut errs, "f", "10.0.0.0/33", msg::CIDR_FORMAT).is_none());
        let e = errs.finish().expect_err("two errors");
        assert!(e.0[0].message.contains("use \"10.0.0.0/16\""));
        assert_eq!(e.0.len(), 2);
        let a: Ipv4Net = "10.0.0.0/16".parse().expect("net");
        let b: Ipv4Net = "10.0.128.0/24".parse().expect("net");
        let c: Ipv4Net = "10.1.0.0/16".parse().expect("net");
        assert!(overlaps(&a, &b) && overlaps(&b, &a) && !overlaps(&a, &c));
    }
}
