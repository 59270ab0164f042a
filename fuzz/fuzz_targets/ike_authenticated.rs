//! Arbitrary inner payload chains (and SKF fragments) sealed with the keys of an established
//! IKE SA: input that passes the integrity check and reaches the exchanges' handlers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cgw_ike::fuzzing::authenticated(data);
});
