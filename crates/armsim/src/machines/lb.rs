//! Public load-balancer frontends: a TCP listener on the public IP and frontend port (the
//! public IP pool is on loopback, so the address can be bound as it is) that hands each
//! connection to one of the rule's backends its probe says is healthy, through the loopback
//! port QEMU forwards to that backend's port. With no healthy backend the connection is
//! closed (Azure lets it time out; closing tells clients at once).

use parking_lot::Mutex;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};

/// One backend as the frontend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Lower-case NIC id.
    pub nic: String,
    /// The host port QEMU forwards to the backend port, while its guest runs.
    pub host_port: Option<u16>,
    pub healthy: bool,
    /// Consecutive failed probes.
    pub failures: u32,
}

/// The backends a connection may go to (pure): healthy ones with a forwarded port.
pub fn eligible(backends: &[Backend]) -> Vec<u16> {
    backends
        .iter()
        .filter(|b| b.healthy)
        .filter_map(|b| b.host_port)
        .collect()
}

/// A probe result folded in (pure): up after one success, down after `threshold`
/// consecutive failures (Azure's `probeThreshold`).
pub fn record_probe(b: &mut Backend, ok: bool, threshold: u32) {
    if ok {
        b.healthy = true;
        b.failures = 0;
    } else {
        b.failures = b.failures.saturating_add(1);
        if b.failures >= threshold {
            b.healthy = false;
        }
    }
}

pub struct Frontend {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub backends: Arc<Mutex<Vec<Backend>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Frontend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Frontend {
    /// Listens on `ip:port`.
    pub async fn start(ip: Ipv4Addr, port: u16) -> std::io::Result<Frontend> {
        let listener = TcpListener::bind(SocketAddr::from((ip, port))).await?;
        let backends: Arc<Mutex<Vec<Backend>>> = Arc::default();
        let task = tokio::spawn(serve(listener, backends.clone()));
        Ok(Frontend {
            ip,
            port,
            backends,
            task,
        })
    }
}

async fn serve(listener: TcpListener, backends: Arc<Mutex<Vec<Backend>>>) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        let ports = eligible(&backends.lock());
        if ports.is_empty() {
            drop(client);
            continue;
        }
        let port = ports[next.fetch_add(1, Ordering::Relaxed) % ports.len()];
        tokio::spawn(async move {
            let Ok(mut backend) = TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = backend.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(port: Option<u16>, healthy: bool) -> Backend {
        Backend {
            nic: "n".into(),
            host_port: port,
            healthy,
            failures: 0,
        }
    }

    #[test]
    fn only_healthy_running_backends_take_connections() {
        let all = [b(Some(1), true), b(Some(2), false), b(None, true)];
        assert_eq!(eligible(&all), vec![1]);
    }

    #[test]
    fn a_backend_goes_down_after_threshold_failures_and_up_after_one_success() {
        let mut x = b(Some(1), true);
        record_probe(&mut x, false, 2);
        assert!(x.healthy, "one failure of two");
        record_probe(&mut x, false, 2);
        assert!(!x.healthy);
        record_probe(&mut x, true, 2);
        assert!(x.healthy && x.failures == 0);
    }
}
