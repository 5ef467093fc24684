//! What an ARM path is, as far as listing goes: a resource group, a top-level resource of a
//! resource group (listable by type, at subscription or resource-group scope), or anything
//! else (a child resource, an action), which is read by GET. Pure.

/// The ARM type of resource groups, as list items carry it.
pub const RESOURCE_GROUP_TYPE: &str = "Microsoft.Resources/resourceGroups";

/// A path, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/subscriptions/{s}/resourceGroups/{rg}`.
    Group { subscription: String, group: String },
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`.
    Top {
        subscription: String,
        group: String,
        /// `{ns}/{type}`, as written in the path.
        type_name: String,
        name: String,
    },
    /// Anything deeper (a child resource) or shallower.
    Other,
}

impl Target {
    pub fn of(path: &str) -> Target {
        let path = path.split('?').next().unwrap_or_default();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let eq = |i: usize, w: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(w));
        if !(eq(0, "subscriptions") && eq(2, "resourceGroups")) {
            return Target::Other;
        }
        match segs.len() {
            4 => Target::Group {
                subscription: segs[1].to_string(),
                group: segs[3].to_string(),
            },
            8 if eq(4, "providers") => Target::Top {
                subscription: segs[1].to_string(),
                group: segs[3].to_string(),
                type_name: format!("{}/{}", segs[5], segs[6]),
                name: segs[7].to_string(),
            },
            _ => Target::Other,
        }
    }

    /// The ARM type the listing of this target lists.
    pub fn type_name(&self) -> Option<&str> {
        match self {
            Target::Group { .. } => Some(RESOURCE_GROUP_TYPE),
            Target::Top { type_name, .. } => Some(type_name),
            Target::Other => None,
        }
    }

    /// The resource group the target lives in (the group itself for a group).
    pub fn group(&self) -> Option<&str> {
        match self {
            Target::Group { group, .. } | Target::Top { group, .. } => Some(group),
            Target::Other => None,
        }
    }
}

/// The canonical key of an ARM id: lower case, no trailing slash.
pub fn id_key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// The collection that lists `type_name` across subscription `subscription`.
pub fn subscription_collection(subscription: &str, type_name: &str) -> String {
    if type_name.eq_ignore_ascii_case(RESOURCE_GROUP_TYPE) {
        format!("/subscriptions/{subscription}/resourcegroups")
    } else {
        format!("/subscriptions/{subscription}/providers/{type_name}")
    }
}

/// The collection that lists `type_name` in resource group `group`.
pub fn group_collection(subscription: &str, group: &str, type_name: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{group}/providers/{type_name}")
}

/// The id prefix (a [`id_key`]) of everything of `type_name` in resource group `group`.
pub fn group_prefix(subscription: &str, group: &str, type_name: &str) -> String {
    format!(
        "{}/",
        id_key(&group_collection(subscription, group, type_name))
    )
}

/// Whether a listed id (an [`id_key`]) lies in resource group `group`.
pub fn in_group(id: &str, group: &str) -> bool {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    segs.len() >= 4 && segs[2] == "resourcegroups" && segs[3].eq_ignore_ascii_case(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        assert_eq!(
            Target::of("/subscriptions/S/resourceGroups/RG"),
            Target::Group {
                subscription: "S".into(),
                group: "RG".into()
            }
        );
        let top = Target::of(
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Network/virtualNetworks/v?api-version=x",
        );
        assert_eq!(
            top,
            Target::Top {
                subscription: "s".into(),
                group: "rg".into(),
                type_name: "Microsoft.Network/virtualNetworks".into(),
                name: "v".into()
            }
        );
        assert_eq!(top.type_name(), Some("Microsoft.Network/virtualNetworks"));
        assert_eq!(top.group(), Some("rg"));
        for other in [
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks",
            "/subscriptions/s",
            "/subscriptions/s/providers/Microsoft.Network/locations/x/operations/y",
            "/tenant/oauth2/v2.0/token",
        ] {
            assert_eq!(Target::of(other), Target::Other, "{other}");
        }
    }

    #[test]
    fn collections_and_prefixes() {
        assert_eq!(
            subscription_collection("s", "Microsoft.Compute/virtualMachines"),
            "/subscriptions/s/providers/Microsoft.Compute/virtualMachines"
        );
        assert_eq!(
            subscription_collection("s", RESOURCE_GROUP_TYPE),
            "/subscriptions/s/resourcegroups"
        );
        assert_eq!(
            group_collection("s", "rg", "Microsoft.Network/networkInterfaces"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces"
        );
        let prefix = group_prefix("S", "RG", "Microsoft.Network/networkInterfaces");
        assert_eq!(
            prefix,
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/networkinterfaces/"
        );
        assert!(in_group(
            &id_key("/subscriptions/s/resourceGroups/RG/providers/a/b/c"),
            "rg"
        ));
        assert!(in_group("/subscriptions/s/resourcegroups/rg", "RG"));
        assert!(!in_group(
            "/subscriptions/s/resourcegroups/rg2/providers/a/b/c",
            "rg"
        ));
    }
}
