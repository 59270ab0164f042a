//! Replays the checked-in `bgp_decode` fuzz corpus through the fuzz target's entry point, so
//! a crash found by fuzzing (and added to the corpus) fails the tests; and checks that the
//! encoder-made seeds in it are current. Regenerate them with
//! `CGW_BGP_WRITE_CORPUS=1 cargo test -p cgw-bgp --test fuzz_corpus`.

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/bgp_decode")
}

#[test]
fn seeds_are_current() {
    let dir = corpus_dir();
    let write = std::env::var_os("CGW_BGP_WRITE_CORPUS").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in cgw_bgp::fuzzing::seed_messages() {
        let path = dir.join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        } else {
            let on_disk =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(on_disk, bytes, "{name} is stale: regenerate the corpus");
        }
    }
}

#[test]
fn bgp_decode_corpus() {
    let dir = corpus_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        cgw_bgp::fuzzing::decode(&data);
        n += 1;
    }
    assert!(n >= 4, "bgp_decode: corpus has only {n} inputs");
}

#[test]
fn seeds_decode() {
    use cgw_bgp::{Framer, Message, WireOptions};
    // The well-formed seeds are real messages (4-octet AS, except the 2-octet one).
    for (name, bytes) in cgw_bgp::fuzzing::seed_messages() {
        let opts = WireOptions {
            four_octet_as: !name.contains("2octet"),
            external_peer: true,
        };
        let mut f = Framer::new();
        f.push(&bytes);
        let mut ok = true;
        while let Some(frame) = f.next_message() {
            ok &= match frame.map(|fr| Message::decode(&fr, &opts)) {
                Ok(Ok(Message::Update(u))) => !u.treat_as_withdraw(),
                Ok(Ok(_)) => true,
                _ => false,
            };
        }
        assert_eq!(ok, !name.contains("bad"), "{name}");
    }
}

proptest::proptest! {
    /// A poor man's fuzzer for `cargo test`: the seeds with a few bytes changed, cut or
    /// doubled, through the fuzz target's entry point.
    #[test]
    fn mutated_seeds_never_panic(
        seed in proptest::sample::select(cgw_bgp::fuzzing::seed_messages()),
        edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>(), 0u8..4), 1..8),
    ) {
        let mut data = seed.1;
        for (at, v, op) in edits {
            if data.is_empty() {
                break;
            }
            let i = at.index(data.len());
            match op {
                0 | 1 => data[i] = v,
                2 => data.truncate(i),
                _ => {
                    let tail = data[i..].to_vec();
                    data.extend_from_slice(&tail);
                }
            }
        }
        cgw_bgp::fuzzing::decode(&data);
    }
}
