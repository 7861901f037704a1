//! NAVER WORKS (LINE WORKS) bot, API 2.0 (`reference/naver-works.md`): `WorksApi` (the
//! service-account token and sending, with its cache and retries), `render` (the typed content
//! objects within the limits), `FakeWorks` (tests and the demo), and the settings the courier and
//! the `/works/callback` front door share.

pub mod api;
pub mod courier;
pub mod fake;
pub mod render;
pub mod settings;

pub use api::{WorksApi, WorksCredentials, WorksError};
pub use courier::WorksCourier;
pub use fake::{FakeWorks, FakeWorksApp, WorksMessage, WorksTarget};
pub use settings::WorksConfig;

#[cfg(test)]
mod api_tests;
