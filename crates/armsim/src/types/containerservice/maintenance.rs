//! `Microsoft.ContainerService/managedClusters/maintenanceConfigurations`: planned maintenance.
//! PUT and DELETE are synchronous. Three names exist: `default` (the legacy `timeInWeek`
//! form) and AKS's two managed schedules, which take a `maintenanceWindow`: a schedule of
//! exactly one kind (daily only for node OS upgrades), `durationHours` 4–24 (default 24),
//! `startTime` HH:mm, `utcOffset` ±HH:mm (default +00:00), `startDate` (default: today), and
//! `notAllowedDates`. Writes while the cluster is busy are refused like the cluster's own.

use serde_json::{Value, json};

use super::{ManagedClusters, PutContext, ResourceType};
use crate::errors::ArmError;
use crate::store::{Resource, Store};
use crate::types::Flow;

pub const MAINTENANCE: &str =
    "Microsoft.ContainerService/managedClusters/maintenanceConfigurations";
const AUTO_UPGRADE: &str = "aksManagedAutoUpgradeSchedule";
const NODE_OS_UPGRADE: &str = "aksManagedNodeOSUpgradeSchedule";

fn bad(msg: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", msg)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.chars().all(|c| c.is_ascii_digit())
}

fn time_ok(t: &str) -> bool {
    match t.split_once(':') {
        Some((h, m)) if digits(h, 2) && digits(m, 2) => {
            h.parse::<u32>().is_ok_and(|h| h < 24) && m.parse::<u32>().is_ok_and(|m| m < 60)
        }
        _ => false,
    }
}

fn offset_ok(o: &str) -> bool {
    let Some(rest) = o.strip_prefix('+').or_else(|| o.strip_prefix('-')) else {
        return false;
    };
    match rest.split_once(':') {
        Some((h, m)) if digits(h, 2) && digits(m, 2) => {
            let minutes = h.parse::<i32>().unwrap_or(99) * 60 + m.parse::<i32>().unwrap_or(99);
            m.parse::<u32>().is_ok_and(|m| m < 60)
                && if o.starts_with('-') {
                    minutes <= 12 * 60
                } else {
                    minutes <= 14 * 60
                }
        }
        _ => false,
    }
}

fn date_ok(d: &str) -> bool {
    let parts: Vec<&str> = d.split('-').collect();
    parts.len() == 3
        && digits(parts[0], 4)
        && digits(parts[1], 2)
        && digits(parts[2], 2)
        && parts[1].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
        && parts[2].parse::<u32>().is_ok_and(|d| (1..=31).contains(&d))
}

fn int_in(v: &Value, key: &str, lo: i64, hi: i64) -> Result<(), ArmError> {
    match v.get(key).and_then(Value::as_i64) {
        Some(n) if (lo..=hi).contains(&n) => Ok(()),
        other => Err(bad(format!(
            "The value of parameter {key} {} is invalid: it must be between {lo} and {hi}.",
            other.map_or("<missing>".to_string(), |n| n.to_string())
        ))),
    }
}

const DAYS: &[&str] = &[
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn day(v: &Value) -> Result<(), ArmError> {
    match v.get("dayOfWeek").and_then(Value::as_str) {
        Some(d) if DAYS.contains(&d) => Ok(()),
        other => Err(bad(format!(
            "The value of parameter dayOfWeek '{}' is invalid.",
            other.unwrap_or("<missing>")
        ))),
    }
}

/// Validates and fills one `maintenanceWindow` of the managed schedule `name`.
fn window(name: &str, w: &mut Value, today: &str) -> Result<(), ArmError> {
    let schedule = w
        .get("schedule")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let kinds: Vec<(&String, &Value)> = schedule.iter().filter(|(_, v)| !v.is_null()).collect();
    let [(kind, s)] = kinds.as_slice() else {
        return Err(bad(
            "The maintenance window's schedule needs exactly one of daily, weekly, absoluteMonthly and relativeMonthly.",
        ));
    };
    match kind.as_str() {
        "daily" if name == AUTO_UPGRADE => {
            return Err(bad(
                "A daily schedule is not supported for aksManagedAutoUpgradeSchedule: use weekly, absoluteMonthly or relativeMonthly.",
            ));
        }
        "daily" => int_in(s, "intervalDays", 1, 7)?,
        "weekly" => {
            int_in(s, "intervalWeeks", 1, 4)?;
            day(s)?;
        }
        "absoluteMonthly" => {
            int_in(s, "intervalMonths", 1, 6)?;
            int_in(s, "dayOfMonth", 1, 31)?;
        }
        "relativeMonthly" => {
            int_in(s, "intervalMonths", 1, 6)?;
            day(s)?;
            let index = s.get("weekIndex").and_then(Value::as_str).unwrap_or("");
            if !["First", "Second", "Third", "Fourth", "Last"].contains(&index) {
                return Err(bad(format!(
                    "The value of parameter weekIndex '{index}' is invalid."
                )));
            }
        }
        other => {
            return Err(bad(format!("The schedule type '{other}' is invalid.")));
        }
    }
    if w.get("durationHours").is_none_or(Value::is_null) {
        w["durationHours"] = json!(24);
    }
    int_in(w, "durationHours", 4, 24)?;
    match w.get("startTime").and_then(Value::as_str) {
        Some(t) if time_ok(t) => {}
        other => {
            return Err(bad(format!(
                "The value of parameter startTime '{}' is invalid: use HH:mm.",
                other.unwrap_or("<missing>")
            )));
        }
    }
    match w.get("utcOffset").and_then(Value::as_str) {
        None => w["utcOffset"] = json!("+00:00"),
        Some(o) if offset_ok(o) => {}
        Some(o) => {
            return Err(bad(format!(
                "The value of parameter utcOffset '{o}' is invalid: use +HH:mm or -HH:mm."
            )));
        }
    }
    match w.get("startDate").and_then(Value::as_str) {
        None => w["startDate"] = json!(today),
        Some(d) if date_ok(d) => {}
        Some(d) => {
            return Err(bad(format!(
                "The value of parameter startDate '{d}' is invalid."
            )));
        }
    }
    for span in w
        .get("notAllowedDates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (start, end) = (
            span.get("start").and_then(Value::as_str).unwrap_or(""),
            span.get("end").and_then(Value::as_str).unwrap_or(""),
        );
        if !date_ok(start) || !date_ok(end) || start > end {
            return Err(bad(format!(
                "The notAllowedDates range {start} to {end} is invalid."
            )));
        }
    }
    Ok(())
}

pub struct MaintenanceConfigurations;

impl ResourceType for MaintenanceConfigurations {
    fn type_name(&self) -> &'static str {
        MAINTENANCE
    }

    fn check_write(&self, _existing: &Resource, _store: &Store) -> Result<(), ArmError> {
        Ok(())
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let parent = ctx.id.parent().map(|p| p.to_id()).unwrap_or_default();
        if let Some(err) = ctx.store.get(&parent).and_then(ManagedClusters::busy_error) {
            return Err(err);
        }
        let name = ctx.id.name();
        let mut props = ctx
            .body
            .get("properties")
            .cloned()
            .unwrap_or_else(|| json!({}));
        match name {
            "default" => {
                if props.get("maintenanceWindow").is_some_and(|w| !w.is_null()) {
                    return Err(bad(
                        "maintenanceWindow is for aksManagedAutoUpgradeSchedule and aksManagedNodeOSUpgradeSchedule; the default configuration takes timeInWeek.",
                    ));
                }
            }
            AUTO_UPGRADE | NODE_OS_UPGRADE => {
                if props.get("timeInWeek").is_some_and(|t| !t.is_null())
                    || props.get("notAllowedTime").is_some_and(|t| !t.is_null())
                {
                    return Err(bad(format!(
                        "timeInWeek and notAllowedTime belong to the default configuration; {name} takes maintenanceWindow."
                    )));
                }
                let Some(w) = props.get_mut("maintenanceWindow").filter(|w| w.is_object()) else {
                    return Err(bad(format!("{name} needs a maintenanceWindow.")));
                };
                let today = chrono_today();
                window(name, w, &today)?;
            }
            other => {
                return Err(bad(format!(
                    "The maintenance configuration name '{other}' is invalid: use default, aksManagedAutoUpgradeSchedule or aksManagedNodeOSUpgradeSchedule."
                )));
            }
        }
        Ok(json!({"properties": props}))
    }

    fn put_flow(&self) -> Flow {
        Flow::Sync
    }

    fn delete_flow(&self) -> Flow {
        Flow::Sync
    }
}

/// Today's date in UTC, `YYYY-MM-DD` (AKS's default startDate).
fn chrono_today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: Value) -> Result<Value, ArmError> {
        let mut v = v;
        window(AUTO_UPGRADE, &mut v, "2026-12-01").map(|()| v)
    }

    #[test]
    fn windows_are_checked_and_filled_as_aks_does() {
        let ok = w(json!({"schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}, "startTime": "02:00"}))
            .expect("valid");
        assert_eq!(
            (
                ok["durationHours"].clone(),
                ok["utcOffset"].clone(),
                ok["startDate"].clone()
            ),
            (json!(24), json!("+00:00"), json!("2026-12-01"))
        );
        for bad_window in [
            json!({"schedule": {"daily": {"intervalDays": 1}}, "startTime": "02:00"}),
            json!({"schedule": {}, "startTime": "02:00"}),
            json!({"schedule": {"weekly": {"intervalWeeks": 5, "dayOfWeek": "Sunday"}}, "startTime": "02:00"}),
            json!({"schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}, "startTime": "24:00"}),
            json!({"schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}, "startTime": "02:00", "durationHours": 3}),
            json!({"schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}, "startTime": "02:00", "utcOffset": "+15:00"}),
            json!({"schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}, "startTime": "02:00", "notAllowedDates": [{"start": "2027-02-01", "end": "2027-01-01"}]}),
        ] {
            assert!(w(bad_window.clone()).is_err(), "{bad_window}");
        }
        let mut daily = json!({"schedule": {"daily": {"intervalDays": 2}}, "startTime": "22:30", "utcOffset": "-07:00"});
        window(NODE_OS_UPGRADE, &mut daily, "2026-12-01").expect("daily is fine for node OS");
        assert!(date_ok(&chrono_today()));
    }
}
