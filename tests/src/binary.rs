//! Finding the `logplane` binary to test.
//!
//! `LOGPLANE_BIN` wins when set (CI can build once and point every run at the result). Otherwise
//! the binary is built once per test process with the cargo that runs the tests, into the same
//! target directory and profile as the test executable, so `cargo test -p logplane-e2e` alone
//! always tests the current source. Cargo releases its build-directory lock before it runs test
//! executables, so this nested build does not deadlock (checked on cargo 1.95); it only waits
//! while another cargo, in another shell, is compiling in the same target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const BINARY_ENV: &str = "LOGPLANE_BIN";

/// The path of the `logplane` binary, built on first use.
pub fn logplane_binary() -> PathBuf {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(locate) {
        Ok(path) => path.clone(),
        Err(reason) => panic!("no logplane binary to test: {reason}"),
    }
}

fn locate() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!("{BINARY_ENV}={} is not a file", path.display()));
        }
        return Ok(path);
    }
    let layout = TargetLayout::of_current_exe()?;
    build(&layout)?;
    let binary = layout.profile_dir.join("logplane");
    if !binary.is_file() {
        return Err(format!("cargo built nothing at {}", binary.display()));
    }
    Ok(binary)
}

/// Where the running test executable lives: `<target>/<profile>/deps/<test>-<hash>`.
struct TargetLayout {
    target_dir: PathBuf,
    profile_dir: PathBuf,
    profile_dir_name: String,
}

impl TargetLayout {
    fn of_current_exe() -> Result<TargetLayout, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find the test executable: {e}"))?;
        let deps_dir = exe.parent().ok_or("the test executable has no directory")?;
        let profile_dir = deps_dir
            .parent()
            .ok_or("the test executable is not in <target>/<profile>/deps")?;
        let target_dir = profile_dir
            .parent()
            .ok_or("the test executable is not in <target>/<profile>/deps")?;
        let profile_dir_name = profile_dir
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or("the profile directory has no UTF-8 name")?
            .to_string();
        Ok(TargetLayout {
            target_dir: target_dir.to_path_buf(),
            profile_dir: profile_dir.to_path_buf(),
            profile_dir_name,
        })
    }

    /// The cargo flag that builds into this profile directory: `debug` is the dev profile,
    /// every other directory is named after its profile.
    fn profile_args(&self) -> Vec<String> {
        match self.profile_dir_name.as_str() {
            "debug" => Vec::new(),
            "release" => vec!["--release".to_string()],
            other => vec!["--profile".to_string(), other.to_string()],
        }
    }
}

fn workspace_root() -> &'static Path {
    // This crate lives in `<workspace>/tests`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate lives inside the workspace")
}

fn build(layout: &TargetLayout) -> Result<(), String> {
    // `cargo test` tells its test executables which cargo it is; fall back to the one that
    // compiled this crate.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let output = Command::new(&cargo)
        .args(["build", "-p", "logplane-api", "--bin", "logplane"])
        .args(layout.profile_args())
        .env("CARGO_TARGET_DIR", &layout.target_dir)
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build -p logplane-api --bin logplane` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}
