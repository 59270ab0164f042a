//! Replays the checked-in seed corpus of the `esp_decapsulate` fuzz target through the same
//! entry point the target uses, so a crash found by fuzzing (and added to the corpus) fails
//! `cargo test`.

use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/esp_decapsulate")
}

#[test]
fn esp_decapsulate_corpus() {
    let dir = corpus_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        cgw_esp::fuzzing::decapsulate(&data);
        n += 1;
    }
    assert!(n >= 5, "esp_decapsulate corpus has only {n} inputs");
}

/// The valid seeds are still accepted by the fuzzing SAs (so the corpus keeps reaching past
/// the ICV check after changes to the fuzzing set-up).
#[test]
fn valid_seeds_decapsulate() {
    let dir = corpus_dir();
    for (i, (algorithm, esn)) in cgw_esp::fuzzing::CONFIGS.into_iter().enumerate() {
        let name = [
            "valid-gcm128",
            "valid-gcm256-esn",
            "valid-cbc128-sha256",
            "valid-cbc256-sha1-esn",
        ][i];
        let mut data = std::fs::read(dir.join(name)).unwrap();
        let mut sa = cgw_esp::fuzzing::inbound(algorithm, esn);
        assert!(sa.decapsulate(&mut data).is_ok(), "{name}");
    }
}

/// Rewrites the seed corpus from `cgw_esp::fuzzing::seed_inputs()`:
/// `cargo test -p cgw-esp --test fuzz_corpus -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes files; run by hand to regenerate the seed corpus"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in cgw_esp::fuzzing::seed_inputs() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
