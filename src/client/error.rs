//! What can go wrong talking to the API, and the exit code each failure
//! maps to. Scripts rely on these codes: they are documented in
//! `docs/cli.md` and in `vigil --help`, and they never change meaning.

use vigil_api::Problem;

/// The process exit codes of the client commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything not covered below (a 500, an unexpected answer).
    Other = 1,
    /// A usage or configuration error (clap's own, a bad `--url` or token).
    Usage = 2,
    /// 404: no such investigation, approval request or route.
    NotFound = 3,
    /// 401 or 403: no valid token, a missing role, or separation of duties.
    Denied = 4,
    /// 409: the request conflicts with the current state.
    Conflict = 5,
    /// 400, 413, 415 or 422: the input was refused (or could not be read).
    Invalid = 6,
    /// 502, 503 or 504, connection refused, or a timeout: try again later.
    Unavailable = 7,
    /// The audit trail does not verify (or downloaded evidence does not
    /// match its SHA-256).
    AuditFailed = 8,
}

impl Exit {
    /// The code for an HTTP error status.
    pub fn for_status(status: u16) -> Exit {
        match status {
            404 => Exit::NotFound,
            401 | 403 => Exit::Denied,
            409 => Exit::Conflict,
            400 | 413 | 415 | 422 => Exit::Invalid,
            502..=504 => Exit::Unavailable,
            _ => Exit::Other,
        }
    }
}

/// A failed client command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused the request with a problem document.
    #[error("{}", describe(problem))]
    Api {
        /// The problem document, as the API sent it.
        problem: Box<Problem>,
        /// Its raw text, printed as-is under `--json`.
        raw: String,
    },
    /// The API (or something in front of it) answered with an error status
    /// and no problem document.
    #[error("HTTP {status}: {detail}")]
    Http {
        /// The status.
        status: u16,
        /// The start of the body.
        detail: String,
    },
    /// The API could not be reached, or did not answer in time.
    #[error("cannot reach the Vigil API at {url}: {reason}")]
    Unreachable {
        /// The base URL (never with credentials).
        url: String,
        /// Why.
        reason: String,
    },
    /// The API answered with something it does not document.
    #[error("unexpected answer from the API: {0}")]
    Unexpected(String),
    /// A bad client setting (`--url`, `--token`).
    #[error("{0}")]
    Usage(String),
    /// Local input that cannot be sent (a result file that is not JSON).
    #[error("{0}")]
    Input(String),
    /// The audit trail does not verify.
    #[error("{0}")]
    AuditFailed(String),
}

impl Error {
    /// The process exit code for this failure.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Api { problem, .. } => Exit::for_status(problem.status),
            Error::Http { status, .. } => Exit::for_status(*status),
            Error::Unreachable { .. } => Exit::Unavailable,
            Error::Unexpected(_) => Exit::Other,
            Error::Usage(_) => Exit::Usage,
            Error::Input(_) => Exit::Invalid,
            Error::AuditFailed(_) => Exit::AuditFailed,
        }
    }
}

/// `<code>: <detail> (field <field>)`, then one line per schema error,
/// then what the current state allows (`invalid_transition`).
fn describe(p: &Problem) -> String {
    let mut text = format!("{}: {}", p.code, p.detail);
    if let Some(field) = &p.field {
        text.push_str(&format!(" (field `{field}`)"));
    }
    for e in &p.errors {
        text.push_str(&format!("\n  - {e}"));
    }
    if !p.allowed.is_empty() {
        text.push_str(&format!("\n  allowed: {}", p.allowed.join(", ")));
    }
    text
}

/// The exit code for any command's error: a client [`Error`]'s own code,
/// 1 for everything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|cause| cause.downcast_ref::<Error>())
        .map_or(Exit::Other, Error::exit) as u8
}

/// Prints a failed command's error on stderr: `vigil: <message>`, or under
/// `--json` an API problem document exactly as the API sent it.
pub fn print(e: &anyhow::Error, json: bool) {
    if json && let Some(Error::Api { raw, .. }) = e.chain().find_map(|c| c.downcast_ref::<Error>())
    {
        eprintln!("{}", raw.trim_end());
        return;
    }
    eprintln!("vigil: {e:#}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(status: u16, code: &str) -> Error {
        Error::Api {
            problem: Box::new(Problem {
                kind: format!("urn:vigil:problem:{code}"),
                title: "t".into(),
                status,
                detail: "what happened".into(),
                code: code.into(),
                field: Some("agent_id".into()),
                errors: vec!["/confidence: too big".into()],
                allowed: Vec::new(),
            }),
            raw: "{}".into(),
        }
    }

    #[test]
    fn statuses_map_to_the_documented_codes() {
        let cases = [
            (400, 6),
            (401, 4),
            (403, 4),
            (404, 3),
            (405, 1),
            (409, 5),
            (413, 6),
            (415, 6),
            (422, 6),
            (500, 1),
            (502, 7),
            (503, 7),
            (504, 7),
        ];
        for (status, code) in cases {
            assert_eq!(Exit::for_status(status) as u8, code, "HTTP {status}");
        }
    }

    #[test]
    fn errors_name_code_detail_and_field_and_keep_their_exit_code_through_context() {
        let e = problem(422, "unknown_agent");
        assert_eq!(
            e.to_string(),
            "unknown_agent: what happened (field `agent_id`)\n  - /confidence: too big"
        );
        let wrapped = anyhow::Error::new(e).context("dispatching");
        assert_eq!(exit_code(&wrapped), 6);
        let unreachable = anyhow::Error::new(Error::Unreachable {
            url: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(exit_code(&unreachable), 7);
        assert_eq!(exit_code(&anyhow::anyhow!("something else")), 1);
    }

    #[test]
    fn an_invalid_transition_names_what_is_allowed() {
        let mut e = problem(409, "invalid_transition");
        if let Error::Api { problem, .. } = &mut e {
            problem.field = None;
            problem.errors.clear();
            problem.allowed = vec!["open".into(), "pending".into()];
        }
        assert_eq!(
            e.to_string(),
            "invalid_transition: what happened\n  allowed: open, pending"
        );
        assert_eq!(e.exit(), Exit::Conflict);
    }
}
