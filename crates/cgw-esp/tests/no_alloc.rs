//! Proof that the data path does not allocate: a counting global allocator wraps the system
//! allocator and counts allocations made by this test's thread while counting is switched on.
//! The SAs and buffers are built before counting starts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cgw_esp::{AesKeySize, EspAlgorithm, InboundSa, IntegrityAlgorithm, OutboundSa};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn count_allocations(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn the_counter_counts() {
    let n = count_allocations(|| {
        let v: Vec<u8> = Vec::with_capacity(10);
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn encapsulate_and_decapsulate_do_not_allocate() {
    const INNER: usize = 1400;
    const ROUNDS: usize = 10_000;
    let algorithms = [
        EspAlgorithm::AesGcm16(AesKeySize::Aes128),
        EspAlgorithm::AesGcm16(AesKeySize::Aes256),
        EspAlgorithm::AesCbc(AesKeySize::Aes128, IntegrityAlgorithm::HmacSha1_96),
        EspAlgorithm::AesCbc(AesKeySize::Aes256, IntegrityAlgorithm::HmacSha2_256_128),
        EspAlgorithm::AesCbc(AesKeySize::Aes256, IntegrityAlgorithm::HmacSha2_512_256),
    ];
    for alg in algorithms {
        for esn in [false, true] {
            // Set-up, outside the counted region.
            let keymat: Vec<u8> = (0..alg.key_material_len()).map(|i| i as u8).collect();
            let mut tx = OutboundSa::new(0x1000, alg, &keymat, &[3; 16])
                .unwrap()
                .with_esn(esn);
            let mut rx = InboundSa::new(0x1000, alg, &keymat).unwrap().with_esn(esn);
            let mut inner = vec![0u8; INNER];
            inner[0] = 0x45;
            inner[2..4].copy_from_slice(&(INNER as u16).to_be_bytes());
            inner[9] = 17;
            inner[12..16].copy_from_slice(&[10, 0, 0, 1]);
            inner[16..20].copy_from_slice(&[10, 0, 0, 2]);
            let start = tx.headroom();
            let mut buf = vec![0u8; start + INNER + tx.max_tailroom()];
            let mut replayed = vec![0u8; buf.len()];

            let mut accepted = 0;
            let allocations = count_allocations(|| {
                for _ in 0..ROUNDS {
                    buf[start..start + INNER].copy_from_slice(&inner);
                    let esp = tx.encapsulate(&mut buf, start, INNER, 4).unwrap();
                    let len = esp.len();
                    replayed[..len].copy_from_slice(&buf[esp.clone()]);
                    let got = rx.decapsulate(&mut buf[esp]).unwrap();
                    assert_eq!(got.inner.len(), INNER);
                    // Drops do not allocate either (a replay here).
                    assert!(rx.decapsulate(&mut replayed[..len]).is_err());
                    accepted += 1;
                }
            });
            assert_eq!(accepted, ROUNDS);
            assert_eq!(allocations, 0, "{alg:?} esn {esn}: the data path allocated");
            assert_eq!(rx.drops().replay, ROUNDS as u64);
        }
    }
}
