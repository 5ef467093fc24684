//! Shared helpers for the armsim integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use azop_armsim::{RunningSim, SimConfig};
use serde_json::Value;

pub const SUB: &str = "00000000-0000-0000-0000-00000000aaaa";
pub const RES: &str = "2021-04-01";
pub const STG: &str = "2023-05-01";
pub const AKS: &str = "2026-08-01";
pub const NET: &str = "2024-03-01";

pub struct Client {
    pub http: reqwest::Client,
    pub sim: RunningSim,
    pub token: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    pub fn header(&self, n: &str) -> Option<String> {
        self.headers.get(n).map(|v| v.to_str().unwrap().to_string())
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub async fn sim(config: SimConfig) -> Client {
    let sim = azop_armsim::start(config).await.unwrap();
    let token = sim.token("tenant-1", "client-1");
    Client {
        http: reqwest::Client::new(),
        sim,
        token,
    }
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.sim.url(), path)
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self
            .http
            .request(m, self.url(path))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        Resp {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap(),
        }
    }

    pub async fn rg(&self, name: &str) -> String {
        let p = format!("/subscriptions/{SUB}/resourceGroups/{name}");
        let r = self
            .call(
                "PUT",
                &format!("{p}?api-version={RES}"),
                Some(serde_json::json!({"location": "westeurope"})),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.text);
        p
    }

    /// Polls an Azure-AsyncOperation URL until it leaves InProgress.
    pub async fn wait_async(&self, url: &str) -> Value {
        for _ in 0..500 {
            let r = self.call("GET", url, None).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let v = r.json();
            if v["status"] != "InProgress" {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("operation never finished");
    }

    /// Polls a Location URL until it stops answering 202.
    pub async fn wait_location(&self, url: &str) -> Resp {
        for _ in 0..500 {
            let r = self.call("GET", url, None).await;
            if r.status != 202 {
                return r;
            }
            assert!(r.text.is_empty(), "202 polls have no body");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("operation never finished");
    }
}
