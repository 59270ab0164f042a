//! From a negotiated Child SA (the IKE engine's event) to the ESP engine's SA pair.

use cgw_crypto::Random;
use cgw_esp::{EspAlgorithm, EspError, InboundSa, LifetimeLimits, OutboundSa, TrafficSelector};
use cgw_ike::{ChildSaInfo, ChildSaKeys};

/// Builds the inbound and outbound ESP SAs of a Child SA: the negotiated transform, this
/// direction's keys, ESN, the anti-replay window and the traffic selectors. `rng` seeds the
/// outbound SA's AES-CBC IV generator.
pub fn esp_sas(c: &ChildSaInfo, rng: &mut dyn Random) -> Result<(InboundSa, OutboundSa), EspError> {
    esp_sas_with_limits(c, rng, LifetimeLimits::default())
}

/// [`esp_sas`] with packet and byte lifetime limits on both SAs.
pub fn esp_sas_with_limits(
    c: &ChildSaInfo,
    rng: &mut dyn Random,
    limits: LifetimeLimits,
) -> Result<(InboundSa, OutboundSa), EspError> {
    let alg = EspAlgorithm::from_iana(
        c.suite.encr.id(),
        Some(c.suite.encr.key_bits()),
        c.suite.integ.map(|i| i.id()),
    )?;
    let keymat = |k: &ChildSaKeys| {
        let mut v = k.encr_key.to_vec();
        v.extend_from_slice(&k.integ_key);
        zeroize::Zeroizing::new(v)
    };
    let ts = |list: &[cgw_wire::TrafficSelector]| -> Result<Vec<TrafficSelector>, EspError> {
        list.iter()
            .map(|s| {
                TrafficSelector::range(s.start_addr, s.end_addr)?
                    .with_ports(s.start_port, s.end_port)
            })
            .collect()
    };
    let inbound = InboundSa::new(c.inbound_spi, alg, &keymat(&c.inbound))?
        .with_esn(c.suite.esn)
        .with_replay_window(c.replay_window)?
        .with_traffic_selectors(&ts(&c.remote_ts)?, &ts(&c.local_ts)?)?
        .with_limits(limits);
    let mut iv_key = [0u8; 16];
    rng.fill(&mut iv_key);
    let outbound = OutboundSa::new(c.outbound_spi, alg, &keymat(&c.outbound), &iv_key)?
        .with_esn(c.suite.esn)
        .with_traffic_selectors(&ts(&c.local_ts)?, &ts(&c.remote_ts)?)?
        .with_limits(limits);
    Ok((inbound, outbound))
}
