//! `ncp-share-approver`: self-service, approved and audited sharing of NAVER Cloud Platform
//! server images. See ARCHITECTURE.md for the map.

pub mod audit;
pub mod aws;
pub mod choice;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod functions;
pub mod http;
pub mod ncp;
pub mod notify;
pub mod policy;
pub mod policy_source;
pub mod publish;
pub mod queue;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod verify;
pub mod workflow;
