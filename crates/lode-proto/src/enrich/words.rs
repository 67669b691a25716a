//! Level words standing alone in free text.
//!
//! Loki 3.7 looks, case-insensitively and in this priority order, for
//! `trace`, `debug`, `fatal`, `critical`, `error`/`err`, `warning`/`warn`,
//! `info`, each only where it is delimited on both sides. The compat goldens
//! pin the delimiters: whitespace, brackets, `:`, `=` and quotes delimit
//! (`[INFO]`, `ERROR (Main)`, `err="…"`, `error:`), while `|` and `/` do not
//! (`…|Info|…` and `/System/Info/Public` are `unknown`), nor do letters,
//! digits or `_` (`informers`, `buildinfo`). Beyond those, `{ } < > , ;`
//! are taken as delimiters and every other byte (`.`, `-`, non-ASCII, ...)
//! as part of a word; the goldens do not exercise them.

const WORDS: [(&[u8], u8); 9] = [
    (b"trace", TRACE),
    (b"debug", DEBUG),
    (b"fatal", FATAL),
    (b"critical", CRITICAL),
    (b"error", ERROR),
    (b"err", ERROR),
    (b"warning", WARN),
    (b"warn", WARN),
    (b"info", INFO),
];

// Bits in priority order: the lowest set bit wins.
const TRACE: u8 = 1;
const DEBUG: u8 = 2;
const FATAL: u8 = 4;
const CRITICAL: u8 = 8;
const ERROR: u8 = 16;
const WARN: u8 = 32;
const INFO: u8 = 64;

pub(super) fn level_from_words(line: &str) -> &'static str {
    let found = if needs_unicode_fold(line) {
        scan(&fold(line))
    } else {
        scan(line.as_bytes())
    };
    match found & found.wrapping_neg() {
        TRACE => "trace",
        DEBUG => "debug",
        FATAL => "fatal",
        CRITICAL => "critical",
        ERROR => "error",
        WARN => "warn",
        INFO => "info",
        _ => "unknown",
    }
}

/// One pass: at every delimited word start whose first letter can begin a
/// level word, test the candidates. One table lookup a byte: the class of
/// the byte before decides whether this one starts a word.
fn scan(b: &[u8]) -> u8 {
    let mut found = 0u8;
    let mut after_delimiter = true;
    for (i, &c) in b.iter().enumerate() {
        let class = CLASS[c as usize];
        if after_delimiter && class & START != 0 {
            let lower = c | 0x20;
            for (word, bit) in WORDS {
                if word[0] == lower
                    && b.len() >= i + word.len()
                    && b[i..i + word.len()].eq_ignore_ascii_case(word)
                    && b.get(i + word.len()).is_none_or(|&n| is_delimiter(n))
                {
                    found |= bit;
                }
            }
        }
        after_delimiter = class & DELIMITER != 0;
    }
    found
}

const DELIMITER: u8 = 1;
const START: u8 = 2;

/// Per byte: whether it delimits a word, whether it can begin a level word.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if is_delimiter(b) {
            t[c] |= DELIMITER;
        }
        c += 1;
    }
    // A level word's first letter, in either case.
    let mut w = 0;
    while w < WORDS.len() {
        let first = WORDS[w].0[0];
        t[first as usize] |= START;
        t[first.to_ascii_uppercase() as usize] |= START;
        w += 1;
    }
    t
};

const fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | 0x0b
            | 0x0c
            | b'['
            | b']'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b'<'
            | b'>'
            | b':'
            | b'='
            | b'"'
            | b'\''
            | b','
            | b';'
    )
}

/// Go's `strings.ToLower` turns two non-ASCII letters into ASCII ones
/// (KELVIN SIGN to `k`, and `İ` to `i`); only those can create a match
/// that ASCII case folding misses. Every other non-ASCII byte is neither a
/// letter of a level word nor a delimiter, so it is left as is.
fn needs_unicode_fold(line: &str) -> bool {
    !line.is_ascii() && line.contains(['\u{212a}', '\u{130}'])
}

fn fold(line: &str) -> Vec<u8> {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        out.push(match c {
            '\u{212a}' => 'k',
            '\u{130}' => 'i',
            c => c,
        });
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::level_from_words as w;

    #[test]
    fn priority_and_case() {
        assert_eq!(w("INFO then ERROR"), "error");
        assert_eq!(w("warn: disk; debug: on"), "debug");
        assert_eq!(w("Critical failure, fatal"), "fatal");
        assert_eq!(w("[Info] x"), "info");
        assert_eq!(w("tRaCe"), "trace");
    }

    #[test]
    fn delimiters() {
        assert_eq!(w("x|Info|y"), "unknown");
        assert_eq!(w("/System/Info/Public"), "unknown");
        assert_eq!(w("informers errors warnings"), "unknown");
        assert_eq!(w("buildinfo"), "unknown");
        assert_eq!(w("x|Error|y HTTP Error - z"), "error");
        assert_eq!(w("err=\"boom\""), "error");
        assert_eq!(w("status:warning"), "warn");
        assert_eq!(w("snake_error"), "unknown");
        assert_eq!(w("ERROR"), "error");
    }

    #[test]
    fn unicode_folds_like_go() {
        assert_eq!(w("\u{130}NFO ready"), "info");
        assert_eq!(w("Störung ℹ️ INFO"), "info");
        assert_eq!(w("éinfo"), "unknown");
    }

    /// The definition, word by word: split at delimiters, look each word up.
    fn by_words(b: &[u8]) -> u8 {
        b.split(|&c| super::is_delimiter(c))
            .filter_map(|w| {
                super::WORDS
                    .iter()
                    .find(|(word, _)| w.eq_ignore_ascii_case(word))
                    .map(|(_, bit)| *bit)
            })
            .fold(0, |a, b| a | b)
    }

    proptest::proptest! {
        #[test]
        fn prop_scan_finds_exactly_the_delimited_words(
            parts in proptest::collection::vec(
                "(?i)(err|error|warn|warning|info|debug|trace|fatal|critical|inform|x)|[ :=\\[\\]\"|/_.-]",
                0..24,
            )
        ) {
            let line = parts.concat();
            proptest::prop_assert_eq!(super::scan(line.as_bytes()), by_words(line.as_bytes()));
        }
    }
}
