//! Writes the seed inputs ([`rampart_fuzz::seeds`]) to `corpus/<target>/seed-<name>`,
//! replacing the seeds there. Other corpus files (found by fuzzing, or crashes kept as
//! regressions) stay.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut written = 0;
    for (target, (name, bytes)) in rampart_fuzz::seeds::all() {
        let directory = corpus.join(target);
        std::fs::create_dir_all(&directory)?;
        std::fs::write(directory.join(format!("seed-{name}")), bytes)?;
        written += 1;
    }
    println!("wrote {written} seeds under {}", corpus.display());
    Ok(())
}
