//! Diffie-Hellman groups (IANA "Transform Type 4").
//!
//! Public values are encoded as in the IKEv2 KE payload: MODP groups as a big-endian integer
//! zero-padded to the prime's length (RFC 7296 3.4), ECP groups as `x | y` without the SEC1
//! prefix, and the shared secret as `x` only (RFC 5903 7), Curve25519 as the 32-byte
//! u-coordinate (RFC 8031). Peer values are validated as RFC 6989 requires.

mod modp_primes;

use crate::{CryptoError, Random, Secret};
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::Uint;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use zeroize::Zeroizing;

/// A Diffie-Hellman group cgw supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DhGroup {
    /// 1024-bit MODP group (2), RFC 2409. Weak; accepted because AWS still offers it.
    Modp1024,
    /// 1536-bit MODP group (5), RFC 3526. AWS allows it for phase 2 (PFS) only.
    Modp1536,
    /// 2048-bit MODP group (14), RFC 3526.
    Modp2048,
    /// 3072-bit MODP group (15), RFC 3526.
    Modp3072,
    /// 4096-bit MODP group (16), RFC 3526.
    Modp4096,
    /// 6144-bit MODP group (17), RFC 3526.
    Modp6144,
    /// 8192-bit MODP group (18), RFC 3526.
    Modp8192,
    /// 256-bit random ECP group (19), RFC 5903.
    Ecp256,
    /// 384-bit random ECP group (20), RFC 5903.
    Ecp384,
    /// 521-bit random ECP group (21), RFC 5903.
    Ecp521,
    /// 1024-bit MODP group with a 160-bit prime order subgroup (22), RFC 5114.
    Modp1024s160,
    /// 2048-bit MODP group with a 224-bit prime order subgroup (23), RFC 5114.
    Modp2048s224,
    /// 2048-bit MODP group with a 256-bit prime order subgroup (24), RFC 5114.
    Modp2048s256,
    /// Curve25519 (31), RFC 8031.
    Curve25519,
}

impl DhGroup {
    /// Every supported group, in IANA order.
    pub const ALL: [DhGroup; 14] = [
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Modp6144,
        DhGroup::Modp8192,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
        DhGroup::Modp1024s160,
        DhGroup::Modp2048s224,
        DhGroup::Modp2048s256,
        DhGroup::Curve25519,
    ];

    /// From the IANA group number.
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            2 => DhGroup::Modp1024,
            5 => DhGroup::Modp1536,
            14 => DhGroup::Modp2048,
            15 => DhGroup::Modp3072,
            16 => DhGroup::Modp4096,
            17 => DhGroup::Modp6144,
            18 => DhGroup::Modp8192,
            19 => DhGroup::Ecp256,
            20 => DhGroup::Ecp384,
            21 => DhGroup::Ecp521,
            22 => DhGroup::Modp1024s160,
            23 => DhGroup::Modp2048s224,
            24 => DhGroup::Modp2048s256,
            31 => DhGroup::Curve25519,
            _ => return None,
        })
    }

    /// The IANA group number.
    pub fn id(self) -> u16 {
        match self {
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Modp3072 => 15,
            DhGroup::Modp4096 => 16,
            DhGroup::Modp6144 => 17,
            DhGroup::Modp8192 => 18,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Ecp521 => 21,
            DhGroup::Modp1024s160 => 22,
            DhGroup::Modp2048s224 => 23,
            DhGroup::Modp2048s256 => 24,
            DhGroup::Curve25519 => 31,
        }
    }

    /// Name as in the IANA registry.
    pub fn name(self) -> &'static str {
        match self {
            DhGroup::Modp1024 => "MODP_1024",
            DhGroup::Modp1536 => "MODP_1536",
            DhGroup::Modp2048 => "MODP_2048",
            DhGroup::Modp3072 => "MODP_3072",
            DhGroup::Modp4096 => "MODP_4096",
            DhGroup::Modp6144 => "MODP_6144",
            DhGroup::Modp8192 => "MODP_8192",
            DhGroup::Ecp256 => "ECP_256",
            DhGroup::Ecp384 => "ECP_384",
            DhGroup::Ecp521 => "ECP_521",
            DhGroup::Modp1024s160 => "MODP_1024_160",
            DhGroup::Modp2048s224 => "MODP_2048_224",
            DhGroup::Modp2048s256 => "MODP_2048_256",
            DhGroup::Curve25519 => "CURVE_25519",
        }
    }

    /// The group's keyword in strongSwan's proposal syntax (`ecp384`, `modp2048s256`).
    pub fn keyword(self) -> &'static str {
        match self {
            DhGroup::Modp1024 => "modp1024",
            DhGroup::Modp1536 => "modp1536",
            DhGroup::Modp2048 => "modp2048",
            DhGroup::Modp3072 => "modp3072",
            DhGroup::Modp4096 => "modp4096",
            DhGroup::Modp6144 => "modp6144",
            DhGroup::Modp8192 => "modp8192",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Ecp384 => "ecp384",
            DhGroup::Ecp521 => "ecp521",
            DhGroup::Modp1024s160 => "modp1024s160",
            DhGroup::Modp2048s224 => "modp2048s224",
            DhGroup::Modp2048s256 => "modp2048s256",
            DhGroup::Curve25519 => "curve25519",
        }
    }

    /// The group named by a strongSwan keyword (also `x25519`).
    pub fn from_keyword(k: &str) -> Option<Self> {
        if k == "x25519" {
            return Some(DhGroup::Curve25519);
        }
        Self::ALL.into_iter().find(|g| g.keyword() == k)
    }

    /// Length of the KE payload's key exchange data for this group.
    pub fn public_value_len(self) -> usize {
        match self {
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Ecp521 => 132,
            DhGroup::Curve25519 => 32,
            g => g.modp().map(|m| m.bits / 8).unwrap_or(0),
        }
    }

    /// For MODP groups: the prime, generator, subgroup order and private exponent size.
    fn modp(self) -> Option<Modp> {
        use modp_primes::*;
        // RFC 3526 groups: generator 2, private exponents at least twice the group's
        // estimated strength (RFC 3526 8). RFC 5114 groups: their generator of a prime order
        // subgroup, exponents below that order.
        let safe = |bits, prime, exp_bits| Modp {
            bits,
            prime,
            generator: None,
            order: None,
            exp_bits,
        };
        let sub = |bits, (prime, generator, order), exp_bits| Modp {
            bits,
            prime,
            generator: Some(generator),
            order: Some(order),
            exp_bits,
        };
        Some(match self {
            DhGroup::Modp1024 => safe(1024, MODP_2, 256),
            DhGroup::Modp1536 => safe(1536, MODP_5, 256),
            DhGroup::Modp2048 => safe(2048, MODP_14, 320),
            DhGroup::Modp3072 => safe(3072, MODP_15, 384),
            DhGroup::Modp4096 => safe(4096, MODP_16, 512),
            DhGroup::Modp6144 => safe(6144, MODP_17, 768),
            DhGroup::Modp8192 => safe(8192, MODP_18, 1024),
            DhGroup::Modp1024s160 => sub(1024, MODP_22, 160),
            DhGroup::Modp2048s224 => sub(2048, MODP_23, 224),
            DhGroup::Modp2048s256 => sub(2048, MODP_24, 256),
            _ => return None,
        })
    }

    /// The MODP prime as big-endian bytes (None for elliptic curve groups).
    pub fn modp_prime(self) -> Option<Vec<u8>> {
        self.modp().map(|m| decode_hex(m.prime))
    }
}

impl std::fmt::Display for DhGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.id())
    }
}

/// A MODP group's parameters (hex, big-endian).
#[derive(Clone, Copy)]
struct Modp {
    bits: usize,
    prime: &'static str,
    /// None: 2.
    generator: Option<&'static str>,
    /// The order of the generator's subgroup, for groups that are not safe-prime groups.
    order: Option<&'static str>,
    exp_bits: usize,
}

fn decode_hex(s: &str) -> Vec<u8> {
    let nib = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => unreachable!("MODP prime constants are hex"),
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| (nib(p[0]) << 4) | nib(p[1]))
        .collect()
}

/// Our half of a Diffie-Hellman exchange: the private value and the public value derived from it.
pub struct DhPrivate {
    group: DhGroup,
    key: PrivateKey,
    public: Vec<u8>,
}

enum PrivateKey {
    Modp(Secret),
    Ecp256(p256::SecretKey),
    Ecp384(p384::SecretKey),
    Ecp521(p521::SecretKey),
    Curve25519(x25519_dalek::StaticSecret),
}

impl std::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl DhPrivate {
    /// Generates a fresh private value with `rng`.
    pub fn generate(group: DhGroup, rng: &mut dyn Random) -> Self {
        loop {
            let len = match group {
                DhGroup::Ecp256 | DhGroup::Curve25519 => 32,
                DhGroup::Ecp384 => 48,
                DhGroup::Ecp521 => 66,
                g => g.modp().map(|m| m.exp_bits / 8).unwrap_or(32),
            };
            let mut bytes = Zeroizing::new(vec![0u8; len]);
            rng.fill(&mut bytes);
            if group == DhGroup::Ecp521 {
                // 521 bits of 528: otherwise almost every draw would be out of range.
                bytes[0] &= 0x01;
            }
            // ECP scalars out of range (probability ~2^-128 or less) are simply redrawn.
            if let Ok(k) = Self::from_private_bytes(group, &bytes) {
                return k;
            }
        }
    }

    /// Builds a private value from given bytes (known-answer tests, reproducible simulations).
    ///
    /// MODP: a big-endian exponent of at most the group's private exponent length; ECP: a
    /// big-endian scalar of the field size; Curve25519: 32 bytes (clamped as RFC 7748 says).
    pub fn from_private_bytes(group: DhGroup, bytes: &[u8]) -> Result<Self, CryptoError> {
        let bad = |reason| CryptoError::InvalidPublicValue {
            group: group.id(),
            reason,
        };
        let (key, public) = match group {
            DhGroup::Ecp256 => {
                let sk = p256::SecretKey::from_slice(bytes)
                    .map_err(|_| bad("private scalar out of range"))?;
                let pubv = sk.public_key().to_encoded_point(false).as_bytes()[1..].to_vec();
                (PrivateKey::Ecp256(sk), pubv)
            }
            DhGroup::Ecp384 => {
                let sk = p384::SecretKey::from_slice(bytes)
                    .map_err(|_| bad("private scalar out of range"))?;
                let pubv = sk.public_key().to_encoded_point(false).as_bytes()[1..].to_vec();
                (PrivateKey::Ecp384(sk), pubv)
            }
            DhGroup::Ecp521 => {
                let sk = p521::SecretKey::from_slice(bytes)
                    .map_err(|_| bad("private scalar out of range"))?;
                let pubv = sk.public_key().to_encoded_point(false).as_bytes()[1..].to_vec();
                (PrivateKey::Ecp521(sk), pubv)
            }
            DhGroup::Curve25519 => {
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| bad("private value must be 32 bytes"))?;
                let sk = x25519_dalek::StaticSecret::from(arr);
                let pubv = x25519_dalek::PublicKey::from(&sk).as_bytes().to_vec();
                (PrivateKey::Curve25519(sk), pubv)
            }
            g => {
                let m = g.modp().expect("MODP group");
                if bytes.len() * 8 > m.exp_bits || bytes.iter().all(|b| *b == 0) {
                    return Err(bad("private exponent of the wrong size"));
                }
                if let Some(q) = m.order {
                    if !less_than(bytes, &decode_hex(q)) {
                        return Err(bad("private exponent not below the subgroup order"));
                    }
                }
                let generator = match m.generator {
                    Some(hex) => decode_hex(hex),
                    None => vec![2],
                };
                let public = modp_pow(g, &generator, bytes, m.exp_bits);
                (
                    PrivateKey::Modp(Zeroizing::new(bytes.to_vec())),
                    public.to_vec(),
                )
            }
        };
        Ok(Self { group, key, public })
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// Our public value, encoded for the KE payload.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Validates the peer's public value and computes the shared secret g^ir.
    pub fn shared_secret(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        let group = self.group;
        let bad = |reason| CryptoError::InvalidPublicValue {
            group: group.id(),
            reason,
        };
        if peer.len() != group.public_value_len() {
            return Err(bad("public value has the wrong length"));
        }
        match &self.key {
            PrivateKey::Ecp256(sk) => {
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(4);
                sec1.extend_from_slice(peer);
                let pk = p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| bad("point is not on the curve"))?;
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            PrivateKey::Ecp384(sk) => {
                let mut sec1 = Vec::with_capacity(97);
                sec1.push(4);
                sec1.extend_from_slice(peer);
                let pk = p384::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| bad("point is not on the curve"))?;
                let shared = p384::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            PrivateKey::Ecp521(sk) => {
                let mut sec1 = Vec::with_capacity(133);
                sec1.push(4);
                sec1.extend_from_slice(peer);
                let pk = p521::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| bad("point is not on the curve"))?;
                let shared = p521::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            PrivateKey::Curve25519(sk) => {
                let arr: [u8; 32] = peer
                    .try_into()
                    .map_err(|_| bad("public value must be 32 bytes"))?;
                let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(arr));
                if !shared.was_contributory() {
                    return Err(bad("low-order point (all-zero shared secret)"));
                }
                Ok(Zeroizing::new(shared.as_bytes().to_vec()))
            }
            PrivateKey::Modp(x) => {
                // RFC 6989 2.1: 1 < y < p-1. For the safe primes of RFC 3526 that is the
                // whole check; for RFC 5114's groups y must also lie in the generator's
                // subgroup, y^q = 1 (2.2), or a small-subgroup value would leak bits of x.
                let m = group.modp().expect("MODP group");
                let p = group.modp_prime().expect("MODP group");
                let mut p_minus_1 = p.clone();
                *p_minus_1.last_mut().expect("non-empty prime") -= 1; // p is odd
                let is_one =
                    peer[..peer.len() - 1].iter().all(|b| *b == 0) && peer[peer.len() - 1] == 1;
                let is_zero = peer.iter().all(|b| *b == 0);
                if is_zero || is_one || peer >= &p_minus_1[..] {
                    return Err(bad("value outside 1 < y < p-1"));
                }
                if let Some(q) = m.order {
                    let r = modp_pow(group, peer, &decode_hex(q), m.exp_bits);
                    let one = r[..r.len() - 1].iter().all(|b| *b == 0) && r[r.len() - 1] == 1;
                    if !one {
                        return Err(bad("value outside the prime order subgroup (y^q != 1)"));
                    }
                }
                Ok(modp_pow(group, peer, x, m.exp_bits))
            }
        }
    }
}

/// Whether big-endian `a` is less than big-endian `b` (leading zeros allowed).
fn less_than(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let pad = |x: &[u8]| {
        let mut v = vec![0u8; n - x.len()];
        v.extend_from_slice(x);
        v
    };
    pad(a) < pad(b)
}

/// `base^exp mod p` for the group's prime, in constant time for an exponent of at most
/// `exp_bits` bits.
fn modp_pow(group: DhGroup, base: &[u8], exp: &[u8], exp_bits: usize) -> Secret {
    fn pow<const L: usize>(prime: &[u8], base: &[u8], exp: &[u8], exp_bits: usize) -> Secret {
        let p = Uint::<L>::from_be_slice(prime);
        let mut b_bytes = vec![0u8; prime.len()];
        b_bytes[prime.len() - base.len()..].copy_from_slice(base);
        let b = Uint::<L>::from_be_slice(&b_bytes);
        let mut e_bytes = Zeroizing::new(vec![0u8; prime.len()]);
        let off = prime.len() - exp.len();
        e_bytes[off..].copy_from_slice(exp);
        let e = Uint::<L>::from_be_slice(&e_bytes);
        let params = DynResidueParams::new(&p);
        let r = DynResidue::new(&b, params)
            .pow_bounded_exp(&e, exp_bits)
            .retrieve();
        let mut out = Zeroizing::new(Vec::with_capacity(prime.len()));
        for w in r.as_words().iter().rev() {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }
    let m = group.modp().expect("MODP group");
    let prime = decode_hex(m.prime);
    match m.bits {
        1024 => pow::<{ 1024 / 64 }>(&prime, base, exp, exp_bits),
        1536 => pow::<{ 1536 / 64 }>(&prime, base, exp, exp_bits),
        2048 => pow::<{ 2048 / 64 }>(&prime, base, exp, exp_bits),
        3072 => pow::<{ 3072 / 64 }>(&prime, base, exp, exp_bits),
        4096 => pow::<{ 4096 / 64 }>(&prime, base, exp, exp_bits),
        6144 => pow::<{ 6144 / 64 }>(&prime, base, exp, exp_bits),
        _ => pow::<{ 8192 / 64 }>(&prime, base, exp, exp_bits),
    }
}
