//! The OpenAPI document tells the truth: schemathesis (a third-party,
//! OpenAPI-driven fuzzer, from PyPI) runs every check it has against a real
//! `vigil serve`, once with a full-role token and once with an orchestrator
//! token. Any 5xx, any answer the document does not describe, any request
//! the document allows but the server refuses, or one the document forbids
//! but the server accepts, fails the test with schemathesis's report.
//!
//! The fuzzer runs in a virtual environment under the target directory,
//! created on first use (`python3 -m venv`, then `pip install` of the
//! pinned version); a missing Python or an unreachable registry fails the
//! test, loudly.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// The schemathesis release the run is pinned to.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The virtual environment with schemathesis in it, made if missing.
fn schemathesis() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let venv = target.join("schemathesis-venv");
    let bin = venv.join("bin").join("schemathesis");
    if bin.exists() {
        return bin;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 runs (Debian's python3 and python3-venv)");
    ok(&made);
    let pip = venv.join("bin").join("pip");
    let installed = Command::new(&pip)
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
        ])
        .output()
        .expect("pip runs");
    ok(&installed);
    assert!(
        bin.exists(),
        "no {} after installing {SCHEMATHESIS}",
        bin.display()
    );
    bin
}

/// Case writes whose refusals depend on the case as stored or on a value's
/// type, which no schema can say: a move to `resolved` needs a disposition
/// only when the case has none, a reopen needs a reason, an observable's
/// (or an alert entity's) value must normalize for its type, an evidence
/// item takes exactly one of three content fields, a transfer names who
/// received it, a merge into a case without a disposition needs one. For
/// these, and only these, a schema-valid body may be answered `422` naming
/// the field; every other check still applies to them.
const STATE_DEPENDENT: &[&str] = &[
    "PATCH /api/v1/cases/{id}",
    "POST /api/v1/cases/{id}/status",
    "POST /api/v1/cases/{id}/observables",
    "POST /api/v1/cases/{id}/evidence",
    "POST /api/v1/cases/{id}/evidence/{evidence_id}/custody",
    "POST /api/v1/cases/{id}/merge",
    "POST /api/v1/alerts",
];

/// The schemathesis configuration: [`STATE_DEPENDENT`] operations accept
/// `422` as an answer to schema-valid data.
fn config(dir: &Path) -> PathBuf {
    let mut toml = String::new();
    for name in STATE_DEPENDENT {
        toml.push_str(&format!(
            "[[operations]]\ninclude-name = \"{name}\"\n\
             checks.positive_data_acceptance.expected-statuses = \
             [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"422\", \"429\", \"5xx\"]\n\n"
        ));
    }
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// Runs every schemathesis check against `url` as `token`.
fn fuzz(bin: &Path, dir: &Path, url: &str, token: &str, examples: u32) {
    let out = Command::new(bin)
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("--config-file")
        .arg(config(dir))
        .args(["run", &format!("{url}/api/v1/openapi.json"), "--url", url])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples.to_string()])
        // A fixed seed: the same cases every run, so a failure reproduces.
        .args(["--seed", "1", "--workers", "1"])
        // Generation speed is not the API's behaviour; on a loaded machine
        // the long-text patterns can trip hypothesis's timing check.
        .args(["--suppress-health-check", "too_slow"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .output()
        .expect("schemathesis runs");
    assert!(
        out.status.success(),
        "schemathesis found problems (exit {:?}):\n{}\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn the_openapi_document_describes_what_the_server_does() {
    let bin = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("vigil.toml"),
        dir.path().join("vigil.toml"),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let (_server, admin) = serve(dir.path(), &[], &listen);
    let admin = admin.expect("the first start prints an admin token");
    let orchestrator = ok(&vigil(
        dir.path(),
        &[
            "token",
            "create",
            "--name",
            "fuzz-orchestrator",
            "--role",
            "orchestrator",
        ],
    ))
    .trim()
    .to_owned();
    let url = format!("http://{listen}");
    fuzz(&bin, dir.path(), &url, &admin, 10);
    fuzz(&bin, dir.path(), &url, &orchestrator, 5);
}
