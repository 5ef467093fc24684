//! Free loopback ports that do not collide between environments started in parallel.
//!
//! Ports are picked by binding `127.0.0.1:0` (all wanted ports at once, so they differ), then
//! released for the server to bind. Between release and the server's own bind (seconds, for
//! kube-apiserver) another environment could be handed the same port, so every allocation is
//! recorded in `ports.recent` in the state root, under an exclusive `flock` shared by all test
//! binaries, and ports handed out in the last [`RESERVATION`] are never handed out again.
//! Ports taken by unrelated programs in that window show up as "address already in use" and
//! callers retry with new ports.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// How long an allocated port stays reserved for the server it was picked for.
pub const RESERVATION: Duration = Duration::from_secs(120);

/// Parses `ports.recent` (`<port> <unix seconds>` lines), keeping entries newer than
/// `now - RESERVATION`.
pub fn parse_recent(text: &str, now: u64) -> Vec<(u16, u64)> {
    text.lines()
        .filter_map(|l| {
            let (p, t) = l.split_once(' ')?;
            Some((p.trim().parse().ok()?, t.trim().parse().ok()?))
        })
        .filter(|&(_, t): &(u16, u64)| t + RESERVATION.as_secs() >= now)
        .collect()
}

/// `n` distinct free loopback ports not handed out to another environment recently.
pub async fn allocate(root: &Path, n: usize) -> Result<Vec<u16>> {
    let _lock = lock(root).await?;
    let path = root.join("ports.recent");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut recent = parse_recent(&std::fs::read_to_string(&path).unwrap_or_default(), now);
    let mut picked = Vec::new();
    for _ in 0..20 {
        picked = free_ports(n)?;
        if picked.iter().all(|p| !recent.iter().any(|(r, _)| r == p)) {
            break;
        }
    }
    recent.extend(picked.iter().map(|&p| (p, now)));
    let text: String = recent.iter().map(|(p, t)| format!("{p} {t}\n")).collect();
    std::fs::write(&path, text).map_err(io("write", &path))?;
    Ok(picked)
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

    #[test]
    fn recent_reservations_expire() {
        let now = 10_000;
        let text = "1000 9990\n2000 1000\ngarbage\n3000 10000\n";
        assert_eq!(parse_recent(text, now), vec![(1000, 9990), (3000, 10000)]);
    }

    #[tokio::test]
    async fn allocations_do_not_repeat_recent_ports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all = Vec::new();
        for _ in 0..10 {
            all.extend(allocate(dir.path(), 3).await.expect("allocate"));
        }
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(
            dedup.len(),
            all.len(),
            "a port was handed out twice: {all:?}"
        );
    }
}
