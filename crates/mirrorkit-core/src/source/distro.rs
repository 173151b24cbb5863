//! The distribution repositories a spec names (`type: apt`, `type: rpm`), as the distribution
//! family and the `repo` stages see them.

use url::Url;

use super::apt::AptSource;
use super::rpm::RpmSource;

/// An apt or rpm source.
#[derive(Clone, Copy, Debug)]
pub enum DistroSource<'a> {
    /// An apt repository.
    Apt(&'a AptSource),
    /// An rpm repository.
    Rpm(&'a RpmSource),
}

impl DistroSource<'_> {
    /// Its place under the target root.
    pub fn prefix(&self) -> &str {
        match self {
            DistroSource::Apt(a) => &a.prefix,
            DistroSource::Rpm(r) => &r.prefix,
        }
    }

    /// Its upstream URL.
    pub fn url(&self) -> &Url {
        match self {
            DistroSource::Apt(a) => &a.url,
            DistroSource::Rpm(r) => &r.url,
        }
    }

    /// `apt` or `rpm`.
    pub fn format(&self) -> &'static str {
        match self {
            DistroSource::Apt(_) => "apt",
            DistroSource::Rpm(_) => "rpm",
        }
    }
}
