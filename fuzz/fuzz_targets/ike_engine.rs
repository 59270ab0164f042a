//! The IKE engine fed arbitrary datagrams in every state (responder, initiator waiting for
//! IKE_SA_INIT, established pair).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cgw_ike::fuzzing::engine(data));
