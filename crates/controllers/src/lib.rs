//! Controllers for AzureCluster, AksCluster, StorageBinding and ProxyConfig, and the plumbing
//! they share: context, conditions, status writing, retry policy, the resource graph.

pub mod azure_cluster;
pub mod backoff;
pub mod conditions;
pub mod context;
pub mod credentials;
pub mod error;
pub mod graph;
pub mod metrics;
pub mod status;

pub use context::{Context, Settings};
pub use error::Error;
