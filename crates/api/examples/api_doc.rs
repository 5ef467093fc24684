//! Writes docs/api.md from the CRDs and the invalid-sample corpus:
//! `cargo run -p azop-api --example api_doc -- docs/api.md` (`make generate` runs it).

#[path = "support/rules.rs"]
mod rules;

fn main() -> std::io::Result<()> {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: api_doc <docs/api.md>");
        std::process::exit(2);
    };
    let rules = rules::read_rules(&rules::invalid_samples_dir())?;
    std::fs::write(&out, azop_api::reference::markdown(&rules))?;
    println!("wrote {out}");
    Ok(())
}
