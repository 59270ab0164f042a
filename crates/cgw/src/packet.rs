//! In-place IP packet helpers for the data path: TCP MSS clamping, IPv4 fragmentation,
//! ICMP "fragmentation needed" / ICMPv6 "packet too big", and the tunnel monitor's ICMP echo.
//!
//! All functions work on caller buffers, never allocate and never panic on malformed input
//! (they return `None`/`false` and leave the packet alone).

use std::net::Ipv4Addr;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_ICMP: u8 = 1;

/// One's-complement sum of 16-bit words.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        acc += (*b as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum16(data, 0))
}

/// RFC 1624 incremental update of a checksum field when a 16-bit word changes.
fn update_checksum(csum: u16, old: u16, new: u16) -> u16 {
    let acc = (!csum as u32) + (!old as u32 & 0xffff) + new as u32;
    fold(acc)
}

/// Where the TCP header of an IP packet starts, if it is an unfragmented (or first-fragment)
/// TCP segment: (offset, ip version).
fn tcp_offset(pkt: &[u8]) -> Option<usize> {
    match pkt.first()? >> 4 {
        4 => {
            let ihl = (pkt[0] & 0x0f) as usize * 4;
            if ihl < 20 || pkt.len() < ihl + 20 || pkt[9] != IPPROTO_TCP {
                return None;
            }
            let frag_off = u16::from_be_bytes([pkt[6], pkt[7]]) & 0x1fff;
            (frag_off == 0).then_some(ihl)
        }
        6 => {
            // Only the common case without extension headers.
            (pkt.len() >= 60 && pkt[6] == IPPROTO_TCP).then_some(40)
        }
        _ => None,
    }
}

/// Lowers the MSS option of a TCP SYN or SYN-ACK to `max_mss` (for IPv6, `max_mss - 20`,
/// the larger header). Returns true if the packet was changed.
pub fn clamp_tcp_mss(pkt: &mut [u8], max_mss: u16) -> bool {
    let Some(t) = tcp_offset(pkt) else {
        return false;
    };
    let limit = if pkt[0] >> 4 == 6 {
        max_mss.saturating_sub(20)
    } else {
        max_mss
    };
    let flags = pkt[t + 13];
    if flags & 0x02 == 0 {
        return false; // not SYN
    }
    let data_off = (pkt[t + 12] >> 4) as usize * 4;
    if data_off < 20 || pkt.len() < t + data_off {
        return false;
    }
    let mut i = t + 20;
    let end = t + data_off;
    while i < end {
        match pkt[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let Some(&len) = pkt.get(i + 1) else {
                    return false;
                };
                let len = len as usize;
                if len < 2 || i + len > end {
                    return false;
                }
                if kind == 2 && len == 4 {
                    let mss = u16::from_be_bytes([pkt[i + 2], pkt[i + 3]]);
                    if mss <= limit {
                        return false;
                    }
                    pkt[i + 2..i + 4].copy_from_slice(&limit.to_be_bytes());
                    let c = u16::from_be_bytes([pkt[t + 16], pkt[t + 17]]);
                    let c = update_checksum(c, mss, limit);
                    pkt[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// IPv4 header facts the data path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    /// Header length in bytes.
    pub header_len: usize,
    /// Total length.
    pub total_len: usize,
    /// Don't Fragment set.
    pub dont_fragment: bool,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol.
    pub protocol: u8,
}

/// Parses the IPv4 header of `pkt` (None if not a well-formed IPv4 packet).
pub fn ipv4_info(pkt: &[u8]) -> Option<Ipv4Info> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return None;
    }
    let header_len = (pkt[0] & 0x0f) as usize * 4;
    let total_len = u16::from_be_bytes([pkt[2], pkt[3]]) as usize;
    if header_len < 20 || total_len < header_len || total_len > pkt.len() {
        return None;
    }
    Some(Ipv4Info {
        header_len,
        total_len,
        dont_fragment: pkt[6] & 0x40 != 0,
        src: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        dst: Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
        protocol: pkt[9],
    })
}

/// Writes fragment number `index` of the IPv4 packet `pkt` for a link of `mtu` bytes into
/// `out` and returns its length, or None past the last fragment (or if `out` is too small or
/// the packet is not fragmentable IPv4). Fragments are at most `mtu` bytes, their data a
/// multiple of 8 bytes except in the last (RFC 791). Options are copied into every fragment
/// (cgw does not filter non-copied options; harmless for a tunnel).
pub fn ipv4_fragment(pkt: &[u8], mtu: usize, index: usize, out: &mut [u8]) -> Option<usize> {
    let info = ipv4_info(pkt)?;
    let hl = info.header_len;
    let per = (mtu.checked_sub(hl)?) / 8 * 8;
    if per == 0 {
        return None;
    }
    let data = &pkt[hl..info.total_len];
    let start = index.checked_mul(per)?;
    if start >= data.len() {
        return None;
    }
    let end = (start + per).min(data.len());
    let len = hl + end - start;
    let out = out.get_mut(..len)?;
    out[..hl].copy_from_slice(&pkt[..hl]);
    out[hl..].copy_from_slice(&data[start..end]);
    // Offsets add to the original's (it may itself be a fragment).
    let orig = u16::from_be_bytes([pkt[6], pkt[7]]);
    let orig_off = (orig & 0x1fff) as usize;
    let orig_mf = orig & 0x2000 != 0;
    let last = end == data.len();
    let off = orig_off + start / 8;
    let mf = if last { orig_mf } else { true };
    let field = (off as u16 & 0x1fff) | if mf { 0x2000 } else { 0 };
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    out[6..8].copy_from_slice(&field.to_be_bytes());
    out[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(&out[..hl]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
    Some(len)
}

/// Writes an ICMP "destination unreachable, fragmentation needed" (type 3 code 4) for the
/// too-big IPv4 packet `orig`, from `src` with next-hop MTU `mtu` (RFC 1191), into `out`.
/// Returns its length, or None if `orig` is not IPv4 or is itself an ICMP error.
pub fn icmp_frag_needed(orig: &[u8], src: Ipv4Addr, mtu: u16, out: &mut [u8]) -> Option<usize> {
    let info = ipv4_info(orig)?;
    if info.protocol == IPPROTO_ICMP {
        let t = *orig.get(info.header_len)?;
        if !matches!(t, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18) {
            return None; // never answer an ICMP error with an ICMP error
        }
    }
    let quoted = (info.header_len + 8).min(info.total_len);
    let len = 20 + 8 + quoted;
    let out = out.get_mut(..len)?;
    out.fill(0);
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    out[8] = 64;
    out[9] = IPPROTO_ICMP;
    out[12..16].copy_from_slice(&src.octets());
    out[16..20].copy_from_slice(&info.src.octets());
    let c = checksum(&out[..20]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
    out[20] = 3;
    out[21] = 4;
    out[26..28].copy_from_slice(&mtu.to_be_bytes());
    out[28..].copy_from_slice(&orig[..quoted]);
    let c = checksum(&out[20..]);
    out[22..24].copy_from_slice(&c.to_be_bytes());
    Some(len)
}

/// The ICMP identifier of the tunnel monitor's echoes.
pub const MONITOR_ECHO_ID: u16 = 0xc9_57;

/// Writes an ICMP echo request from `src` to `dst` with identifier, sequence and `payload_len`
/// bytes of pattern into `out`; returns its length.
pub fn icmp_echo_request(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    payload_len: usize,
    out: &mut [u8],
) -> Option<usize> {
    let len = 28 + payload_len;
    let out = out.get_mut(..len)?;
    out.fill(0);
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    out[6] = 0x40; // DF
    out[8] = 64;
    out[9] = IPPROTO_ICMP;
    out[12..16].copy_from_slice(&src.octets());
    out[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&out[..20]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
    out[20] = 8;
    out[24..26].copy_from_slice(&id.to_be_bytes());
    out[26..28].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in out[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let c = checksum(&out[20..]);
    out[22..24].copy_from_slice(&c.to_be_bytes());
    Some(len)
}

/// If `pkt` is an ICMP echo reply to `dst` with identifier `id`, its sequence number.
pub fn icmp_echo_reply_seq(pkt: &[u8], dst: Ipv4Addr, id: u16) -> Option<u16> {
    let info = ipv4_info(pkt)?;
    if info.protocol != IPPROTO_ICMP || info.dst != dst {
        return None;
    }
    let icmp = pkt.get(info.header_len..info.total_len)?;
    if icmp.len() < 8 || icmp[0] != 0 || u16::from_be_bytes([icmp[4], icmp[5]]) != id {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_syn(mss: u16) -> Vec<u8> {
        let mut p = vec![0u8; 44];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&44u16.to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 10, 0, 10]);
        p[16..20].copy_from_slice(&[172, 31, 0, 10]);
        let c = checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[32] = 6 << 4;
        p[33] = 0x02;
        p[40..44].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
        let c = tcp_checksum(&p);
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn tcp_checksum(p: &[u8]) -> u16 {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&p[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&((p.len() - 20) as u16).to_be_bytes());
        let mut seg = p[20..].to_vec();
        seg[16] = 0;
        seg[17] = 0;
        pseudo.extend_from_slice(&seg);
        checksum(&pseudo)
    }

    #[test]
    fn mss_is_clamped_with_a_correct_checksum() {
        let mut p = tcp_syn(1460);
        assert!(clamp_tcp_mss(&mut p, 1379));
        assert_eq!(u16::from_be_bytes([p[42], p[43]]), 1379);
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), tcp_checksum(&p));
        // Already small: untouched.
        let mut q = tcp_syn(1200);
        let before = q.clone();
        assert!(!clamp_tcp_mss(&mut q, 1379));
        assert_eq!(q, before);
        // Not a SYN: untouched.
        let mut r = tcp_syn(1460);
        r[33] = 0x10;
        assert!(!clamp_tcp_mss(&mut r, 1379));
    }

    #[test]
    fn malformed_packets_are_left_alone() {
        for n in 0..44 {
            let mut p = tcp_syn(1460);
            p.truncate(n);
            let _ = clamp_tcp_mss(&mut p, 1379);
            let _ = ipv4_info(&p);
            let mut out = [0u8; 2000];
            let _ = ipv4_fragment(&p, 576, 0, &mut out);
            let _ = icmp_frag_needed(&p, Ipv4Addr::LOCALHOST, 1427, &mut out);
        }
        let mut bad_opts = tcp_syn(1460);
        bad_opts[41] = 0; // option length 0
        assert!(!clamp_tcp_mss(&mut bad_opts, 1379));
    }

    #[test]
    fn fragments_reassemble_to_the_original() {
        let mut p = vec![0u8; 3000];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&3000u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        for (i, b) in p[20..].iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        let c = checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let mut out = [0u8; 1500];
        let mut data = Vec::new();
        let mut i = 0;
        while let Some(n) = ipv4_fragment(&p, 1427, i, &mut out) {
            let f = &out[..n];
            assert!(n <= 1427);
            assert_eq!(checksum(&f[..20]), 0, "header checksum");
            let field = u16::from_be_bytes([f[6], f[7]]);
            assert_eq!((field & 0x1fff) as usize * 8, data.len());
            let more = field & 0x2000 != 0;
            data.extend_from_slice(&f[20..]);
            i += 1;
            if !more {
                break;
            }
            assert_eq!((n - 20) % 8, 0);
        }
        assert_eq!(i, 3);
        assert_eq!(data, p[20..]);
    }

    #[test]
    fn icmp_frag_needed_quotes_the_packet_and_names_the_mtu() {
        let mut p = vec![0u8; 1428];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&1428u16.to_be_bytes());
        p[6] = 0x40;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 10, 0, 10]);
        let mut out = [0u8; 100];
        let n = icmp_frag_needed(&p, Ipv4Addr::new(169, 254, 10, 2), 1427, &mut out).unwrap();
        assert_eq!(n, 20 + 8 + 28);
        assert_eq!(&out[16..20], &[10, 10, 0, 10]);
        assert_eq!((out[20], out[21]), (3, 4));
        assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1427);
        assert_eq!(checksum(&out[20..n]), 0);
        assert_eq!(checksum(&out[..20]), 0);
        // Never for an ICMP error.
        p[9] = 1;
        p[20] = 3;
        assert!(icmp_frag_needed(&p, Ipv4Addr::LOCALHOST, 1427, &mut out).is_none());
    }

    #[test]
    fn echo_request_and_reply_match() {
        let mut out = [0u8; 100];
        let src = Ipv4Addr::new(169, 254, 10, 2);
        let dst = Ipv4Addr::new(169, 254, 10, 1);
        let n = icmp_echo_request(src, dst, 0xc9, 7, 16, &mut out).unwrap();
        assert_eq!(checksum(&out[20..n]), 0);
        // Turn it into the reply the peer would send.
        let mut r = out[..n].to_vec();
        r[12..16].copy_from_slice(&dst.octets());
        r[16..20].copy_from_slice(&src.octets());
        r[20] = 0;
        assert_eq!(icmp_echo_reply_seq(&r, src, 0xc9), Some(7));
        assert_eq!(icmp_echo_reply_seq(&r, src, 0xca), None);
    }
}

/// What a datagram on the NAT-T port is (RFC 3948).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatTDatagram<'a> {
    /// A NAT keepalive (one 0xFF octet).
    Keepalive,
    /// An IKE message (after the four-octet non-ESP marker); `new_sa` when its responder SPI
    /// is zero (IKE_SA_INIT), so that it can wait behind IKE of existing SAs.
    Ike {
        /// The IKE message.
        message: &'a [u8],
        /// No responder SPI yet.
        new_sa: bool,
    },
    /// ESP (the rest; under 8 octets it is too short for an SPI and sequence number).
    Esp,
}

/// Classifies one UDP-4500 datagram.
pub fn classify_natt(d: &[u8]) -> NatTDatagram<'_> {
    if d == [0xff] {
        return NatTDatagram::Keepalive;
    }
    if d.len() >= 4 && d[..4] == [0, 0, 0, 0] {
        let message = &d[4..];
        return NatTDatagram::Ike {
            message,
            new_sa: message.get(8..16).is_none_or(|spi_r| spi_r == [0; 8]),
        };
    }
    NatTDatagram::Esp
}
