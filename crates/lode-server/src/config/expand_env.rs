//! `-config.expand-env=true`: environment variables in a config file, as
//! Loki expands them before parsing the YAML (`${VAR}`, `$VAR`,
//! `${VAR:-default}` when unset or empty, `${VAR:?message}` to refuse to
//! start when unset). An unset variable without a default becomes "".

/// Expands references in `text`; `env` looks a variable up.
pub fn expand_env(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                // No closing brace: not a reference, keep it as written.
                out.push('$');
                rest = after;
                continue;
            };
            out.push_str(&braced(&body[..end], &env)?);
            rest = &body[end + 1..];
            continue;
        }
        let name_len = after
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(after.len(), |(i, _)| i);
        if name_len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&env(&after[..name_len]).unwrap_or_default());
        rest = &after[name_len..];
    }
    out.push_str(rest);
    Ok(out)
}

fn braced(inner: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    if let Some((name, default)) = inner.split_once(":-") {
        return Ok(env(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string()));
    }
    if let Some((name, message)) = inner.split_once(":?") {
        return env(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("environment variable {name} (in the config file): {message}"));
    }
    Ok(env(inner).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "PORT" => Some("3101".into()),
            "EMPTY" => Some(String::new()),
            "S3_KEY" => Some("abc$def".into()),
            _ => None,
        }
    }

    #[test]
    fn loki_forms() {
        let x = |s: &str| expand_env(s, env).unwrap();
        assert_eq!(x("port: ${PORT}"), "port: 3101");
        assert_eq!(x("port: $PORT\n"), "port: 3101\n");
        assert_eq!(x("port: ${MISSING:-3100}"), "port: 3100");
        assert_eq!(x("port: ${EMPTY:-3100}"), "port: 3100");
        assert_eq!(x("port: ${PORT:-3100}"), "port: 3101");
        assert_eq!(x("a: ${MISSING}b"), "a: b");
        // Values are not expanded again.
        assert_eq!(x("key: ${S3_KEY}"), "key: abc$def");
        // What is not a reference stays as written.
        assert_eq!(x("re: ^a$"), "re: ^a$");
        assert_eq!(x("re: a$ b ${x"), "re: a$ b ${x");
        assert_eq!(x("cost: $5"), "cost: $5");
        let e = expand_env("k: ${MISSING:?set it}", env).unwrap_err();
        assert!(e.contains("MISSING") && e.contains("set it"), "{e}");
    }
}
