//! Our NCP client and the NCP simulator.

mod client;
mod sim;
