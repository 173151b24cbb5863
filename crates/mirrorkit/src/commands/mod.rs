//! One file per command: each parses nothing (clap did), asks [`crate::settings`] for what it
//! talks through, calls the library, and hands its report to [`crate::output`].

pub(crate) mod bundle;
pub(crate) mod cascade;
pub(crate) mod copy;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod mirror;
pub(crate) mod package_trees;
pub(crate) mod repo;
pub(crate) mod schema;
pub(crate) mod shell;
pub(crate) mod sync;
pub(crate) mod validate;
