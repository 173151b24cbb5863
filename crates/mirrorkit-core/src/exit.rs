//! Process exit codes (BSD sysexits, as the seeds and DESIGN.md define them).
//!
//! Every error type in the library knows which of these it maps to; the binary decides the final code
//! in one place from that.

/// The documented exit codes of mirrorkit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[repr(u8)]
pub enum ExitCode {
    /// Every selected item mirrored or already present.
    Success = 0,
    /// Some item failed (download, verify, push); the report says which.
    ItemFailed = 1,
    /// Usage error.
    Usage = 64,
    /// Data error: invalid spec, malformed document, digest mismatch in an import.
    Data = 65,
    /// Upstream or target unreachable.
    Unavailable = 69,
    /// Local I/O error.
    Io = 74,
    /// Temporary failure, try again later: another run holds the work dir (`--no-wait`).
    TempFail = 75,
    /// Permission or credentials refused (401/403).
    NoPermission = 77,
    /// Spec file not found.
    SpecNotFound = 79,
}

impl ExitCode {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit code a recorded number stands for (an unknown number is an item failure).
    pub fn from_code(code: u8) -> ExitCode {
        match code {
            0 => ExitCode::Success,
            64 => ExitCode::Usage,
            65 => ExitCode::Data,
            69 => ExitCode::Unavailable,
            74 => ExitCode::Io,
            75 => ExitCode::TempFail,
            77 => ExitCode::NoPermission,
            79 => ExitCode::SpecNotFound,
            _ => ExitCode::ItemFailed,
        }
    }
}
