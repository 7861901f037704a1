//! The ports the core speaks to the outside through, with the types they speak; the
//! implementations are adapters in the modules named after them.

pub mod cloud;
pub mod notify;
pub mod queue;
pub mod secrets;
