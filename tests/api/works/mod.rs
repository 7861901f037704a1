//! NAVER WORKS: the courier, the callback front door, end to end through `FakeWorks`.

mod bad_input;
mod courier;
mod e2e;
mod peer;
