//! The optional state file: the store saved on every change (write to a temp file, then
//! rename, so a crash never leaves half a file) and loaded at start. Operations still
//! running when it was saved are completed on load.

use crate::store::Store;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("failed to read state file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse state file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to write state file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to serialize the store")]
    Serialize(#[source] serde_json::Error),
}

pub struct StateFile {
    path: PathBuf,
    lock: parking_lot::Mutex<()>,
}

impl StateFile {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            lock: parking_lot::Mutex::new(()),
        }
    }

    /// The saved store, or `None` when there is no file yet.
    pub fn load(&self) -> Result<Option<Store>, StateFileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateFileError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StateFileError::Parse {
                path: self.path.clone(),
                source,
            })
    }

    pub fn save(&self, store: &Store) -> Result<(), StateFileError> {
        let text = serde_json::to_vec_pretty(store).map_err(StateFileError::Serialize)?;
        let _guard = self.lock.lock();
        let tmp = self.path.with_extension("tmp");
        let write = |p: &Path| std::fs::write(p, &text);
        write(&tmp)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|source| StateFileError::Write {
                path: self.path.clone(),
                source,
            })
    }
}
