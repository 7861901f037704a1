//! NAVER WORKS (LINE WORKS) bot, API 2.0 (`reference/naver-works.md`): the settings the courier
//! and the `/works/callback` front door share.

pub mod settings;

pub use settings::WorksConfig;
