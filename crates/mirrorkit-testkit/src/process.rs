//! Running the real tools the test world is built with (`openssl`, `helm`, `umoci`, …): their
//! stdout returned, a failure a panic that names the command and quotes its stderr.

use std::process::Command;

/// Run `cmd` and return its stdout; panic naming the command when it cannot start or fails.
pub fn output_of(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (scripts/test installs the tools the tests use)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
