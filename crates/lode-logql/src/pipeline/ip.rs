//! `ip("...")` matching: a single address, a CIDR block or an `a-b` range,
//! for line filters (any address token in the line) and label filters
//! (the whole label value).

use std::net::IpAddr;

use crate::error::{Error, Result};

/// A compiled `ip(...)` argument.
#[derive(Debug, Clone)]
pub(crate) enum IpMatcher {
    Single(IpAddr),
    /// Network address (already masked) and prefix length.
    Cidr(IpAddr, u8),
    Range(IpAddr, IpAddr),
}

fn to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (true, u32::from(a) as u128),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (true, u32::from(v4) as u128),
            None => (false, u128::from(a)),
        },
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse().ok()
}

fn invalid(pattern: &str) -> Error {
    Error::Invalid(format!("invalid ip pattern: {pattern:?}"))
}

impl IpMatcher {
    pub(crate) fn new(pattern: &str) -> Result<Self> {
        if let Some((addr, bits)) = pattern.split_once('/') {
            let ip = parse_ip(addr).ok_or_else(|| invalid(pattern))?;
            let bits: u8 = bits.trim().parse().map_err(|_| invalid(pattern))?;
            let (v4, n) = to_u128(ip);
            let max = if v4 { 32 } else { 128 };
            if bits > max {
                return Err(invalid(pattern));
            }
            let masked = mask(n, bits, max);
            let ip = if v4 {
                IpAddr::V4((masked as u32).into())
            } else {
                IpAddr::V6(masked.into())
            };
            return Ok(IpMatcher::Cidr(ip, bits));
        }
        if let Some((a, b)) = pattern.split_once('-') {
            let a = parse_ip(a).ok_or_else(|| invalid(pattern))?;
            let b = parse_ip(b).ok_or_else(|| invalid(pattern))?;
            let (a4, an) = to_u128(a);
            let (b4, bn) = to_u128(b);
            if a4 != b4 || an > bn {
                return Err(invalid(pattern));
            }
            return Ok(IpMatcher::Range(a, b));
        }
        parse_ip(pattern)
            .map(IpMatcher::Single)
            .ok_or_else(|| invalid(pattern))
    }

    pub(crate) fn matches_ip(&self, ip: IpAddr) -> bool {
        let (v4, n) = to_u128(ip);
        match *self {
            IpMatcher::Single(p) => to_u128(p) == (v4, n),
            IpMatcher::Cidr(net, bits) => {
                let (nv4, nn) = to_u128(net);
                nv4 == v4 && mask(n, bits, if v4 { 32 } else { 128 }) == nn
            }
            IpMatcher::Range(a, b) => {
                let (av4, an) = to_u128(a);
                let (_, bn) = to_u128(b);
                av4 == v4 && an <= n && n <= bn
            }
        }
    }

    /// Matches a whole label value.
    pub(crate) fn matches_value(&self, v: &str) -> bool {
        parse_ip(v).is_some_and(|ip| self.matches_ip(ip))
    }

    /// True when any IPv4/IPv6 address token in `line` matches.
    pub(crate) fn matches_line(&self, line: &str) -> bool {
        let b = line.as_bytes();
        let is_v4 = |c: u8| c.is_ascii_digit() || c == b'.';
        let is_v6 = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if !is_v6(c) {
                i += 1;
                continue;
            }
            // Maximal run of address characters starting here.
            let mut j6 = i;
            while j6 < b.len() && is_v6(b[j6]) {
                j6 += 1;
            }
            let mut k = i;
            while k < j6 {
                if is_v4(b[k]) {
                    let mut j4 = k;
                    while j4 < j6 && is_v4(b[j4]) {
                        j4 += 1;
                    }
                    let tok = &line[k..j4];
                    if tok.bytes().filter(|&c| c == b'.').count() == 3 {
                        if let Ok(ip) = tok.parse::<std::net::Ipv4Addr>() {
                            if self.matches_ip(IpAddr::V4(ip)) {
                                return true;
                            }
                        }
                    }
                    k = j4;
                } else {
                    k += 1;
                }
            }
            let run = &line[i..j6];
            if run.bytes().filter(|&c| c == b':').count() >= 2 {
                let tok = run.trim_matches(|c| c == '.');
                if let Ok(ip) = tok.parse::<std::net::Ipv6Addr>() {
                    if self.matches_ip(IpAddr::V6(ip)) {
                        return true;
                    }
                }
            }
            i = j6;
        }
        false
    }
}

fn mask(n: u128, bits: u8, max: u8) -> u128 {
    if bits == 0 {
        return 0;
    }
    let full: u128 = if max == 32 {
        u32::MAX as u128
    } else {
        u128::MAX
    };
    let m = full & !(full >> bits);
    n & m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_range_single() {
        let m = IpMatcher::new("192.168.1.0/24").unwrap();
        assert!(m.matches_line("192.168.1.150 - - [x] GET"));
        assert!(!m.matches_line("10.42.0.1 - - 192.168.2.1"));
        assert!(m.matches_line("upstream http://192.168.1.7:8080/x"));
        let r = IpMatcher::new("10.0.0.5-10.0.0.9").unwrap();
        assert!(r.matches_value("10.0.0.9"));
        assert!(!r.matches_value("10.0.0.10"));
        let s = IpMatcher::new("::1").unwrap();
        assert!(s.matches_line("connect from [::1]:443"));
        assert!(IpMatcher::new("10.0.0.0/33").is_err());
        assert!(IpMatcher::new("nope").is_err());
        let v6 = IpMatcher::new("2001:db8::/32").unwrap();
        assert!(v6.matches_value("2001:db8::42"));
        assert!(!v6.matches_value("2001:db9::42"));
    }

    #[test]
    fn embedded_digits_are_not_addresses() {
        let m = IpMatcher::new("1.2.3.4").unwrap();
        assert!(!m.matches_line("v11.2.3.45"));
        assert!(m.matches_line("v 1.2.3.4"));
    }
}
