//! Where webhooks may be sent. By default only to public addresses: an
//! operator allowed to register an endpoint must not be able to make the
//! server call its own network (a cloud's metadata service at
//! 169.254.169.254, a database on 10.0.0.5, an admin port on 127.0.0.1).
//! Checked when an endpoint is registered (addresses written in the URL,
//! `localhost`) and again on every delivery, after name resolution (a name
//! that resolves to a private address, or starts to later, is refused):
//! the delivery client resolves names through [`PublicOnly`].

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is an address on the public internet: not loopback,
/// private, shared (carrier-grade NAT), link-local, unspecified, multicast,
/// broadcast, documentation, benchmarking or reserved; IPv4 carried in IPv6
/// (mapped, compatible, NAT64) is judged as the IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form (::a.b.c.d).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[..6] == [0; 6] && !ip.is_loopback()) {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return !ip.is_unspecified() && is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo (reaches IPv4 through a tunnel)
        || s[0] == 0x2002 // 6to4 (likewise)
        || s[..3] == [0x64, 0xff9b, 1]) // local-use NAT64, RFC 8215
}

/// Why a URL's host is refused before any lookup: an address written in it
/// that is not public, or a name that always means this machine.
pub fn refused_host(url: &reqwest::Url) -> Option<&'static str> {
    // (The URL parser has already turned 2130706433 or 0x7f.1 into 127.0.0.1.)
    let host = url.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return (!is_public(ip)).then_some(NOT_PUBLIC);
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost")).then_some(NOT_PUBLIC)
}

/// How a name with no public address fails (the delivery log says so).
pub const NO_PUBLIC_ADDRESS: &str = "resolves to no public address";

pub const NOT_PUBLIC: &str = "must be a public address (loopback, private, link-local and other \
     internal addresses are refused; KEYWARD_WEBHOOK_TARGETS=any allows them)";

/// Resolves names as the system does, keeping only public addresses; a
/// name with none left fails to resolve, so nothing is sent.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} {NO_PUBLIC_ADDRESS}").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "2002:7f00:1::1",
            "64:ff9b:1::a00:5",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn internet_addresses_are_public() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn hosts_written_as_internal_addresses_or_localhost_are_refused() {
        for u in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/hook",
            "http://LOCALHOST./hook",
            "http://api.localhost/hook",
            "http://2130706433/hook",
            "http://0x7f.1/hook",
        ] {
            let url = reqwest::Url::parse(u).unwrap();
            assert!(refused_host(&url).is_some(), "{u}");
        }
        let url = reqwest::Url::parse("https://hooks.example.com/k").unwrap();
        assert!(refused_host(&url).is_none());
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_this_machine_does_not_resolve() {
        let name: Name = "localhost".parse().unwrap();
        let err = PublicOnly.resolve(name).await.err().expect("refused");
        assert!(err.to_string().contains("no public address"), "{err}");
    }
}
