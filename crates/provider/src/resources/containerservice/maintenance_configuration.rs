//! AKS planned maintenance (`…/managedClusters/{c}/maintenanceConfigurations/{name}`): the
//! windows in which AKS may run the upgrades of a channel. Two names are AKS's own:
//! [`AUTO_UPGRADE_SCHEDULE`] (the Kubernetes upgrade channel) and [`NODE_OS_UPGRADE_SCHEDULE`]
//! (the node OS channel). PUT and DELETE are synchronous (200/201, 200/204).
//!
//! A maintenance configuration is a proxy resource without tags: it belongs to its cluster,
//! and ownership is the cluster's (the controller checks it); `owner_uid` is always `None`.

use serde_json::Value;

use super::API_VERSION;
use super::models::{MaintenanceConfiguration, MaintenanceConfigurationProperties};
use crate::resources::diff::Diff;
use crate::resources::{ArmResource, Difference, Owner};
use crate::{ArmSession, AzureError};

/// The window of the upgrade channel's (Kubernetes) upgrades.
pub const AUTO_UPGRADE_SCHEDULE: &str = "aksManagedAutoUpgradeSchedule";
/// The window of the node OS channel's upgrades.
pub const NODE_OS_UPGRADE_SCHEDULE: &str = "aksManagedNodeOSUpgradeSchedule";

pub struct MaintenanceConfigurationResource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceConfigurationKey {
    pub resource_group: String,
    pub cluster: String,
    /// [`AUTO_UPGRADE_SCHEDULE`] or [`NODE_OS_UPGRADE_SCHEDULE`].
    pub name: String,
}

/// The window with AKS's keys (`schedule`, `durationHours`, `utcOffset`, `startDate`,
/// `startTime`, `notAllowedDates`), unset ones absent.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindowSpec(pub Value);

/// Whether `have` carries everything `want` says (pure): objects key by key (keys AKS adds,
/// such as a defaulted `utcOffset`, are not drift), arrays and scalars as equal values.
fn covers(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, wv)| h.get(k).is_some_and(|hv| covers(wv, hv))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| covers(a, b))
        }
        (Value::String(w), Value::String(h)) => w.eq_ignore_ascii_case(h),
        (Value::Number(w), Value::Number(h)) => w.as_f64() == h.as_f64(),
        (w, h) => w == h,
    }
}

#[async_trait::async_trait]
impl ArmResource for MaintenanceConfigurationResource {
    type Key = MaintenanceConfigurationKey;
    type Spec = MaintenanceWindowSpec;
    type Body = MaintenanceConfiguration;
    type Observed = MaintenanceConfiguration;

    const RESOURCE_TYPE: &'static str =
        "Microsoft.ContainerService/managedClusters/maintenanceConfigurations";
    const API_VERSION: &'static str = API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        format!(
            "{}/maintenanceConfigurations/{}",
            super::cluster_id(subscription_id, &key.resource_group, &key.cluster),
            key.name
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, _owner: &Owner) -> MaintenanceConfiguration {
        MaintenanceConfiguration {
            properties: Some(MaintenanceConfigurationProperties {
                maintenance_window: Some(spec.0.clone()),
                ..MaintenanceConfigurationProperties::default()
            }),
            ..MaintenanceConfiguration::default()
        }
    }

    fn diff(
        desired: &MaintenanceConfiguration,
        observed: &MaintenanceConfiguration,
    ) -> Vec<Difference> {
        let mut d = Diff::new();
        let window = |c: &MaintenanceConfiguration| {
            c.properties
                .as_ref()
                .and_then(|p| p.maintenance_window.clone())
                .unwrap_or(Value::Null)
        };
        let (want, have) = (window(desired), window(observed));
        if let Value::Object(w) = &want {
            for (k, wv) in w {
                let hv = have.get(k).cloned().unwrap_or(Value::Null);
                if !covers(wv, &hv) {
                    d.push(&format!("properties.maintenanceWindow.{k}"), wv, hv);
                }
            }
        }
        d.finish()
    }

    fn owner_uid(_observed: &MaintenanceConfiguration) -> Option<String> {
        None
    }

    /// No marks of its own (it is ours through its parent): nothing to remove.
    async fn disown(
        _session: &ArmSession,
        _key: &Self::Key,
        _owner: &Owner,
    ) -> Result<(), AzureError> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            MaintenanceConfigurationResource::RESOURCE_TYPE,
            MaintenanceConfigurationResource::wire(&desired()).expect("wire"),
        )
    }
    use serde_json::json;

    fn key() -> MaintenanceConfigurationKey {
        MaintenanceConfigurationKey {
            resource_group: "rg1".into(),
            cluster: "clustername1".into(),
            name: AUTO_UPGRADE_SCHEDULE.into(),
        }
    }

    fn window() -> Value {
        json!({
            "schedule": {"relativeMonthly": {"intervalMonths": 3, "weekIndex": "First", "dayOfWeek": "Monday"}},
            "durationHours": 10,
            "utcOffset": "+05:30",
            "startTime": "08:30",
            "notAllowedDates": [{"start": "2023-02-18", "end": "2023-02-25"}]
        })
    }

    fn desired() -> MaintenanceConfiguration {
        MaintenanceConfigurationResource::desired(
            &key(),
            &MaintenanceWindowSpec(window()),
            &Owner::new("AksCluster", "ns", "c", "uid-1"),
        )
    }

    /// MaintenanceConfigurations_CreateOrUpdate, example
    /// "MaintenanceConfigurationsCreate_Update_MaintenanceWindow.json" (aks/stable), re-typed
    /// with our window: AKS adds id, name, type, systemData and a default startDate.
    fn get_after_put() -> Value {
        json!({
            "id": "/subscriptions/subid1/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1/maintenanceConfigurations/aksManagedAutoUpgradeSchedule",
            "name": "aksManagedAutoUpgradeSchedule",
            "type": "Microsoft.ContainerService/managedClusters/maintenanceConfigurations",
            "systemData": {"createdBy": "user1", "createdByType": "User", "createdAt": "2020-01-01T17:18:19.1234567Z"},
            "properties": {
                "maintenanceWindow": {
                    "schedule": {"relativeMonthly": {"intervalMonths": 3, "weekIndex": "First", "dayOfWeek": "Monday"}},
                    "durationHours": 10,
                    "utcOffset": "+05:30",
                    "startDate": "2023-01-01",
                    "startTime": "08:30",
                    "notAllowedDates": [{"start": "2023-02-18", "end": "2023-02-25"}]
                }
            }
        })
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift_and_the_body_is_the_wire_shape() {
        let o: MaintenanceConfiguration = serde_json::from_value(get_after_put()).expect("fixture");
        assert_eq!(
            MaintenanceConfigurationResource::diff(&desired(), &o),
            vec![]
        );
        let body = serde_json::to_value(desired()).expect("json");
        assert_eq!(body, json!({"properties": {"maintenanceWindow": window()}}));
        assert_eq!(MaintenanceConfigurationResource::owner_uid(&o), None);
    }

    #[test]
    fn each_part_of_the_window_is_drift() {
        let cases: Vec<(&str, &str, Value)> = vec![
            (
                "properties.maintenanceWindow.durationHours",
                "/properties/maintenanceWindow/durationHours",
                json!(4),
            ),
            (
                "properties.maintenanceWindow.startTime",
                "/properties/maintenanceWindow/startTime",
                json!("02:00"),
            ),
            (
                "properties.maintenanceWindow.utcOffset",
                "/properties/maintenanceWindow/utcOffset",
                json!("+00:00"),
            ),
            (
                "properties.maintenanceWindow.schedule",
                "/properties/maintenanceWindow/schedule",
                json!({"weekly": {"intervalWeeks": 1, "dayOfWeek": "Monday"}}),
            ),
            (
                "properties.maintenanceWindow.notAllowedDates",
                "/properties/maintenanceWindow/notAllowedDates",
                json!([]),
            ),
        ];
        for (field, pointer, value) in cases {
            let mut v = get_after_put();
            *v.pointer_mut(pointer).expect("pointer") = value;
            let o: MaintenanceConfiguration = serde_json::from_value(v).expect("fixture");
            let d = MaintenanceConfigurationResource::diff(&desired(), &o);
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
        assert_eq!(
            MaintenanceConfigurationResource::path("s", &key()),
            "/subscriptions/s/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1/maintenanceConfigurations/aksManagedAutoUpgradeSchedule"
        );
    }
}
