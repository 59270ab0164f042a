//! Building SA payloads from configured proposals and choosing among the peer's.
//!
//! The responder honours its **own** policy order (as AWS does): for each of our proposals
//! in order, and within it each transform in our order, the first that the peer also offers
//! in one of its proposals wins.

use crate::config::{EspProposal, IkeProposal};
use cgw_crypto::{DhGroup, Encr, Integ, Prf};
use cgw_wire::{Proposal, ProtocolId, SaPayload, Transform, TransformType};

/// The algorithms of an established IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// Encryption.
    pub encr: Encr,
    /// Integrity (`None` with AES-GCM).
    pub integ: Option<Integ>,
    /// PRF.
    pub prf: Prf,
    /// Diffie-Hellman group.
    pub dh: DhGroup,
}

impl std::fmt::Display for IkeSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = IkeProposal {
            encr: vec![self.encr],
            integ: self.integ.into_iter().collect(),
            prf: vec![self.prf],
            dh: vec![self.dh],
        };
        f.write_str(&p.describe())
    }
}

/// The algorithms of an established Child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspSuite {
    /// Encryption.
    pub encr: Encr,
    /// Integrity (`None` with AES-GCM).
    pub integ: Option<Integ>,
    /// PFS group used to create this Child SA, if any.
    pub dh: Option<DhGroup>,
    /// Extended sequence numbers.
    pub esn: bool,
}

impl std::fmt::Display for EspSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = EspProposal {
            encr: vec![self.encr],
            integ: self.integ.into_iter().collect(),
            dh: self.dh.into_iter().collect(),
            esn: self.esn,
        };
        f.write_str(&p.describe())
    }
}

fn encr_transform(e: Encr) -> Transform {
    Transform::with_key_length(TransformType::ENCR, e.id(), e.key_bits())
}

/// The SA payload offering our IKE proposals.
pub(crate) fn ike_offer(props: &[IkeProposal], spi: &[u8]) -> SaPayload {
    let proposals = props
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut t: Vec<Transform> = p.encr.iter().map(|e| encr_transform(*e)).collect();
            t.extend(
                p.prf
                    .iter()
                    .map(|x| Transform::new(TransformType::PRF, x.id())),
            );
            t.extend(
                p.integ
                    .iter()
                    .map(|x| Transform::new(TransformType::INTEG, x.id())),
            );
            t.extend(
                p.dh.iter()
                    .map(|x| Transform::new(TransformType::DH, x.id())),
            );
            Proposal {
                number: (i + 1) as u8,
                protocol: ProtocolId::IKE,
                spi: spi.to_vec(),
                transforms: t,
            }
        })
        .collect();
    SaPayload { proposals }
}

/// The SA payload offering our ESP proposals with our inbound SPI. `with_dh` is false in
/// IKE_AUTH, where the Child SA takes no PFS group.
pub(crate) fn esp_offer(props: &[EspProposal], spi: [u8; 4], with_dh: bool) -> SaPayload {
    let proposals = props
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut t: Vec<Transform> = p.encr.iter().map(|e| encr_transform(*e)).collect();
            t.extend(
                p.integ
                    .iter()
                    .map(|x| Transform::new(TransformType::INTEG, x.id())),
            );
            if with_dh {
                t.extend(
                    p.dh.iter()
                        .map(|x| Transform::new(TransformType::DH, x.id())),
                );
            }
            if p.esn {
                t.push(Transform::new(TransformType::ESN, 1));
            }
            t.push(Transform::new(TransformType::ESN, 0));
            Proposal {
                number: (i + 1) as u8,
                protocol: ProtocolId::ESP,
                spi: spi.to_vec(),
                transforms: t,
            }
        })
        .collect();
    SaPayload { proposals }
}

/// The SA payload of a response: the chosen IKE suite under the peer's proposal number.
pub(crate) fn ike_choice(number: u8, s: &IkeSuite, spi: &[u8]) -> SaPayload {
    let mut t = vec![
        encr_transform(s.encr),
        Transform::new(TransformType::PRF, s.prf.id()),
    ];
    if let Some(i) = s.integ {
        t.push(Transform::new(TransformType::INTEG, i.id()));
    }
    t.push(Transform::new(TransformType::DH, s.dh.id()));
    SaPayload {
        proposals: vec![Proposal {
            number,
            protocol: ProtocolId::IKE,
            spi: spi.to_vec(),
            transforms: t,
        }],
    }
}

/// The SA payload of a response: the chosen ESP suite with our inbound SPI.
pub(crate) fn esp_choice(number: u8, s: &EspSuite, spi: [u8; 4]) -> SaPayload {
    let mut t = vec![encr_transform(s.encr)];
    if let Some(i) = s.integ {
        t.push(Transform::new(TransformType::INTEG, i.id()));
    }
    if let Some(g) = s.dh {
        t.push(Transform::new(TransformType::DH, g.id()));
    }
    t.push(Transform::new(TransformType::ESN, u16::from(s.esn)));
    SaPayload {
        proposals: vec![Proposal {
            number,
            protocol: ProtocolId::ESP,
            spi: spi.to_vec(),
            transforms: t,
        }],
    }
}

/// The transforms of one type that the peer proposal offers, skipping ones with unknown
/// attributes.
fn offered(p: &Proposal, t: TransformType) -> impl Iterator<Item = &Transform> {
    p.of_type(t).filter(|x| !x.has_unknown_attributes)
}

fn offers_encr(p: &Proposal, e: Encr) -> bool {
    offered(p, TransformType::ENCR).any(|t| Encr::from_id(t.id, t.key_length) == Some(e))
}

fn offers_id(p: &Proposal, ty: TransformType, id: u16) -> bool {
    offered(p, ty).any(|t| t.id == id)
}

/// Integrity choice: AEAD needs none (or NONE, id 0), others need one of ours.
fn pick_integ(ours: &[Integ], p: &Proposal, aead: bool) -> Option<Option<Integ>> {
    let has_integ = offered(p, TransformType::INTEG).any(|t| t.id != 0);
    if aead {
        return (!has_integ).then_some(None);
    }
    ours.iter()
        .find(|i| offers_id(p, TransformType::INTEG, i.id()))
        .map(|i| Some(*i))
}

/// Chooses an IKE suite from the peer's SA payload. Returns the peer's proposal number too.
pub(crate) fn select_ike(ours: &[IkeProposal], theirs: &SaPayload) -> Option<(u8, IkeSuite)> {
    for o in ours {
        for p in theirs
            .proposals
            .iter()
            .filter(|p| p.protocol == ProtocolId::IKE)
        {
            let Some(encr) = o.encr.iter().copied().find(|e| offers_encr(p, *e)) else {
                continue;
            };
            let Some(prf) = o
                .prf
                .iter()
                .copied()
                .find(|x| offers_id(p, TransformType::PRF, x.id()))
            else {
                continue;
            };
            let Some(integ) = pick_integ(&o.integ, p, encr.is_aead()) else {
                continue;
            };
            let Some(dh) =
                o.dh.iter()
                    .copied()
                    .find(|x| offers_id(p, TransformType::DH, x.id()))
            else {
                continue;
            };
            return Some((
                p.number,
                IkeSuite {
                    encr,
                    integ,
                    prf,
                    dh,
                },
            ));
        }
    }
    None
}

/// Chooses an ESP suite and returns (peer's proposal number, suite, peer's SPI).
pub(crate) fn select_esp(
    ours: &[EspProposal],
    theirs: &SaPayload,
    with_dh: bool,
) -> Option<(u8, EspSuite, [u8; 4])> {
    for o in ours {
        for p in theirs
            .proposals
            .iter()
            .filter(|p| p.protocol == ProtocolId::ESP)
        {
            let Ok(spi) = <[u8; 4]>::try_from(p.spi.as_slice()) else {
                continue;
            };
            let Some(encr) = o.encr.iter().copied().find(|e| offers_encr(p, *e)) else {
                continue;
            };
            let Some(integ) = pick_integ(&o.integ, p, encr.is_aead()) else {
                continue;
            };
            let dh = if !with_dh {
                None
            } else if o.dh.is_empty() {
                // No PFS wanted: the peer must offer none (or NONE).
                if offered(p, TransformType::DH).any(|t| t.id != 0) {
                    continue;
                }
                None
            } else {
                match o
                    .dh
                    .iter()
                    .copied()
                    .find(|x| offers_id(p, TransformType::DH, x.id()))
                {
                    Some(g) => Some(g),
                    None => continue,
                }
            };
            let esn = if o.esn && offers_id(p, TransformType::ESN, 1) {
                true
            } else if offers_id(p, TransformType::ESN, 0)
                || p.of_type(TransformType::ESN).next().is_none()
            {
                false
            } else {
                continue;
            };
            return Some((
                p.number,
                EspSuite {
                    encr,
                    integ,
                    dh,
                    esn,
                },
                spi,
            ));
        }
    }
    None
}

/// Reads the single proposal of a response as an IKE suite.
pub(crate) fn parse_ike_choice(sa: &SaPayload) -> Option<IkeSuite> {
    let [p] = sa.proposals.as_slice() else {
        return None;
    };
    let one = |t| {
        let mut it = offered(p, t);
        let first = it.next();
        if it.next().is_some() {
            None
        } else {
            first
        }
    };
    let e = one(TransformType::ENCR)?;
    let encr = Encr::from_id(e.id, e.key_length)?;
    let prf = Prf::from_id(one(TransformType::PRF)?.id)?;
    let integ = match one(TransformType::INTEG) {
        Some(t) if t.id != 0 => Some(Integ::from_id(t.id)?),
        _ => None,
    };
    let dh = DhGroup::from_id(one(TransformType::DH)?.id)?;
    Some(IkeSuite {
        encr,
        integ,
        prf,
        dh,
    })
}

/// Reads the single proposal of a response as an ESP suite and the responder's SPI.
pub(crate) fn parse_esp_choice(sa: &SaPayload) -> Option<(EspSuite, [u8; 4])> {
    let [p] = sa.proposals.as_slice() else {
        return None;
    };
    if p.protocol != ProtocolId::ESP {
        return None;
    }
    let spi = <[u8; 4]>::try_from(p.spi.as_slice()).ok()?;
    let e = offered(p, TransformType::ENCR).next()?;
    let encr = Encr::from_id(e.id, e.key_length)?;
    let integ = match offered(p, TransformType::INTEG).next() {
        Some(t) if t.id != 0 => Some(Integ::from_id(t.id)?),
        _ => None,
    };
    let dh = match offered(p, TransformType::DH).next() {
        Some(t) if t.id != 0 => Some(DhGroup::from_id(t.id)?),
        _ => None,
    };
    let esn = offered(p, TransformType::ESN)
        .next()
        .is_some_and(|t| t.id == 1);
    Some((
        EspSuite {
            encr,
            integ,
            dh,
            esn,
        },
        spi,
    ))
}

/// The number of the (single) proposal in a responder's SA payload; 0 if there is none.
pub(crate) fn chosen_number(sa: &SaPayload) -> u8 {
    sa.proposals.first().map_or(0, |p| p.number)
}

/// Our proposal with this number (1-based, as we numbered them in the offer).
fn numbered<T>(ours: &[T], number: u8) -> Option<&T> {
    usize::from(number).checked_sub(1).and_then(|i| ours.get(i))
}

/// Whether a suite the responder chose is in the proposal of ours whose number it names
/// (RFC 7296 3.3.1: "the proposal number in the SA payload MUST match the number on the
/// proposal sent that was accepted").
pub(crate) fn ike_acceptable(ours: &[IkeProposal], number: u8, s: &IkeSuite) -> bool {
    numbered(ours, number).into_iter().any(|o| {
        o.encr.contains(&s.encr)
            && o.prf.contains(&s.prf)
            && o.dh.contains(&s.dh)
            && match s.integ {
                Some(i) => o.integ.contains(&i),
                None => s.encr.is_aead(),
            }
    })
}

/// Whether an ESP suite the responder chose is in the proposal of ours whose number it names.
pub(crate) fn esp_acceptable(
    ours: &[EspProposal],
    number: u8,
    s: &EspSuite,
    with_dh: bool,
) -> bool {
    numbered(ours, number).into_iter().any(|o| {
        o.encr.contains(&s.encr)
            && match s.integ {
                Some(i) => o.integ.contains(&i),
                None => s.encr.is_aead(),
            }
            && match (with_dh, s.dh) {
                (false, None) => true,
                (false, Some(_)) => false,
                (true, Some(g)) => o.dh.contains(&g),
                (true, None) => o.dh.is_empty(),
            }
            && (!s.esn || o.esn)
    })
}

/// Describes our ESP proposals for error messages, with the PFS group only where it is
/// negotiated (`with_dh`: CREATE_CHILD_SA, not IKE_AUTH) and the sequence numbers we accept
/// (`esn-noesn` or `noesn`), so that a refusal names the difference.
pub(crate) fn describe_esp_proposals(ours: &[EspProposal], with_dh: bool) -> String {
    ours.iter()
        .map(|o| {
            let dh = if with_dh { o.dh.clone() } else { Vec::new() };
            let mut s = EspProposal {
                dh,
                esn: false,
                ..o.clone()
            }
            .describe();
            s.push_str(if o.esn { "-esn-noesn" } else { "-noesn" });
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Describes a peer's SA payload for error messages, e.g.
/// `aes128-sha1-prfsha1-modp2048, aes256gcm16-...`.
pub(crate) fn describe_offer(sa: &SaPayload) -> String {
    let mut out = Vec::new();
    for p in &sa.proposals {
        let encr: Vec<Encr> = offered(p, TransformType::ENCR)
            .filter_map(|t| Encr::from_id(t.id, t.key_length))
            .collect();
        let unknown_encr = offered(p, TransformType::ENCR)
            .filter(|t| Encr::from_id(t.id, t.key_length).is_none())
            .map(|t| {
                format!(
                    "encr{}{}",
                    t.id,
                    t.key_length.map(|k| format!("/{k}")).unwrap_or_default()
                )
            });
        let integ: Vec<Integ> = offered(p, TransformType::INTEG)
            .filter_map(|t| Integ::from_id(t.id))
            .collect();
        let prf: Vec<Prf> = offered(p, TransformType::PRF)
            .filter_map(|t| Prf::from_id(t.id))
            .collect();
        let dh: Vec<DhGroup> = offered(p, TransformType::DH)
            .filter_map(|t| DhGroup::from_id(t.id))
            .collect();
        let unknown_dh = offered(p, TransformType::DH)
            .filter(|t| t.id != 0 && DhGroup::from_id(t.id).is_none())
            .map(|t| format!("dh{}", t.id));
        let mut s = if p.protocol == ProtocolId::IKE {
            IkeProposal {
                encr,
                integ,
                prf,
                dh,
            }
            .describe()
        } else {
            let mut s = EspProposal {
                encr,
                integ,
                dh,
                esn: false,
            }
            .describe();
            // Sequence numbers as strongSwan writes them: `esn` (extended), `noesn` (32-bit).
            for t in offered(p, TransformType::ESN) {
                s.push_str(match t.id {
                    0 => "-noesn",
                    1 => "-esn",
                    _ => "-esn?",
                });
            }
            s
        };
        for u in unknown_encr.chain(unknown_dh) {
            s.push('-');
            s.push_str(&u);
        }
        out.push(s);
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, defect 9: an ESN-only offer to a responder without ESN is refused, and the
    /// refusal's two halves name the sequence numbers on each side and no DH group (IKE_AUTH
    /// never negotiates one).
    #[test]
    fn an_esn_only_offer_is_refused_naming_esn_on_both_sides() {
        let ours = vec![EspProposal::suite_b_gcm_256()];
        assert!(!ours[0].esn);
        let mut theirs = esp_offer(
            &[EspProposal {
                esn: true,
                ..EspProposal::suite_b_gcm_256()
            }],
            [1, 2, 3, 4],
            false,
        );
        theirs.proposals[0]
            .transforms
            .retain(|t| !(t.transform_type == TransformType::ESN && t.id == 0));
        assert!(select_esp(&ours, &theirs, false).is_none());
        assert_eq!(describe_esp_proposals(&ours, false), "aes256gcm16-noesn");
        assert_eq!(describe_offer(&theirs), "aes256gcm16-esn");
        // In CREATE_CHILD_SA the PFS group is part of the offer and of the text.
        assert_eq!(
            describe_esp_proposals(&ours, true),
            "aes256gcm16-ecp384-noesn"
        );
        let both = vec![EspProposal {
            esn: true,
            ..EspProposal::suite_b_gcm_256()
        }];
        assert_eq!(
            describe_esp_proposals(&both, false),
            "aes256gcm16-esn-noesn"
        );
        assert!(select_esp(&both, &theirs, false).is_some());
    }
}
