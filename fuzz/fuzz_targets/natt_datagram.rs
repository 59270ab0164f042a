//! UDP-4500 datagrams as the daemon takes them: classified as the data path does, IKE into a
//! whole gateway, ESP into fixed SAs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cgw::fuzzing::natt_datagram(data));
