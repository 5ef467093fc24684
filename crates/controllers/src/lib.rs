//! Controllers for AzureCluster, AksCluster, StorageBinding and ProxyConfig.
