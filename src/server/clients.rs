//! Who a client is, for the limits on what one client may hold: its address, an IPv6 one by
//! its /64 (the block one host is usually given).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The address connections and requests are counted under: an IPv4 address (also when mapped
/// into IPv6) as it is, an IPv6 address by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientAddr(IpAddr);

impl ClientAddr {
    pub(crate) fn of(peer: IpAddr) -> Self {
        ClientAddr(match peer {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
        })
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// What one client address holds at once (open connections, requests in flight), each held by
/// a [`ClientSlot`]. One client could otherwise take all the server allows and shut everyone
/// else out, GitHub's deliveries included.
pub(crate) struct PerClient {
    max: usize,
    open: Arc<Mutex<HashMap<ClientAddr, usize>>>,
}

/// One connection or request of a client; dropping it frees it.
pub(crate) struct ClientSlot {
    client: ClientAddr,
    open: Arc<Mutex<HashMap<ClientAddr, usize>>>,
}

impl PerClient {
    pub(crate) fn new(max: usize) -> Self {
        PerClient {
            max: max.max(1),
            open: Arc::default(),
        }
    }

    /// A slot for one more of `client`'s, or `None` when it has all it may have.
    pub(crate) fn take(&self, client: ClientAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            client,
            open: self.open.clone(),
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // Entries go when their last connection does, so the map holds only open clients.
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn clients_are_counted_by_address_and_ipv6_by_its_64() {
        let v6 = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            ClientAddr::of(v6("2001:db8:1:2:aaaa::1")),
            ClientAddr::of(v6("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            ClientAddr::of(v6("2001:db8:1:2::1")),
            ClientAddr::of(v6("2001:db8:1:3::1"))
        );
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(ClientAddr::of(v6("::ffff:192.0.2.7")), ClientAddr::of(v4));
        assert_ne!(
            ClientAddr::of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8))),
            ClientAddr::of(v4)
        );
    }

    #[test]
    fn a_client_gets_its_share_of_connections_and_no_more() {
        let clients = PerClient::new(2);
        let (a, b) = (
            ClientAddr::of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            ClientAddr::of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
        );
        let first = clients.take(a).expect("first");
        let _second = clients.take(a).expect("second");
        assert!(clients.take(a).is_none(), "a third is refused");
        let other = clients.take(b).expect("another client is not held back");
        drop(first);
        let _again = clients.take(a).expect("a closed connection frees its slot");
        drop(other);
        assert_eq!(
            clients.open.lock().unwrap().len(),
            1,
            "a client without connections is forgotten"
        );
    }
}
