//! NAVER Cloud Platform: the narrow [`CloudApi`] port, its signed HTTP client, and the simulator.
//!
//! Callers see one [`ImageView`] whatever API family is behind an image: XEN member server
//! images use the `*MemberServerImage*` operations, KVM server images the `*ServerImage*` ones.

pub mod client;
pub mod read_only;
pub mod settings;
pub mod signature;
pub mod sim;
pub mod wire;

pub use client::NcpClient;
pub use read_only::ReadOnly;
// Moved to `domain` (the notifiers use it too); re-exported for the old path.
pub use crate::domain::RetryPolicy;
pub use settings::{NcpConfig, NcpSite};

// Moved to `domain` (requests record it); re-exported for the old path.
pub use crate::domain::Hypervisor;
// The port and the types it speaks live in the core; re-exported for the old paths.
pub use crate::domain::ports::cloud::{CloudApi, ImageView, NcpError, mask_access_key};
