//! Address prefixes and address assignment: CIDR checks for VNets and subnets, private IPs
//! from a subnet's range, public IPs from a documentation/test range.

use super::refs::{RefKind, incoming};
use super::{LOAD_BALANCER, NIC, PUBLIC_IP};
use crate::armid::key;
use crate::store::Store;
use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

/// Where Static public IPs come from: a /16 on loopback stands in for a region's pool, so a
/// public IP is never an address off this machine (a client that dials one reaches this
/// machine, and a load balancer frontend can listen on it). Deterministic: the lowest free
/// address is taken.
pub const PUBLIC_POOL: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(127, 50, 0, 0), 16) {
    Ok(n) => n,
    Err(_) => panic!("valid constant prefix"),
};

/// Parses a CIDR prefix; `None` when malformed or not aligned (host bits set).
pub fn parse_prefix(s: &str) -> Option<IpNet> {
    let net: IpNet = s.trim().parse().ok()?;
    (net.trunc() == net).then_some(net)
}

/// The prefixes of `value` under `addressPrefix` / `addressPrefixes`.
pub fn prefixes_of(props: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = props.get("addressPrefix").and_then(Value::as_str) {
        out.push(p.to_string());
    }
    if let Some(a) = props.get("addressPrefixes").and_then(Value::as_array) {
        out.extend(a.iter().filter_map(Value::as_str).map(str::to_string));
    }
    out
}

/// Private addresses already taken in a subnet: NIC ipConfigurations and load balancer
/// frontends that name it, except those of `except_owner`.
pub fn used_private(store: &Store, subnet_id: &str, except_owner: &str) -> HashSet<IpAddr> {
    let edges = incoming(
        store,
        subnet_id,
        &[RefKind::NicIpConfigSubnet, RefKind::LbFrontendSubnet],
    );
    let mut used = HashSet::new();
    for e in edges {
        if key(&e.owner) == key(except_owner) {
            continue;
        }
        let owner_type = if e.kind == RefKind::NicIpConfigSubnet {
            NIC
        } else {
            LOAD_BALANCER
        };
        let Some(owner) = super::lookup(store, &e.owner, owner_type) else {
            continue;
        };
        let coll = if owner_type == NIC {
            "/properties/ipConfigurations"
        } else {
            "/properties/frontendIPConfigurations"
        };
        for item in owner
            .body
            .pointer(coll)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let same = item
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|i| key(i) == key(&e.from));
            if same
                && let Some(ip) = item
                    .pointer("/properties/privateIPAddress")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
            {
                used.insert(ip);
            }
        }
    }
    used
}

/// The first free address of `net` after Azure's five reserved ones (network, .1 gateway,
/// .2/.3 DNS, broadcast), skipping `used` and `also`.
pub fn first_free(net: &IpNet, used: &HashSet<IpAddr>, also: &HashSet<IpAddr>) -> Option<IpAddr> {
    let IpNet::V4(v4) = net else {
        return None;
    };
    let start = u32::from(v4.network()).saturating_add(4);
    let end = u32::from(v4.broadcast());
    (start..end)
        .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
        .find(|ip| !used.contains(ip) && !also.contains(ip))
}

/// Is `ip` a usable host address in `net` (not one of the reserved ones)?
pub fn usable_in(net: &IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(n), IpAddr::V4(a)) => {
            let x = u32::from(a);
            n.contains(&a)
                && x >= u32::from(n.network()).saturating_add(4)
                && x < u32::from(n.broadcast())
        }
        _ => net.contains(&ip),
    }
}

/// The first address of `pool` (by default [`PUBLIC_POOL`]) no other public IP holds, counting
/// from `offset` addresses into its usable range and wrapping around.
pub fn allocate_public(
    store: &Store,
    except_id: &str,
    pool: Ipv4Net,
    offset: u32,
) -> Option<Ipv4Addr> {
    let used: HashSet<Ipv4Addr> = store
        .of_type(PUBLIC_IP)
        .filter(|r| key(&r.id) != key(except_id))
        .filter_map(|r| {
            r.body
                .pointer("/properties/ipAddress")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
        })
        .collect();
    let first = u32::from(pool.network()).saturating_add(4);
    let count = u32::from(pool.broadcast()).saturating_sub(first);
    if count == 0 {
        return None;
    }
    (0..count)
        .map(|i| Ipv4Addr::from(first + (offset % count + i) % count))
        .find(|ip| !used.contains(ip))
}

/// A start offset for [`allocate_public`] that differs between processes (std's hasher keys
/// are random per process), so simulators side by side rarely hand out the same address.
pub fn random_offset() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    // Within a /16 and below 60000: far from its end, so one run's addresses stay together.
    (h.finish() % 60_000) as u32
}

/// Assigns the private address of one ipConfiguration (NIC) or frontend (load balancer) in
/// `subnet`: `Static` takes `requested` (it must lie in the subnet and be free), `Dynamic`
/// keeps `keep` when still valid, else takes the lowest free address. `also` holds addresses
/// handed out earlier in the same request, and receives this one.
pub fn assign_private(
    store: &Store,
    subnet: &crate::store::Resource,
    method: &str,
    requested: Option<&str>,
    keep: Option<&str>,
    owner_id: &str,
    also: &mut HashSet<IpAddr>,
) -> Result<String, crate::errors::ArmError> {
    use crate::errors::ArmError;
    let nets: Vec<IpNet> = prefixes_of(subnet.properties().unwrap_or(&Value::Null))
        .iter()
        .filter_map(|p| parse_prefix(p))
        .collect();
    let used = used_private(store, &subnet.id, owner_id);
    let taken = |ip: &IpAddr| used.contains(ip) || also.contains(ip);
    let ip = if method == "Static" {
        let raw = requested.unwrap_or("");
        let ip: IpAddr = raw.parse().map_err(|_| {
            ArmError::bad_request(
                "PrivateIPAddressIsNotValid",
                format!(
                    "Private static IP address '{raw}' of {owner_id} is not a valid IP address."
                ),
            )
        })?;
        if !nets.iter().any(|n| usable_in(n, ip)) {
            return Err(ArmError::bad_request(
                "PrivateIPAddressNotInSubnet",
                format!(
                    "IP configuration {owner_id} is referencing a private IP address {ip} that is not in the address range of subnet {}.",
                    subnet.id
                ),
            ));
        }
        if taken(&ip) {
            return Err(ArmError::bad_request(
                "PrivateIPAddressInUse",
                format!(
                    "IP configuration {owner_id} is using the private IP address {ip} which is already allocated to another resource in subnet {}.",
                    subnet.id
                ),
            ));
        }
        ip
    } else {
        let kept = keep
            .and_then(|k| k.parse::<IpAddr>().ok())
            .filter(|ip| nets.iter().any(|n| usable_in(n, *ip)) && !taken(ip));
        match kept {
            Some(ip) => ip,
            None => nets
                .iter()
                .find_map(|n| first_free(n, &used, also))
                .ok_or_else(|| {
                    ArmError::bad_request(
                        "SubnetIsFull",
                        format!(
                            "Subnet {} with address prefix {} does not have enough capacity for 1 IP addresses.",
                            subnet.name(),
                            nets.first().map(|n| n.to_string()).unwrap_or_default()
                        ),
                    )
                })?,
        }
    };
    also.insert(ip);
    Ok(ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_be_aligned() {
        assert!(parse_prefix("10.0.0.0/16").is_some());
        assert!(parse_prefix("10.0.1.0/16").is_none());
        assert!(parse_prefix("10.0.0.0/33").is_none());
        assert!(parse_prefix("banana").is_none());
    }

    /// Simulators side by side start at different places of the pool and wrap around.
    #[test]
    fn public_addresses_start_at_the_offset_and_wrap() {
        let pool: Ipv4Net = "127.60.0.0/29".parse().expect("pool");
        let store = Store::default();
        let at = |offset| allocate_public(&store, "", pool, offset).map(|ip| ip.to_string());
        assert_eq!(at(0).as_deref(), Some("127.60.0.4"));
        assert_eq!(at(2).as_deref(), Some("127.60.0.6"));
        assert_eq!(at(4).as_deref(), Some("127.60.0.5"));
        let tiny: Ipv4Net = "127.60.0.0/30".parse().expect("pool");
        assert_eq!(allocate_public(&store, "", tiny, 7), None);
        assert!(random_offset() < 60_000);
    }

    #[test]
    fn first_free_skips_reserved_and_used() {
        let net = parse_prefix("10.0.1.0/29").expect("net");
        let mut used = HashSet::new();
        assert_eq!(
            first_free(&net, &used, &HashSet::new()),
            Some("10.0.1.4".parse().expect("ip"))
        );
        used.insert("10.0.1.4".parse().expect("ip"));
        used.insert("10.0.1.5".parse().expect("ip"));
        used.insert("10.0.1.6".parse().expect("ip"));
        assert_eq!(first_free(&net, &used, &HashSet::new()), None);
        assert!(!usable_in(&net, "10.0.1.7".parse().expect("ip")));
        assert!(usable_in(&net, "10.0.1.6".parse().expect("ip")));
    }
}
