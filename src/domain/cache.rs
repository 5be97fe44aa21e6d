//! The response cache's rules: what identifies an entry, how long it lives,
//! and which upstream answers may be stored.

use super::ValidationError;
use chrono::Duration;
use serde_json::Value;

/// Entries live one hour unless the caller says otherwise.
pub const DEFAULT_TTL: Duration = Duration::hours(1);
pub const MAX_TTL: Duration = Duration::days(30);

/// The canonical encoding of an entry's identity: provider, model and messages
/// as JSON with object keys sorted and no insignificant whitespace, so two
/// requests that differ only in key order or spacing address the same entry.
pub fn canonical_identity(provider: &str, model: &str, messages: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    out.push(b'[');
    write_str(provider, &mut out);
    out.push(b',');
    write_str(model, &mut out);
    out.push(b',');
    write_canonical(messages, &mut out);
    out.push(b']');
    // Only valid UTF-8 was written: JSON text from serde_json and ASCII punctuation.
    String::from_utf8(out).unwrap_or_default()
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// Validates the identifying fields of a cache request.
pub fn check_identity(
    provider: &str,
    model: &str,
    messages: &Value,
) -> Result<(), ValidationError> {
    for (field, value) in [("provider", provider), ("model", model)] {
        if value.trim().is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if value.chars().count() > 200 {
            return Err(ValidationError::new(
                field,
                "must be at most 200 characters",
            ));
        }
    }
    match messages {
        Value::Array(items) if items.iter().any(|m| !m.is_object()) => Err(ValidationError::new(
            "messages",
            "must be an array of message objects",
        )),
        Value::Array(items) if !items.is_empty() => Ok(()),
        Value::Array(_) => Err(ValidationError::new("messages", "must not be empty")),
        _ => Err(ValidationError::new(
            "messages",
            "must be an array of messages",
        )),
    }
}

pub fn parse_ttl(seconds: Option<i64>) -> Result<Duration, ValidationError> {
    match seconds {
        None => Ok(DEFAULT_TTL),
        Some(s) if s >= 1 && s <= MAX_TTL.num_seconds() => Ok(Duration::seconds(s)),
        Some(_) => Err(ValidationError::new(
            "ttl",
            format!("must be between 1 and {} seconds", MAX_TTL.num_seconds()),
        )),
    }
}

/// Only successful upstream answers are cached, so a failure is never replayed.
pub fn check_cacheable_status(status: Option<i64>) -> Result<(), ValidationError> {
    match status {
        None => Ok(()),
        Some(s) if (200..300).contains(&s) => Ok(()),
        Some(s) => Err(ValidationError::new(
            "status",
            format!(
                "upstream status {s} is not a success (2xx); only successful responses are cached"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_identity() {
        let a: Value = serde_json::from_str(r#"[{"role":"user","content":"hi"}]"#).unwrap();
        let b: Value =
            serde_json::from_str("[ {\"content\" : \"hi\",\n \"role\":\"user\"} ]").unwrap();
        assert_eq!(
            canonical_identity("openai", "gpt", &a),
            canonical_identity("openai", "gpt", &b)
        );
    }

    #[test]
    fn provider_model_and_content_all_matter() {
        let m = json!([{"role": "user", "content": "hi"}]);
        let base = canonical_identity("openai", "gpt", &m);
        assert_ne!(base, canonical_identity("anthropic", "gpt", &m));
        assert_ne!(base, canonical_identity("openai", "gpt2", &m));
        assert_ne!(
            base,
            canonical_identity(
                "openai",
                "gpt",
                &json!([{"role": "user", "content": "hi!"}])
            )
        );
        // No ambiguity from concatenation.
        assert_ne!(
            canonical_identity("ab", "c", &m),
            canonical_identity("a", "bc", &m)
        );
    }

    #[test]
    fn only_2xx_statuses_are_cacheable() {
        assert!(check_cacheable_status(None).is_ok());
        assert!(check_cacheable_status(Some(200)).is_ok());
        assert!(check_cacheable_status(Some(429)).is_err());
        assert!(check_cacheable_status(Some(500)).is_err());
    }
}
