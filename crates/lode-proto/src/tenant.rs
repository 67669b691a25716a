//! Tenant (org) id validation with Loki's rules: at most 150 bytes of
//! `[A-Za-z0-9!-_.*'()]`, and not `.` or `..`. The store never uses the raw id
//! as a path, but rejecting what Loki rejects keeps answers identical.

use crate::error::ProtoError;

/// Longest tenant id Loki accepts, in bytes.
pub const MAX_TENANT_LEN: usize = 150;

pub fn validate_tenant(tenant: &str) -> Result<(), ProtoError> {
    if tenant.is_empty() {
        return Err(ProtoError::NoOrgId);
    }
    if let Some(ch) = tenant.chars().find(|&c| !is_tenant_char(c)) {
        return Err(ProtoError::TenantUnsupportedChar {
            tenant: tenant.to_owned(),
            ch,
        });
    }
    if tenant.len() > MAX_TENANT_LEN {
        return Err(ProtoError::TenantTooLong);
    }
    if tenant == "." || tenant == ".." {
        return Err(ProtoError::TenantUnsafe);
    }
    Ok(())
}

fn is_tenant_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loki_charset() {
        for ok in ["fake", "tenant-1", "A_b.c", "x!*'()", &"a".repeat(150)] {
            assert_eq!(validate_tenant(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_with_exact_texts() {
        let cases = [
            (
                "../../etc",
                "tenant ID '../../etc' contains unsupported character '/'",
                400,
            ),
            (
                "a|b",
                "tenant ID 'a|b' contains unsupported character '|'",
                400,
            ),
            (
                "t e",
                "tenant ID 't e' contains unsupported character ' '",
                400,
            ),
            ("é", "tenant ID 'é' contains unsupported character 'é'", 400),
            (".", "tenant ID is '.' or '..'", 400),
            ("..", "tenant ID is '.' or '..'", 400),
            ("", "no org id", 401),
        ];
        for (input, text, status) in cases {
            let e = validate_tenant(input).unwrap_err();
            assert_eq!(e.to_string(), text);
            assert_eq!(e.status(), status);
        }
        let e = validate_tenant(&"a".repeat(151)).unwrap_err();
        assert_eq!(e.to_string(), "tenant ID is too long: max 150 characters");
    }
}
