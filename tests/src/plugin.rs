//! Running the command-line side as users do: `azop plan` and `kubectl azop …` (the real
//! kubectl, finding `kubectl-azop` on `PATH`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, ensure};

use crate::operator::{World, azop_binary};

/// The plan's exit code, stdout and stderr.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `kubectl azop <args>` as kubectl runs plugins: the real kubectl, with the directory of
/// `kubectl-azop` (built next to `azop`) first on `PATH`.
pub fn kubectl_azop(world: &World, dir: &Path, args: &[&str]) -> Result<Ran> {
    let bin_dir = azop_binary()?
        .parent()
        .context("azop binary dir")?
        .to_path_buf();
    ensure!(
        bin_dir.join("kubectl-azop").exists(),
        "{} has no kubectl-azop: cargo build -p azop-cli (make test does)",
        bin_dir.display()
    );
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let out = Command::new(azop_testenv::binaries::kubectl()?)
        .current_dir(dir)
        .arg("azop")
        .args(args)
        .env("PATH", path)
        .env("KUBECONFIG", world.env.kubeconfig_path())
        .output()
        .context("run kubectl azop")?;
    Ok(Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
