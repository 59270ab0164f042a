use crate::reader::{patch_len16, Reader};
use crate::{ProtocolId, WireError};

/// Transform types (RFC 7296 3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransformType(pub u8);

impl TransformType {
    /// Encryption algorithm (ENCR).
    pub const ENCR: TransformType = TransformType(1);
    /// Pseudorandom function (PRF).
    pub const PRF: TransformType = TransformType(2);
    /// Integrity algorithm (INTEG).
    pub const INTEG: TransformType = TransformType(3);
    /// Diffie-Hellman group (D-H).
    pub const DH: TransformType = TransformType(4);
    /// Extended sequence numbers (ESN).
    pub const ESN: TransformType = TransformType(5);
}

/// Key Length attribute type (RFC 7296 3.3.5), always in TV format.
const ATTR_KEY_LENGTH: u16 = 14;
const MAX_PROPOSALS: usize = 64;
/// The transform count is one octet (RFC 7296 3.3.1): every count a peer can send is parsed,
/// and the message size bounds the work.
const MAX_TRANSFORMS: usize = 255;

/// One transform of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform type.
    pub transform_type: TransformType,
    /// Transform ID within its type.
    pub id: u16,
    /// The Key Length attribute in bits, when present.
    pub key_length: Option<u16>,
    /// The transform carried an attribute cgw does not know; RFC 7296 3.3.6 says to
    /// treat such a transform as unacceptable.
    pub has_unknown_attributes: bool,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: TransformType, id: u16) -> Self {
        Self {
            transform_type,
            id,
            key_length: None,
            has_unknown_attributes: false,
        }
    }

    /// A transform with a Key Length attribute.
    pub fn with_key_length(transform_type: TransformType, id: u16, bits: u16) -> Self {
        Self {
            key_length: Some(bits),
            ..Self::new(transform_type, id)
        }
    }
}

/// One proposal of an SA payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1 for the first, incrementing).
    pub number: u8,
    /// Protocol: IKE or ESP.
    pub protocol: ProtocolId,
    /// SPI: empty in IKE_SA_INIT, 8 bytes for IKE rekeys, 4 bytes for ESP.
    pub spi: Vec<u8>,
    /// The transforms, all types together.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// The transforms of one type, in order.
    pub fn of_type(&self, t: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |x| x.transform_type == t)
    }
}

/// Security Association payload (RFC 7296 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPayload {
    /// Proposals in the sender's order of preference.
    pub proposals: Vec<Proposal>,
}

impl SaPayload {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        let mut last = false;
        while !last {
            if proposals.len() >= MAX_PROPOSALS {
                return Err(WireError::TooMany("proposals"));
            }
            let more = r.u8("proposal")?;
            last = match more {
                0 => true,
                2 => false,
                _ => return Err(WireError::Invalid("proposal last-substructure value")),
            };
            r.u8("proposal")?;
            let len = r.u16("proposal")? as usize;
            if len < 8 {
                return Err(WireError::BadLength("proposal"));
            }
            let mut p = Reader::new(r.take(len - 4, "proposal")?);
            let number = p.u8("proposal")?;
            let protocol = ProtocolId(p.u8("proposal")?);
            let spi_size = p.u8("proposal")? as usize;
            let n = p.u8("proposal")? as usize;
            let spi = p.take(spi_size, "proposal SPI")?.to_vec();
            let mut transforms = Vec::with_capacity(n.min(MAX_TRANSFORMS));
            for i in 0..n {
                if i >= MAX_TRANSFORMS {
                    return Err(WireError::TooMany("transforms"));
                }
                let more = p.u8("transform")?;
                let expect_more = i + 1 < n;
                if (more == 3) != expect_more || (more != 0 && more != 3) {
                    return Err(WireError::Invalid("transform last-substructure value"));
                }
                p.u8("transform")?;
                let tlen = p.u16("transform")? as usize;
                if tlen < 8 {
                    return Err(WireError::BadLength("transform"));
                }
                let mut t = Reader::new(p.take(tlen - 4, "transform")?);
                let transform_type = TransformType(t.u8("transform")?);
                t.u8("transform")?;
                let id = t.u16("transform")?;
                let mut key_length = None;
                let mut has_unknown_attributes = false;
                while !t.is_empty() {
                    let ty = t.u16("transform attribute")?;
                    let tv = ty & 0x8000 != 0;
                    let ty = ty & 0x7fff;
                    let value = if tv {
                        t.take(2, "transform attribute")?
                    } else {
                        let l = t.u16("transform attribute")? as usize;
                        t.take(l, "transform attribute")?
                    };
                    if ty == ATTR_KEY_LENGTH && tv {
                        key_length = Some(u16::from_be_bytes([value[0], value[1]]));
                    } else {
                        has_unknown_attributes = true;
                    }
                }
                transforms.push(Transform {
                    transform_type,
                    id,
                    key_length,
                    has_unknown_attributes,
                });
            }
            if !p.is_empty() {
                return Err(WireError::TrailingData("proposal"));
            }
            proposals.push(Proposal {
                number,
                protocol,
                spi,
                transforms,
            });
        }
        if !r.is_empty() {
            return Err(WireError::TrailingData("SA payload"));
        }
        Ok(Self { proposals })
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        for (i, p) in self.proposals.iter().enumerate() {
            let start = out.len();
            out.push(if i + 1 == self.proposals.len() { 0 } else { 2 });
            out.push(0);
            out.extend_from_slice(&[0, 0]);
            out.push(p.number);
            out.push(p.protocol.0);
            out.push(p.spi.len() as u8);
            out.push(p.transforms.len() as u8);
            out.extend_from_slice(&p.spi);
            for (j, t) in p.transforms.iter().enumerate() {
                let ts = out.len();
                out.push(if j + 1 == p.transforms.len() { 0 } else { 3 });
                out.push(0);
                out.extend_from_slice(&[0, 0]);
                out.push(t.transform_type.0);
                out.push(0);
                out.extend_from_slice(&t.id.to_be_bytes());
                if let Some(k) = t.key_length {
                    out.extend_from_slice(&(0x8000 | ATTR_KEY_LENGTH).to_be_bytes());
                    out.extend_from_slice(&k.to_be_bytes());
                }
                patch_len16(out, ts + 2, ts);
            }
            patch_len16(out, start + 2, start);
        }
    }
}
