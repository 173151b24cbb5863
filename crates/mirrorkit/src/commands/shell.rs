//! `completions SHELL` and `man`: the command line described for shells and for `man`.

use clap::CommandFactory as _;
use mirrorkit_core::exit::ExitCode;

use crate::cli::Cli;
use crate::output;

/// `completions SHELL`.
pub(crate) fn completions(shell: clap_complete::Shell) -> ExitCode {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "mirrorkit",
        &mut std::io::stdout(),
    );
    ExitCode::Success
}

/// `man`.
pub(crate) fn man() -> ExitCode {
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
        return output::message(&format!("cannot render the man page: {e}"), ExitCode::Io);
    }
    output::stdout(&String::from_utf8_lossy(&out))
}
