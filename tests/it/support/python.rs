//! The official Python MCP SDK in a virtual environment under the target
//! directory, made on first use by whichever test gets there first (the
//! others wait for it). A missing Python or registry fails the test, loudly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::ok;

/// The SDK release the tests are pinned to.
pub const MCP_SDK: &str = "mcp==2.3.0";

/// The virtual environment's python, with the SDK in it.
pub fn mcp_python() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let venv = target.join("mcp-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join(".installed");
    let lock = target.join("mcp-venv.lock");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if std::fs::read_to_string(&marker).is_ok_and(|v| v == MCP_SDK) {
            return python;
        }
        // Test binaries run in parallel processes: one makes the venv.
        if std::fs::create_dir(&lock).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "another test has been making {} for 10 minutes; remove {} if it died",
            venv.display(),
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = || {
        ok(&Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .expect("python3 runs (Debian's python3 and python3-venv)"));
        ok(&Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", MCP_SDK])
            .output()
            .expect("pip runs"));
        std::fs::write(&marker, MCP_SDK).unwrap();
    };
    let outcome = std::panic::catch_unwind(made);
    let _ = std::fs::remove_dir(&lock);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    python
}
