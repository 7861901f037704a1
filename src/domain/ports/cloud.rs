//! The cloud port: the NCP operations the service needs ([`CloudApi`]), the one view of an
//! image it answers with, and its error. The signed client and the simulator are in `ncp`.

use crate::domain::{Hypervisor, ImageNo, LoginId};
use serde::{Deserialize, Serialize};

/// What NCP tells us about one image, whichever API family answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageView {
    /// The image number.
    pub no: ImageNo,
    /// The image name as shown in the console.
    pub name: String,
    /// Status code: `INIT`, `CREAT` or `CREFL` (only `CREAT` can be shared).
    pub status: String,
    /// Which hypervisor, and so which API family, the image belongs to.
    pub hypervisor: Hypervisor,
    /// The login IDs the image is shared with now, as NCP returned them.
    pub shared_with: Vec<String>,
}

impl ImageView {
    /// True when the image can be shared (status `CREAT`).
    pub fn is_created(&self) -> bool {
        self.status == "CREAT"
    }
}

/// An access key ID as operators may see it: its first 4 characters and an ellipsis, enough to
/// tell two keys apart, not enough to use or look one up.
pub fn mask_access_key(access_key: &str) -> String {
    if access_key.is_empty() {
        return String::new();
    }
    let head: String = access_key.chars().take(4).collect();
    format!("{head}…")
}

/// A failed NCP call, keeping NCP's own code and message for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NcpError {
    /// The gateway refused the credentials (HTTP 401, code 200 or 210).
    ///
    /// Its text reaches chat, tickets and callbacks (a failed request's outcome), so it names no
    /// key at all; operators find the key's masked form in `access_key` (the CLI prints it).
    #[error(
        "NCP authentication failed (gateway code {code}: {message}); check NCP_ACCESS_KEY and NCP_SECRET_KEY and the endpoint"
    )]
    Authentication {
        /// The access key ID that was used, masked by [`mask_access_key`] (never the secret).
        access_key: String,
        /// The gateway error code.
        code: String,
        /// The gateway message.
        message: String,
    },
    /// An API gateway error (`{"error":{"errorCode",...}}`) other than authentication.
    #[error("NCP gateway error {code} (HTTP {status}): {message}")]
    Gateway {
        /// HTTP status.
        status: u16,
        /// The gateway `errorCode`.
        code: String,
        /// The gateway `message`.
        message: String,
    },
    /// A vserver service error (`{"responseError":{"returnCode","returnMessage"}}`).
    #[error("NCP error {code} (HTTP {status}): {message}")]
    Service {
        /// HTTP status.
        status: u16,
        /// NCP `returnCode`.
        code: String,
        /// NCP `returnMessage`.
        message: String,
    },
    /// The image does not exist in this account (under either API family).
    #[error("image {0} was not found in this NCP account")]
    ImageNotFound(ImageNo),
    /// The request did not reach NCP or its answer did not come back.
    #[error("could not reach NCP at {endpoint}: {detail}")]
    Transport {
        /// Scheme and host, never with a query.
        endpoint: String,
        /// What went wrong.
        detail: String,
    },
    /// The answer came back but was not what the API documents.
    #[error("unexpected answer from NCP {operation}: {detail}")]
    Decode {
        /// The operation called.
        operation: String,
        /// What was unexpected.
        detail: String,
    },
    /// A share change asked of a read-only client (`ncp::ReadOnly`); nothing was sent to NCP.
    #[error(
        "{operation} refused: the NCP client of {holder} is read-only (only the worker changes shares)"
    )]
    ReadOnly {
        /// The refused operation (`add_sharing`, `remove_sharing`, `set_sharing`).
        operation: &'static str,
        /// Which process holds the read-only client.
        holder: String,
    },
}

impl NcpError {
    /// Whether trying the same call again may succeed: 429, 503, 504 and transport failures.
    pub fn is_transient(&self) -> bool {
        match self {
            NcpError::Gateway { status, .. } => matches!(status, 429 | 503 | 504),
            NcpError::Transport { .. } => true,
            _ => false,
        }
    }

    /// The NCP code, when NCP gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            NcpError::Authentication { code, .. }
            | NcpError::Gateway { code, .. }
            | NcpError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The NCP operations the service needs, and nothing more.
///
/// Implemented by the signed HTTP client (`ncp::NcpClient`) and the simulator; tests may
/// implement it directly.
#[async_trait::async_trait]
pub trait CloudApi: Send + Sync {
    /// Looks an image up by number under either API family; `ImageNotFound` if neither has it.
    async fn image(&self, no: &ImageNo) -> Result<ImageView, NcpError>;

    /// Every image of the account: member (XEN) images and the account's own server images (KVM).
    async fn images(&self) -> Result<Vec<ImageView>, NcpError>;

    /// Adds targets to the image's share list.
    async fn add_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError>;

    /// Removes targets from the image's share list.
    async fn remove_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError>;

    /// Makes the share list exactly `targets` (XEN: one `set` call; KVM: add and remove the difference).
    async fn set_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError>;
}
