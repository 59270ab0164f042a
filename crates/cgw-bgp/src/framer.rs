//! Splitting the TCP byte stream into messages (RFC 4271 4.1).

use crate::message::{decode_header, DecodeError};
use crate::{HEADER_LEN, MARKER};

/// Reassembles messages from a byte stream: push bytes as they arrive, then take whole
/// messages out. Checks the header marker and length; after a header error the stream
/// cannot be resynchronised, so the framer returns nothing more until [`clear`](Self::clear).
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
    failed: bool,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole message (header included), `None` if more bytes are needed, or the
    /// header error (then `None` forever).
    pub fn next_message(&mut self) -> Option<Result<Vec<u8>, DecodeError>> {
        if self.failed {
            return None;
        }
        let avail = &self.buf[self.start..];
        // A bad marker is detectable before the whole header is in.
        let m = avail.len().min(MARKER.len());
        if avail[..m] != MARKER[..m] {
            self.failed = true;
            return Some(Err(DecodeError::ConnectionNotSynchronized));
        }
        if avail.len() < HEADER_LEN {
            return None;
        }
        let header = match decode_header(avail) {
            Ok(h) => h,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let len = usize::from(header.length);
        let frame = avail.get(..len)?.to_vec();
        self.start += len;
        Some(Ok(frame))
    }

    /// Octets received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether a header error stopped the framer.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Forgets everything (for a new connection).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.failed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive() -> Vec<u8> {
        let mut k = vec![0xff; 16];
        k.extend_from_slice(&[0, 19, 4]);
        k
    }

    #[test]
    fn byte_by_byte() {
        let mut stream = keepalive();
        stream.extend(keepalive());
        let mut f = Framer::new();
        let mut got = Vec::new();
        for b in &stream {
            f.push(std::slice::from_ref(b));
            while let Some(m) = f.next_message() {
                got.push(m.unwrap());
            }
        }
        assert_eq!(got, vec![keepalive(), keepalive()]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn header_errors() {
        let mut f = Framer::new();
        f.push(&[0xff, 0xff, 0x00]);
        assert_eq!(
            f.next_message(),
            Some(Err(DecodeError::ConnectionNotSynchronized))
        );
        assert_eq!(f.next_message(), None);
        assert!(f.failed());

        for (len, ok) in [(18u16, false), (19, true), (4096, true), (4097, false)] {
            let mut f = Framer::new();
            let mut m = vec![0xff; 16];
            m.extend_from_slice(&len.to_be_bytes());
            m.push(4);
            f.push(&m);
            let r = f.next_message();
            if ok {
                assert!(r.is_none() || matches!(r, Some(Ok(_))), "{len}");
            } else {
                assert_eq!(r, Some(Err(DecodeError::BadMessageLength { length: len })));
            }
        }
    }
}
