//! State directories: where an environment keeps its certificates, logs, pid files and
//! kubeconfigs, and how stale ones from killed runs are found and cleaned up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io};
use crate::process;

/// File whose presence marks a directory as created by azop-testenv.
pub const MARKER: &str = ".azop-testenv";
/// File naming the process that owns a non-detached environment.
pub const OWNER: &str = "owner.json";

/// Root of the library's temporary environments: `$TMPDIR/azop-testenv`.
pub fn root() -> PathBuf {
    std::env::temp_dir().join("azop-testenv")
}

/// The process owning an environment; its death means the environment is stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Owner's pid.
    pub pid: i32,
    /// Owner's start time (from /proc), so a recycled pid does not look alive.
    pub start_time: Option<u64>,
}

impl Owner {
    /// The current process.
    pub fn current() -> Owner {
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        Owner {
            pid,
            start_time: process::start_time(pid),
        }
    }

    /// Whether the owner still runs.
    pub fn alive(&self) -> bool {
        process::is_running(self.pid)
            && (self.start_time.is_none() || process::start_time(self.pid) == self.start_time)
    }
}

/// Creates `dir` (and parents), makes it absolute and marks it as ours.
pub fn prepare(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
    let dir = dir.canonicalize().map_err(io("resolve", dir))?;
    let marker = dir.join(MARKER);
    std::fs::write(&marker, "created by azop-testenv\n").map_err(io("write", &marker))?;
    Ok(dir)
}

/// Writes the owner file.
pub fn write_owner(dir: &Path, owner: &Owner) -> Result<()> {
    let path = dir.join(OWNER);
    let json = serde_json::to_string(owner).map_err(|source| Error::Json {
        action: "serialise",
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, json).map_err(io("write", &path))
}

fn read_owner(dir: &Path) -> Option<Owner> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(OWNER)).ok()?).ok()
}

/// Stops the processes of, and removes, every environment under `root` whose owner is dead.
/// Returns the directories cleaned.
pub fn clean_stale(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut cleaned = Vec::new();
    for dir in entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
    {
        if !dir.join(MARKER).exists() {
            continue;
        }
        // A directory still being set up may not have its owner file yet: leave it alone
        // unless it is old enough that its creator must have died.
        let stale = match read_owner(&dir) {
            Some(owner) => !owner.alive(),
            None => age(&dir).is_some_and(|a| a > Duration::from_secs(120)),
        };
        if stale {
            process::stop_pids_in(&dir, Duration::from_secs(2));
            let _ = std::fs::remove_dir_all(&dir);
            cleaned.push(dir);
        }
    }
    cleaned
}

fn age(dir: &Path) -> Option<Duration> {
    std::fs::metadata(dir).ok()?.modified().ok()?.elapsed().ok()
}

/// Removes a state directory, refusing directories that azop-testenv did not create.
pub fn remove(dir: &Path) -> Result<()> {
    if !dir.join(MARKER).exists() {
        return Err(Error::NotOurs {
            dir: dir.to_path_buf(),
            marker: MARKER,
        });
    }
    std::fs::remove_dir_all(dir).map_err(io("remove", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_dir_of_dead_owner_is_removed_and_its_process_stopped() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = prepare(&root.path().join("env-1")).expect("prepare");
        // A dead owner: a child that already exited.
        let mut c = std::process::Command::new("/bin/true")
            .spawn()
            .expect("spawn");
        let dead = i32::try_from(c.id()).expect("pid");
        c.wait().expect("wait");
        write_owner(
            &dir,
            &Owner {
                pid: dead,
                start_time: None,
            },
        )
        .expect("owner");
        // A process that belongs to the directory (its command line names it).
        let script = format!("sleep 300 # {}", dir.display());
        let m = process::spawn(
            "srv",
            Path::new("/bin/sh"),
            &["-c".into(), script],
            &[],
            &dir,
        )
        .expect("spawn");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(process::live_pids_in(&dir), vec![m.pid]);

        let live = prepare(&root.path().join("env-2")).expect("prepare");
        write_owner(&live, &Owner::current()).expect("owner");

        let cleaned = clean_stale(root.path());
        assert_eq!(cleaned, vec![dir.clone()]);
        assert!(!dir.exists());
        assert!(live.exists());
        let mut m = m;
        assert!(m.exited().is_some(), "process of the stale dir was stopped");
    }

    #[test]
    fn remove_refuses_foreign_dirs() {
        let root = tempfile::tempdir().expect("tempdir");
        assert!(matches!(remove(root.path()), Err(Error::NotOurs { .. })));
    }
}
