//! ESP framing (RFC 4303 section 2) and UDP encapsulation on port 4500 (RFC 3948).
//!
//! Views in the style of smoltcp's `wire` module: [`EspPacket`] wraps any byte buffer and
//! reads or writes fields in place. The accessors never panic: on a buffer too short for a
//! field they read 0 (or an empty payload) and writes are ignored, so call
//! [`EspPacket::new_checked`] first.

use core::ops::{Range, RangeFrom};

use crate::error::EspError;

mod field {
    use super::{Range, RangeFrom};
    pub const SPI: Range<usize> = 0..4;
    pub const SEQUENCE_NUMBER: Range<usize> = 4..8;
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// A read/write view of an ESP packet: SPI, sequence number (low 32 bits) and the payload
/// (IV, ciphertext, ICV) after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Length of the SPI and sequence number.
    pub const HEADER_LEN: usize = 8;

    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that must hold at least the SPI and sequence number.
    pub fn new_checked(buffer: T) -> Result<Self, EspError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds at least the SPI and sequence number.
    pub fn check_len(&self) -> Result<(), EspError> {
        let len = self.buffer.as_ref().len();
        if len < Self::HEADER_LEN {
            Err(EspError::BadLength(len))
        } else {
            Ok(())
        }
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Security Parameters Index.
    pub fn spi(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SPI)
    }

    /// The sequence number as sent (the low 32 bits with ESN).
    pub fn sequence_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQUENCE_NUMBER)
    }

    /// Everything after the sequence number: IV, ciphertext and ICV.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(field::PAYLOAD).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EspPacket<T> {
    /// Sets the Security Parameters Index.
    pub fn set_spi(&mut self, spi: u32) {
        write_u32(self.buffer.as_mut(), field::SPI, spi);
    }

    /// Sets the (low 32 bits of the) sequence number.
    pub fn set_sequence_number(&mut self, seq: u32) {
        write_u32(self.buffer.as_mut(), field::SEQUENCE_NUMBER, seq);
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::PAYLOAD)
            .unwrap_or(&mut [])
    }
}

fn read_u32(buf: &[u8], range: Range<usize>) -> u32 {
    buf.get(range)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn write_u32(buf: &mut [u8], range: Range<usize>, value: u32) {
    if let Some(b) = buf.get_mut(range) {
        b.copy_from_slice(&value.to_be_bytes());
    }
}

/// The non-ESP marker that precedes IKE messages on UDP port 4500 (RFC 3948 section 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The one-byte payload of a NAT-keepalive packet (RFC 3948 section 2.3).
pub const NAT_KEEPALIVE: u8 = 0xff;

/// What a UDP datagram received on port 4500 carries (RFC 3948 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500Kind<'a> {
    /// A NAT-keepalive: the single byte 0xFF. Discard it.
    NatKeepalive,
    /// An IKE message: the bytes after the 4-byte zero non-ESP marker.
    Ike(&'a [u8]),
    /// An ESP packet (non-zero SPI first): the whole datagram payload.
    Esp(&'a [u8]),
    /// Anything else (empty, too short for ESP, a marker with nothing after it).
    Invalid,
}

/// Classifies the payload of a UDP datagram received on port 4500. SPI 0 is never ESP: four
/// zero bytes are the non-ESP marker.
pub fn classify_udp4500(datagram: &[u8]) -> Udp4500Kind<'_> {
    match datagram {
        [NAT_KEEPALIVE] => Udp4500Kind::NatKeepalive,
        [0, 0, 0, 0, ike @ ..] if !ike.is_empty() => Udp4500Kind::Ike(ike),
        [0, 0, 0, 0, ..] => Udp4500Kind::Invalid,
        esp if esp.len() >= EspPacket::<&[u8]>::HEADER_LEN => Udp4500Kind::Esp(esp),
        _ => Udp4500Kind::Invalid,
    }
}

/// Writes the non-ESP marker at the start of `buf` (in front of an IKE message sent on port
/// 4500) and returns its length, 4.
pub fn write_non_esp_marker(buf: &mut [u8]) -> Result<usize, EspError> {
    let marker = buf
        .get_mut(..NON_ESP_MARKER.len())
        .ok_or(EspError::BufferTooSmall {
            headroom: NON_ESP_MARKER.len(),
            tailroom: 0,
        })?;
    marker.copy_from_slice(&NON_ESP_MARKER);
    Ok(NON_ESP_MARKER.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_view_reads_and_writes() {
        let mut buf = [0u8; 12];
        let mut p = EspPacket::new_checked(&mut buf[..]).unwrap();
        p.set_spi(0x1234_5678);
        p.set_sequence_number(42);
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(p.spi(), 0x1234_5678);
        assert_eq!(p.sequence_number(), 42);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(buf, [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 42, 1, 2, 3, 4]);
    }

    #[test]
    fn esp_view_never_panics_on_short_buffers() {
        for len in 0..8 {
            let mut buf = vec![0xaa; len];
            assert_eq!(
                EspPacket::new_checked(&buf[..]),
                Err(EspError::BadLength(len))
            );
            let mut p = EspPacket::new_unchecked(&mut buf[..]);
            assert_eq!(p.spi(), if len >= 4 { 0xaaaa_aaaa } else { 0 });
            assert_eq!(p.sequence_number(), 0);
            assert!(p.payload().is_empty());
            p.set_spi(1);
            p.set_sequence_number(2);
            assert!(p.payload_mut().is_empty());
        }
    }

    #[test]
    fn classify() {
        assert_eq!(classify_udp4500(&[0xff]), Udp4500Kind::NatKeepalive);
        assert_eq!(classify_udp4500(&[]), Udp4500Kind::Invalid);
        assert_eq!(classify_udp4500(&[0xfe]), Udp4500Kind::Invalid);
        assert_eq!(classify_udp4500(&[0, 0, 0, 0]), Udp4500Kind::Invalid);
        assert_eq!(classify_udp4500(&[0, 0, 0, 0, 9]), Udp4500Kind::Ike(&[9]));
        assert_eq!(
            classify_udp4500(&[0, 0, 0, 1, 0, 0, 0]),
            Udp4500Kind::Invalid
        );
        let esp = [0, 0, 0x10, 0, 0, 0, 0, 1, 0xab];
        assert_eq!(classify_udp4500(&esp), Udp4500Kind::Esp(&esp));
        let mut buf = [0xffu8; 6];
        assert_eq!(write_non_esp_marker(&mut buf), Ok(4));
        assert_eq!(buf, [0, 0, 0, 0, 0xff, 0xff]);
        assert!(write_non_esp_marker(&mut [0u8; 3]).is_err());
    }
}
