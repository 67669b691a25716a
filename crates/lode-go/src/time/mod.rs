//! Go's `time.Time` as templates see it: layout-based formatting and
//! parsing (`2006-01-02 15:04:05`), `Time.String`, fixed zones. The server's
//! local zone is taken to be UTC (Loki's containers run in UTC) and zone
//! names other than UTC/Local are not resolved (Loki falls back to UTC for
//! a zone it cannot load).

use std::fmt;

mod civil;
pub use civil::{civil_from_days, days_from_civil, format_rfc3339_nanos, parse_rfc3339_nanos};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Zone {
    Utc,
    /// A fixed offset with its abbreviation (empty: shown as `-0700`).
    Fixed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GoTime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    pub nsec: u32,
    /// Offset east of UTC in seconds.
    pub offset: i32,
    pub zone: Zone,
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Seconds from 0001-01-01 to 1970-01-01 (Go's zero time).
const ZERO_TIME_SECS: i64 = -62_135_596_800;

impl GoTime {
    pub fn from_unix_nanos(ns: i64) -> GoTime {
        GoTime {
            secs: ns.div_euclid(1_000_000_000),
            nsec: ns.rem_euclid(1_000_000_000) as u32,
            offset: 0,
            zone: Zone::Utc,
        }
    }

    pub fn from_unix(secs: i64, nsec: i64) -> GoTime {
        let secs = secs.saturating_add(nsec.div_euclid(1_000_000_000));
        GoTime {
            secs,
            nsec: nsec.rem_euclid(1_000_000_000) as u32,
            offset: 0,
            zone: Zone::Utc,
        }
    }

    /// Go's `time.Time{}`.
    pub fn zero() -> GoTime {
        GoTime {
            secs: ZERO_TIME_SECS,
            nsec: 0,
            offset: 0,
            zone: Zone::Utc,
        }
    }

    pub fn now() -> GoTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        GoTime::from_unix(d.as_secs() as i64, d.subsec_nanos() as i64)
    }

    pub fn utc(&self) -> GoTime {
        GoTime {
            offset: 0,
            zone: Zone::Utc,
            ..self.clone()
        }
    }

    pub fn is_zero(&self) -> bool {
        self.secs == ZERO_TIME_SECS && self.nsec == 0
    }

    pub fn unix_milli(&self) -> i64 {
        self.secs
            .wrapping_mul(1000)
            .wrapping_add(self.nsec as i64 / 1_000_000)
    }

    pub fn unix_nano(&self) -> i64 {
        self.secs
            .wrapping_mul(1_000_000_000)
            .wrapping_add(self.nsec as i64)
    }

    fn civil(&self) -> Civil {
        let local = self.secs.saturating_add(self.offset as i64);
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let yday = days - days_from_civil(year, 1, 1) + 1;
        Civil {
            year,
            month,
            day,
            yday,
            weekday: (days + 4).rem_euclid(7) as usize,
            hour: (sod / 3600) as u32,
            min: (sod % 3600 / 60) as u32,
            sec: (sod % 60) as u32,
        }
    }

    pub fn year(&self) -> i64 {
        self.civil().year
    }
    pub fn year_day(&self) -> i64 {
        self.civil().yday
    }
    pub fn day(&self) -> i64 {
        self.civil().day as i64
    }
    pub fn hour(&self) -> i64 {
        self.civil().hour as i64
    }
    pub fn minute(&self) -> i64 {
        self.civil().min as i64
    }
    pub fn second(&self) -> i64 {
        self.civil().sec as i64
    }

    /// `Time.Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        let mut out = String::with_capacity(layout.len() + 10);
        self.format_into(&mut out, layout);
        out
    }

    pub fn format_into(&self, out: &mut String, mut layout: &str) {
        use fmt::Write;
        let c = self.civil();
        while !layout.is_empty() {
            let (prefix, std, suffix) = next_std_chunk(layout);
            out.push_str(prefix);
            let Some(std) = std else { break };
            layout = suffix;
            match std {
                Std::Year => {
                    let _ = write!(out, "{:02}", c.year.rem_euclid(100));
                }
                Std::LongYear => {
                    if c.year < 0 {
                        let _ = write!(out, "-{:04}", -c.year);
                    } else {
                        let _ = write!(out, "{:04}", c.year);
                    }
                }
                Std::Month => out.push_str(&LONG_MONTHS[c.month as usize - 1][..3]),
                Std::LongMonth => out.push_str(LONG_MONTHS[c.month as usize - 1]),
                Std::NumMonth => {
                    let _ = write!(out, "{}", c.month);
                }
                Std::ZeroMonth => {
                    let _ = write!(out, "{:02}", c.month);
                }
                Std::WeekDay => out.push_str(&LONG_DAYS[c.weekday][..3]),
                Std::LongWeekDay => out.push_str(LONG_DAYS[c.weekday]),
                Std::Day => {
                    let _ = write!(out, "{}", c.day);
                }
                Std::UnderDay => {
                    let _ = write!(out, "{:>2}", c.day);
                }
                Std::ZeroDay => {
                    let _ = write!(out, "{:02}", c.day);
                }
                Std::UnderYearDay => {
                    let _ = write!(out, "{:>3}", c.yday);
                }
                Std::ZeroYearDay => {
                    let _ = write!(out, "{:03}", c.yday);
                }
                Std::Hour => {
                    let _ = write!(out, "{:02}", c.hour);
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let h = if c.hour.is_multiple_of(12) {
                        12
                    } else {
                        c.hour % 12
                    };
                    if std == Std::Hour12 {
                        let _ = write!(out, "{h}");
                    } else {
                        let _ = write!(out, "{h:02}");
                    }
                }
                Std::Minute => {
                    let _ = write!(out, "{}", c.min);
                }
                Std::ZeroMinute => {
                    let _ = write!(out, "{:02}", c.min);
                }
                Std::Second => {
                    let _ = write!(out, "{}", c.sec);
                }
                Std::ZeroSecond => {
                    let _ = write!(out, "{:02}", c.sec);
                }
                Std::PM(upper) => {
                    let s = if c.hour >= 12 { "PM" } else { "AM" };
                    out.push_str(&if upper {
                        s.to_string()
                    } else {
                        s.to_ascii_lowercase()
                    });
                }
                Std::Tz => match &self.zone {
                    Zone::Utc => out.push_str("UTC"),
                    Zone::Fixed(name) if !name.is_empty() => out.push_str(name),
                    Zone::Fixed(_) => {
                        let z = self.offset / 60;
                        out.push(if z < 0 { '-' } else { '+' });
                        let z = z.abs();
                        let _ = write!(out, "{:02}{:02}", z / 60, z % 60);
                    }
                },
                Std::NumTz {
                    iso,
                    colon,
                    secs,
                    short,
                } => {
                    if iso && self.offset == 0 {
                        out.push('Z');
                        continue;
                    }
                    let z = self.offset / 60;
                    out.push(if z < 0 { '-' } else { '+' });
                    let (z, abs) = (z.abs(), self.offset.abs());
                    let _ = write!(out, "{:02}", z / 60);
                    if !short {
                        if colon {
                            out.push(':');
                        }
                        let _ = write!(out, "{:02}", z % 60);
                    }
                    if secs {
                        if colon {
                            out.push(':');
                        }
                        let _ = write!(out, "{:02}", abs % 60);
                    }
                }
                Std::Frac { digits, nines, sep } => {
                    let all = format!("{:09}", self.nsec);
                    let mut frac = &all[..digits.min(9)];
                    if nines {
                        frac = frac.trim_end_matches('0');
                        if frac.is_empty() {
                            continue;
                        }
                    }
                    out.push(sep);
                    out.push_str(frac);
                }
            }
        }
    }
}

impl fmt::Display for GoTime {
    /// `Time.String()` (without the monotonic clock reading).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format("2006-01-02 15:04:05.999999999 -0700 MST"))
    }
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    yday: i64,
    weekday: usize,
    hour: u32,
    min: u32,
    sec: u32,
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM(bool),
    Tz,
    NumTz {
        iso: bool,
        colon: bool,
        secs: bool,
        short: bool,
    },
    Frac {
        digits: usize,
        nines: bool,
        sep: char,
    },
}

/// Splits a layout at its first standard element, as Go's `nextStdChunk`.
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    let lower_at = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_lowercase());
    for i in 0..b.len() {
        let hit = |n: usize, std: Std| Some((&layout[..i], Some(std), &layout[i + n..]));
        let r = match b[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    hit(7, Std::LongMonth)
                } else if !lower_at(i + 3) {
                    hit(3, Std::Month)
                } else {
                    None
                }
            }
            b'M' if at(i, "Mon") => {
                if at(i, "Monday") {
                    hit(6, Std::LongWeekDay)
                } else if !lower_at(i + 3) {
                    hit(3, Std::WeekDay)
                } else {
                    None
                }
            }
            b'M' if at(i, "MST") => hit(3, Std::Tz),
            b'0' => match b.get(i + 1) {
                Some(b'1') => hit(2, Std::ZeroMonth),
                Some(b'2') => hit(2, Std::ZeroDay),
                Some(b'3') => hit(2, Std::ZeroHour12),
                Some(b'4') => hit(2, Std::ZeroMinute),
                Some(b'5') => hit(2, Std::ZeroSecond),
                Some(b'6') => hit(2, Std::Year),
                Some(b'0') if b.get(i + 2) == Some(&b'2') => hit(3, Std::ZeroYearDay),
                _ => None,
            },
            b'1' => {
                if b.get(i + 1) == Some(&b'5') {
                    hit(2, Std::Hour)
                } else {
                    hit(1, Std::NumMonth)
                }
            }
            b'2' => {
                if at(i, "2006") {
                    hit(4, Std::LongYear)
                } else {
                    hit(1, Std::Day)
                }
            }
            b'_' if b.get(i + 1) == Some(&b'2') => {
                if at(i + 1, "2006") {
                    Some((&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]))
                } else {
                    hit(2, Std::UnderDay)
                }
            }
            b'_' if at(i, "__2") => hit(3, Std::UnderYearDay),
            b'3' => hit(1, Std::Hour12),
            b'4' => hit(1, Std::Minute),
            b'5' => hit(1, Std::Second),
            b'P' if b.get(i + 1) == Some(&b'M') => hit(2, Std::PM(true)),
            b'p' if b.get(i + 1) == Some(&b'm') => hit(2, Std::PM(false)),
            c @ (b'-' | b'Z') => {
                let iso = c == b'Z';
                let t = |colon, secs, short| Std::NumTz {
                    iso,
                    colon,
                    secs,
                    short,
                };
                let p = if iso { "Z" } else { "-" };
                if at(i, &format!("{p}070000")) {
                    hit(7, t(false, true, false))
                } else if at(i, &format!("{p}07:00:00")) {
                    hit(9, t(true, true, false))
                } else if at(i, &format!("{p}0700")) {
                    hit(5, t(false, false, false))
                } else if at(i, &format!("{p}07:00")) {
                    hit(6, t(true, false, false))
                } else if at(i, &format!("{p}07")) {
                    hit(3, t(false, false, true))
                } else {
                    None
                }
            }
            c @ (b'.' | b',') if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
                    None
                } else {
                    let std = Std::Frac {
                        digits: j - i - 1,
                        nines: ch == b'9',
                        sep: c as char,
                    };
                    Some((&layout[..i], Some(std), &layout[j..]))
                }
            }
            _ => None,
        };
        if let Some(r) = r {
            return r;
        }
    }
    (layout, None, "")
}

/// `time.ParseInLocation(layout, value, UTC)`; errors carry no detail
/// because every caller in Loki's function set discards them.
pub(crate) fn parse(mut layout: &str, mut value: &str) -> Result<GoTime, ()> {
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let (mut am, mut pm) = (false, false);
    let mut utc = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name = String::new();
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        value = skip(value, prefix)?;
        let Some(std) = std else {
            if !value.is_empty() {
                return Err(());
            }
            break;
        };
        layout = suffix;
        match std {
            Std::Year => {
                let p = value.get(..2).ok_or(())?;
                year = atoi(p)?;
                year += if year >= 69 { 1900 } else { 2000 };
                value = &value[2..];
            }
            Std::LongYear => {
                let p = value.get(..4).ok_or(())?;
                if !p.as_bytes()[0].is_ascii_digit() {
                    return Err(());
                }
                year = atoi(p)?;
                value = &value[4..];
            }
            Std::Month | Std::LongMonth => {
                let (i, rest) = lookup(&LONG_MONTHS, value, std == Std::Month)?;
                month = i as i64 + 1;
                value = rest;
            }
            Std::NumMonth | Std::ZeroMonth => {
                (month, value) = getnum(value, std == Std::ZeroMonth)?;
                if !(1..=12).contains(&month) {
                    return Err(());
                }
            }
            Std::WeekDay | Std::LongWeekDay => {
                value = lookup(&LONG_DAYS, value, std == Std::WeekDay)?.1
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay {
                    value = value.strip_prefix(' ').unwrap_or(value);
                }
                (day, value) = getnum(value, std == Std::ZeroDay)?;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay {
                        value = value.strip_prefix(' ').unwrap_or(value);
                    }
                }
                (yday, value) = getnum3(value, std == Std::ZeroYearDay)?;
            }
            Std::Hour => {
                (hour, value) = getnum(value, false)?;
                if hour >= 24 {
                    return Err(());
                }
            }
            Std::Hour12 | Std::ZeroHour12 => {
                (hour, value) = getnum(value, std == Std::ZeroHour12)?;
                if hour > 12 {
                    return Err(());
                }
            }
            Std::Minute | Std::ZeroMinute => {
                (min, value) = getnum(value, std == Std::ZeroMinute)?;
                if min >= 60 {
                    return Err(());
                }
            }
            Std::Second | Std::ZeroSecond => {
                (sec, value) = getnum(value, std == Std::ZeroSecond)?;
                if sec >= 60 {
                    return Err(());
                }
                let vb = value.as_bytes();
                if vb.len() >= 2 && matches!(vb[0], b'.' | b',') && vb[1].is_ascii_digit() {
                    let next_is_frac = matches!(next_std_chunk(layout).1, Some(Std::Frac { .. }));
                    if !next_is_frac {
                        let n = 1 + vb[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nsec = parse_nanos(&value[..n])?;
                        value = &value[n..];
                    }
                }
            }
            Std::PM(upper) => {
                let p = value.get(..2).ok_or(())?;
                let (pm_s, am_s) = if upper { ("PM", "AM") } else { ("pm", "am") };
                if p == pm_s {
                    pm = true;
                } else if p == am_s {
                    am = true;
                } else {
                    return Err(());
                }
                value = &value[2..];
            }
            Std::NumTz {
                iso,
                colon,
                secs,
                short,
            } => {
                if iso && value.starts_with('Z') {
                    value = &value[1..];
                    utc = true;
                    continue;
                }
                let vb = value.as_bytes();
                let need = if short {
                    3
                } else if colon && secs {
                    9
                } else if colon {
                    6
                } else if secs {
                    7
                } else {
                    5
                };
                if vb.len() < need {
                    return Err(());
                }
                let part = |a: usize, b: usize| value.get(a..b).ok_or(());
                let (hh, mm, ss) = if short {
                    (part(1, 3)?, "00", "00")
                } else if colon {
                    if vb[3] != b':' || secs && vb[6] != b':' {
                        return Err(());
                    }
                    (
                        part(1, 3)?,
                        part(4, 6)?,
                        if secs { part(7, 9)? } else { "00" },
                    )
                } else {
                    (
                        part(1, 3)?,
                        part(3, 5)?,
                        if secs { part(5, 7)? } else { "00" },
                    )
                };
                let (h, m, s) = (
                    getnum(hh, true)?.0,
                    getnum(mm, true)?.0,
                    getnum(ss, true)?.0,
                );
                if h > 24 || m > 60 || s > 60 {
                    return Err(());
                }
                let off = (h * 60 + m) * 60 + s;
                zone_offset = Some(match vb[0] {
                    b'+' => off,
                    b'-' => -off,
                    _ => return Err(()),
                });
                value = value.get(need..).ok_or(())?;
            }
            Std::Tz => {
                if let Some(rest) = value.strip_prefix("UTC") {
                    utc = true;
                    value = rest;
                } else {
                    let n = value
                        .bytes()
                        .take(6)
                        .take_while(|c| c.is_ascii_uppercase())
                        .count();
                    let ok = match n {
                        3 => true,
                        4 => value.as_bytes()[3] == b'T',
                        5 => value.as_bytes()[4] == b'T',
                        _ => false,
                    };
                    if !ok {
                        return Err(());
                    }
                    zone_name = value[..n].to_string();
                    value = &value[n..];
                }
            }
            Std::Frac { digits, nines, .. } => {
                if nines {
                    let vb = value.as_bytes();
                    if vb.len() < 2 || !matches!(vb[0], b'.' | b',') || !vb[1].is_ascii_digit() {
                        continue;
                    }
                    let n = 1 + vb[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nsec = parse_nanos(&value[..n])?;
                    value = &value[n..];
                } else {
                    let n = 1 + digits;
                    let p = value.get(..n).ok_or(())?;
                    nsec = parse_nanos(p)?;
                    value = &value[n..];
                }
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let leap = days_in(2, year) == 29;
        if yday < 1 || yday > if leap { 366 } else { 365 } {
            return Err(());
        }
        let mut m = 1u32;
        let mut d = yday;
        while d > days_in(m, year) as i64 {
            d -= days_in(m, year) as i64;
            m += 1;
        }
        if month >= 0 && month != m as i64 || day >= 0 && day != d {
            return Err(());
        }
        month = m as i64;
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month as u32, year) as i64 {
        return Err(());
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let local = days * 86_400 + hour * 3600 + min * 60 + sec;
    let nsec = nsec as u32;
    if utc {
        return Ok(GoTime {
            secs: local,
            nsec,
            offset: 0,
            zone: Zone::Utc,
        });
    }
    if let Some(off) = zone_offset {
        let secs = local - off;
        if off == 0 && zone_name.is_empty() {
            return Ok(GoTime {
                secs,
                nsec,
                offset: 0,
                zone: Zone::Utc,
            });
        }
        return Ok(GoTime {
            secs,
            nsec,
            offset: off as i32,
            zone: Zone::Fixed(zone_name),
        });
    }
    if !zone_name.is_empty() {
        return Ok(GoTime {
            secs: local,
            nsec,
            offset: 0,
            zone: Zone::Fixed(zone_name),
        });
    }
    Ok(GoTime {
        secs: local,
        nsec,
        offset: 0,
        zone: Zone::Utc,
    })
}

fn skip<'v>(mut value: &'v str, mut prefix: &str) -> Result<&'v str, ()> {
    while let Some(p) = prefix.chars().next() {
        if p == ' ' {
            if value.chars().next().is_some_and(|c| c != ' ') {
                return Err(());
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        match value.strip_prefix(p) {
            Some(rest) => value = rest,
            None => return Err(()),
        }
        prefix = &prefix[p.len_utf8()..];
    }
    Ok(value)
}

fn atoi(s: &str) -> Result<i64, ()> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    let v: i64 = digits.parse().map_err(|_| ())?;
    Ok(if neg { -v } else { v })
}

fn getnum(s: &str, fixed: bool) -> Result<(i64, &str), ()> {
    let b = s.as_bytes();
    if !b.first().is_some_and(|c| c.is_ascii_digit()) {
        return Err(());
    }
    if !b.get(1).is_some_and(|c| c.is_ascii_digit()) {
        if fixed {
            return Err(());
        }
        return Ok(((b[0] - b'0') as i64, &s[1..]));
    }
    Ok((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, &s[2..]))
}

fn getnum3(s: &str, fixed: bool) -> Result<(i64, &str), ()> {
    let n = s.bytes().take(3).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || fixed && n != 3 {
        return Err(());
    }
    Ok((s[..n].parse().map_err(|_| ())?, &s[n..]))
}

fn lookup<'v>(names: &[&str], value: &'v str, short: bool) -> Result<(usize, &'v str), ()> {
    for (i, name) in names.iter().enumerate() {
        let name = if short { &name[..3] } else { name };
        if let Some(head) = value.get(..name.len()) {
            if head.eq_ignore_ascii_case(name) {
                return Ok((i, &value[name.len()..]));
            }
        }
    }
    Err(())
}

/// `.123` → nanoseconds (at most 9 digits are significant).
fn parse_nanos(s: &str) -> Result<i64, ()> {
    let digits = &s[1..s.len().min(10)];
    let mut ns = atoi(digits)?;
    for _ in digits.len()..9 {
        ns *= 10;
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_matches_go() {
        let t = GoTime::from_unix_nanos(1_704_067_200_123_456_789);
        assert_eq!(t.to_string(), "2024-01-01 00:00:00.123456789 +0000 UTC");
        assert_eq!(
            GoTime::from_unix_nanos(0).to_string(),
            "1970-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(GoTime::zero().to_string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn layouts_format() {
        let t = GoTime::from_unix(1_700_000_000, 5_000_000); // 2023-11-14 22:13:20.005 UTC, a Tuesday
        assert_eq!(
            t.format("2006-01-02T15:04:05.000Z07:00"),
            "2023-11-14T22:13:20.005Z"
        );
        assert_eq!(
            t.format("Mon Jan _2 3:04PM .999 MST"),
            "Tue Nov 14 10:13PM .005 UTC"
        );
        assert_eq!(
            t.format("Monday, 02-January-06 002"),
            "Tuesday, 14-November-23 318"
        );
        assert_eq!(t.format("-07:00 -0700"), "+00:00 +0000");
    }

    #[test]
    fn layouts_parse() {
        let t = parse("2006-01-02", "2021-11-02").unwrap();
        assert_eq!(t.secs, days_from_civil(2021, 11, 2) * 86_400);
        let t = parse(
            "2006-01-02T15:04:05.999999999Z07:00",
            "2024-01-01T01:55:57.792+02:00",
        )
        .unwrap();
        assert_eq!(t.offset, 7200);
        assert_eq!(t.nsec, 792_000_000);
        assert_eq!(t.to_string(), "2024-01-01 01:55:57.792 +0200 +0200");
        assert_eq!(t.utc().format("15:04"), "23:55");
        // Fractional seconds in the input without a layout element.
        assert_eq!(parse("15:04:05", "10:11:12.5").unwrap().nsec, 500_000_000);
        assert!(parse("2006-01-02", "2021-02-30").is_err());
        assert!(parse("2006-01-02", "2021-11-02x").is_err());
        assert!(parse("Jan 2", "Foo 2").is_err());
        assert!(parse("2006年01", "2006年01").is_ok());
        assert!(parse("-07:00", "+0é:00").is_err());
    }
}
