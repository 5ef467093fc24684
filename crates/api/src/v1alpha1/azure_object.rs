//! The one accessor trait of the Azure-backed kinds (AzureCluster, AksCluster,
//! StorageBinding): where their shared spec and status sit. The reconcile engine, and any
//! tool that reads azop objects, reaches `spec.azure` and the embedded [`AzureStatus`] through
//! it instead of each kind spelling the same accessors.

use super::aks_cluster::{AksCluster, AksClusterStatus};
use super::azure_cluster::{AzureCluster, AzureClusterStatus};
use super::common::{AzureScope, AzureStatus};
use super::storage_binding::{StorageBinding, StorageBindingStatus};

/// A kind's status that embeds the shared [`AzureStatus`].
pub trait HasAzureStatus {
    fn azure(&self) -> &AzureStatus;
    fn azure_mut(&mut self) -> &mut AzureStatus;
}

/// An object whose spec has the shared [`AzureScope`] and whose status embeds
/// [`AzureStatus`].
pub trait AzureObject {
    type Status: HasAzureStatus + Clone + Default + PartialEq;

    /// `spec.azure`: credentials, subscription, location, resource group, tags.
    fn scope(&self) -> &AzureScope;
    /// The status as the object carries it (none before the first write).
    fn azure_object_status(&self) -> Option<&Self::Status>;
}

macro_rules! azure_object {
    ($kind:ty, $status:ty) => {
        impl HasAzureStatus for $status {
            fn azure(&self) -> &AzureStatus {
                &self.azure
            }
            fn azure_mut(&mut self) -> &mut AzureStatus {
                &mut self.azure
            }
        }

        impl AzureObject for $kind {
            type Status = $status;
            fn scope(&self) -> &AzureScope {
                &self.spec.azure
            }
            fn azure_object_status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
        }
    };
}

azure_object!(AzureCluster, AzureClusterStatus);
azure_object!(AksCluster, AksClusterStatus);
azure_object!(StorageBinding, StorageBindingStatus);
