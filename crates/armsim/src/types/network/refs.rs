//! References between stored resources, read straight from their bodies. Back-references in
//! responses and in-use refusals are both computed from this one scan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::armid::key;
use crate::store::{Resource, Store};
use serde_json::Value;

/// What kind of reference an [`Edge`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    NicIpConfigSubnet,
    NicIpConfigPublicIp,
    NicIpConfigPool,
    NicNsg,
    SubnetNsg,
    SubnetNatGateway,
    LbFrontendPublicIp,
    LbFrontendSubnet,
    NatGatewayPublicIp,
    PrivateEndpointSubnet,
    VmNic,
    VmDisk,
    VmImage,
}

/// One reference: `from` (a resource or one of its inline parts, e.g. a NIC's ipConfiguration)
/// of the resource `owner` points at `to`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub kind: RefKind,
    pub from: String,
    pub owner: String,
    pub to: String,
}

fn id_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn items<'a>(v: &'a Value, ptr: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Every reference `r` makes.
pub fn edges_of(r: &Resource) -> Vec<Edge> {
    let mut out = Vec::new();
    let mut push = |kind, from: &str, to: &str| {
        out.push(Edge {
            kind,
            from: from.to_string(),
            owner: r.id.clone(),
            to: to.to_string(),
        })
    };
    let b = &r.body;
    let t = r.type_name.to_ascii_lowercase();
    match t.as_str() {
        "microsoft.network/networkinterfaces" => {
            if let Some(n) = id_at(b, "/properties/networkSecurityGroup/id") {
                push(RefKind::NicNsg, &r.id, n);
            }
            for ipc in items(b, "/properties/ipConfigurations") {
                let from = ipc.get("id").and_then(Value::as_str).unwrap_or(&r.id);
                if let Some(s) = id_at(ipc, "/properties/subnet/id") {
                    push(RefKind::NicIpConfigSubnet, from, s);
                }
                if let Some(p) = id_at(ipc, "/properties/publicIPAddress/id") {
                    push(RefKind::NicIpConfigPublicIp, from, p);
                }
                for pool in items(ipc, "/properties/loadBalancerBackendAddressPools") {
                    if let Some(p) = id_at(pool, "/id") {
                        push(RefKind::NicIpConfigPool, from, p);
                    }
                }
            }
        }
        "microsoft.network/virtualnetworks/subnets" => {
            if let Some(n) = id_at(b, "/properties/networkSecurityGroup/id") {
                push(RefKind::SubnetNsg, &r.id, n);
            }
            if let Some(n) = id_at(b, "/properties/natGateway/id") {
                push(RefKind::SubnetNatGateway, &r.id, n);
            }
        }
        "microsoft.network/loadbalancers" => {
            for fe in items(b, "/properties/frontendIPConfigurations") {
                let from = fe.get("id").and_then(Value::as_str).unwrap_or(&r.id);
                if let Some(p) = id_at(fe, "/properties/publicIPAddress/id") {
                    push(RefKind::LbFrontendPublicIp, from, p);
                }
                if let Some(s) = id_at(fe, "/properties/subnet/id") {
                    push(RefKind::LbFrontendSubnet, from, s);
                }
            }
        }
        "microsoft.network/natgateways" => {
            for p in items(b, "/properties/publicIpAddresses") {
                if let Some(p) = id_at(p, "/id") {
                    push(RefKind::NatGatewayPublicIp, &r.id, p);
                }
            }
        }
        "microsoft.network/privateendpoints" => {
            if let Some(s) = id_at(b, "/properties/subnet/id") {
                push(RefKind::PrivateEndpointSubnet, &r.id, s);
            }
        }
        "microsoft.compute/virtualmachines" => {
            for n in items(b, "/properties/networkProfile/networkInterfaces") {
                if let Some(n) = id_at(n, "/id") {
                    push(RefKind::VmNic, &r.id, n);
                }
            }
            if let Some(d) = id_at(b, "/properties/storageProfile/osDisk/managedDisk/id") {
                push(RefKind::VmDisk, &r.id, d);
            }
            for d in items(b, "/properties/storageProfile/dataDisks") {
                if let Some(d) = id_at(d, "/managedDisk/id") {
                    push(RefKind::VmDisk, &r.id, d);
                }
            }
            if let Some(i) = id_at(b, "/properties/storageProfile/imageReference/id") {
                push(RefKind::VmImage, &r.id, i);
            }
        }
        _ => {}
    }
    out
}

/// Every reference to `target` (case-insensitive) of one of `kinds`, in the order of the
/// referring resources' ids (and, within one, of its body).
pub fn incoming(store: &Store, target: &str, kinds: &[RefKind]) -> Vec<Edge> {
    let k = key(target);
    let mut index = store.refs().lock();
    index.refresh(store);
    index.sorted(index.by_target.get(&k).into_iter().flatten(), kinds)
}

/// Every reference to `target` or anything below it (a load balancer's pools), of `kinds`.
pub fn incoming_under(store: &Store, target: &str, kinds: &[RefKind]) -> Vec<Edge> {
    let k = key(target);
    let prefix = format!("{k}/");
    let mut index = store.refs().lock();
    index.refresh(store);
    let under = index
        .by_target
        .range(k.clone()..)
        .take_while(|(t, _)| **t == k || t.starts_with(&prefix))
        .flat_map(|(_, v)| v);
    index.sorted(under, kinds)
}

/// The references between stored resources by what they point at, so that a back-reference
/// (a subnet's ipConfigurations, a public IP's ipConfiguration, "in use" refusals) costs a
/// lookup, not a scan of every resource's body: with tens of thousands of resources in one
/// subscription (1,000 clusters) the scan made every GET of a network resource take a
/// quarter of a second. Kept lazily: the store marks what it writes (`touch`) and the next
/// question refiles those; a copy of the store (a snapshot) or a loaded one starts unbuilt
/// and is filed whole on first use.
#[derive(Debug, Default)]
pub struct RefIndex {
    /// Edges by the key of what they point at, each with its owner's key and its place in
    /// the owner's body (for the order a scan gave).
    by_target: BTreeMap<String, Vec<(String, usize, Edge)>>,
    /// The target keys each owner's edges are filed under.
    by_owner: HashMap<String, Vec<String>>,
    /// Owners written since they were filed.
    dirty: BTreeSet<String>,
    built: bool,
}

impl RefIndex {
    /// `owner_key`'s body may have changed (or it is gone).
    pub fn touch(&mut self, owner_key: &str) {
        if self.built {
            self.dirty.insert(owner_key.to_string());
        }
    }

    fn refresh(&mut self, store: &Store) {
        if !self.built {
            self.by_target.clear();
            self.by_owner.clear();
            self.dirty.clear();
            for r in store.all() {
                self.file(r);
            }
            self.built = true;
            return;
        }
        for owner in std::mem::take(&mut self.dirty) {
            self.unfile(&owner);
            if let Some(r) = store.get(&owner) {
                self.file(r);
            }
        }
    }

    fn file(&mut self, r: &Resource) {
        let owner = key(&r.id);
        for (i, e) in edges_of(r).into_iter().enumerate() {
            let target = key(&e.to);
            let targets = self.by_owner.entry(owner.clone()).or_default();
            if !targets.contains(&target) {
                targets.push(target.clone());
            }
            self.by_target
                .entry(target)
                .or_default()
                .push((owner.clone(), i, e));
        }
    }

    fn unfile(&mut self, owner: &str) {
        for target in self.by_owner.remove(owner).unwrap_or_default() {
            if let Some(v) = self.by_target.get_mut(&target) {
                v.retain(|(o, _, _)| o != owner);
                if v.is_empty() {
                    self.by_target.remove(&target);
                }
            }
        }
    }

    fn sorted<'a>(
        &self,
        edges: impl Iterator<Item = &'a (String, usize, Edge)>,
        kinds: &[RefKind],
    ) -> Vec<Edge> {
        let mut v: Vec<&(String, usize, Edge)> =
            edges.filter(|(_, _, e)| kinds.contains(&e.kind)).collect();
        v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        v.into_iter().map(|(_, _, e)| e.clone()).collect()
    }
}

/// The `from` ids of `edges`, sorted and without duplicates.
pub fn froms(edges: &[Edge]) -> Vec<String> {
    let mut v: Vec<String> = edges.iter().map(|e| e.from.clone()).collect();
    v.sort_by_key(|s| key(s));
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::new_etag;
    use serde_json::json;

    const RG: &str = "/subscriptions/s/resourceGroups/rg/providers";

    fn res(id: String, ty: &str, body: Value) -> Resource {
        Resource {
            id,
            type_name: ty.into(),
            body,
            etag: new_etag(),
            pending: None,
        }
    }

    fn nic(name: &str, pip: Option<&str>) -> Resource {
        let mut ipc = json!({"id": format!("{RG}/Microsoft.Network/networkInterfaces/{name}/ipConfigurations/ip"),
            "properties": {"subnet": {"id": format!("{RG}/Microsoft.Network/virtualNetworks/v/subnets/a")}}});
        if let Some(p) = pip {
            ipc["properties"]["publicIPAddress"] =
                json!({"id": format!("{RG}/Microsoft.Network/publicIPAddresses/{p}")});
        }
        res(
            format!("{RG}/Microsoft.Network/networkInterfaces/{name}"),
            "Microsoft.Network/networkInterfaces",
            json!({"properties": {"ipConfigurations": [ipc]}}),
        )
    }

    /// What a scan of every body answers: the index must answer the same.
    fn scanned(store: &Store, target: &str, kinds: &[RefKind]) -> Vec<String> {
        store
            .all()
            .flat_map(edges_of)
            .filter(|e| kinds.contains(&e.kind) && key(&e.to) == key(target))
            .map(|e| e.from)
            .collect()
    }

    fn indexed(store: &Store, target: &str, kinds: &[RefKind]) -> Vec<String> {
        incoming(store, target, kinds)
            .into_iter()
            .map(|e| e.from)
            .collect()
    }

    #[test]
    fn the_index_answers_as_a_scan_after_every_kind_of_write() {
        let subnet = format!("{RG}/Microsoft.Network/virtualNetworks/v/subnets/a");
        let pip = format!("{RG}/Microsoft.Network/publicIPAddresses/p");
        let on_subnet = [RefKind::NicIpConfigSubnet];
        let on_pip = [RefKind::NicIpConfigPublicIp];
        let mut store = Store::default();
        store.insert(nic("n2", None));
        store.insert(nic("n1", Some("p")));
        assert_eq!(indexed(&store, &subnet, &on_subnet).len(), 2);
        assert_eq!(
            indexed(&store, &subnet, &on_subnet),
            scanned(&store, &subnet, &on_subnet),
            "in the referrers' id order"
        );
        assert_eq!(indexed(&store, &pip.to_uppercase(), &on_pip).len(), 1);
        // Replaced, changed in place, removed: each seen by the next question.
        store.insert(nic("n1", None));
        assert!(indexed(&store, &pip, &on_pip).is_empty());
        let n2 = format!("{RG}/Microsoft.Network/networkInterfaces/n2");
        if let Some(r) = store.get_mut(&n2) {
            r.body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] =
                json!({"id": pip});
        }
        assert_eq!(
            indexed(&store, &pip, &on_pip),
            scanned(&store, &pip, &on_pip)
        );
        assert_eq!(indexed(&store, &pip, &on_pip).len(), 1);
        store.remove_tree(&n2);
        assert!(indexed(&store, &pip, &on_pip).is_empty());
        assert_eq!(indexed(&store, &subnet, &on_subnet).len(), 1);
        // A copy (a snapshot) is filed afresh.
        let copy = store.clone();
        assert_eq!(
            indexed(&copy, &subnet, &on_subnet),
            scanned(&store, &subnet, &on_subnet)
        );
        // Below a target: everything filed under its id.
        let vnet = format!("{RG}/Microsoft.Network/virtualNetworks/v");
        assert_eq!(incoming_under(&store, &vnet, &on_subnet).len(), 1);
        assert!(incoming(&store, &vnet, &on_subnet).is_empty());
    }
}
