//! Subcommands of `nexuma` that talk to a running Core over its HTTP API instead of opening its
//! stores: `nexuma components ...`. They need none of the Core's configuration, only its address
//! and an admin access token.

mod client;
pub mod components;
mod table;

/// Why a CLI command did not do what it was asked. The message is what the operator reads.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or a file it names is wrong: nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// The Core answered with an error; its own message and code.
    #[error("{message} ({status} {code})")]
    Refused {
        /// The HTTP status the Core answered.
        status: u16,
        /// The Core's error code (`error.code` of its JSON body).
        code: String,
        /// The Core's message (`error.message`).
        message: String,
    },
    /// The Core could not be reached, or answered something that is not its API.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// 2 for usage errors (as clap exits on a bad command line), 1 for everything the Core
    /// refused or that failed on the way.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Refused { .. } | CliError::Failed(_) => 1,
        }
    }

    /// A hint printed under the error, where the operator's next step is not obvious.
    fn hint(&self) -> Option<&'static str> {
        match self {
            CliError::Refused { status: 401, .. } => Some(
                "the token is missing, wrong or expired (access tokens live 15 minutes): log in \
                 again with POST /auth/login and pass its accessToken as --token or NEXUMA_TOKEN",
            ),
            CliError::Refused { status: 403, .. } => {
                Some("the token is not an administrator's: log in as an admin")
            }
            _ => None,
        }
    }
}

/// Prints a command's error (and hint) to stderr and gives the process's exit code.
pub fn finish(result: Result<(), CliError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
            err.exit_code()
        }
    }
}
