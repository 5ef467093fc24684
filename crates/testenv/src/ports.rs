//! Free loopback ports that do not collide between environments started in parallel.
//!
//! Ports are picked by binding `127.0.0.1:0` (all wanted ports at once, so they differ), then
//! released for the server to bind. Between release and the server's own bind another process
//! could take the port, so callers hold [`PortLock`] (an exclusive `flock` on a file in the
//! state root, shared by all test binaries) until their servers listen, and retry on
//! "address already in use" for ports taken by unrelated programs.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result, io};

/// Holds the cross-process port lock until dropped.
#[derive(Debug)]
pub struct PortLock {
    _file: File,
}

/// Takes the port lock in `root` (waiting without blocking the async runtime).
pub async fn lock(root: &Path) -> Result<PortLock> {
    let path = root.join("ports.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(PortLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
        }
    }
}

/// `n` distinct free ports on 127.0.0.1.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| Error::Port { source })?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| Error::Port { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports = free_ports(5).expect("ports");
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 5);
        for p in ports {
            TcpListener::bind(("127.0.0.1", p)).expect("port is free again");
        }
    }

    #[tokio::test]
    async fn lock_is_exclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = lock(dir.path()).await.expect("lock");
        let second = tokio::time::timeout(Duration::from_millis(200), lock(dir.path())).await;
        assert!(
            second.is_err(),
            "second lock must wait while the first is held"
        );
        drop(held);
        tokio::time::timeout(Duration::from_secs(2), lock(dir.path()))
            .await
            .expect("lock after release")
            .expect("lock");
    }
}
