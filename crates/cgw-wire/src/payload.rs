use crate::reader::Reader;
use crate::{
    AuthMethod, IdType, NotifyType, PayloadType, ProtocolId, SaPayload, TrafficSelector, WireError,
};

/// Key Exchange payload (RFC 7296 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchange {
    /// Diffie-Hellman group number.
    pub dh_group: u16,
    /// The sender's public value.
    pub data: Vec<u8>,
}

/// Identification payload body (RFC 7296 3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// ID type.
    pub id_type: IdType,
    /// Identification data.
    pub data: Vec<u8>,
}

impl Identification {
    /// The payload body after the generic header, which `prf(SK_p, ...)` covers (RFC 7296 2.15).
    pub fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + self.data.len());
        b.push(self.id_type.0);
        b.extend_from_slice(&[0, 0, 0]);
        b.extend_from_slice(&self.data);
        b
    }
}

impl std::fmt::Display for Identification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.id_type, self.data.len()) {
            (IdType::ID_IPV4_ADDR, 4) => {
                let a: [u8; 4] = [self.data[0], self.data[1], self.data[2], self.data[3]];
                write!(f, "{}", std::net::Ipv4Addr::from(a))
            }
            (IdType::ID_FQDN, _) | (IdType::ID_RFC822_ADDR, _) => {
                write!(f, "{}", String::from_utf8_lossy(&self.data))
            }
            _ => {
                write!(f, "{}:", self.id_type)?;
                for b in &self.data {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// Authentication payload (RFC 7296 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Authentication method.
    pub method: AuthMethod,
    /// Authentication data.
    pub data: Vec<u8>,
}

/// Notify payload (RFC 7296 3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol the SPI belongs to (NONE when no SPI).
    pub protocol: ProtocolId,
    /// SPI, possibly empty.
    pub spi: Vec<u8>,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify without SPI.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }
}

/// Delete payload (RFC 7296 3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// IKE (no SPIs: the IKE SA the message belongs to) or ESP.
    pub protocol: ProtocolId,
    /// SPIs to delete (4 bytes each for ESP: the sender's inbound SPIs).
    pub spis: Vec<Vec<u8>>,
}

/// One configuration attribute (RFC 7296 3.15.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAttribute {
    /// Attribute type.
    pub attribute_type: u16,
    /// Value.
    pub value: Vec<u8>,
}

/// Configuration payload (RFC 7296 3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPayload {
    /// CFG_REQUEST (1), CFG_REPLY (2), CFG_SET (3), CFG_ACK (4).
    pub cfg_type: u8,
    /// Attributes.
    pub attributes: Vec<ConfigAttribute>,
}

const MAX_LIST: usize = 1024;

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association.
    Sa(SaPayload),
    /// Key Exchange.
    Ke(KeyExchange),
    /// Identification - Initiator.
    IdI(Identification),
    /// Identification - Responder.
    IdR(Identification),
    /// Authentication.
    Auth(Auth),
    /// Nonce data (16 to 256 bytes).
    Nonce(Vec<u8>),
    /// Notify.
    Notify(Notify),
    /// Delete.
    Delete(Delete),
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// Traffic Selectors - Initiator.
    TsI(Vec<TrafficSelector>),
    /// Traffic Selectors - Responder.
    TsR(Vec<TrafficSelector>),
    /// Configuration.
    Cp(ConfigPayload),
    /// A payload cgw understands but does not use (CERT, CERTREQ, EAP), or an unknown one
    /// without the critical bit, kept so that it can be skipped.
    Unknown {
        /// Payload type.
        payload_type: PayloadType,
        /// The critical bit.
        critical: bool,
        /// The body after the generic header.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Unknown { payload_type, .. } => *payload_type,
        }
    }

    /// Decodes the body of a payload of type `t` (the bytes after the generic header).
    pub(crate) fn parse(t: PayloadType, critical: bool, body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        Ok(match t {
            PayloadType::SA => Payload::Sa(SaPayload::parse(body)?),
            PayloadType::KE => {
                let dh_group = r.u16("KE payload")?;
                r.u16("KE payload")?;
                Payload::Ke(KeyExchange {
                    dh_group,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::IDI | PayloadType::IDR => {
                let id_type = IdType(r.u8("ID payload")?);
                r.take(3, "ID payload")?;
                let id = Identification {
                    id_type,
                    data: r.rest().to_vec(),
                };
                if t == PayloadType::IDI {
                    Payload::IdI(id)
                } else {
                    Payload::IdR(id)
                }
            }
            PayloadType::AUTH => {
                let method = AuthMethod(r.u8("AUTH payload")?);
                r.take(3, "AUTH payload")?;
                Payload::Auth(Auth {
                    method,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::NONCE => {
                if !(16..=256).contains(&body.len()) {
                    return Err(WireError::BadLength("Nonce payload (16-256 bytes)"));
                }
                Payload::Nonce(body.to_vec())
            }
            PayloadType::NOTIFY => {
                let protocol = ProtocolId(r.u8("Notify payload")?);
                let spi_size = r.u8("Notify payload")? as usize;
                let notify_type = NotifyType(r.u16("Notify payload")?);
                let spi = r.take(spi_size, "Notify SPI")?.to_vec();
                Payload::Notify(Notify {
                    protocol,
                    spi,
                    notify_type,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::DELETE => {
                let protocol = ProtocolId(r.u8("Delete payload")?);
                let spi_size = r.u8("Delete payload")? as usize;
                let n = r.u16("Delete payload")? as usize;
                if spi_size == 0 && n != 0 {
                    return Err(WireError::Invalid(
                        "Delete payload SPI count with SPI size 0",
                    ));
                }
                if spi_size != 0 && n.checked_mul(spi_size) != Some(r.remaining()) {
                    return Err(WireError::BadLength("Delete payload"));
                }
                let mut spis = Vec::with_capacity(n.min(MAX_LIST));
                for _ in 0..n {
                    if spis.len() >= MAX_LIST {
                        return Err(WireError::TooMany("SPIs in Delete payload"));
                    }
                    spis.push(r.take(spi_size, "Delete SPI")?.to_vec());
                }
                if !r.is_empty() {
                    return Err(WireError::TrailingData("Delete payload"));
                }
                Payload::Delete(Delete { protocol, spis })
            }
            PayloadType::VENDOR_ID => Payload::VendorId(body.to_vec()),
            PayloadType::TSI => Payload::TsI(TrafficSelector::parse_list(body)?),
            PayloadType::TSR => Payload::TsR(TrafficSelector::parse_list(body)?),
            PayloadType::CP => {
                let cfg_type = r.u8("CP payload")?;
                r.take(3, "CP payload")?;
                let mut attributes = Vec::new();
                while !r.is_empty() {
                    if attributes.len() >= MAX_LIST {
                        return Err(WireError::TooMany("configuration attributes"));
                    }
                    let attribute_type = r.u16("configuration attribute")? & 0x7fff;
                    let len = r.u16("configuration attribute")? as usize;
                    attributes.push(ConfigAttribute {
                        attribute_type,
                        value: r.take(len, "configuration attribute")?.to_vec(),
                    });
                }
                Payload::Cp(ConfigPayload {
                    cfg_type,
                    attributes,
                })
            }
            PayloadType::CERT | PayloadType::CERTREQ | PayloadType::EAP => Payload::Unknown {
                payload_type: t,
                critical,
                body: body.to_vec(),
            },
            _ if critical => return Err(WireError::UnsupportedCriticalPayload(t.0)),
            _ => Payload::Unknown {
                payload_type: t,
                critical,
                body: body.to_vec(),
            },
        })
    }

    /// Appends the body (without generic header) to `out`.
    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Sa(sa) => sa.emit(out),
            Payload::Ke(ke) => {
                out.extend_from_slice(&ke.dh_group.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ke.data);
            }
            Payload::IdI(id) | Payload::IdR(id) => out.extend_from_slice(&id.body()),
            Payload::Auth(a) => {
                out.push(a.method.0);
                out.extend_from_slice(&[0, 0, 0]);
                out.extend_from_slice(&a.data);
            }
            Payload::Nonce(n) | Payload::VendorId(n) => out.extend_from_slice(n),
            Payload::Notify(n) => {
                out.push(n.protocol.0);
                out.push(n.spi.len() as u8);
                out.extend_from_slice(&n.notify_type.0.to_be_bytes());
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Payload::Delete(d) => {
                out.push(d.protocol.0);
                out.push(d.spis.first().map_or(0, |s| s.len() as u8));
                out.extend_from_slice(&(d.spis.len() as u16).to_be_bytes());
                for s in &d.spis {
                    out.extend_from_slice(s);
                }
            }
            Payload::TsI(ts) | Payload::TsR(ts) => TrafficSelector::emit_list(ts, out),
            Payload::Cp(cp) => {
                out.push(cp.cfg_type);
                out.extend_from_slice(&[0, 0, 0]);
                for a in &cp.attributes {
                    out.extend_from_slice(&(a.attribute_type & 0x7fff).to_be_bytes());
                    out.extend_from_slice(&(a.value.len() as u16).to_be_bytes());
                    out.extend_from_slice(&a.value);
                }
            }
            Payload::Unknown { body, .. } => out.extend_from_slice(body),
        }
    }

    /// The critical bit this payload is sent with.
    pub(crate) fn critical(&self) -> bool {
        matches!(self, Payload::Unknown { critical: true, .. })
    }
}
