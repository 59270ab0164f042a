//! Known-answer tests of the Diffie-Hellman groups against published vectors
//! (`tests/vectors/dh_*.txt`, `modp_primes.txt`; each file names its source), plus the
//! RFC 6989 checks of peer public values.

mod common;

use cgw_crypto::{CryptoError, DeterministicRandom, DhGroup, DhPrivate};
use common::{load, Record};

fn group_of(r: &Record) -> DhGroup {
    let id = r.num("group") as u16;
    DhGroup::from_id(id).unwrap_or_else(|| panic!("{}: unknown group {id}", r.at))
}

fn private(group: DhGroup, bytes: &[u8], at: &str) -> DhPrivate {
    DhPrivate::from_private_bytes(group, bytes)
        .unwrap_or_else(|e| panic!("{at}: private value rejected: {e}"))
}

fn assert_invalid(res: Result<impl std::fmt::Debug, CryptoError>, group: DhGroup, what: &str) {
    match res {
        Err(CryptoError::InvalidPublicValue { group: g, .. }) => {
            assert_eq!(g, group.id(), "{what}")
        }
        other => panic!("{what}: expected InvalidPublicValue for group {group}, got {other:?}"),
    }
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

// ------------------------------------------------------------------------------ RFC 5903

#[test]
fn rfc5903_ecp_groups_19_and_20() {
    let recs = load("dh_rfc5903_ecp.txt");
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let g = group_of(r);
        let gi = cat(&r.hex("gix"), &r.hex("giy"));
        let gr = cat(&r.hex("grx"), &r.hex("gry"));
        let girx = r.hex("girx");
        assert_eq!(g.public_value_len(), gi.len(), "{}", r.at);

        let i = private(g, &r.hex("i"), &r.at);
        let rr = private(g, &r.hex("r"), &r.at);
        assert_eq!(i.public_value(), &gi[..], "{}: g^i", r.at);
        assert_eq!(rr.public_value(), &gr[..], "{}: g^r", r.at);
        // RFC 5903 section 7: the shared secret is the x-coordinate of g^ir only.
        assert_eq!(
            &i.shared_secret(&gr).unwrap()[..],
            &girx[..],
            "{}: i side",
            r.at
        );
        assert_eq!(
            &rr.shared_secret(&gi).unwrap()[..],
            &girx[..],
            "{}: r side",
            r.at
        );
    }
}

#[test]
fn rfc5903_points_off_the_curve_and_bad_lengths_are_rejected() {
    for r in &load("dh_rfc5903_ecp.txt") {
        let g = group_of(r);
        let i = private(g, &r.hex("i"), &r.at);
        let gr = cat(&r.hex("grx"), &r.hex("gry"));
        let n = gr.len() / 2;

        // x | y+1: not on the curve.
        let mut off = gr.clone();
        let last = off.len() - 1;
        off[last] = off[last].wrapping_add(1);
        assert_invalid(i.shared_secret(&off), g, &format!("{}: y+1", r.at));
        // x+1 | y
        let mut off = gr.clone();
        off[n - 1] ^= 1;
        assert_invalid(i.shared_secret(&off), g, &format!("{}: x^1", r.at));
        // the all-zero encoding (the point at infinity has no x | y form; (0, 0) is off the curve)
        assert_invalid(i.shared_secret(&vec![0; 2 * n]), g, "zero point");
        // coordinates not below the field prime
        assert_invalid(i.shared_secret(&vec![0xff; 2 * n]), g, "all-ones point");
        // wrong lengths: missing a byte, an extra byte, the SEC1 04 prefix, x only
        assert_invalid(i.shared_secret(&gr[1..]), g, "short");
        assert_invalid(i.shared_secret(&cat(&gr, &[0])), g, "long");
        assert_invalid(i.shared_secret(&cat(&[4], &gr)), g, "SEC1 prefix");
        assert_invalid(i.shared_secret(&gr[..n]), g, "x only");
        assert_invalid(i.shared_secret(&[]), g, "empty");
    }
}

#[test]
fn wycheproof_ecdh_groups_19_and_20() {
    for (file, g) in [
        ("dh_ecp19_wycheproof.txt", DhGroup::Ecp256),
        ("dh_ecp20_wycheproof.txt", DhGroup::Ecp384),
    ] {
        let recs = load(file);
        let (mut valid, mut invalid) = (0, 0);
        for r in &recs {
            let k = private(g, &r.hex("private"), &r.at);
            let res = k.shared_secret(&r.hex("public"));
            match r.str("result") {
                "valid" | "acceptable" => {
                    let got = res.unwrap_or_else(|e| panic!("{}: {e}", r.at));
                    assert_eq!(&got[..], &r.hex("shared")[..], "{}", r.at);
                    valid += 1;
                }
                "invalid" => {
                    assert_invalid(res, g, &format!("{} ({})", r.at, r.str("comment")));
                    invalid += 1;
                }
                other => panic!("{}: result {other}", r.at),
            }
        }
        assert!(
            valid >= 10 && invalid >= 10,
            "{file}: {valid} valid, {invalid} invalid"
        );
    }
}

// ----------------------------------------------------------------------------- X25519

#[test]
fn rfc7748_6_1_and_rfc8031_curve25519_exchanges() {
    let recs = load("dh_x25519_rfc7748_rfc8031.txt");
    assert_eq!(recs.len(), 2);
    let g = DhGroup::Curve25519;
    for r in &recs {
        let a = private(g, &r.hex("alice_priv"), &r.at);
        let b = private(g, &r.hex("bob_priv"), &r.at);
        assert_eq!(a.public_value(), &r.hex("alice_pub")[..], "{}", r.at);
        assert_eq!(b.public_value(), &r.hex("bob_pub")[..], "{}", r.at);
        let k = r.hex("shared");
        assert_eq!(
            &a.shared_secret(&r.hex("bob_pub")).unwrap()[..],
            &k[..],
            "{}",
            r.at
        );
        assert_eq!(
            &b.shared_secret(&r.hex("alice_pub")).unwrap()[..],
            &k[..],
            "{}",
            r.at
        );
    }
}

#[test]
fn rfc7748_5_2_scalar_multiplication() {
    let recs = load("dh_x25519_rfc7748_scalarmult.txt");
    assert_eq!(recs.len(), 3);
    for r in &recs {
        let k = private(DhGroup::Curve25519, &r.hex("scalar"), &r.at);
        let out = r.hex("out");
        assert_eq!(
            &k.shared_secret(&r.hex("u")).unwrap()[..],
            &out[..],
            "{}",
            r.at
        );
        // The public value is X25519(k, 9): for the iterated test's first step u = 9.
        let mut nine = [0u8; 32];
        nine[0] = 9;
        if r.hex("u") == nine {
            assert_eq!(k.public_value(), &out[..], "{}: public value", r.at);
        }
    }
}

#[test]
fn wycheproof_x25519() {
    let recs = load("dh_x25519_wycheproof.txt");
    assert_eq!(recs.len(), 518);
    let mut rejected = 0;
    for r in &recs {
        let k = private(DhGroup::Curve25519, &r.hex("private"), &r.at);
        let shared = r.hex("shared");
        let res = k.shared_secret(&r.hex("public"));
        if shared.iter().all(|b| *b == 0) {
            // Low-order public values: RFC 8031 section 2.3 requires rejecting the all-zero result.
            assert_invalid(
                res,
                DhGroup::Curve25519,
                &format!("{} ({})", r.at, r.str("flags")),
            );
            rejected += 1;
        } else {
            let got = res.unwrap_or_else(|e| panic!("{} ({}): {e}", r.at, r.str("flags")));
            assert_eq!(&got[..], &shared[..], "{} ({})", r.at, r.str("flags"));
        }
    }
    assert!(rejected >= 20, "only {rejected} low-order cases");
}

#[test]
fn x25519_low_order_points_and_bad_lengths_are_rejected() {
    let recs = load("dh_x25519_rfc7748_rfc8031.txt");
    let a = private(DhGroup::Curve25519, &recs[0].hex("alice_priv"), &recs[0].at);
    let g = DhGroup::Curve25519;
    let mut one = [0u8; 32];
    one[0] = 1;
    assert_invalid(a.shared_secret(&[0u8; 32]), g, "u = 0");
    assert_invalid(a.shared_secret(&one), g, "u = 1");
    assert_invalid(a.shared_secret(&[0u8; 31]), g, "31 bytes");
    assert_invalid(a.shared_secret(&[9u8; 33]), g, "33 bytes");
    assert_invalid(a.shared_secret(&[]), g, "empty");
}

// ------------------------------------------------------------------------------- MODP

#[test]
fn modp_primes_are_the_published_ones() {
    let recs = load("modp_primes.txt");
    let ids: Vec<u64> = recs.iter().map(|r| r.num("group")).collect();
    assert_eq!(ids, [2, 5, 14, 15, 16, 17, 18]);
    for r in &recs {
        let g = group_of(r);
        let p = r.hex("p");
        assert_eq!(p.len() * 8, r.num("bits") as usize, "{}", r.at);
        assert_eq!(
            g.modp_prime().as_deref(),
            Some(&p[..]),
            "{}: {} prime",
            r.at,
            g
        );
        assert_eq!(g.public_value_len(), p.len(), "{}", r.at);
    }
    for g in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Curve25519] {
        assert_eq!(g.modp_prime(), None);
    }
}

#[test]
fn modp_exchanges_strongswan_vectors() {
    let recs = load("dh_modp_strongswan.txt");
    let mut checked = Vec::new();
    for r in &recs {
        let g = group_of(r);
        let (xi, xr) = (r.hex("xi"), r.hex("xr"));
        if g == DhGroup::Modp2048 {
            // strongSwan's group 14 exponents are 384 bits; cgw takes at most 320-bit exponents
            // for group 14 (DhPrivate::from_private_bytes), so this exchange cannot be replayed.
            assert_eq!(xi.len(), 48, "{}", r.at);
            continue;
        }
        let i = private(g, &xi, &r.at);
        let rr = private(g, &xr, &r.at);
        let (gi, gr, k) = (r.hex("gi"), r.hex("gr"), r.hex("shared"));
        assert_eq!(i.public_value(), &gi[..], "{}: g^xi", r.at);
        assert_eq!(rr.public_value(), &gr[..], "{}: g^xr", r.at);
        assert_eq!(
            &i.shared_secret(&gr).unwrap()[..],
            &k[..],
            "{}: i side",
            r.at
        );
        assert_eq!(
            &rr.shared_secret(&gi).unwrap()[..],
            &k[..],
            "{}: r side",
            r.at
        );
        checked.push(g.id());
    }
    assert_eq!(checked, [2, 5, 15, 16, 17, 18]);
}

/// `p - 1`, `p`, `p + 1` as big-endian byte strings of the prime's length (p + 1 fits: p is
/// not all ones).
fn around_p(p: &[u8]) -> [Vec<u8>; 3] {
    let mut minus = p.to_vec();
    *minus.last_mut().unwrap() -= 1; // p ends in 0xff
    let mut plus = p.to_vec();
    for b in plus.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    [minus, p.to_vec(), plus]
}

#[test]
fn rfc6989_modp_peer_values_are_checked() {
    let mut rng = DeterministicRandom::new(6989);
    for g in DhGroup::ALL {
        let Some(p) = g.modp_prime() else { continue };
        let len = p.len();
        let k = DhPrivate::generate(g, &mut rng);
        let mut zero = vec![0u8; len];
        assert_invalid(k.shared_secret(&zero), g, "0");
        zero[len - 1] = 1;
        assert_invalid(k.shared_secret(&zero), g, "1");
        let [p_minus_1, p_same, p_plus_1] = around_p(&p);
        assert_invalid(k.shared_secret(&p_minus_1), g, "p-1");
        assert_invalid(k.shared_secret(&p_same), g, "p");
        assert_invalid(k.shared_secret(&p_plus_1), g, "p+1");
        assert_invalid(k.shared_secret(&vec![0xff; len]), g, "2^n-1");
        // wrong lengths, including a valid value without its leading zero padding
        let mut two = vec![0u8; len];
        two[len - 1] = 2;
        assert_invalid(k.shared_secret(&two[1..]), g, "short");
        assert_invalid(k.shared_secret(&cat(&[0], &two)), g, "long");
        assert_invalid(k.shared_secret(&[2]), g, "one byte");
        assert_invalid(k.shared_secret(&[]), g, "empty");
        // the boundaries that are allowed in a safe-prime group: 2 and p-2 (RFC 5114's
        // groups also check the subgroup, which neither is in: see below)
        if !RFC5114.contains(&g) {
            assert!(k.shared_secret(&two).is_ok(), "{g}: 2");
            let mut p_minus_2 = p_minus_1.clone();
            *p_minus_2.last_mut().unwrap() -= 1;
            assert!(k.shared_secret(&p_minus_2).is_ok(), "{g}: p-2");
        }
    }
}

/// The MODP groups with a prime order subgroup and their own generator.
const RFC5114: [DhGroup; 3] = [
    DhGroup::Modp1024s160,
    DhGroup::Modp2048s224,
    DhGroup::Modp2048s256,
];

#[test]
fn modp_values_are_fixed_length_big_endian() {
    // RFC 7296 3.4: the KE data (and g^ir, 2.14) is zero-padded to the prime's length.
    // Generator 2 (RFC 2409 6.2, RFC 3526): exponent 1 gives 2, exponent 2 gives 4. (RFC
    // 5114's groups have their own generators; their vectors are checked above.)
    for g in DhGroup::ALL.into_iter().filter(|g| !RFC5114.contains(g)) {
        let Some(p) = g.modp_prime() else { continue };
        let mut two = vec![0u8; p.len()];
        two[p.len() - 1] = 2;
        let one = private(g, &[1], "x = 1");
        assert_eq!(one.public_value(), &two[..], "{g}: 2^1");
        let k = private(g, &[2], "x = 2");
        let mut four = vec![0u8; p.len()];
        four[p.len() - 1] = 4;
        assert_eq!(k.public_value(), &four[..], "{g}: 2^2");
        // (2^2)^1 = 4, still p.len() bytes
        assert_eq!(&one.shared_secret(&four).unwrap()[..], &four[..], "{g}");
    }
}

#[test]
fn every_group_agrees_with_itself() {
    let mut rng = DeterministicRandom::new(0x5eed);
    for g in DhGroup::ALL {
        let a = DhPrivate::generate(g, &mut rng);
        let b = DhPrivate::generate(g, &mut rng);
        assert_eq!(a.group(), g);
        assert_eq!(a.public_value().len(), g.public_value_len(), "{g}");
        assert_ne!(a.public_value(), b.public_value(), "{g}");
        let ab = a.shared_secret(b.public_value()).unwrap();
        let ba = b.shared_secret(a.public_value()).unwrap();
        assert_eq!(&ab[..], &ba[..], "{g}");
        let expected_len = match g {
            DhGroup::Ecp256 | DhGroup::Curve25519 => 32,
            DhGroup::Ecp384 => 48,
            DhGroup::Ecp521 => 66,
            _ => g.public_value_len(),
        };
        assert_eq!(ab.len(), expected_len, "{g}");
        assert!(ab.iter().any(|b| *b != 0), "{g}");
    }
}

// ------------------------------------------------------------------------------ RFC 5114

/// RFC 5114 appendix A: the MODP groups with prime order subgroups (22, 23, 24), both sides,
/// and the 521-bit ECP group (21).
#[test]
fn rfc5114_groups_21_to_24() {
    let recs = load("dh_rfc5114.txt");
    assert_eq!(recs.len(), 4);
    let mut seen = Vec::new();
    for r in &recs {
        let g = group_of(r);
        seen.push(g.id());
        let (a, b, ya, yb, z) = if g == DhGroup::Ecp521 {
            (
                r.hex("da"),
                r.hex("db"),
                cat(&r.hex("xqa"), &r.hex("yqa")),
                cat(&r.hex("xqb"), &r.hex("yqb")),
                r.hex("xz"),
            )
        } else {
            (
                r.hex("xa"),
                r.hex("xb"),
                r.hex("ya"),
                r.hex("yb"),
                r.hex("z"),
            )
        };
        assert_eq!(g.public_value_len(), ya.len(), "{}", r.at);
        let pa = private(g, &a, &r.at);
        let pb = private(g, &b, &r.at);
        assert_eq!(pa.public_value(), &ya[..], "{}: yA", r.at);
        assert_eq!(pb.public_value(), &yb[..], "{}: yB", r.at);
        assert_eq!(
            &pa.shared_secret(&yb).unwrap()[..],
            &z[..],
            "{}: A side",
            r.at
        );
        assert_eq!(
            &pb.shared_secret(&ya).unwrap()[..],
            &z[..],
            "{}: B side",
            r.at
        );
    }
    seen.sort();
    assert_eq!(seen, vec![21, 22, 23, 24]);
}

/// RFC 6989 2.2: in the RFC 5114 groups a peer value must lie in the generator's subgroup
/// (y^q = 1); 2, p-2 and a value one off a valid public value do not, and are refused, while
/// the valid value itself is taken. Private exponents at or above the subgroup order are
/// refused too.
#[test]
fn rfc6989_values_outside_the_rfc5114_subgroups_are_refused() {
    let mut rng = DeterministicRandom::new(0x5114);
    for g in RFC5114 {
        let ours = DhPrivate::generate(g, &mut rng);
        let theirs = DhPrivate::generate(g, &mut rng);
        let p = g.modp_prime().unwrap();
        let len = p.len();
        let mut two = vec![0u8; len];
        two[len - 1] = 2;
        let mut p_minus_2 = p.clone();
        p_minus_2[len - 1] -= 2;
        let mut off_by_one = theirs.public_value().to_vec();
        off_by_one[len - 1] ^= 1;
        for (what, v) in [("2", two), ("p-2", p_minus_2), ("y xor 1", off_by_one)] {
            assert_invalid(ours.shared_secret(&v), g, &format!("{g}: {what}"));
        }
        assert!(ours.shared_secret(theirs.public_value()).is_ok(), "{g}");
        // An exponent of the subgroup order's length but all ones is above the order.
        let too_big = vec![0xff; ours_exp_len(g)];
        assert!(DhPrivate::from_private_bytes(g, &too_big).is_err(), "{g}");
    }
}

fn ours_exp_len(g: DhGroup) -> usize {
    match g {
        DhGroup::Modp1024s160 => 20,
        DhGroup::Modp2048s224 => 28,
        _ => 32,
    }
}
