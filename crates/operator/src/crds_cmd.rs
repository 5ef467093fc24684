//! `azop crds`: the CRD YAML generated from the Rust types in azop-api.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct CrdsArgs {
    /// Write one file per kind into this directory instead of printing to stdout.
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

pub fn run(args: &CrdsArgs) -> anyhow::Result<()> {
    let files = azop_api::crds::crd_files();
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            for (name, yaml) in &files {
                let path = dir.join(name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("failed to write {}", path.display()))?;
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            let written = files.iter().enumerate().try_for_each(|(i, (_, yaml))| {
                if i > 0 {
                    writeln!(out, "---")?;
                }
                out.write_all(yaml.as_bytes())
            });
            match written {
                // `azop crds | head` closes the pipe early: that is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("failed to write the CRDs to stdout")?,
            }
        }
    }
    Ok(())
}
