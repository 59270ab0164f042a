//! ESP engine throughput against bare ring AES-GCM on the same sizes.
//!
//! One group per transform (AES-256-GCM, AES-128-GCM); in each, for inner packets of 64, 576,
//! 1400 and 1427 bytes (throughput counted in inner bytes):
//!
//! * `encapsulate`: `OutboundSa::encapsulate` in place on a reused buffer;
//! * `decapsulate`: `InboundSa::decapsulate` of a fresh valid packet (built by an
//!   `OutboundSa` in the untimed set-up of each batch, so sequence numbers rise and no packet
//!   is a replay);
//! * `roundtrip`: both, on the same buffer, in one iteration;
//! * `ring_seal` / `ring_open`: ring's `seal_in_place_separate_tag` / `open_in_place` on the
//!   same number of bytes with an 8-byte AAD (the ESP header), i.e. the bare crypto the engine
//!   wraps, so `engine / ring` throughput reads as the engine's efficiency;
//! * `ring_seal_esp` / `ring_open_esp`: the same on the ESP payload the engine actually
//!   encrypts (inner packet + padding + pad length + next header, e.g. 68 bytes for 64). For
//!   sizes that are whole AES blocks (64, 576) the ESP trailer adds a partial final block,
//!   which ring handles on a slower path; these two separate that cost, which is ESP's and not
//!   the engine's, from the engine's own overhead;
//! * `ring_roundtrip`: seal then open.
//!
//! `ring_open` and `decapsulate` both take their input from per-batch copies made in set-up
//! (64 per batch), so both read warm data the same way. Every buffer places the bytes to be
//! encrypted or decrypted on a 64-byte boundary: left to malloc, that alignment varies from run
//! to run and moved results by up to 10%.

use cgw_esp::{AesKeySize, EspAlgorithm, InboundSa, OutboundSa};
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use ring::aead;

const SIZES: [usize; 4] = [64, 576, 1400, 1427];
const SPI: u32 = 0x0000_1000;
const BATCH: BatchSize = BatchSize::NumIterations(64);

/// A valid IPv4/UDP packet of `len` bytes, so decapsulation's inner checks pass.
fn ipv4_udp(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 1, 0, 1]);
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&53u16.to_be_bytes());
    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(28) {
        *b = i as u8;
    }
    p
}

fn sas(alg: EspAlgorithm) -> (OutboundSa, InboundSa) {
    let keymat: Vec<u8> = (0..alg.key_material_len())
        .map(|i| i as u8 ^ 0xa5)
        .collect();
    let tx = OutboundSa::new(SPI, alg, &keymat, &[7; 16]).unwrap();
    let rx = InboundSa::new(SPI, alg, &keymat).unwrap();
    (tx, rx)
}

/// A byte buffer of `len` bytes whose byte `anchor` lies on a 64-byte (cache line) boundary.
struct Aligned {
    storage: Vec<u8>,
    base: usize,
    len: usize,
}

impl Aligned {
    fn from_slice(data: &[u8], anchor: usize) -> Self {
        let storage = vec![0u8; data.len() + 64];
        let addr = storage.as_ptr() as usize + anchor;
        let base = (64 - addr % 64) % 64;
        let mut a = Self {
            storage,
            base,
            len: data.len(),
        };
        a.buf().copy_from_slice(data);
        a
    }

    fn buf(&mut self) -> &mut [u8] {
        &mut self.storage[self.base..self.base + self.len]
    }
}

/// A buffer with the inner packet at `headroom` (64-byte aligned) and room for the trailer.
fn framed(tx: &OutboundSa, size: usize) -> Aligned {
    let start = tx.headroom();
    let mut buf = vec![0u8; start + size + tx.max_tailroom()];
    buf[start..start + size].copy_from_slice(&ipv4_udp(size));
    Aligned::from_slice(&buf, start)
}

fn ring_key(alg: &'static aead::Algorithm) -> aead::LessSafeKey {
    let key: Vec<u8> = (0..alg.key_len()).map(|i| i as u8 ^ 0xa5).collect();
    aead::LessSafeKey::new(aead::UnboundKey::new(alg, &key).unwrap())
}

fn nonce(counter: u64) -> aead::Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&[0xa5, 0xa4, 0xa7, 0xa6]);
    n[4..].copy_from_slice(&counter.to_be_bytes());
    aead::Nonce::assume_unique_for_key(n)
}

fn bench_transform(
    c: &mut Criterion,
    name: &str,
    alg: EspAlgorithm,
    ring_alg: &'static aead::Algorithm,
) {
    let mut group = c.benchmark_group(name);
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));

        group.bench_with_input(BenchmarkId::new("encapsulate", size), &size, |b, &size| {
            let (mut tx, _) = sas(alg);
            let start = tx.headroom();
            let mut framed = framed(&tx, size);
            let buf = framed.buf();
            b.iter(|| {
                let range = tx
                    .encapsulate(black_box(&mut *buf), start, size, 4)
                    .unwrap();
                black_box(range);
            });
        });

        group.bench_with_input(BenchmarkId::new("decapsulate", size), &size, |b, &size| {
            let (mut tx, mut rx) = sas(alg);
            let start = tx.headroom();
            let mut template = framed(&tx, size);
            b.iter_batched_ref(
                || {
                    let mut scratch = Aligned::from_slice(template.buf(), start);
                    let range = tx.encapsulate(scratch.buf(), start, size, 4).unwrap();
                    // The packet's encrypted part (after the 16-byte header) is aligned.
                    Aligned::from_slice(&scratch.buf()[range], start)
                },
                |pkt| {
                    let d = rx.decapsulate(black_box(pkt.buf())).unwrap();
                    black_box(d);
                },
                BATCH,
            );
        });

        group.bench_with_input(BenchmarkId::new("roundtrip", size), &size, |b, &size| {
            let (mut tx, mut rx) = sas(alg);
            let start = tx.headroom();
            let mut framed = framed(&tx, size);
            let buf = framed.buf();
            b.iter(|| {
                // Decapsulation leaves the inner packet back where encapsulation found it.
                let esp = tx
                    .encapsulate(black_box(&mut *buf), start, size, 4)
                    .unwrap();
                let d = rx.decapsulate(&mut buf[esp]).unwrap();
                black_box(d);
            });
        });

        // The ESP payload the engine encrypts: inner packet, padding, pad length, next header.
        let esp_payload = alg.esp_len(size) - alg.headroom() - alg.icv_len();
        for (id, len) in [("ring_seal", size), ("ring_seal_esp", esp_payload)] {
            group.bench_with_input(BenchmarkId::new(id, size), &len, |b, &len| {
                let key = ring_key(ring_alg);
                let mut aligned = Aligned::from_slice(&ipv4_udp(len), 0);
                let buf = aligned.buf();
                let aad = [0u8, 0, 0x10, 0, 0, 0, 0, 1];
                let mut counter = 0u64;
                b.iter(|| {
                    counter += 1;
                    let tag = key
                        .seal_in_place_separate_tag(
                            nonce(counter),
                            aead::Aad::from(&aad),
                            black_box(&mut *buf),
                        )
                        .unwrap();
                    let _ = black_box(tag);
                });
            });
        }

        for (id, len) in [("ring_open", size), ("ring_open_esp", esp_payload)] {
            group.bench_with_input(BenchmarkId::new(id, size), &len, |b, &len| {
                let key = ring_key(ring_alg);
                let aad = [0u8, 0, 0x10, 0, 0, 0, 0, 1];
                let mut sealed = ipv4_udp(len);
                let tag = key
                    .seal_in_place_separate_tag(nonce(1), aead::Aad::from(&aad), &mut sealed)
                    .unwrap();
                sealed.extend_from_slice(tag.as_ref());
                b.iter_batched_ref(
                    || Aligned::from_slice(&sealed, 0),
                    |ct| {
                        let plain = key
                            .open_in_place(nonce(1), aead::Aad::from(&aad), black_box(ct.buf()))
                            .unwrap();
                        black_box(plain.len());
                    },
                    BATCH,
                );
            });
        }

        group.bench_with_input(
            BenchmarkId::new("ring_roundtrip", size),
            &size,
            |b, &size| {
                let key = ring_key(ring_alg);
                let aad = [0u8, 0, 0x10, 0, 0, 0, 0, 1];
                let mut plain = ipv4_udp(size);
                plain.extend_from_slice(&[0; 16]);
                let mut aligned = Aligned::from_slice(&plain, 0);
                let buf = aligned.buf();
                let mut counter = 0u64;
                b.iter(|| {
                    counter += 1;
                    let (data, tag_out) = buf.split_at_mut(size);
                    let tag = key
                        .seal_in_place_separate_tag(
                            nonce(counter),
                            aead::Aad::from(&aad),
                            black_box(data),
                        )
                        .unwrap();
                    tag_out.copy_from_slice(tag.as_ref());
                    let plain = key
                        .open_in_place(nonce(counter), aead::Aad::from(&aad), &mut *buf)
                        .unwrap();
                    black_box(plain.len());
                });
            },
        );
    }
    group.finish();
}

fn esp(c: &mut Criterion) {
    bench_transform(
        c,
        "aes-256-gcm",
        EspAlgorithm::AesGcm16(AesKeySize::Aes256),
        &aead::AES_256_GCM,
    );
    bench_transform(
        c,
        "aes-128-gcm",
        EspAlgorithm::AesGcm16(AesKeySize::Aes128),
        &aead::AES_128_GCM,
    );
}

criterion_group!(benches, esp);
criterion_main!(benches);
