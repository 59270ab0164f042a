//! AWS tunnel option lists -> strongSwan-style proposal strings.
//!
//! One proposal per phase, of the strongest values the lists allow. AWS evaluates a customer
//! gateway's offer in its own order, lowest value first (AES128 before AES256, SHA1 before
//! SHA2-384, group 2 before 20), whatever order the offer lists them in, and accepts any
//! combination of allowed values; so anything weaker that cgw also offered would be what AWS
//! picks. The strongest: AES-256 before AES-128; for the IKE SA AES-CBC before AES-GCM at the
//! same key size (as Suite-B), for ESP AES-GCM first; SHA2-384, SHA2-256, SHA2-512, SHA1 (the
//! Suite-B hash first); DH 20, 21, 19, 14..18, 24, 23, 22, 5, 2. When the lists allow Suite-B-GCM-256 that is
//! the result; when they allow everything, cgw's defaults (also Suite-B-GCM-256).

use super::ImportError;
use crate::config::{DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS};

/// The values AWS allows (its defaults when a list is absent).
pub(crate) const AWS_ENCRYPTION: [&str; 4] = ["AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16"];
/// AWS's integrity algorithms.
pub(crate) const AWS_INTEGRITY: [&str; 4] = ["SHA1", "SHA2-256", "SHA2-384", "SHA2-512"];
/// AWS's phase 1 DH groups.
pub(crate) const AWS_PHASE1_DH: [u16; 12] = [2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24];
/// AWS's phase 2 DH groups.
pub(crate) const AWS_PHASE2_DH: [u16; 13] = [2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24];

/// DH groups cgw supports, in preference order, with their strongSwan names: the elliptic
/// curves (Suite-B's ECP-384 first), the safe-prime MODP groups, RFC 5114's MODP groups with
/// prime order subgroups (whose generation NIST has not explained), then the weak ones.
const DH_ORDER: [(u16, &str); 13] = [
    (20, "ecp384"),
    (21, "ecp521"),
    (19, "ecp256"),
    (14, "modp2048"),
    (15, "modp3072"),
    (16, "modp4096"),
    (17, "modp6144"),
    (18, "modp8192"),
    (24, "modp2048s256"),
    (23, "modp2048s224"),
    (22, "modp1024s160"),
    (5, "modp1536"),
    (2, "modp1024"),
];

const CBC_ORDER: [(&str, &str); 2] = [("AES256", "aes256"), ("AES128", "aes128")];
const GCM_ORDER: [(&str, &str); 2] = [
    ("AES256-GCM-16", "aes256gcm16"),
    ("AES128-GCM-16", "aes128gcm16"),
];
const INTEG_ORDER: [(&str, &str); 4] = [
    ("SHA2-384", "sha384"),
    ("SHA2-256", "sha256"),
    ("SHA2-512", "sha512"),
    ("SHA1", "sha1"),
];

/// One phase's lists as given (None = absent: AWS allows everything).
pub(crate) struct PhaseLists<'a> {
    pub encryption: Option<&'a [String]>,
    pub integrity: Option<&'a [String]>,
    pub dh: Option<&'a [u16]>,
    /// Paths for messages: `TunnelOptions[0].Phase1` (the list names are appended).
    pub at: String,
}

impl PhaseLists<'_> {
    /// Whether every list is absent, empty or AWS's complete set: then the tunnel accepts
    /// everything AWS offers, and cgw's own (stronger) defaults are the better choice than a
    /// list that includes SHA-1 and MODP-1024.
    fn allows_everything(&self, aws_dh: &[u16]) -> bool {
        let all_s = |l: Option<&[String]>, full: &[&str]| match l {
            None => true,
            Some(l) => {
                l.is_empty()
                    || full
                        .iter()
                        .all(|f| l.iter().any(|x| x.trim().eq_ignore_ascii_case(f)))
            }
        };
        let all_dh = match self.dh {
            None => true,
            Some(l) => l.is_empty() || aws_dh.iter().all(|g| l.contains(g)),
        };
        all_s(self.encryption, &AWS_ENCRYPTION) && all_s(self.integrity, &AWS_INTEGRITY) && all_dh
    }

    /// Whether the DH list was narrowed (present and not AWS's complete set).
    fn dh_narrowed(&self, aws_dh: &[u16]) -> bool {
        self.dh
            .is_some_and(|l| !l.is_empty() && !aws_dh.iter().all(|g| l.contains(g)))
    }
}

/// Proposals for a phase, and where they came from.
pub(crate) struct Mapped {
    pub proposals: Vec<String>,
    /// "cgw defaults" or the lists' paths.
    pub note: String,
}

struct Filtered {
    cbc: Vec<&'static str>,
    gcm: Vec<&'static str>,
    integ: Vec<&'static str>,
    dh: Vec<&'static str>,
}

fn filter(
    lists: &PhaseLists<'_>,
    aws_dh: &[u16],
    warnings: &mut Vec<String>,
) -> Result<Filtered, ImportError> {
    let owned_enc: Vec<String>;
    let enc = match lists.encryption {
        Some(l) if !l.is_empty() => l,
        _ => {
            owned_enc = AWS_ENCRYPTION.iter().map(|s| s.to_string()).collect();
            &owned_enc
        }
    };
    let owned_int: Vec<String>;
    let integ = match lists.integrity {
        Some(l) if !l.is_empty() => l,
        _ => {
            owned_int = AWS_INTEGRITY.iter().map(|s| s.to_string()).collect();
            &owned_int
        }
    };
    let dh = match lists.dh {
        Some(l) if !l.is_empty() => l,
        _ => aws_dh,
    };
    let has = |list: &[String], v: &str| list.iter().any(|x| x.trim().eq_ignore_ascii_case(v));

    let enc_at = format!("{}EncryptionAlgorithms", lists.at);
    let unknown: Vec<&str> = enc
        .iter()
        .map(|s| s.trim())
        .filter(|s| {
            !CBC_ORDER
                .iter()
                .chain(GCM_ORDER.iter())
                .any(|(a, _)| a.eq_ignore_ascii_case(s))
        })
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!(
            "{enc_at}: ignored {} (cgw knows AES128, AES256, AES128-GCM-16, AES256-GCM-16)",
            unknown.join(", ")
        ));
    }
    let cbc: Vec<&str> = CBC_ORDER
        .iter()
        .filter(|(a, _)| has(enc, a))
        .map(|(_, s)| *s)
        .collect();
    let gcm: Vec<&str> = GCM_ORDER
        .iter()
        .filter(|(a, _)| has(enc, a))
        .map(|(_, s)| *s)
        .collect();
    if cbc.is_empty() && gcm.is_empty() {
        return Err(ImportError::at(
            enc_at,
            format!(
                "no encryption algorithm cgw supports ({}); allow AES128, AES256, AES128-GCM-16 or AES256-GCM-16",
                enc.join(", ")
            ),
        ));
    }

    let int_at = format!("{}IntegrityAlgorithms", lists.at);
    let unknown: Vec<&str> = integ
        .iter()
        .map(|s| s.trim())
        .filter(|s| !INTEG_ORDER.iter().any(|(a, _)| a.eq_ignore_ascii_case(s)))
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!(
            "{int_at}: ignored {} (cgw knows SHA1, SHA2-256, SHA2-384, SHA2-512)",
            unknown.join(", ")
        ));
    }
    let integ_out: Vec<&str> = INTEG_ORDER
        .iter()
        .filter(|(a, _)| has(integ, a))
        .map(|(_, s)| *s)
        .collect();

    let dh_at = format!("{}DHGroupNumbers", lists.at);
    let dropped: Vec<String> = dh
        .iter()
        .filter(|g| !DH_ORDER.iter().any(|(id, _)| id == *g))
        .map(|g| g.to_string())
        .collect();
    let dh_out: Vec<(u16, &str)> = DH_ORDER
        .iter()
        .filter(|(id, _)| dh.contains(id))
        .copied()
        .collect();
    if dh_out.is_empty() {
        return Err(ImportError::at(
            dh_at,
            format!(
                "only DH group(s) {}, which cgw does not support (it supports 2, 5, 14-24); \
                 allow at least one of 14-24 in the tunnel options",
                dropped.join(", ")
            ),
        ));
    }
    if !dropped.is_empty() && lists.dh_narrowed(aws_dh) {
        warnings.push(format!(
            "{dh_at}: dropped DH group(s) {} (cgw does not support them); proposing {}",
            dropped.join(", "),
            dh_out
                .iter()
                .map(|(id, n)| format!("{n} ({id})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Filtered {
        cbc,
        gcm,
        integ: integ_out,
        dh: dh_out.iter().map(|(_, n)| *n).collect(),
    })
}

/// Phase 1 (IKE SA) proposal.
pub(crate) fn ike(
    lists: &PhaseLists<'_>,
    warnings: &mut Vec<String>,
) -> Result<Mapped, ImportError> {
    if lists.allows_everything(&AWS_PHASE1_DH) {
        return Ok(Mapped {
            proposals: DEFAULT_IKE_PROPOSALS.iter().map(|s| s.to_string()).collect(),
            note: format!(
                "cgw default (Suite-B-GCM-256): {}* lists absent or complete, so AWS allows everything",
                lists.at
            ),
        });
    }
    let f = filter(lists, &AWS_PHASE1_DH, warnings)?;
    let Some(integ) = f.integ.first() else {
        return Err(ImportError::at(
            format!("{}IntegrityAlgorithms", lists.at),
            "no integrity algorithm cgw supports; allow SHA1, SHA2-256, SHA2-384 or SHA2-512 \
             (IKEv2 needs one as the PRF, and AES-CBC as integrity)",
        ));
    };
    let dh = f.dh[0];
    // AES-256 first; at the same size CBC (with HMAC) before GCM, as Suite-B's IKE SA.
    let proposal = match (f.cbc.first(), f.gcm.first()) {
        (Some(c), None) => format!("{c}-{integ}-{dh}"),
        (Some(&"aes256"), Some(_)) => format!("aes256-{integ}-{dh}"),
        (Some(_), Some(&"aes256gcm16")) | (None, Some(_)) => {
            format!("{}-prf{integ}-{dh}", f.gcm[0])
        }
        (Some(c), Some(_)) => format!("{c}-{integ}-{dh}"),
        (None, None) => {
            return Err(ImportError::at(
                format!("{}EncryptionAlgorithms", lists.at),
                "no encryption algorithm cgw supports",
            ))
        }
    };
    Ok(Mapped {
        proposals: vec![proposal],
        note: format!(
            "the strongest of {0}EncryptionAlgorithms, {0}IntegrityAlgorithms, {0}DHGroupNumbers \
             (AWS picks the lowest value offered, so cgw offers only this)",
            lists.at
        ),
    })
}

/// Phase 2 (ESP) proposal, with its PFS group.
pub(crate) fn esp(
    lists: &PhaseLists<'_>,
    warnings: &mut Vec<String>,
) -> Result<Mapped, ImportError> {
    if lists.allows_everything(&AWS_PHASE2_DH) {
        return Ok(Mapped {
            proposals: DEFAULT_ESP_PROPOSALS.iter().map(|s| s.to_string()).collect(),
            note: format!(
                "cgw default (Suite-B-GCM-256): {}* lists absent or complete, so AWS allows everything",
                lists.at
            ),
        });
    }
    let f = filter(lists, &AWS_PHASE2_DH, warnings)?;
    let dh = f.dh[0];
    // AES-256 first; at the same size GCM before CBC (GCM needs no integrity algorithm).
    let cbc = |c: &str| f.integ.first().map(|i| format!("{c}-{i}-{dh}"));
    let proposal = match (f.gcm.first(), f.cbc.first()) {
        (Some(&"aes256gcm16"), _) => Some(format!("aes256gcm16-{dh}")),
        (_, Some(&"aes256")) if !f.integ.is_empty() => cbc("aes256"),
        (Some(g), _) => Some(format!("{g}-{dh}")),
        (None, Some(c)) => cbc(c),
        (None, None) => None,
    };
    let Some(proposal) = proposal else {
        return Err(ImportError::at(
            format!("{}IntegrityAlgorithms", lists.at),
            "no integrity algorithm cgw supports, and AES-CBC needs one; allow SHA1, \
             SHA2-256, SHA2-384 or SHA2-512 (or an AES-GCM cipher)",
        ));
    };
    Ok(Mapped {
        proposals: vec![proposal],
        note: format!(
            "the strongest of {0}EncryptionAlgorithms, {0}IntegrityAlgorithms, {0}DHGroupNumbers \
             (AWS picks the lowest value offered, so cgw offers only this)",
            lists.at
        ),
    })
}
