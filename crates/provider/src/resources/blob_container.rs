//! Blob containers.
