//! GET throughput on loopback: `cargo run --release -p azop-armsim --example bench_get -- [REQUESTS] [CONCURRENCY]`.
//! Starts an in-process simulator (throttling off, so ARM's read bucket does not cap the
//! figure), creates one storage account and GETs it REQUESTS times from CONCURRENCY tasks
//! over keep-alive connections.

use azop_armsim::SimConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let mut config = SimConfig::default();
    config.throttle.enabled = false;
    let sim = azop_armsim::start(config).await?;
    let token = sim.token("bench", "bench");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let base = format!("{}/subscriptions/bench/resourceGroups/bench", sim.url());
    http.put(format!("{base}?api-version=2021-04-01"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"location": "westeurope"}))
        .send()
        .await?
        .error_for_status()?;
    let acct = format!(
        "{base}/providers/Microsoft.Storage/storageAccounts/benchacct?api-version=2023-05-01"
    );
    http.put(&acct)
        .bearer_auth(&token)
        .json(&serde_json::json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}))
        .send()
        .await?
        .error_for_status()?;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, acct, token, next, failures) = (
            http.clone(),
            acct.clone(),
            token.clone(),
            next.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                match http.get(&acct).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} GETs, concurrency {concurrency}: {secs:.2} s, {:.0} requests/s, {} failures",
        total as f64 / secs,
        failures.load(Ordering::Relaxed)
    );
    sim.shutdown().await;
    Ok(())
}
