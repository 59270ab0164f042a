//! NAT detection (RFC 7296 2.23): `SHA-1(SPIi | SPIr | IP address | port)`.

use ring::digest;
use std::net::{IpAddr, SocketAddr};

/// The NAT_DETECTION_*_IP notification data for an address.
pub(crate) fn nat_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match addr.ip() {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}
