//! The loopback port of the core's gRPC API when the operator names none.
//!
//! A port the kernel hands out for `bind(0)` lies in its ephemeral range, the same range every
//! outgoing connection of the node draws from — and a busy core makes many. Between the agent
//! choosing the port and the core (re)binding it after a restart, one of them can take it, and
//! the core fails to start. So the port comes from below the ephemeral range, where outgoing
//! connections never land.

use std::net::TcpListener;

/// Linux's default start of the ephemeral range, when it cannot be read.
const DEFAULT_EPHEMERAL_START: u16 = 32_768;
/// The band searched: above the well-known and most registered service ports, and well below
/// the ephemeral range (the tests hand out their own ports from 20,000 up).
const LOWEST: u16 = 10_000;
const HIGHEST: u16 = 20_000;

#[derive(Debug, thiserror::Error)]
#[error("no free loopback port between {LOWEST} and {0} for the core's API; set --api-port")]
pub struct NoFreePort(u16);

/// A loopback port free now, below the kernel's ephemeral range; `seed` spreads agents on
/// one host over the band.
pub fn pick(seed: u32) -> Result<u16, NoFreePort> {
    let end = ephemeral_start().clamp(LOWEST + 1, HIGHEST);
    let span = u32::from(end - LOWEST);
    (0..span)
        .map(|i| LOWEST + ((seed.wrapping_add(i)) % span) as u16)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .ok_or(NoFreePort(end))
}

/// The first port of `net.ipv4.ip_local_port_range`.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_free_and_below_the_ephemeral_range() {
        let port = pick(std::process::id()).expect("a port");
        assert!(
            (LOWEST..HIGHEST.min(ephemeral_start())).contains(&port),
            "{port}"
        );
        TcpListener::bind(("127.0.0.1", port)).expect("still free");
    }

    #[test]
    fn a_port_in_use_is_passed_over() {
        let seed = std::process::id().wrapping_add(1);
        let first = pick(seed).expect("a port");
        let _held = TcpListener::bind(("127.0.0.1", first)).expect("bind");
        assert_ne!(pick(seed).expect("a port"), first);
    }
}
