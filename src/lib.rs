//! `ncp-share-approver`: self-service, approved and audited sharing of NAVER Cloud Platform
//! server images. See ARCHITECTURE.md for the map.

pub mod domain;
pub mod ncp;
pub mod policy;
