//! BGP decode: arbitrary bytes through the framer and the message decoder, and as the peer's
//! byte stream to sessions in OpenSent, OpenConfirm and Established.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cgw_bgp::fuzzing::decode(data));
