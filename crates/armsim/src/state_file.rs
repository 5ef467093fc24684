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

    /// Saves the store `snapshot` returns, taking it while holding the file's lock: saves
    /// land in the order their snapshots were taken, so the file always ends with the newest
    /// store. (Taking the snapshot first and locking after let a handler that changed the
    /// store earlier overwrite a newer save with its older snapshot; a crash before the next
    /// change then lost writes ARM had acknowledged — found by the chaos suite, a VM created
    /// twice after two restarts.)
    pub fn save_latest(&self, snapshot: impl FnOnce() -> Store) -> Result<(), StateFileError> {
        let _guard = self.lock.lock();
        let store = snapshot();
        let text = serde_json::to_vec_pretty(&store).map_err(StateFileError::Serialize)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Resource;
    use std::sync::Arc;

    /// Threads change one store and save it, as concurrent handlers do. Once a thread's save
    /// has returned (the handler answers after it), the file holds its change, whatever the
    /// other threads save meanwhile.
    #[test]
    fn a_returned_save_is_never_overwritten_by_an_older_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = Arc::new(StateFile::new(&dir.path().join("state.json")));
        let store = Arc::new(parking_lot::Mutex::new(Store::default()));
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (file, store) = (file.clone(), store.clone());
                std::thread::spawn(move || {
                    for i in 0..40 {
                        let id = format!("/subscriptions/s/resourceGroups/rg-{t}-{i}");
                        store.lock().insert(Resource {
                            id: id.clone(),
                            type_name: "Microsoft.Resources/resourceGroups".into(),
                            body: serde_json::json!({}),
                            etag: crate::store::new_etag(),
                            pending: None,
                        });
                        file.save_latest(|| store.lock().clone()).expect("save");
                        let saved = file.load().expect("load").expect("a file");
                        assert!(saved.contains(&id), "{id} lost after its save returned");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no change lost");
        }
        let saved = file.load().expect("load").expect("a file");
        assert_eq!(saved.len(), 6 * 40);
    }
}
