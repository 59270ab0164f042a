use crate::reader::Reader;
use crate::{ExchangeType, PayloadType, WireError};

/// Length of the IKE header.
pub const IKE_HEADER_LEN: usize = 28;

/// IKE header flags (RFC 7296 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// Initiator: set by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// Version: the sender could speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// Response: this message answers a request with the same message ID.
    pub const RESPONSE: u8 = 0x20;

    /// Builds flags from the two bits cgw sets.
    pub fn new(initiator: bool, response: bool) -> Self {
        Flags(
            if initiator { Self::INITIATOR } else { 0 } | if response { Self::RESPONSE } else { 0 },
        )
    }

    /// The I bit.
    pub fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    /// The R bit.
    pub fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }
}

/// The fixed IKE header (RFC 7296 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeHeader {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: [u8; 8],
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major version (2) and minor version (0) as one byte, 0x20.
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// Total length of the message, header included.
    pub length: u32,
}

impl IkeHeader {
    /// Parses the header of a datagram; checks the version and that the length fits.
    pub fn parse(datagram: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(datagram);
        let spi_i = r.array::<8>("IKE header")?;
        let spi_r = r.array::<8>("IKE header")?;
        let next_payload = PayloadType(r.u8("IKE header")?);
        let version = r.u8("IKE header")?;
        let exchange = ExchangeType(r.u8("IKE header")?);
        let flags = Flags(r.u8("IKE header")?);
        let message_id = r.u32("IKE header")?;
        let length = r.u32("IKE header")?;
        if version >> 4 != 2 {
            return Err(WireError::UnsupportedVersion(version >> 4));
        }
        if (length as usize) < IKE_HEADER_LEN || length as usize > datagram.len() {
            return Err(WireError::BadLength("IKE header"));
        }
        Ok(Self {
            spi_i,
            spi_r,
            next_payload,
            version,
            exchange,
            flags,
            message_id,
            length,
        })
    }

    /// Appends the header to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i);
        out.extend_from_slice(&self.spi_r);
        out.push(self.next_payload.0);
        out.push(self.version);
        out.push(self.exchange.0);
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Rewrites the length field of a message built in `msg` to its current length.
    pub fn patch_length(msg: &mut [u8]) {
        let len = msg.len() as u32;
        if msg.len() >= IKE_HEADER_LEN {
            msg[24..28].copy_from_slice(&len.to_be_bytes());
        }
    }
}
