//! The one integration-test binary: each module tests one part against real HTTP.

mod helpers;
mod ncp_sim;
