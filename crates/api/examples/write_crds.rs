//! Writes the generated CRD files into each directory given on the command line:
//! `cargo run -p azop-api --example write_crds -- crds charts/azop/crds`.
//! (`make generate` does the same through `azop crds --out-dir`.)

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: write_crds <dir>...");
        std::process::exit(2);
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir)?;
        for (file, yaml) in azop_api::crds::crd_files() {
            let path = Path::new(&dir).join(file);
            std::fs::write(&path, yaml)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
