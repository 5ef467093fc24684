//! Every Azure call azop makes goes through this crate.
//!
//! - [`Provider`]: built once by the operator; holds the credential cache, the throttle, the
//!   metrics and the HTTP clients. [`Provider::session`] gives an [`ArmSession`] for one
//!   identity and subscription.
//! - [`resources`]: one module per Azure resource kind, all with the same shape
//!   (path / desired / diff / observe / put / delete, and the pure checks a kind needs, such
//!   as [`resources::compute::virtual_machine::changed_aspects`]).
//! - [`lro`]: the resumable poller, [`poll_schedule`] holding polls to ARM's Retry-After; [`error`]: the classified error type.
//! - [`listing`]: observation by LIST, shared per subscription (what
//!   [`ArmSession::observe`] answers), and the changes its walks find.
//! - [`vhd_copy`]: the server-side VHD copy on the blob data plane.

pub mod access;
pub mod arm;
pub mod create_only;
pub mod credentials;
pub mod error;
pub mod listing;
pub mod lro;
pub mod metrics;
pub mod poll_schedule;
pub mod provider;
pub mod resources;
pub mod throttle;
pub mod vhd_copy;

pub use access::Access;
pub use arm::{ArmRequest, ArmSession, RawResponse};
pub use azure_core::Method;
pub use credentials::{Cloud, CredentialSource, EndpointOverrides, OperatorIdentity, SecretString};
pub use error::{AzureError, ErrorClass, Retry};
pub use listing::{Changed, ListingConfig, Listings};
pub use lro::{LroConfig, LroHandle, LroKind, PollOutcome};
pub use metrics::ProviderMetrics;
pub use provider::{Provider, ProviderConfig};
pub use resources::{DeleteOutcome, Difference, EnsureOutcome, Owner};
pub use throttle::{BudgetShare, OpClass, Throttle, ThrottleLimits};
