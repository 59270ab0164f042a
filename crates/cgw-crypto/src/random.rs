/// A source of random bytes for nonces, SPIs, IVs and Diffie-Hellman private values.
///
/// The protocol engines take one by value so that tests and simulations can make them
/// deterministic (and so force, e.g., which side's nonce is lowest in a rekey collision).
pub trait Random: Send {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

/// The operating system's CSPRNG (through ring). Use this in production.
pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    /// Creates the system random source.
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl Random for SystemRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        use ring::rand::SecureRandom;
        // The OS RNG failing is not something a gateway can continue through safely.
        self.0
            .fill(dest)
            .expect("the operating system's random number generator failed");
    }
}

/// A seeded, **predictable** generator (SplitMix64) for tests and simulations only.
///
/// Never use it for real keys: anyone who knows the seed knows every key.
#[derive(Debug, Clone)]
pub struct DeterministicRandom {
    state: u64,
}

impl DeterministicRandom {
    /// Creates a generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Random for DeterministicRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
