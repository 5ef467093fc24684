//! One private L2 segment per VNet: a learning switch on a loopback UDP port that the guests'
//! VNet NICs join (`-netdev socket,udp=<hub>,localaddr=<own>`: each Ethernet frame is one
//! datagram). Nothing here touches the host's network.
//!
//! The hub also plays the two fabric addresses a VNet has: the subnets' gateways (it answers
//! ARP for them, and delivers what a guest sends through its gateway to the guest of that
//! address in another subnet of the VNet, as Azure's system routes do) and Azure's probe source,
//! 168.63.129.16: [`Hub::probe_tcp`] sends a TCP SYN to a guest's private address and port as
//! a load balancer's health probe does, and reads the guest's answer (SYN-ACK: listening;
//! RST or nothing: not).

use super::seed::AZURE_DNS;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// The fabric's MAC (locally administered).
pub const HUB_MAC: [u8; 6] = [0x12, 0x34, 0x56, 0x00, 0x00, 0x01];
const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

type ProbeKey = (Ipv4Addr, u16, u16);

#[derive(Default)]
struct State {
    /// QEMU endpoints on this segment.
    members: HashSet<SocketAddr>,
    /// Learned: which endpoint a MAC sent from.
    macs: HashMap<[u8; 6], SocketAddr>,
    /// Addresses the hub answers ARP for.
    gateways: HashSet<Ipv4Addr>,
    /// Guests' addresses (from their NICs), to address probes.
    ips: HashMap<Ipv4Addr, [u8; 6]>,
    /// Probes waiting for an answer: (guest address, guest port, our port).
    probes: HashMap<ProbeKey, oneshot::Sender<bool>>,
}

pub struct Hub {
    socket: Arc<UdpSocket>,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hub {
    pub async fn start() -> std::io::Result<Hub> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = socket.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(switch(socket.clone(), state.clone()));
        Ok(Hub {
            socket,
            addr,
            state,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A guest NIC joins: its endpoint, address and MAC, and its subnet's gateway.
    pub fn join(&self, member: SocketAddr, mac: [u8; 6], ip: Ipv4Addr, gateway: Ipv4Addr) {
        let mut s = self.state.lock();
        s.members.insert(member);
        s.ips.insert(ip, mac);
        s.gateways.insert(gateway);
    }

    pub fn leave(&self, member: SocketAddr, ip: Ipv4Addr) {
        let mut s = self.state.lock();
        s.members.remove(&member);
        s.macs.retain(|_, a| *a != member);
        s.ips.remove(&ip);
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().members.is_empty()
    }

    /// Azure's TCP probe from 168.63.129.16: true when `ip:port` answers a SYN with a SYN-ACK
    /// within `timeout`.
    pub async fn probe_tcp(&self, ip: Ipv4Addr, port: u16, timeout: Duration) -> bool {
        let (mac, targets) = {
            let s = self.state.lock();
            let Some(mac) = s.ips.get(&ip).copied() else {
                return false;
            };
            let targets: Vec<SocketAddr> = match s.macs.get(&mac) {
                Some(a) => vec![*a],
                None => s.members.iter().copied().collect(),
            };
            (mac, targets)
        };
        let ours = 32768 + (rand_u16() % 28000);
        let seq = (u32::from(rand_u16()) << 16) | u32::from(rand_u16());
        let (tx, rx) = oneshot::channel();
        self.state.lock().probes.insert((ip, port, ours), tx);
        let frame = tcp_frame(mac, AZURE_DNS, ip, ours, port, seq, 0, TCP_SYN);
        for t in targets {
            let _ = self.socket.send_to(&frame, t).await;
        }
        let answer = tokio::time::timeout(timeout, rx).await;
        self.state.lock().probes.remove(&(ip, port, ours));
        matches!(answer, Ok(Ok(true)))
    }
}

fn rand_u16() -> u16 {
    let b = uuid::Uuid::new_v4().into_bytes();
    u16::from_be_bytes([b[0], b[1]])
}

async fn switch(socket: Arc<UdpSocket>, state: Arc<Mutex<State>>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let frame = &buf[..n];
        if n < 14 {
            continue;
        }
        let dst: [u8; 6] = frame[0..6].try_into().unwrap_or_default();
        let src: [u8; 6] = frame[6..12].try_into().unwrap_or_default();
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let mut replies: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        let targets: Vec<SocketAddr> = {
            let mut s = state.lock();
            if !s.members.contains(&from) {
                continue;
            }
            s.macs.insert(src, from);
            if ethertype == ETH_ARP
                && let Some(reply) = arp_reply(frame, &s.gateways)
            {
                replies.push((reply, from));
            }
            if dst == HUB_MAC {
                // Sent through a gateway to a guest of another subnet: delivered to it.
                if ethertype == ETH_IPV4
                    && let Some((mac, routed)) = route(frame, &s.ips)
                {
                    let to: Vec<SocketAddr> = match s.macs.get(&mac) {
                        Some(a) => vec![*a],
                        None => s.members.iter().copied().filter(|m| *m != from).collect(),
                    };
                    for t in to {
                        replies.push((routed.clone(), t));
                    }
                } else if ethertype == ETH_IPV4
                    && let Some((key, listening, their_ack)) = probe_answer(frame)
                    && let Some(tx) = s.probes.remove(&key)
                {
                    let _ = tx.send(listening);
                    if listening {
                        // Close the half-open connection, as the prober does.
                        replies.push((
                            tcp_frame(src, AZURE_DNS, key.0, key.2, key.1, their_ack, 0, TCP_RST),
                            from,
                        ));
                    }
                }
                Vec::new()
            } else if dst[0] & 1 == 1 {
                s.members.iter().copied().filter(|m| *m != from).collect()
            } else if let Some(to) = s.macs.get(&dst) {
                vec![*to]
            } else {
                s.members.iter().copied().filter(|m| *m != from).collect()
            }
        };
        for t in targets {
            let _ = socket.send_to(frame, t).await;
        }
        for (r, t) in replies {
            let _ = socket.send_to(&r, t).await;
        }
    }
}

/// A frame a guest sent to the gateway for the address of another guest of the VNet
/// (`guests`: address → MAC): that guest's MAC and the frame re-addressed to it, from the
/// fabric's MAC. Azure's fabric does not show as a hop, so the TTL is left as it is. Anything
/// else sent to the gateway (the Internet, which this segment does not reach) gets `None`.
/// Pure.
fn route(frame: &[u8], guests: &HashMap<Ipv4Addr, [u8; 6]>) -> Option<([u8; 6], Vec<u8>)> {
    let ip = frame.get(14..34)?;
    if ip[0] >> 4 != 4 {
        return None;
    }
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let mac = *guests.get(&dst)?;
    let mut out = frame.to_vec();
    out[0..6].copy_from_slice(&mac);
    out[6..12].copy_from_slice(&HUB_MAC);
    Some((mac, out))
}

/// The reply to an ARP request for one of `ours`.
fn arp_reply(frame: &[u8], ours: &HashSet<Ipv4Addr>) -> Option<Vec<u8>> {
    let a = frame.get(14..42)?;
    let op = u16::from_be_bytes([a[6], a[7]]);
    if a[0..6] != [0, 1, 8, 0, 6, 4] || op != 1 {
        return None;
    }
    let sha = &a[8..14];
    let spa = &a[14..18];
    let tpa = Ipv4Addr::new(a[24], a[25], a[26], a[27]);
    if !ours.contains(&tpa) {
        return None;
    }
    let mut r = Vec::with_capacity(42);
    r.extend_from_slice(sha);
    r.extend_from_slice(&HUB_MAC);
    r.extend_from_slice(&ETH_ARP.to_be_bytes());
    r.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    r.extend_from_slice(&HUB_MAC);
    r.extend_from_slice(&tpa.octets());
    r.extend_from_slice(sha);
    r.extend_from_slice(spa);
    Some(r)
}

/// A guest's answer to a probe: the key, whether it listens (SYN-ACK) and its sequence
/// number + 1 (what a RST must carry).
fn probe_answer(frame: &[u8]) -> Option<(ProbeKey, bool, u32)> {
    let ip = frame.get(14..)?;
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 6 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    if dst != AZURE_DNS {
        return None;
    }
    let tcp = ip.get(ihl..)?;
    if tcp.len() < 20 {
        return None;
    }
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let flags = tcp[13];
    let listening = flags & (TCP_SYN | TCP_ACK) == (TCP_SYN | TCP_ACK);
    if !listening && flags & TCP_RST == 0 {
        return None;
    }
    Some(((src, sport, dport), listening, seq.wrapping_add(1)))
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for c in chunks {
        let mut i = 0;
        while i + 1 < c.len() {
            sum += u32::from(u16::from_be_bytes([c[i], c[i + 1]]));
            i += 2;
        }
        if i < c.len() {
            sum += u32::from(c[i]) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame with an IPv4 TCP segment from the fabric (`HUB_MAC`, `src`) to
/// `dst_mac`/`dst`: a SYN with an MSS option, or a bare RST.
#[allow(clippy::too_many_arguments)]
fn tcp_frame(
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
) -> Vec<u8> {
    let options: &[u8] = if flags & TCP_SYN != 0 {
        &[2, 4, 0x05, 0xb4]
    } else {
        &[]
    };
    let tcp_len = 20 + options.len();
    let mut tcp = Vec::with_capacity(tcp_len);
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.push(((tcp_len / 4) as u8) << 4);
    tcp.push(flags);
    tcp.extend_from_slice(&64240u16.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    tcp.extend_from_slice(options);
    let pseudo = [
        &src.octets()[..],
        &dst.octets()[..],
        &[0, 6],
        &(tcp_len as u16).to_be_bytes()[..],
    ]
    .concat();
    let c = checksum(&[&pseudo, &tcp]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());

    let total = 20 + tcp_len;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&rand_u16().to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]); // DF, TTL 64, TCP, checksum
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let mut f = Vec::with_capacity(14 + total);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&HUB_MAC);
    f.extend_from_slice(&ETH_IPV4.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: [u8; 6] = [0, 0x0d, 0x3a, 1, 2, 3];

    fn arp_request(target: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&GUEST);
        f.extend_from_slice(&ETH_ARP.to_be_bytes());
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&GUEST);
        f.extend_from_slice(&[10, 0, 0, 4]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target.octets());
        f
    }

    #[test]
    fn the_gateway_is_answered_other_addresses_are_not() {
        let gw = Ipv4Addr::new(10, 0, 0, 1);
        let ours: HashSet<Ipv4Addr> = [gw].into();
        let r = arp_reply(&arp_request(gw), &ours);
        let Some(r) = r else {
            panic!("no reply for the gateway")
        };
        assert_eq!(&r[0..6], &GUEST);
        assert_eq!(&r[22..28], &HUB_MAC, "sender hardware address");
        assert_eq!(&r[28..32], &gw.octets(), "sender protocol address");
        assert_eq!(&r[38..42], &[10, 0, 0, 4], "target protocol address");
        assert!(arp_reply(&arp_request(Ipv4Addr::new(10, 0, 0, 5)), &ours).is_none());
    }

    #[test]
    fn a_frame_through_the_gateway_reaches_the_guest_of_another_subnet() {
        let worker = Ipv4Addr::new(10, 1, 0, 4);
        let worker_mac = [0, 0x0d, 0x3a, 9, 9, 9];
        let guests: HashMap<Ipv4Addr, [u8; 6]> =
            [(Ipv4Addr::new(10, 0, 0, 4), GUEST), (worker, worker_mac)].into();
        // The control plane (10.0.0.4) to the worker's kubelet, through its gateway's MAC.
        let f = tcp_frame(
            HUB_MAC,
            Ipv4Addr::new(10, 0, 0, 4),
            worker,
            40000,
            10250,
            1,
            0,
            TCP_SYN,
        );
        let Some((mac, routed)) = route(&f, &guests) else {
            panic!("not routed")
        };
        assert_eq!(mac, worker_mac);
        assert_eq!(&routed[0..6], &worker_mac, "to the worker");
        assert_eq!(&routed[6..12], &HUB_MAC, "from the fabric");
        assert_eq!(&routed[12..], &f[12..], "the packet itself unchanged");
        // An address no guest has (the Internet): not delivered anywhere.
        let out = tcp_frame(
            HUB_MAC,
            Ipv4Addr::new(10, 0, 0, 4),
            Ipv4Addr::new(203, 0, 113, 7),
            40000,
            443,
            1,
            0,
            TCP_SYN,
        );
        assert!(route(&out, &guests).is_none());
    }

    #[test]
    fn a_syn_carries_valid_checksums() {
        let f = tcp_frame(
            GUEST,
            AZURE_DNS,
            Ipv4Addr::new(10, 0, 0, 4),
            40000,
            6443,
            7,
            0,
            TCP_SYN,
        );
        let ip = &f[14..34];
        assert_eq!(checksum(&[ip]), 0, "IPv4 header checksum");
        let tcp = &f[34..];
        let pseudo = [
            &AZURE_DNS.octets()[..],
            &[10, 0, 0, 4],
            &[0, 6],
            &(tcp.len() as u16).to_be_bytes()[..],
        ]
        .concat();
        assert_eq!(checksum(&[&pseudo, tcp]), 0, "TCP checksum");
        assert_eq!(tcp[13], TCP_SYN);
    }

    #[test]
    fn syn_ack_means_listening_and_rst_means_not() {
        let guest = Ipv4Addr::new(10, 0, 0, 4);
        let mut f = tcp_frame(
            HUB_MAC,
            guest,
            AZURE_DNS,
            6443,
            40000,
            99,
            8,
            TCP_SYN | TCP_ACK,
        );
        assert_eq!(probe_answer(&f), Some(((guest, 6443, 40000), true, 100)));
        f = tcp_frame(
            HUB_MAC,
            guest,
            AZURE_DNS,
            6443,
            40000,
            0,
            8,
            TCP_RST | TCP_ACK,
        );
        assert_eq!(probe_answer(&f).map(|a| a.1), Some(false));
        // Not addressed to the prober.
        f = tcp_frame(
            HUB_MAC,
            guest,
            Ipv4Addr::new(10, 0, 0, 5),
            6443,
            40000,
            0,
            8,
            TCP_RST,
        );
        assert_eq!(probe_answer(&f), None);
    }
}
