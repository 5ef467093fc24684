//! Helpers shared by the Microsoft.Network and Microsoft.Compute tests.
#![allow(dead_code, clippy::unwrap_used)]

use super::common::{Client, NET, Resp, SUB};
use serde_json::Value;

pub const CMP: &str = "2024-07-01";
pub const DSK: &str = "2024-03-02";

pub fn net_id(rg: &str, ty: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/{ty}/{name}")
}

pub fn cmp_id(rg: &str, ty: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/{ty}/{name}")
}

pub fn q(id: &str, api: &str) -> String {
    format!("{id}?api-version={api}")
}

/// PUT, expecting success (201/200/202), then waits for the operation and returns the GET.
pub async fn put_ok(c: &Client, id: &str, api: &str, body: Value) -> Value {
    let r = c.call("PUT", &q(id, api), Some(body)).await;
    assert!(
        [200, 201, 202].contains(&r.status),
        "PUT {id}: {} {}",
        r.status,
        r.text
    );
    finish(c, &r).await;
    let g = c.call("GET", &q(id, api), None).await;
    assert_eq!(g.status, 200, "GET {id}: {}", g.text);
    g.json()
}

/// Waits for the operation a response started (Azure-AsyncOperation, else Location).
pub async fn finish(c: &Client, r: &Resp) {
    if let Some(u) = r.header("azure-asyncoperation") {
        let s = c.wait_async(&u).await;
        assert_eq!(s["status"], "Succeeded", "{s}");
    } else if let Some(u) = r.header("location") {
        let f = c.wait_location(&u).await;
        assert!([200, 204].contains(&f.status), "{}", f.text);
    }
}

/// PUT that must fail: returns (status, code).
pub async fn put_err(c: &Client, id: &str, api: &str, body: Value) -> (u16, String) {
    let r = c.call("PUT", &q(id, api), Some(body)).await;
    assert!(
        r.status >= 400,
        "PUT {id} should fail: {} {}",
        r.status,
        r.text
    );
    assert_eq!(r.header("x-ms-error-code").unwrap_or_default(), r.code());
    (r.status, r.code())
}

/// DELETE and wait; asserts the Network RP headers (202 + Location + Azure-AsyncOperation).
pub async fn delete_ok(c: &Client, id: &str, api: &str) {
    let r = c.call("DELETE", &q(id, api), None).await;
    assert_eq!(r.status, 202, "DELETE {id}: {}", r.text);
    assert!(r.header("location").is_some());
    assert!(r.header("azure-asyncoperation").is_some());
    let f = c.wait_location(&r.header("location").unwrap()).await;
    assert!([200, 204].contains(&f.status));
    let g = c.call("GET", &q(id, api), None).await;
    assert_eq!(g.status, 404, "{id} is gone");
}

pub async fn delete_err(c: &Client, id: &str, api: &str) -> (u16, String) {
    let r = c.call("DELETE", &q(id, api), None).await;
    assert!(
        r.status >= 400,
        "DELETE {id} should fail: {} {}",
        r.status,
        r.text
    );
    (r.status, r.code())
}

pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A VNet 10.0.0.0/16 with the given (name, prefix) subnets.
pub fn vnet_body(subnets: &[(&str, &str)]) -> Value {
    let subnets: Vec<Value> = subnets
        .iter()
        .map(|(n, p)| serde_json::json!({"name": n, "properties": {"addressPrefix": p}}))
        .collect();
    serde_json::json!({"location": "westeurope", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": subnets}})
}

pub fn nic_body(subnet: &str) -> Value {
    serde_json::json!({"location": "westeurope", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}]}})
}

pub const _NET: &str = NET;
