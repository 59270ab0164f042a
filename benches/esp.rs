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
//! * `ring_roundtrip`: seal then open.
//!
//! `ring_open` and `decapsulate` both take their input from per-batch copies made in set-up
//! (64 per batch), so both read warm data the same way.

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

/// A buffer with the inner packet at `headroom` and room for the trailer.
fn framed(tx: &OutboundSa, size: usize) -> Vec<u8> {
    let start = tx.headroom();
    let mut buf = vec![0u8; start + size + tx.max_tailroom()];
    buf[start..start + size].copy_from_slice(&ipv4_udp(size));
    buf
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
            let mut buf = framed(&tx, size);
            b.iter(|| {
                let range = tx.encapsulate(black_box(&mut buf), start, size, 4).unwrap();
                black_box(range);
            });
        });

        group.bench_with_input(BenchmarkId::new("decapsulate", size), &size, |b, &size| {
            let (mut tx, mut rx) = sas(alg);
            let start = tx.headroom();
            let template = framed(&tx, size);
            b.iter_batched_ref(
                || {
                    let mut pkt = template.clone();
                    let range = tx.encapsulate(&mut pkt, start, size, 4).unwrap();
                    pkt.truncate(range.end);
                    pkt
                },
                |pkt| {
                    let d = rx.decapsulate(black_box(pkt)).unwrap();
                    black_box(d);
                },
                BATCH,
            );
        });

        group.bench_with_input(BenchmarkId::new("roundtrip", size), &size, |b, &size| {
            let (mut tx, mut rx) = sas(alg);
            let start = tx.headroom();
            let mut buf = framed(&tx, size);
            b.iter(|| {
                // Decapsulation leaves the inner packet back where encapsulation found it.
                let esp = tx.encapsulate(black_box(&mut buf), start, size, 4).unwrap();
                let d = rx.decapsulate(&mut buf[esp]).unwrap();
                black_box(d);
            });
        });

        group.bench_with_input(BenchmarkId::new("ring_seal", size), &size, |b, &size| {
            let key = ring_key(ring_alg);
            let mut buf = ipv4_udp(size);
            let aad = [0u8, 0, 0x10, 0, 0, 0, 0, 1];
            let mut counter = 0u64;
            b.iter(|| {
                counter += 1;
                let tag = key
                    .seal_in_place_separate_tag(
                        nonce(counter),
                        aead::Aad::from(&aad),
                        black_box(&mut buf[..]),
                    )
                    .unwrap();
                let _ = black_box(tag);
            });
        });

        group.bench_with_input(BenchmarkId::new("ring_open", size), &size, |b, &size| {
            let key = ring_key(ring_alg);
            let aad = [0u8, 0, 0x10, 0, 0, 0, 0, 1];
            let mut sealed = ipv4_udp(size);
            let tag = key
                .seal_in_place_separate_tag(nonce(1), aead::Aad::from(&aad), &mut sealed)
                .unwrap();
            sealed.extend_from_slice(tag.as_ref());
            b.iter_batched_ref(
                || sealed.clone(),
                |ct| {
                    let plain = key
                        .open_in_place(nonce(1), aead::Aad::from(&aad), black_box(&mut ct[..]))
                        .unwrap();
                    black_box(plain.len());
                },
                BATCH,
            );
        });

        group.bench_with_input(
            BenchmarkId::new("ring_roundtrip", size),
            &size,
            |b, &size| {
                let key = ring_key(ring_alg);
                let aad = [0u8, 0, 0x10, 0, 0, 0, 0, 1];
                let mut buf = ipv4_udp(size);
                buf.extend_from_slice(&[0; 16]);
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
                        .open_in_place(nonce(counter), aead::Aad::from(&aad), &mut buf[..])
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
