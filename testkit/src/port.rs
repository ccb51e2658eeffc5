//! Loopback ports for servers a test starts.
//!
//! Asking the kernel for port 0 and handing the number to a child process races: the port is
//! free again until the child binds it, and the kernel hands the same ephemeral range to every
//! outgoing connection (database pools, clients, other tests' `bind(0)`). So ports come from
//! below the ephemeral range, each one at most once per test process, and only if nothing
//! listens there now.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Below Linux's default ephemeral range (32768–60999), above the band the node agent picks
/// its core's API port from (10000–19999).
const FIRST: u32 = 20_000;
const COUNT: u32 = 12_000;

/// A loopback port no other caller in this process got, free when this returns.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Test binaries of one run start from different places, so two runs at once rarely meet.
    pick(&NEXT, std::process::id().wrapping_mul(7_919) % COUNT)
}

fn pick(next: &AtomicU32, start: u32) -> u16 {
    for _ in 0..COUNT {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (start + n) % COUNT;
        let port = u16::try_from(port).expect("port range fits u16");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT)
}

/// Waits until something accepts TCP connections on the loopback `port`.
pub fn wait_listening(port: u16, within: Duration) -> bool {
    let until = Instant::now() + within;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice_and_stay_out_of_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
        assert!(ports.iter().all(|p| (20_000..32_000).contains(p)));
    }

    #[test]
    fn a_port_something_listens_on_is_skipped() {
        let start = 5_000;
        let busy = u16::try_from(FIRST + start).expect("u16");
        // Held for the whole test; if something else already holds it, it is busy all the same.
        let _held = TcpListener::bind(("127.0.0.1", busy));
        let next = AtomicU32::new(0);
        assert_ne!(pick(&next, start), busy);
    }
}
