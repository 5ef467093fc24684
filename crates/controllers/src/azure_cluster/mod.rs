//! The AzureCluster controller: an IaaS Kubernetes cluster on Azure VMs.

pub mod machines;
pub mod names;
