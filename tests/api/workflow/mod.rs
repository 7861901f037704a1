//! The workflow driven directly (the `WorkflowApp` harness): requests, the lifecycle, and NCP
//! misbehaving.

mod catalog;
mod engine;
mod faults;
mod lifecycle;
