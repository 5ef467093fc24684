//! Storage accounts.
