//! azop-armsim: a local Azure Resource Manager that Microsoft's SDKs accept unchanged.
//!
//! Start it in-process with [`start`] (a free port on 127.0.0.1) or run the `azop-armsim serve`
//! binary. It serves ARM at the root of its URL, an AAD-compatible token endpoint at
//! `/{tenant}/oauth2/v2.0/token`, and introspection/fault injection under `/_sim/`.
//! See docs/armsim.md for what is modelled and where each behaviour comes from.

pub mod api_versions;
pub mod armid;
pub mod auth;
pub mod bootdiag;
pub mod config;
pub mod crud;
pub mod errors;
pub mod faults;
pub mod introspect;
pub mod lro;
pub mod machines;
pub mod merge_patch;
pub mod preconditions;
pub mod request;
pub mod respond;
pub mod router;
pub mod server;
pub mod sim_api;
pub mod state;
pub mod state_file;
pub mod store;
pub mod tags;
pub mod throttle;
pub mod tls;
pub mod types;

pub use config::{
    BlobService, KubeconfigTarget, LatencyPreset, MachinesConfig, Principal, SimConfig,
    ThrottleConfig,
};
pub use errors::ArmError;
pub use faults::{Fault, FaultAction, FaultSpec};
pub use introspect::{RequestFilter, RequestRecord};
pub use machines::MachineInfo;
pub use server::{RunningSim, StartError, start};
