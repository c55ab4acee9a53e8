//! Caps on open connections, in total and per client address, and the open-file limit they
//! have to fit in. A connection holds a [`ConnectionSlot`] from its accept until its socket
//! closes — a websocket's for as long as the websocket lives.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::rate::address_key;

/// Connections at most (each is an open file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    pub total: usize,
    /// Per client address as [`address_key`] counts them (an IPv4 address, an IPv6 /64).
    pub per_address: usize,
}

/// Files the server keeps for other things than connections: the database pool, the data
/// directory's lock, shared files being read or written, logs.
const FILES_NOT_FOR_CONNECTIONS: u64 = 256;

impl ConnectionCaps {
    /// `configured`, with the total lowered to what the open-file limit leaves for
    /// connections (`open_files`: the soft limit, `None` when unknown or unlimited).
    pub fn fit(configured: ConnectionCaps, open_files: Option<u64>) -> ConnectionCaps {
        let room = open_files.map_or(usize::MAX, |files| {
            usize::try_from(files.saturating_sub(FILES_NOT_FOR_CONNECTIONS)).unwrap_or(usize::MAX)
        });
        ConnectionCaps { total: configured.total.min(room).max(1), per_address: configured.per_address.max(1) }
    }
}

/// Raises this process's soft open-file limit to its hard limit (each connection is a file);
/// returns the soft limit in force afterwards (`None`: unlimited, or not known).
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, soft = ?limit.current, hard = ?limit.maximum, "could not raise the open-file limit");
        }
    }
    open_file_limit()
}

/// This process's soft open-file limit (`None`: unlimited, or not known).
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Counts open connections against [`ConnectionCaps`]. A `parking_lot::Mutex` (no
/// poisoning), held for a counter update per accept and per close, never across an `.await`.
#[derive(Debug)]
pub struct ConnectionGate {
    caps: ConnectionCaps,
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Refusals since the last warning, and when that was: a flood of refusals logs one
    /// line a minute, not one per connection.
    refused_unlogged: u64,
    last_warning: Option<Instant>,
}

/// How often refusals are logged at most.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Total,
    PerAddress,
}

impl ConnectionGate {
    pub fn new(caps: ConnectionCaps) -> Arc<ConnectionGate> {
        Arc::new(ConnectionGate { caps, open: Mutex::default() })
    }

    pub fn caps(&self) -> ConnectionCaps {
        self.caps
    }

    /// A slot for a connection from `peer`, or why there is none.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let address = address_key(peer);
        let mut open = self.open.lock();
        let from_address = open.per_address.get(&address).copied().unwrap_or(0);
        let refusal = if open.total >= self.caps.total {
            Some(Refusal::Total)
        } else if from_address >= self.caps.per_address {
            Some(Refusal::PerAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            open.refused_unlogged += 1;
            if open.last_warning.is_none_or(|last| last.elapsed() >= REFUSAL_LOG_INTERVAL) {
                tracing::warn!(
                    cap = ?refusal,
                    %address,
                    open = open.total,
                    refused = open.refused_unlogged,
                    "connections refused at the cap (logged once a minute at most)"
                );
                open.refused_unlogged = 0;
                open.last_warning = Some(Instant::now());
            }
            return Err(refusal);
        }
        open.total += 1;
        open.per_address.insert(address, from_address + 1);
        Ok(ConnectionSlot { gate: self.clone(), address })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().total
    }

    fn release(&self, address: IpAddr) {
        let mut open = self.open.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                open.per_address.remove(&address);
            }
        }
    }
}

/// One admitted connection; its slot is free again when this is dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    gate: Arc<ConnectionGate>,
    address: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.gate.release(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_cap_refuses_above_it_and_a_closed_connection_frees_its_slot() {
        let gate = ConnectionGate::new(ConnectionCaps { total: 4, per_address: 2 });
        let first = gate.admit(ip("192.0.2.1")).expect("first");
        let _second = gate.admit(ip("::ffff:192.0.2.1")).expect("the same address, mapped");
        assert_eq!(gate.admit(ip("192.0.2.1")).unwrap_err(), Refusal::PerAddress);
        let _other = gate.admit(ip("2001:db8::1")).expect("another address");
        let _same_64 = gate.admit(ip("2001:db8::2")).expect("the same /64");
        assert_eq!(gate.admit(ip("2001:db8::3")).unwrap_err(), Refusal::Total, "4 open");
        assert_eq!(gate.open(), 4);
        drop(first);
        assert_eq!(gate.open(), 3);
        let _again = gate.admit(ip("192.0.2.1")).expect("a slot freed");
        assert_eq!(gate.admit(ip("198.51.100.1")).unwrap_err(), Refusal::Total);
    }

    #[test]
    fn the_total_fits_the_open_file_limit() {
        let configured = ConnectionCaps { total: 50_000, per_address: 1_000 };
        assert_eq!(ConnectionCaps::fit(configured, None), configured);
        assert_eq!(ConnectionCaps::fit(configured, Some(1_000_000)), configured);
        assert_eq!(ConnectionCaps::fit(configured, Some(1_024)).total, 768);
        assert_eq!(ConnectionCaps::fit(configured, Some(10)).total, 1, "never none at all");
        let zero = ConnectionCaps { total: 0, per_address: 0 };
        assert_eq!(ConnectionCaps::fit(zero, None), ConnectionCaps { total: 1, per_address: 1 });
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(raise_open_file_limit(), hard);
        assert_eq!(open_file_limit(), hard);
    }
}
