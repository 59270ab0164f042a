//! Replays the checked-in fuzz corpus through the same entry points the fuzz targets use,
//! so a crash found by fuzzing (and added to the corpus) fails CI.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        f(&data);
        n += 1;
    }
    assert!(n >= 5, "{target}: corpus has only {n} inputs");
}

#[test]
fn ike_decode_corpus() {
    replay("ike_decode", cgw_ike::fuzzing::decode_message);
}

#[test]
fn ike_engine_corpus() {
    replay("ike_engine", cgw_ike::fuzzing::engine);
}

#[test]
fn ike_authenticated_corpus() {
    replay("ike_authenticated", |d| {
        cgw_ike::fuzzing::authenticated(d);
    });
}

#[test]
fn natt_datagram_corpus() {
    replay("natt_datagram", cgw::fuzzing::natt_datagram);
}

/// The authenticated seeds reach the handlers: a seed that was not accepted would show as
/// an integrity failure, and the liveness check seed is answered.
#[test]
fn authenticated_seeds_cover_informational_and_create_child_sa() {
    let seeds = cgw_ike::fuzzing::authenticated_seeds();
    let mut exchanges: Vec<u8> = seeds.iter().map(|s| s[0]).collect();
    exchanges.sort();
    exchanges.dedup();
    assert_eq!(exchanges, vec![36, 37], "CREATE_CHILD_SA and INFORMATIONAL");
    assert!(seeds.len() >= 6, "{} seeds", seeds.len());
    for s in &seeds {
        let (sealed, integrity_failures) = cgw_ike::fuzzing::authenticated(s);
        assert_eq!((sealed, integrity_failures), (1, 0), "{s:02x?}");
    }
}

#[test]
fn seed_datagrams_cover_every_exchange() {
    let seeds = cgw_ike::fuzzing::seed_datagrams();
    let mut exchanges: Vec<u8> = seeds.iter().map(|s| s[18]).collect();
    exchanges.sort();
    exchanges.dedup();
    assert_eq!(
        exchanges,
        vec![34, 35, 37],
        "IKE_SA_INIT, IKE_AUTH and INFORMATIONAL seeds"
    );
}
