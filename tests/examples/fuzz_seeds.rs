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
    // Authenticated inner payload chains.
    let dir = root.join("ike_authenticated");
    std::fs::create_dir_all(&dir)?;
    let auth = cgw_ike::fuzzing::authenticated_seeds();
    for (i, s) in auth.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), s)?;
    }
    // UDP-4500 datagrams: a keepalive, each IKE seed behind the non-ESP marker, short ESP.
    let dir = root.join("natt_datagram");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("keepalive"), [0xff])?;
    std::fs::write(dir.join("esp-too-short"), [1, 2, 3, 4, 5])?;
    for (i, s) in seeds.iter().enumerate() {
        let mut d = vec![0, 0, 0, 0];
        d.extend_from_slice(s);
        std::fs::write(dir.join(format!("ike-{i:02}")), d)?;
    }
    println!(
        "wrote {} seeds per IKE target, {} authenticated, {} UDP-4500, under {}",
        seeds.len() + 3,
        auth.len(),
        seeds.len() + 2,
        root.display()
    );
    Ok(())
}
