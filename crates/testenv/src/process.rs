//! Starting, watching and stopping the server processes.
//!
//! Every server runs in its own process group (so a Ctrl-C in the test's terminal does not
//! reach it and stopping it also stops anything it spawned) and has `<name>.pid` and
//! `<name>.log` in the state directory. Before signalling a pid read from a file we check that
//! its command line mentions the state directory, so a recycled pid is never killed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::error::{Error, Result, io};

/// A server process started by this crate.
#[derive(Debug)]
pub struct Managed {
    /// Short name (`etcd`, `kube-apiserver`, `azurite`); also the pid/log file stem.
    pub name: String,
    /// Process id (also its process-group id).
    pub pid: i32,
    /// Combined stdout/stderr log.
    pub log: PathBuf,
    child: Child,
}

/// Spawns `program` with `args` in a new process group, output to `dir/<name>.log`, pid in
/// `dir/<name>.pid`.
pub fn spawn(
    name: &str,
    program: &Path,
    args: &[String],
    envs: &[(String, String)],
    dir: &Path,
) -> Result<Managed> {
    let log = dir.join(format!("{name}.log"));
    let out = File::create(&log).map_err(io("create", &log))?;
    let err = out.try_clone().map_err(io("duplicate handle of", &log))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .current_dir(dir)
        .process_group(0);
    let child = cmd.spawn().map_err(|source| Error::Spawn {
        name: name.to_string(),
        program: program.to_path_buf(),
        source,
    })?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let pid_file = dir.join(format!("{name}.pid"));
    std::fs::write(&pid_file, pid.to_string()).map_err(io("write", &pid_file))?;
    Ok(Managed {
        name: name.to_string(),
        pid,
        log,
        child,
    })
}

impl Managed {
    /// `Some(description)` when the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown state: {e}")),
        }
    }

    /// The error to report when the process died before it was ready.
    pub fn exited_early(&self, status: String) -> Error {
        Error::ExitedEarly {
            name: self.name.clone(),
            status,
            log: self.log.clone(),
            log_tail: log_tail(&self.log, 30),
        }
    }

    /// Stops the process group: SIGTERM, then SIGKILL after `grace`; reaps the child.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            // The leader is gone but children it spawned may still hold the group.
            signal_group(self.pid, Signal::SIGKILL);
            return;
        }
        signal_group(self.pid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                signal_group(self.pid, Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(self.pid, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Sends `sig` to the process group `pgid` and to the process itself (in case it left the group).
pub fn signal_group(pgid: i32, sig: Signal) {
    let _ = killpg(Pid::from_raw(pgid), sig);
    let _ = kill(Pid::from_raw(pgid), sig);
}

/// Whether `pid` names a live (non-zombie) process.
pub fn is_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(proc_state(&stat), Some('Z' | 'X') | None),
        Err(_) => false,
    }
}

/// The state letter from a `/proc/<pid>/stat` line (the field after the `(comm)`).
pub fn proc_state(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// Start time (clock ticks since boot) from a `/proc/<pid>/stat` line: field 22.
pub fn proc_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields after comm start at field 3 (state); start time is field 22 → index 19.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Start time of a live process, to tell it apart from a later one with the same pid.
pub fn start_time(pid: i32) -> Option<u64> {
    proc_start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The process-group id from a `/proc/<pid>/stat` line (field 5).
pub fn proc_pgrp(stat: &str) -> Option<i32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Live (non-zombie) processes in process group `pgid`, found by scanning /proc.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                proc_pgrp(&st) == Some(pgid) && !matches!(proc_state(&st), Some('Z' | 'X') | None)
            })
        })
        .collect()
}

/// Whether the command line of `pid` contains `needle` (a state-directory path).
pub fn cmdline_mentions(pid: i32, needle: &Path) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
    cmdline.contains(&*needle.to_string_lossy())
}

/// Pids from `dir/*.pid` whose processes are alive and belong to `dir`.
pub fn live_pids_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pid"))
        .filter_map(|p| std::fs::read_to_string(p).ok()?.trim().parse().ok())
        .filter(|&pid| is_running(pid) && cmdline_mentions(pid, dir))
        .collect();
    pids.sort_unstable();
    pids
}

/// Stops every live process recorded in `dir/*.pid` (not our children: polls /proc).
pub fn stop_pids_in(dir: &Path, grace: Duration) -> Vec<i32> {
    let pids = live_pids_in(dir);
    for &pid in &pids {
        signal_group(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pids.iter().any(|&p| is_running(p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &pid in &pids {
        // Also reaches grandchildren left in the group after the leader exited.
        signal_group(pid, Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && pids.iter().any(|&p| is_running(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids
}

/// The last `lines` lines of a log file (reads at most the last 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Shell run by the watchdog: waits for the owner to die, then stops what `dir/*.pid` names
/// (only pids whose command line mentions `dir`) and, for temporary directories, removes `dir`. This is what cleans up
/// after a test binary that is killed or that exits with a shared environment still running
/// (statics are never dropped).
const WATCHDOG: &str = r#"owner="$1"; dir="$2"; remove="$3"
# Alive = /proc entry present and not a zombie (a dead owner can stay a zombie for a while
# when its parent is slow to reap it).
alive() {
  s=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$owner/stat" 2>/dev/null)
  [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}
while alive; do sleep 0.3; done
stop() {
  for f in "$dir"/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$dir"; then
      kill "-$1" -- "-$p" 2>/dev/null; kill "-$1" "$p" 2>/dev/null
    fi
  done
}
stop TERM; sleep 1; stop KILL; sleep 0.2
[ "$remove" = remove ] && rm -rf -- "$dir"
"#;

/// Starts a watchdog for `dir` owned by the current process; kill it when cleaning up normally.
/// `remove_dir`: also delete `dir` afterwards (temporary directories only).
pub fn spawn_watchdog(dir: &Path, remove_dir: bool) -> Result<Child> {
    spawn_watchdog_for(std::process::id(), dir, remove_dir)
}

fn spawn_watchdog_for(owner: u32, dir: &Path, remove_dir: bool) -> Result<Child> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("azop-testenv-watchdog")
        .arg(owner.to_string())
        .arg(dir)
        .arg(if remove_dir { "remove" } else { "keep" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| Error::Spawn {
            name: "watchdog".to_string(),
            program: PathBuf::from("/bin/sh"),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_handles_spaces_and_parens_in_comm() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(proc_state(stat), Some('S'));
        assert_eq!(proc_start_time(stat), Some(987654));
        assert_eq!(proc_pgrp(stat), Some(1234));
        assert_eq!(proc_state("garbage"), None);
    }

    #[test]
    fn own_process_is_running_and_a_dead_child_is_not() {
        assert!(is_running(i32::try_from(std::process::id()).expect("pid")));
        let mut child = Command::new("/bin/true").spawn().expect("spawn");
        let pid = i32::try_from(child.id()).expect("pid");
        child.wait().expect("wait");
        assert!(!is_running(pid));
    }

    #[test]
    fn stop_kills_the_whole_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A shell that starts a grandchild and waits; both are in the new group.
        let mut m = spawn(
            "sleeper",
            Path::new("/bin/sh"),
            &["-c".into(), "sleep 300 & wait".into()],
            &[],
            dir.path(),
        )
        .expect("spawn");
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            live_group_members(m.pid).len() >= 2,
            "shell and sleep in the group"
        );
        m.stop(Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            live_group_members(m.pid),
            Vec::<i32>::new(),
            "group empty after stop"
        );
    }

    #[test]
    fn watchdog_stops_processes_when_the_owner_dies_even_as_a_zombie() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("env");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut owner = Command::new("/bin/sleep")
            .arg("300")
            .spawn()
            .expect("owner");
        let script = format!("sleep 300 # {}", dir.display());
        let mut server = spawn(
            "srv",
            Path::new("/bin/sh"),
            &["-c".into(), script],
            &[],
            &dir,
        )
        .expect("spawn");
        let mut wd = spawn_watchdog_for(owner.id(), &dir, true).expect("watchdog");
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            server.exited().is_none(),
            "server must run while the owner lives"
        );
        // Kill the owner but do not reap it: it stays a zombie, which must count as dead.
        owner.kill().expect("kill owner");
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            server.exited().is_some(),
            "server still running after the owner died"
        );
        let deadline = Instant::now() + Duration::from_secs(3);
        while dir.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!dir.exists(), "watchdog did not remove the state dir");
        let _ = owner.wait();
        let _ = wd.wait();
    }
}
