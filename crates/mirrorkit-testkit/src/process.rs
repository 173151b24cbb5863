//! Running the real tools the test world is built with (`openssl`, `helm`, `umoci`, `npm`, …):
//! their stdout returned, a failure a panic that names the command and quotes its stderr; a free
//! loopback port for a server to listen on; and a script run offline, in a network namespace of
//! its own with only loopback up.

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

/// A loopback port free right now (for a server that takes its port as an argument).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Run the bash `script` in a new network namespace where only loopback is up (`unshare -n`):
/// nothing outside this machine's loopback, and none of the test's other servers, is
/// reachable. Its output, whatever the exit status.
pub fn offline(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-n", "bash", "-c"])
        .arg(format!("set -euo pipefail\nip link set lo up\n{script}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run unshare: {e} (util-linux; needs root)"))
}
