//! Controllers for AzureCluster, AksCluster, StorageBinding and ProxyConfig, and the plumbing
//! they share: conditions, retry policy.

pub mod backoff;
pub mod conditions;
