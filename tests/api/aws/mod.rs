//! The AWS adapters and the Lambda functions, against the local stand-in (`moto_server`).

mod checkpoint_publish;
mod functions;
mod lambda;
mod lambda_freeze;
mod policy_source;
mod trace;
