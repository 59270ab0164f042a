//! Writes the seed corpus for the IKE fuzz targets: `cargo run -p cgw-tests --example fuzz_seeds`.
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let seeds = cgw_ike::fuzzing::seed_datagrams();
    for target in ["ike_decode", "ike_engine"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), s)?;
        }
        // A few hostile shapes as well.
        std::fs::write(dir.join("empty"), b"")?;
        std::fs::write(dir.join("short-header"), [0u8; 27])?;
        let mut two = seeds[0].clone();
        two.extend_from_slice(&[0xFE, 0xFE]);
        two.extend_from_slice(&seeds[seeds.len() - 1]);
        std::fs::write(dir.join("two-datagrams"), two)?;
    }
    println!(
        "wrote {} seeds per target under {}",
        seeds.len() + 3,
        root.display()
    );
    Ok(())
}
