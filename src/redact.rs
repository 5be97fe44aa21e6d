//! `Debug` for types that hold a secret: they never derive it (a stray
//! `{:?}` in a log line would print the secret), they show their other
//! fields and end in `..`.

/// Implements `Debug` for a struct showing only the named fields; the rest
/// (the secrets) print as `..`.
#[macro_export]
macro_rules! debug_without_secrets {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use serde_json::json;

    const SECRET: &str = "sk-PLAINTEXT-never-in-debug-0123456789";

    fn debug_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(v: serde_json::Value) -> String {
        let value: T = serde_json::from_value(v).expect("builds");
        format!("{value:?} {value:#?}")
    }

    #[test]
    fn no_type_holding_a_secret_prints_it() {
        use crate::api;
        let printed = [
            debug_of::<crate::ui::admin::ShownOnce>(
                json!({"key_id": "key_1", "secret": SECRET, "old_valid_until": null}),
            ),
            debug_of::<api::admin_session::SignInForm>(
                json!({"email": "a@example.com", "password": SECRET}),
            ),
            debug_of::<api::admin_session::FirstRunForm>(
                json!({"email": "a@example.com", "password": SECRET, "root_token": SECRET}),
            ),
            debug_of::<api::admin_session::ProviderSecretForm>(json!({
                "csrf_token": SECRET, "tenant_id": "acme", "service": "openai",
                "kind": "managed", "value": SECRET, "validate": null
            })),
            debug_of::<api::provision::ProvisionResponse>(json!({
                "api_key": SECRET, "key_id": "key_1", "tenant_id": "acme", "namespace": "jt_acme",
                "tier": "pro", "rate_limit": 1, "scopes": [], "permissions": [], "display_prefix": "ac_x",
                "version": 1, "created_at": "2026-12-01T00:00:00Z", "expires_at": null
            })),
            debug_of::<api::keys::VerifyBody>(json!({"key": SECRET, "namespace": null})),
            debug_of::<api::keys::RotateResponse>(json!({
                "api_key": SECRET, "key_id": "key_1", "version": 2, "display_prefix": "ac_x",
                "previous_expires_at": "2026-12-01T00:00:00Z"
            })),
            debug_of::<api::secrets::ResolvedKey>(json!({
                "service": "openai", "tenant_id": "acme", "key": SECRET, "source": "customer",
                "name": "n", "version": 1
            })),
            debug_of::<api::secrets::CustomerKeyBody>(json!({"key": SECRET})),
            debug_of::<api::secrets::PutSecretBody>(json!({
                "service": "openai", "kind": "pooled", "tenant_id": null, "tier": "pro",
                "value": SECRET, "validate": false
            })),
        ];
        for p in &printed {
            assert!(!p.contains(SECRET), "a secret in Debug: {p}");
            assert!(p.contains(".."), "{p}");
        }
        let request = crate::integrations::providers::ProviderRequest {
            method: reqwest::Method::GET,
            path: "/v1/models".into(),
            headers: vec![("authorization", format!("Bearer {SECRET}"))],
            body: Some(json!({"key": SECRET})),
        };
        assert!(!format!("{request:?}").contains(SECRET));
        let admin = crate::db::admins::AdminUser {
            email: "a@example.com".into(),
            role: crate::domain::admin::AdminRole::Admin,
            password_hash: SECRET.into(),
            created_at: chrono::Utc::now(),
        };
        assert!(!format!("{admin:?}").contains(SECRET));
    }
}
