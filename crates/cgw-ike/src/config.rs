use cgw_crypto::{DhGroup, Encr, Integ, Prf};
use cgw_wire::{IdType, Identification, TrafficSelector};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One IKE SA proposal: the transforms of each type, in order of preference.
///
/// AEAD ciphers (AES-GCM) must be proposed without integrity algorithms, and CBC ciphers with
/// at least one; mix them only in separate proposals (RFC 7296 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposal {
    /// Encryption algorithms.
    pub encr: Vec<Encr>,
    /// Integrity algorithms (empty for AEAD ciphers).
    pub integ: Vec<Integ>,
    /// Pseudorandom functions.
    pub prf: Vec<Prf>,
    /// Diffie-Hellman groups; the initiator sends a KE payload for the first.
    pub dh: Vec<DhGroup>,
}

impl IkeProposal {
    /// Suite-B-GCM-256 as a Palo Alto defines it for the IKE SA: AES-256-CBC,
    /// HMAC-SHA-384-192, PRF-HMAC-SHA-384, ECP-384 (group 20).
    pub fn suite_b_gcm_256() -> Self {
        Self {
            encr: vec![Encr::AesCbc256],
            integ: vec![Integ::HmacSha2_384_192],
            prf: vec![Prf::HmacSha2_384],
            dh: vec![DhGroup::Ecp384],
        }
    }

    /// Suite-B-GCM-128 for the IKE SA: AES-128-CBC, HMAC-SHA-256-128, PRF-HMAC-SHA-256, ECP-256.
    pub fn suite_b_gcm_128() -> Self {
        Self {
            encr: vec![Encr::AesCbc128],
            integ: vec![Integ::HmacSha2_256_128],
            prf: vec![Prf::HmacSha2_256],
            dh: vec![DhGroup::Ecp256],
        }
    }

    /// A single-transform proposal.
    pub fn single(encr: Encr, integ: Option<Integ>, prf: Prf, dh: DhGroup) -> Self {
        Self {
            encr: vec![encr],
            integ: integ.into_iter().collect(),
            prf: vec![prf],
            dh: vec![dh],
        }
    }

    /// Everything AWS accepts for phase 1, as two proposals (CBC with HMAC, and AES-GCM),
    /// strongest first: AES-256/128 CBC and GCM-16, SHA-1 and SHA-2, DH 2 and 14-20 (and 31).
    pub fn aws_all() -> Vec<Self> {
        let dh = vec![
            DhGroup::Ecp384,
            DhGroup::Ecp256,
            DhGroup::Modp2048,
            DhGroup::Modp3072,
            DhGroup::Modp4096,
            DhGroup::Modp6144,
            DhGroup::Modp8192,
            DhGroup::Modp1024,
        ];
        let prf = vec![
            Prf::HmacSha2_384,
            Prf::HmacSha2_256,
            Prf::HmacSha2_512,
            Prf::HmacSha1,
        ];
        vec![
            Self {
                encr: vec![Encr::AesCbc256, Encr::AesCbc128],
                integ: vec![
                    Integ::HmacSha2_384_192,
                    Integ::HmacSha2_256_128,
                    Integ::HmacSha2_512_256,
                    Integ::HmacSha1_96,
                ],
                prf: prf.clone(),
                dh: dh.clone(),
            },
            Self {
                encr: vec![Encr::AesGcm16_256, Encr::AesGcm16_128],
                integ: vec![],
                prf,
                dh,
            },
        ]
    }

    /// strongSwan-style text, e.g. `aes256-sha384-prfsha384-ecp384`.
    pub fn describe(&self) -> String {
        describe(&self.encr, &self.integ, Some(&self.prf), &self.dh, None)
    }
}

/// One ESP (Child SA) proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    /// Encryption algorithms.
    pub encr: Vec<Encr>,
    /// Integrity algorithms (empty for AES-GCM).
    pub integ: Vec<Integ>,
    /// PFS groups for CREATE_CHILD_SA; empty means no PFS. Not used for the Child SA created
    /// in IKE_AUTH, which takes its keys from the IKE SA (RFC 7296 1.2).
    pub dh: Vec<DhGroup>,
    /// Offer extended sequence numbers (in addition to, and preferred over, 32-bit ones).
    pub esn: bool,
}

impl EspProposal {
    /// Suite-B-GCM-256 for ESP: AES-256-GCM-16, PFS with ECP-384 (group 20).
    pub fn suite_b_gcm_256() -> Self {
        Self {
            encr: vec![Encr::AesGcm16_256],
            integ: vec![],
            dh: vec![DhGroup::Ecp384],
            esn: false,
        }
    }

    /// Suite-B-GCM-128 for ESP: AES-128-GCM-16, PFS with ECP-256 (group 19).
    pub fn suite_b_gcm_128() -> Self {
        Self {
            encr: vec![Encr::AesGcm16_128],
            integ: vec![],
            dh: vec![DhGroup::Ecp256],
            esn: false,
        }
    }

    /// A single-transform proposal.
    pub fn single(encr: Encr, integ: Option<Integ>, dh: Option<DhGroup>) -> Self {
        Self {
            encr: vec![encr],
            integ: integ.into_iter().collect(),
            dh: dh.into_iter().collect(),
            esn: false,
        }
    }

    /// strongSwan-style text, e.g. `aes256gcm16-ecp384`.
    pub fn describe(&self) -> String {
        describe(&self.encr, &self.integ, None, &self.dh, Some(self.esn))
    }
}

fn describe(
    encr: &[Encr],
    integ: &[Integ],
    prf: Option<&[Prf]>,
    dh: &[DhGroup],
    esn: Option<bool>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in encr {
        parts.push(
            match e {
                Encr::AesCbc128 => "aes128",
                Encr::AesCbc256 => "aes256",
                Encr::AesGcm16_128 => "aes128gcm16",
                Encr::AesGcm16_256 => "aes256gcm16",
            }
            .into(),
        );
    }
    for i in integ {
        parts.push(
            match i {
                Integ::HmacSha1_96 => "sha1",
                Integ::HmacSha2_256_128 => "sha256",
                Integ::HmacSha2_384_192 => "sha384",
                Integ::HmacSha2_512_256 => "sha512",
            }
            .into(),
        );
    }
    for p in prf.unwrap_or(&[]) {
        parts.push(
            match p {
                Prf::HmacSha1 => "prfsha1",
                Prf::HmacSha2_256 => "prfsha256",
                Prf::HmacSha2_384 => "prfsha384",
                Prf::HmacSha2_512 => "prfsha512",
            }
            .into(),
        );
    }
    for g in dh {
        parts.push(g.keyword().into());
    }
    if esn == Some(true) {
        parts.push("esn".into());
    }
    parts.join("-")
}

/// Retransmission of requests (RFC 7296 2.1): timeout `initial * base^n`, `tries` times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetransmitConfig {
    /// Wait before the first retransmission.
    pub initial: Duration,
    /// Backoff factor.
    pub base: f64,
    /// Retransmissions before the peer is declared unreachable.
    pub tries: u32,
    /// Upper bound on one wait.
    pub max_timeout: Duration,
}

impl Default for RetransmitConfig {
    /// strongSwan's defaults: 4 s, 1.8, 5 tries (about 165 s in all).
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(4),
            base: 1.8,
            tries: 5,
            max_timeout: Duration::from_secs(60),
        }
    }
}

/// SA lifetimes, as AWS states them: the hard lifetime of each SA, and a rekey margin with a
/// random fuzz (AWS: IKE 28800 s, Child 3600 s, margin 270 s, fuzz 100 %).
///
/// AWS rekeys somewhere in `[lifetime - margin * (1 + fuzz), lifetime - margin]`. cgw picks
/// its own rekey time in the same window moved earlier by a quarter of the margin, so that it
/// usually drives the rekey while a collision stays possible (and is handled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// IKE SA lifetime.
    pub ike: Duration,
    /// Child SA lifetime.
    pub child: Duration,
    /// Rekey this long before the lifetime ends.
    pub rekey_margin: Duration,
    /// Widen the margin by a random 0..fuzz percent.
    pub rekey_fuzz_percent: u32,
    /// Move our rekey window a quarter of the margin earlier than the peer's (cgw's default,
    /// so that the customer gateway usually drives rekeys). `false` rekeys exactly in AWS's
    /// window, as the AWS side itself does (`cgw emulate-aws`).
    pub lead: bool,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            ike: Duration::from_secs(28_800),
            child: Duration::from_secs(3_600),
            rekey_margin: Duration::from_secs(270),
            rekey_fuzz_percent: 100,
            lead: true,
        }
    }
}

impl Lifetimes {
    /// When to rekey an SA of `lifetime`, given a random `r` in [0, 1).
    pub fn soft(&self, lifetime: Duration, r: f64) -> Duration {
        let margin = self.rekey_margin.min(lifetime / 2);
        let fuzz = margin.mul_f64(self.rekey_fuzz_percent as f64 / 100.0 * r.clamp(0.0, 1.0));
        lifetime
            .saturating_sub(
                margin
                    + fuzz
                    + if self.lead {
                        margin / 4
                    } else {
                        Duration::ZERO
                    },
            )
            .max(lifetime / 4)
    }
}

/// Configuration of one IKE connection (one tunnel to one peer).
#[derive(Clone)]
pub struct Config {
    /// Our address (source of IKE messages; an AWS customer gateway's outside address or the
    /// private address behind a NAT).
    pub local_addr: IpAddr,
    /// The peer's address (the AWS tunnel outside address).
    pub remote_addr: IpAddr,
    /// Our identity; default ID_IPV4_ADDR of our public address.
    pub local_id: Identification,
    /// The identity the peer must present; `None` accepts any (AWS presents ID_IPV4_ADDR of
    /// its outside address).
    pub remote_id: Option<Identification>,
    /// The pre-shared key of this tunnel (wiped from memory when the configuration goes; never
    /// printed: `Debug` shows `<redacted>`).
    pub psk: zeroize::Zeroizing<Vec<u8>>,
    /// IKE SA proposals in order of preference.
    pub ike_proposals: Vec<IkeProposal>,
    /// Child SA proposals in order of preference.
    pub esp_proposals: Vec<EspProposal>,
    /// Our side's traffic selectors (default 0.0.0.0/0).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side (default 0.0.0.0/0).
    pub remote_ts: Vec<TrafficSelector>,
    /// Retransmission of our requests.
    pub retransmit: RetransmitConfig,
    /// How long a responder keeps an IKE SA that has not completed IKE_AUTH.
    pub half_open_timeout: Duration,
    /// Responder: when to demand a COOKIE (RFC 7296 2.6), how many half-open SAs to keep,
    /// how fast to make new ones, and the largest IKE_SA_INIT request.
    pub responder: crate::ResponderLimits,
    /// Lifetimes.
    pub lifetimes: Lifetimes,
    /// Size of the ESP anti-replay window, passed on to the ESP engine.
    pub replay_window: u32,
    /// Encrypted IKE messages larger than this (bytes of IKE message) are sent as RFC 7383
    /// fragments when the peer supports IKE fragmentation.
    pub fragment_size: usize,
    /// Dead-peer detection; `None` turns it off.
    pub dpd: Option<DpdConfig>,
    /// Tests only: rewrites the payloads of each response this engine sends (before it is
    /// encrypted), so that an in-memory peer can misbehave the way other implementations
    /// do (answer without KE, drop a transform, answer empty). `None` in every real use.
    #[doc(hidden)]
    pub test_response_filter: Option<ResponseFilter>,
}

/// See [`Config::test_response_filter`].
#[doc(hidden)]
pub type ResponseFilter = fn(cgw_wire::ExchangeType, &mut Vec<cgw_wire::Payload>);

/// Dead-peer detection (RFC 7296 2.4 liveness checks): after `interval` without hearing from
/// the peer (an authenticated IKE message, or ESP the driver reports with
/// [`Connection::esp_received`](crate::Connection::esp_received)) the engine sends an empty
/// INFORMATIONAL request (a request already in flight counts as the probe); if nothing is
/// heard for `timeout` after that, the IKE SA fails with
/// [`IkeError::PeerNotResponding`](crate::IkeError::PeerNotResponding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpdConfig {
    /// Probe after this long without hearing from the peer (AWS: 10 s).
    pub interval: Duration,
    /// Give up this long after the probe (AWS: 30 s).
    pub timeout: Duration,
}

impl Default for DpdConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// A configuration with cgw's defaults: Suite-B-GCM-256 proposals, ID_IPV4_ADDR /
    /// ID_IPV6_ADDR of `local_addr`, traffic selectors 0.0.0.0/0 on both sides.
    pub fn new(local_addr: IpAddr, remote_addr: IpAddr, psk: impl Into<Vec<u8>>) -> Self {
        Self {
            local_addr,
            remote_addr,
            local_id: id_for_addr(local_addr),
            remote_id: None,
            psk: zeroize::Zeroizing::new(psk.into()),
            ike_proposals: vec![IkeProposal::suite_b_gcm_256()],
            esp_proposals: vec![EspProposal::suite_b_gcm_256()],
            local_ts: vec![TrafficSelector::IPV4_ANY],
            remote_ts: vec![TrafficSelector::IPV4_ANY],
            retransmit: RetransmitConfig::default(),
            half_open_timeout: Duration::from_secs(30),
            responder: crate::ResponderLimits::default(),
            lifetimes: Lifetimes::default(),
            replay_window: 1024,
            fragment_size: 1280,
            dpd: None,
            test_response_filter: None,
        }
    }

    /// The peer's IKE address on port 500.
    pub fn remote_ike_addr(&self) -> SocketAddr {
        SocketAddr::new(self.remote_addr, crate::IKE_PORT)
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .field("local_id", &self.local_id.to_string())
            .field("psk", &"<redacted>")
            .field("ike_proposals", &self.ike_proposals)
            .field("esp_proposals", &self.esp_proposals)
            .finish_non_exhaustive()
    }
}

/// ID_IPV4_ADDR or ID_IPV6_ADDR of an address.
pub fn id_for_addr(addr: IpAddr) -> Identification {
    match addr {
        IpAddr::V4(a) => Identification {
            id_type: IdType::ID_IPV4_ADDR,
            data: a.octets().to_vec(),
        },
        IpAddr::V6(a) => Identification {
            id_type: IdType::ID_IPV6_ADDR,
            data: a.octets().to_vec(),
        },
    }
}

/// Why a proposal string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proposal {proposal:?}: {reason}")]
pub struct ProposalParseError {
    /// The text.
    pub proposal: String,
    /// What is wrong.
    pub reason: String,
}

#[derive(Default)]
struct Tokens {
    encr: Vec<Encr>,
    integ: Vec<Integ>,
    prf: Vec<Prf>,
    dh: Vec<DhGroup>,
    esn: Option<bool>,
}

fn tokenize(s: &str) -> Result<Tokens, ProposalParseError> {
    let err = |reason: String| ProposalParseError {
        proposal: s.to_string(),
        reason,
    };
    let mut t = Tokens::default();
    for tok in s.split('-').map(str::trim) {
        match tok.to_ascii_lowercase().as_str() {
            "aes128" | "aes128cbc" => t.encr.push(Encr::AesCbc128),
            "aes256" | "aes256cbc" => t.encr.push(Encr::AesCbc256),
            "aes128gcm16" | "aes128gcm128" => t.encr.push(Encr::AesGcm16_128),
            "aes256gcm16" | "aes256gcm128" => t.encr.push(Encr::AesGcm16_256),
            "sha1" | "sha" => t.integ.push(Integ::HmacSha1_96),
            "sha256" | "sha2_256" => t.integ.push(Integ::HmacSha2_256_128),
            "sha384" | "sha2_384" => t.integ.push(Integ::HmacSha2_384_192),
            "sha512" | "sha2_512" => t.integ.push(Integ::HmacSha2_512_256),
            "prfsha1" => t.prf.push(Prf::HmacSha1),
            "prfsha256" => t.prf.push(Prf::HmacSha2_256),
            "prfsha384" => t.prf.push(Prf::HmacSha2_384),
            "prfsha512" => t.prf.push(Prf::HmacSha2_512),
            "esn" => t.esn = Some(true),
            "noesn" => t.esn = Some(t.esn.unwrap_or(false)),
            "" => return Err(err("empty algorithm name".into())),
            other if DhGroup::from_keyword(other).is_some() => {
                t.dh.push(DhGroup::from_keyword(other).expect("checked"))
            }
            other => {
                return Err(err(format!(
                    "unknown algorithm {other:?} (cgw knows aes128, aes256, aes128gcm16, aes256gcm16, sha1, sha256, sha384, sha512, prfsha1..prfsha512, modp1024..modp8192, ecp256, ecp384, ecp521, modp1024s160, modp2048s224, modp2048s256, curve25519, esn)"
                )))
            }
        }
    }
    if t.encr.is_empty() {
        return Err(err("no encryption algorithm".into()));
    }
    let aead = t.encr.iter().filter(|e| e.is_aead()).count();
    if aead != 0 && aead != t.encr.len() {
        return Err(err(
            "AES-GCM and AES-CBC must be in separate proposals".into()
        ));
    }
    if aead != 0 && !t.integ.is_empty() {
        return Err(err("AES-GCM takes no integrity algorithm".into()));
    }
    if aead == 0 && t.integ.is_empty() {
        return Err(err(
            "AES-CBC needs an integrity algorithm (sha1, sha256, sha384 or sha512)".into(),
        ));
    }
    Ok(t)
}

impl IkeProposal {
    /// Parses strongSwan proposal syntax, e.g. `aes256-sha384-ecp384` (the PRF follows the
    /// integrity hash unless `prfsha*` is given) or `aes256gcm16-prfsha384-ecp384`.
    pub fn parse(s: &str) -> Result<Self, ProposalParseError> {
        let t = tokenize(s)?;
        let err = |reason: &str| ProposalParseError {
            proposal: s.to_string(),
            reason: reason.to_string(),
        };
        if t.dh.is_empty() {
            return Err(err("an IKE proposal needs a DH group (e.g. ecp384)"));
        }
        if t.esn.is_some() {
            return Err(err("esn applies to ESP proposals only"));
        }
        let prf = if !t.prf.is_empty() {
            t.prf
        } else if !t.integ.is_empty() {
            t.integ
                .iter()
                .map(|i| match i {
                    Integ::HmacSha1_96 => Prf::HmacSha1,
                    Integ::HmacSha2_256_128 => Prf::HmacSha2_256,
                    Integ::HmacSha2_384_192 => Prf::HmacSha2_384,
                    Integ::HmacSha2_512_256 => Prf::HmacSha2_512,
                })
                .collect()
        } else {
            return Err(err("an AES-GCM IKE proposal needs a PRF (e.g. prfsha384)"));
        };
        Ok(Self {
            encr: t.encr,
            integ: t.integ,
            prf,
            dh: t.dh,
        })
    }
}

impl EspProposal {
    /// Parses strongSwan proposal syntax, e.g. `aes256gcm16-ecp384` (PFS with group 20),
    /// `aes128-sha1-modp2048` or `aes256gcm16` (no PFS).
    pub fn parse(s: &str) -> Result<Self, ProposalParseError> {
        let t = tokenize(s)?;
        if !t.prf.is_empty() {
            return Err(ProposalParseError {
                proposal: s.to_string(),
                reason: "ESP proposals take no PRF".into(),
            });
        }
        Ok(Self {
            encr: t.encr,
            integ: t.integ,
            dh: t.dh,
            esn: t.esn.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rekey_windows_of_cgw_and_of_the_aws_side() {
        let s = |secs: u64| Duration::from_secs(secs);
        let aws = Lifetimes {
            lead: false,
            ..Lifetimes::default()
        };
        // AWS: somewhere in [3600 - 270 * 2, 3600 - 270] for a Child SA, fuzz 100 %.
        assert_eq!(aws.soft(s(3600), 0.0), s(3330));
        assert_eq!(aws.soft(s(3600), 1.0), s(3060));
        assert_eq!(aws.soft(s(28_800), 0.5), s(28_800 - 270 - 135));
        // cgw: the same window a quarter margin (67.5 s) earlier, so it usually rekeys first.
        let cgw = Lifetimes::default();
        assert_eq!(
            cgw.soft(s(3600), 0.0),
            s(3600 - 270) - Duration::from_millis(67_500)
        );
        assert_eq!(
            cgw.soft(s(3600), 1.0),
            s(3060) - Duration::from_millis(67_500)
        );
        for r in [0.0, 0.25, 0.5, 0.99, 1.0] {
            assert!(cgw.soft(s(3600), r) < aws.soft(s(3600), r));
        }
    }

    #[test]
    fn proposal_strings_parse_and_describe_round_trip() {
        let p = IkeProposal::parse("aes256-sha384-ecp384").unwrap();
        assert_eq!(p, IkeProposal::suite_b_gcm_256());
        assert_eq!(IkeProposal::parse(&p.describe()).unwrap(), p);
        let g = IkeProposal::parse("aes256gcm16-aes128gcm16-prfsha256-ecp256-modp2048").unwrap();
        assert_eq!(g.encr, vec![Encr::AesGcm16_256, Encr::AesGcm16_128]);
        assert!(g.integ.is_empty());
        assert_eq!(g.dh, vec![DhGroup::Ecp256, DhGroup::Modp2048]);
        let e = EspProposal::parse("aes256gcm16-ecp384").unwrap();
        assert_eq!(e, EspProposal::suite_b_gcm_256());
        let e = EspProposal::parse("aes128-sha1-esn").unwrap();
        assert!(e.esn && e.dh.is_empty());
        for bad in [
            "",
            "aes256",
            "aes256gcm16-sha256-ecp384",
            "aes256-aes256gcm16-sha1-ecp256",
            "3des-sha1-modp1024",
            "aes256gcm16-ecp384",
        ] {
            assert!(IkeProposal::parse(bad).is_err(), "{bad}");
        }
        assert!(EspProposal::parse("aes256gcm16-prfsha256").is_err());
        let msg = IkeProposal::parse("3des-sha1-modp1024")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown algorithm \"3des\""), "{msg}");
    }
}
