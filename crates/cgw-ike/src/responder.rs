//! Responder protection (RFC 7296 2.6, RFC 8019): what an IKE_SA_INIT request must get past
//! before the responder spends a Diffie-Hellman computation and memory on it.
//!
//! In order: a size limit (a request is kept for the AUTH computation, so nothing larger
//! than a real one is), the syntax checks, a stateless COOKIE round trip once
//! [`ResponderLimits::cookie_threshold`] half-open SAs exist or half the new-SA budget is
//! spent (an attacker spoofing the peer's address never sees the cookie, so it never gets
//! further), a cap on half-open SAs, and a token bucket on new responder SAs (each costs a
//! DH). Cookies are
//! `version | SHA-256(Ni | IPi | SPIi | secret)`; the secret is replaced every
//! [`COOKIE_SECRET_LIFETIME`], and a cookie made with the previous one is still accepted, so a
//! rotation between the COOKIE answer and the retried request costs the peer nothing.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cgw_crypto::Random;

/// How long one cookie secret is used.
pub const COOKIE_SECRET_LIFETIME: Duration = Duration::from_secs(120);

/// Limits a responder applies to IKE_SA_INIT requests. Half-open SAs are counted per
/// [`Connection`](crate::Connection), that is per peer address: a driver hands a connection
/// only datagrams from its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponderLimits {
    /// Demand a COOKIE while at least this many half-open SAs exist (0: always).
    pub cookie_threshold: usize,
    /// Keep at most this many half-open SAs; requests beyond it are dropped unanswered.
    pub max_half_open: usize,
    /// New responder SAs per second on average (each costs a Diffie-Hellman computation);
    /// requests beyond it are dropped unanswered.
    pub new_sas_per_second: u32,
    /// How many new responder SAs may come at once.
    pub new_sas_burst: u32,
    /// The largest IKE_SA_INIT request accepted, in bytes (a real one is well under 2 KB
    /// even with MODP-8192 and many proposals).
    pub max_request_len: usize,
}

impl Default for ResponderLimits {
    fn default() -> Self {
        Self {
            cookie_threshold: 2,
            max_half_open: 32,
            new_sas_per_second: 10,
            new_sas_burst: 20,
            max_request_len: 8192,
        }
    }
}

/// The cookie secrets and the new-SA token bucket of one connection.
pub(crate) struct Guard {
    secret: [u8; 32],
    previous: Option<[u8; 32]>,
    version: u8,
    rotated_at: Option<Instant>,
    /// Tokens in thousandths.
    tokens: u64,
    refilled_at: Option<Instant>,
}

impl Guard {
    pub(crate) fn new(rng: &mut dyn Random) -> Self {
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        Self {
            secret,
            previous: None,
            version: 0,
            rotated_at: None,
            tokens: u64::MAX,
            refilled_at: None,
        }
    }

    /// Replaces the secret if it is older than [`COOKIE_SECRET_LIFETIME`].
    pub(crate) fn rotate(&mut self, now: Instant, rng: &mut dyn Random) {
        let Some(at) = self.rotated_at else {
            self.rotated_at = Some(now);
            return;
        };
        if now.saturating_duration_since(at) < COOKIE_SECRET_LIFETIME {
            return;
        }
        self.previous = Some(self.secret);
        rng.fill(&mut self.secret);
        self.version = self.version.wrapping_add(1);
        self.rotated_at = Some(now);
    }

    fn compute(
        secret: &[u8; 32],
        version: u8,
        spi_i: &[u8; 8],
        ni: &[u8],
        remote: IpAddr,
    ) -> [u8; 33] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(ni);
        match remote {
            IpAddr::V4(a) => ctx.update(&a.octets()),
            IpAddr::V6(a) => ctx.update(&a.octets()),
        }
        ctx.update(spi_i);
        ctx.update(secret);
        let mut out = [0u8; 33];
        out[0] = version;
        out[1..].copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// The cookie to send to `remote` for this request.
    pub(crate) fn cookie(&self, spi_i: &[u8; 8], ni: &[u8], remote: SocketAddr) -> [u8; 33] {
        Self::compute(&self.secret, self.version, spi_i, ni, remote.ip())
    }

    /// Whether `cookie` is one we made for this request, with the current secret or the one
    /// before it.
    pub(crate) fn valid(
        &self,
        cookie: &[u8],
        spi_i: &[u8; 8],
        ni: &[u8],
        remote: SocketAddr,
    ) -> bool {
        let Some(&version) = cookie.first() else {
            return false;
        };
        let secret = if version == self.version {
            &self.secret
        } else if version == self.version.wrapping_sub(1) {
            match &self.previous {
                Some(p) => p,
                None => return false,
            }
        } else {
            return false;
        };
        let expected = Self::compute(secret, version, spi_i, ni, remote.ip());
        // Compared in constant time: how much of a guess matched must not show in timing.
        cookie.len() == expected.len()
            && cookie
                .iter()
                .zip(&expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Whether new responder SAs came fast lately: the bucket is below half. Cookies are
    /// then demanded even with few half-open SAs (requests that fail after the DH, such as
    /// ones with a bad KE value, leave none, but cost the DH all the same).
    pub(crate) fn busy(&mut self, now: Instant, limits: &ResponderLimits) -> bool {
        self.refill(now, limits);
        self.tokens < u64::from(limits.new_sas_burst.max(1)) * 500
    }

    fn refill(&mut self, now: Instant, limits: &ResponderLimits) {
        let cap = u64::from(limits.new_sas_burst.max(1)) * 1000;
        let elapsed = self
            .refilled_at
            .map_or(Duration::MAX, |at| now.saturating_duration_since(at));
        let added = u64::try_from(
            elapsed
                .as_millis()
                .saturating_mul(u128::from(limits.new_sas_per_second)),
        )
        .unwrap_or(u64::MAX);
        self.tokens = self.tokens.saturating_add(added).min(cap);
        self.refilled_at = Some(now);
    }

    /// Takes one token for a new responder SA; false when the bucket is empty.
    pub(crate) fn take_token(&mut self, now: Instant, limits: &ResponderLimits) -> bool {
        self.refill(now, limits);
        if self.tokens >= 1000 {
            self.tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl Random for Counter {
        fn fill(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_cookie_is_bound_to_the_request_and_the_address() {
        let mut rng = Counter(0);
        let g = Guard::new(&mut rng);
        let spi = [1u8; 8];
        let ni = [7u8; 32];
        let a = addr("203.0.113.11:500");
        let c = g.cookie(&spi, &ni, a);
        assert!(g.valid(&c, &spi, &ni, a));
        // The port does not matter (the peer may move to 4500); the rest does.
        assert!(g.valid(&c, &spi, &ni, addr("203.0.113.11:4500")));
        assert!(!g.valid(&c, &spi, &ni, addr("203.0.113.12:500")));
        assert!(!g.valid(&c, &[2u8; 8], &ni, a));
        assert!(!g.valid(&c, &spi, &[8u8; 32], a));
        let mut bad = c;
        bad[10] ^= 1;
        assert!(!g.valid(&bad, &spi, &ni, a));
        assert!(!g.valid(&c[..32], &spi, &ni, a));
        assert!(!g.valid(&[], &spi, &ni, a));
    }

    #[test]
    fn a_rotation_keeps_the_previous_secret_for_one_lifetime() {
        let mut rng = Counter(0);
        let mut g = Guard::new(&mut rng);
        let t0 = Instant::now();
        let (spi, ni, a) = ([1u8; 8], [7u8; 32], addr("203.0.113.11:500"));
        g.rotate(t0, &mut rng);
        let first = g.cookie(&spi, &ni, a);
        g.rotate(
            t0 + COOKIE_SECRET_LIFETIME - Duration::from_secs(1),
            &mut rng,
        );
        assert_eq!(
            g.cookie(&spi, &ni, a),
            first,
            "not rotated before its lifetime"
        );
        g.rotate(t0 + COOKIE_SECRET_LIFETIME, &mut rng);
        let second = g.cookie(&spi, &ni, a);
        assert_ne!(second, first);
        assert_eq!(
            second[0],
            first[0].wrapping_add(1),
            "the version byte moves on"
        );
        assert!(
            g.valid(&first, &spi, &ni, a),
            "the previous secret still counts"
        );
        assert!(g.valid(&second, &spi, &ni, a));
        g.rotate(t0 + 2 * COOKIE_SECRET_LIFETIME, &mut rng);
        assert!(
            !g.valid(&first, &spi, &ni, a),
            "two rotations later it does not"
        );
        assert!(g.valid(&second, &spi, &ni, a));
    }

    #[test]
    fn the_token_bucket_allows_the_burst_then_the_rate() {
        let mut rng = Counter(0);
        let mut g = Guard::new(&mut rng);
        let limits = ResponderLimits {
            new_sas_per_second: 10,
            new_sas_burst: 20,
            ..Default::default()
        };
        let t0 = Instant::now();
        let burst = (0..100).filter(|_| g.take_token(t0, &limits)).count();
        assert_eq!(burst, 20);
        // One second later: ten more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..100).filter(|_| g.take_token(t1, &limits)).count(), 10);
        // 250 ms: two (2.5 tokens, the half kept).
        let t2 = t1 + Duration::from_millis(250);
        assert_eq!((0..100).filter(|_| g.take_token(t2, &limits)).count(), 2);
        let t3 = t2 + Duration::from_millis(50);
        assert_eq!((0..100).filter(|_| g.take_token(t3, &limits)).count(), 1);
        // A long pause refills only up to the burst.
        let t4 = t3 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| g.take_token(t4, &limits)).count(), 20);
    }
}
