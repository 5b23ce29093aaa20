//! How a client command reaches the API: `--url`, `--token` and `--json`,
//! with their environment variables. The token's `Debug` hides it, and it
//! is never echoed back, not even in a parse error.

use std::fmt;
use std::str::FromStr;

/// Where the API is when neither `--url` nor `VIGIL_URL` says.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

const HEADING: &str = "Client options (commands that use the HTTP API)";

/// How to reach the API: `--url`, `--token`, `--json`.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// The Vigil server's base URL.
    #[arg(
        long,
        global = true,
        env = "VIGIL_URL",
        default_value = DEFAULT_URL,
        help_heading = HEADING
    )]
    pub url: String,

    /// The API token (`vgl_...`). Prefer the environment variable: command
    /// arguments are visible to other users of the machine.
    #[arg(
        long,
        global = true,
        env = "VIGIL_TOKEN",
        hide_env_values = true,
        help_heading = HEADING
    )]
    pub token: Option<Token>,

    /// Print the API's JSON bodies as they are (events and audit exports as
    /// JSON Lines; errors as problem documents on stderr).
    #[arg(long, global = true, help_heading = HEADING)]
    pub json: bool,
}

/// An API token. Its `Debug` shows no secret, and it is never displayed.
#[derive(Clone)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl FromStr for Token {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // An empty value (`VIGIL_TOKEN=`) means no token.
        let token = s.trim();
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            // Never echo the value back.
            return Err("the token contains characters no Vigil token has".to_owned());
        }
        Ok(Token(token.to_owned()))
    }
}

impl Token {
    /// The token's text, for the `Authorization` header only.
    pub(super) fn secret(&self) -> &str {
        &self.0
    }
}
