//! ESP decapsulation: arbitrary bytes as ESP packets to fixed AES-GCM and AES-CBC SAs, as
//! UDP-4500 datagrams, and as the plaintext of authentic packets.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cgw_esp::fuzzing::decapsulate(data));
