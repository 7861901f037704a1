//! NAVER WORKS: the courier, the callback front door, end to end through `FakeWorks`.

mod courier;
