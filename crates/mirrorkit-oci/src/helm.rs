//! Mirroring `type: helm` sources: charts from a classic repository (`index.yaml`), an OCI
//! repository or a chart directory, pushed as Helm OCI artifacts, optionally with the images
//! they use.

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::report::{MirrorError, MirrorReport};
use mirrorkit_core::source::images::HelmSource;
use mirrorkit_core::spec::Mirror;

use crate::images::SyncContext;

/// Which parts of a chart mirror a run does (`--charts-only`, `--images-only`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HelmParts {
    /// Skip the charts themselves.
    pub skip_charts: bool,
    /// Skip the images the charts use.
    pub skip_images: bool,
}

/// Mirror one `helm` source: its chart versions, then (with `images: true`) their images.
pub async fn sync_helm_mirror(
    mirror: &Mirror,
    source: &HelmSource,
    parts: HelmParts,
    ctx: &SyncContext<'_>,
) -> MirrorReport {
    let _ = (source, parts, ctx);
    MirrorReport {
        key: mirror.key.clone(),
        repository: mirror.repository.clone(),
        target: mirror.target.to_string(),
        error: Some(MirrorError {
            message: "helm sources are not implemented yet".into(),
            exit_code: ExitCode::ItemFailed.code(),
        }),
        warnings: Vec::new(),
        versions: Vec::new(),
    }
}
