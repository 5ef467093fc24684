//! Every Azure call azop makes goes through this crate.
