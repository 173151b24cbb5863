//! Process exit codes (BSD sysexits, as the seeds and DESIGN.md define them).
//!
//! Every error type implements [`HasExitCode`]: it knows which of these it maps to; the binary
//! decides the final code in one place from that.

/// The documented exit codes of mirrorkit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// An error (or a report) that knows which documented exit code it stands for.
pub trait HasExitCode {
    /// The exit code this stands for when it ends a run.
    fn exit_code(&self) -> ExitCode;
}

/// Reports carry the number (`"exit_code": 74`), as the process exits with it.
impl serde::Serialize for ExitCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

// In the report's JSON Schema: one of the documented numbers.
schema_as!(ExitCode, "ExitCode", {
    "description": "A documented exit code (0, 1, 64, 65, 69, 74, 75, 77, 79).",
    "type": "integer",
    "enum": [0, 1, 64, 65, 69, 74, 75, 77, 79]
});

impl ExitCode {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}
