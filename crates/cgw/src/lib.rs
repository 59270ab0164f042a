//! cgw: a userspace IKEv2/IPsec customer gateway for AWS Site-to-Site VPN.
//!
//! This library holds the parts of the `cgw` binary that are worth testing on their own:
//!
//! - [`config`]: the `cgw.toml` schema, loading and validation (`cgw check`);
//! - [`import`]: turning what AWS gives you (describe-vpn-connections JSON, the
//!   CustomerGatewayConfiguration XML or the "Generic" text download) into a `cgw.toml`
//!   (`cgw import aws`), and the reverse rendering used by tests and the AWS emulator.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod child_sa;
pub mod config;
pub mod emulate;
pub mod failover;
pub mod fib;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod import;
pub mod lab;
pub mod packet;
pub mod sa_table;
pub mod status;
