//! The one error type of this crate. Every variant says what was being done and on what.

use std::path::PathBuf;
use std::time::Duration;

/// Errors from starting, using or stopping a test environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required binary could not be found.
    #[error(
        "{what} not found ({hint}); run `make testenv` (crates/testenv/scripts/install.sh) to install it"
    )]
    BinaryNotFound { what: &'static str, hint: String },

    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A process could not be spawned.
    #[error("cannot start {name} ({}): {source}", program.display())]
    Spawn {
        name: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A process exited before it became ready.
    #[error("{name} exited before it was ready ({status}); last lines of {}:\n{log_tail}", log.display())]
    ExitedEarly {
        name: String,
        status: String,
        log: PathBuf,
        log_tail: String,
    },

    /// A process did not become ready in time.
    #[error("{name} not ready after {timeout:?}: {last}; last lines of {}:\n{log_tail}", log.display())]
    NotReady {
        name: String,
        timeout: Duration,
        last: String,
        log: PathBuf,
        log_tail: String,
    },

    /// Certificates or keys could not be generated.
    #[error("cannot generate {what}: {source}")]
    Pki {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },

    /// A kube client could not be built.
    #[error("cannot build a kube client for user {user}: {source}")]
    Client {
        user: String,
        #[source]
        source: kube::Error,
    },

    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },

    /// A manifest could not be parsed.
    #[error("cannot parse {}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },

    /// No CustomResourceDefinition was found where some were expected.
    #[error("no CustomResourceDefinition found in {}", dir.display())]
    NoCrds { dir: PathBuf },

    /// A wait timed out; `last` is the last state observed.
    #[error("timed out after {timeout:?} waiting for {what}; last seen: {last}")]
    Timeout {
        what: String,
        timeout: Duration,
        last: String,
    },

    /// The state directory belongs to an environment that is still running.
    #[error("an environment is already running in {} (pids {pids:?}); run `azop-testenv down --dir {}` first", dir.display(), dir.display())]
    AlreadyRunning { dir: PathBuf, pids: Vec<i32> },

    /// The directory is not one that azop-testenv created.
    #[error("{} was not created by azop-testenv (no {marker} file); refusing to touch it", dir.display())]
    NotOurs { dir: PathBuf, marker: &'static str },

    /// No free port could be found or held.
    #[error("cannot allocate a loopback port: {source}")]
    Port {
        #[source]
        source: std::io::Error,
    },

    /// A user name that the environment does not know.
    #[error("unknown user {user}; known users: {known:?}")]
    UnknownUser { user: String, known: Vec<String> },

    /// A tool run by this crate (kubectl) failed.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },

    /// JSON (de)serialisation of the state files failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Json {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path and an action to an I/O error.
pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
