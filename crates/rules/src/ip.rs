//! IP addresses and CIDR blocks as event-ruler reads them (its `CIDR` class).
//!
//! A string is an IP address when it looks like one (`[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+` or
//! `[0-9a-fA-F:]*:[0-9a-fA-F:]*`) and Java's `InetAddress` accepts it: IPv4 parts are decimal
//! (leading zeros allowed) up to 255, and an IPv4-mapped IPv6 address is the IPv4 address.
//! IPv4 and IPv6 never match each other.

use std::net::Ipv6Addr;

/// An address: IPv4 or IPv6, as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Ip {
    V4(u32),
    V6(u128),
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IpRange {
    pub low: Ip,
    pub high: Ip,
}

fn looks_like_v4(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        parts += 1;
        if parts > 4 || p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

fn looks_like_v6(s: &str) -> bool {
    s.contains(':') && s.bytes().all(|b| b == b':' || b.is_ascii_hexdigit())
}

/// Whether event-ruler would try to read `s` as an address at all.
pub(crate) fn looks_like_ip(s: &str) -> bool {
    looks_like_v4(s) || looks_like_v6(s)
}

/// Parses an address that looks like one; `None` when it does not or is not valid.
pub(crate) fn parse(s: &str) -> Option<Ip> {
    if looks_like_v4(s) {
        let mut value = 0u32;
        for part in s.split('.') {
            let trimmed = part.trim_start_matches('0');
            if trimmed.len() > 3 {
                return None;
            }
            let n: u32 = if trimmed.is_empty() {
                0
            } else {
                trimmed.parse().ok()?
            };
            if n > 255 {
                return None;
            }
            value = (value << 8) | n;
        }
        return Some(Ip::V4(value));
    }
    if looks_like_v6(s) {
        let addr: Ipv6Addr = s.parse().ok()?;
        if let Some(v4) = addr.to_ipv4_mapped() {
            return Some(Ip::V4(u32::from(v4)));
        }
        return Some(Ip::V6(u128::from(addr)));
    }
    None
}

/// Parses a `cidr` pattern value; the error is event-ruler's message.
pub(crate) fn parse_cidr(s: &str) -> Result<IpRange, String> {
    let parts: Vec<&str> = s.split('/').collect();
    // Java's String.split drops trailing empty strings.
    let mut n = parts.len();
    while n > 0 && parts[n - 1].is_empty() {
        n -= 1;
    }
    if n != 2 {
        return Err("Malformed CIDR, one '/' required".into());
    }
    let bits: i64 = parts[1]
        .parse()
        .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
    if bits < 0 {
        return Err("Malformed CIDR, mask bits must not be negative".into());
    }
    let ip = address_for_pattern(parts[0])?;
    match ip {
        Ip::V4(a) => {
            if bits > 31 {
                return Err("IPv4 mask bits must be < 32".into());
            }
            let host = 32 - bits as u32;
            let mask = if host == 32 { 0 } else { u32::MAX << host };
            Ok(IpRange {
                low: Ip::V4(a & mask),
                high: Ip::V4(a | !mask),
            })
        }
        Ip::V6(a) => {
            if bits > 127 {
                return Err("IPv6 mask bits must be < 128".into());
            }
            let host = 128 - bits as u32;
            let mask = if host == 128 { 0 } else { u128::MAX << host };
            Ok(IpRange {
                low: Ip::V6(a & mask),
                high: Ip::V6(a | !mask),
            })
        }
    }
}

/// The address part of a CIDR, with event-ruler's two refusals.
fn address_for_pattern(s: &str) -> Result<Ip, String> {
    if !looks_like_ip(s) {
        return Err(format!("Nonstandard IP address: {s}"));
    }
    parse(s).ok_or_else(|| format!("Invalid IP address: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_reads_leading_zeros_as_decimal_and_maps_ipv4_in_ipv6() {
        assert_eq!(parse("010.0.0.1"), parse("10.0.0.1"));
        assert_eq!(parse("::ffff:102:304"), parse("1.2.3.4"));
        assert_eq!(parse("::1"), parse("0:0:0:0:0:0:0:1"));
        assert_eq!(parse("1.2.3.999"), None);
        assert_eq!(parse("host.example"), None);
    }

    #[test]
    fn cidr_blocks_and_refusals() {
        let r = parse_cidr("10.0.0.0/24").unwrap();
        assert_eq!(r.low, Ip::V4(0x0a00_0000));
        assert_eq!(r.high, Ip::V4(0x0a00_00ff));
        let r = parse_cidr("::/0").unwrap();
        assert_eq!(r.high, Ip::V6(u128::MAX));
        assert_eq!(
            parse_cidr("1.2.3.4/32").unwrap_err(),
            "IPv4 mask bits must be < 32"
        );
        assert_eq!(
            parse_cidr("::1/128").unwrap_err(),
            "IPv6 mask bits must be < 128"
        );
        assert_eq!(
            parse_cidr("1.2.3.4").unwrap_err(),
            "Malformed CIDR, one '/' required"
        );
        assert_eq!(
            parse_cidr("1.2.3.4/8/9").unwrap_err(),
            "Malformed CIDR, one '/' required"
        );
        assert_eq!(
            parse_cidr("1.2.3.4/x").unwrap_err(),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            parse_cidr("1.2.3.4/-1").unwrap_err(),
            "Malformed CIDR, mask bits must not be negative"
        );
        assert_eq!(
            parse_cidr("hello/8").unwrap_err(),
            "Nonstandard IP address: hello"
        );
        assert_eq!(
            parse_cidr("1.2.3.999/8").unwrap_err(),
            "Invalid IP address: 1.2.3.999"
        );
    }
}
