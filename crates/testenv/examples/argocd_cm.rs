//! Writes config/argocd/argocd-cm.yaml from the health checks in
//! config/argocd/resource_customizations/azop.dev/<Kind>/health.lua:
//! `cargo run -p azop-testenv --example argocd_cm -- config/argocd/argocd-cm.yaml`
//! (`make generate` runs it).

use azop_testenv::argocd::{customizations_dir, read_health_scripts, render_argocd_cm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: argocd_cm <config/argocd/argocd-cm.yaml>");
        std::process::exit(2);
    };
    let scripts = read_health_scripts(&customizations_dir())?;
    std::fs::write(&out, render_argocd_cm(&scripts))?;
    println!("wrote {out}");
    Ok(())
}
