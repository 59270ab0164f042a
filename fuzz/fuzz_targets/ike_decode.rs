//! IKE message decode: arbitrary bytes through the header, payload chain and SK locator.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cgw_ike::fuzzing::decode_message(data));
