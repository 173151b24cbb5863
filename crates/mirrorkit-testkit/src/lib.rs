//! Test world for mirrorkit's integration tests: real servers on 127.0.0.1, started per test on a
//! free port and stopped when dropped.

pub mod apt_repo;
pub mod cargo_registry;
pub mod charts;
pub mod fileserver;
pub mod github;
pub mod process;
pub mod pypiserver;
pub mod referrers_front;
pub mod registry;
pub mod rpm_repo;
pub mod tls;
pub mod token;
pub mod verdaccio;
