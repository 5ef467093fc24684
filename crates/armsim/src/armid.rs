//! Parsing of ARM resource ids / request paths.
//!
//! `/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{childType}/{childName}…][/{action}]`

/// A parsed resource id. Names keep the case they were written in; comparisons use [`key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceId {
    pub subscription: String,
    pub resource_group: String,
    pub namespace: String,
    /// `(type, name)` pairs, outermost first.
    pub segments: Vec<(String, String)>,
}

impl ResourceId {
    /// Full ARM type, e.g. `Microsoft.Network/virtualNetworks/subnets`.
    pub fn type_name(&self) -> String {
        let mut t = self.namespace.clone();
        for (ty, _) in &self.segments {
            t.push('/');
            t.push_str(ty);
        }
        t
    }

    /// The resource's own name (last segment).
    pub fn name(&self) -> &str {
        self.segments.last().map(|(_, n)| n.as_str()).unwrap_or("")
    }

    /// The id string, as written.
    pub fn to_id(&self) -> String {
        let mut s = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}",
            self.subscription, self.resource_group, self.namespace
        );
        for (ty, name) in &self.segments {
            s.push('/');
            s.push_str(ty);
            s.push('/');
            s.push_str(name);
        }
        s
    }

    /// The parent resource id for a child resource.
    pub fn parent(&self) -> Option<ResourceId> {
        if self.segments.len() < 2 {
            return None;
        }
        let mut p = self.clone();
        p.segments.pop();
        Some(p)
    }

    pub fn resource_group_id(&self) -> String {
        resource_group_id(&self.subscription, &self.resource_group)
    }

    /// Parses a resource id string (no action suffix).
    pub fn parse(id: &str) -> Option<ResourceId> {
        let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
        match parse_segments(&segs) {
            Some((rid, None)) => Some(rid),
            _ => None,
        }
    }
}

pub fn resource_group_id(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

/// The case-insensitive store key of an id.
pub fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// Parses `subscriptions/s/resourceGroups/rg/providers/ns/t/n[/ct/cn…][/x]`. The trailing
/// odd segment `x` (an action or a child collection) is returned separately.
pub fn parse_segments(segs: &[&str]) -> Option<(ResourceId, Option<String>)> {
    if segs.len() < 7
        || !segs[0].eq_ignore_ascii_case("subscriptions")
        || !segs[2].eq_ignore_ascii_case("resourceGroups")
        || !segs[4].eq_ignore_ascii_case("providers")
    {
        return None;
    }
    let rest = &segs[6..];
    if rest.len() < 2 || segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let mut segments = Vec::new();
    let mut i = 0;
    while i + 1 < rest.len() {
        segments.push((rest[i].to_string(), rest[i + 1].to_string()));
        i += 2;
    }
    let tail = (i < rest.len()).then(|| rest[i].to_string());
    Some((
        ResourceId {
            subscription: segs[1].to_string(),
            resource_group: segs[3].to_string(),
            namespace: segs[5].to_string(),
            segments,
        },
        tail,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_child_resource_and_action() {
        let segs: Vec<&str> =
            "subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/a/listX"
                .split('/')
                .collect();
        let (id, tail) = parse_segments(&segs).expect("parses");
        assert_eq!(id.type_name(), "Microsoft.Network/virtualNetworks/subnets");
        assert_eq!(id.name(), "a");
        assert_eq!(tail.as_deref(), Some("listX"));
        assert_eq!(
            id.parent().expect("parent").to_id(),
            "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v"
        );
    }

    #[test]
    fn rejects_short_paths() {
        assert!(ResourceId::parse("/subscriptions/s/resourceGroups/rg").is_none());
        assert_eq!(key("/A/B/"), "/a/b");
    }
}
