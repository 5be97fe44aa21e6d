//! Xero's accounting API (OAuth2 client credentials of a custom
//! connection): which invoices it has, and creating them idempotently.
//! Billing decides what to send; this only speaks Xero.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Xero could not be reached, refused, or answered something unreadable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct XeroUnavailable(pub String);

type Result<T> = std::result::Result<T, XeroUnavailable>;

/// Xero's accounting API, reached through configurable URLs (a local stub in
/// tests). Tokens come from the client-credentials grant of a Xero custom
/// connection; the secret is sent only to the token URL, never logged.
pub struct XeroClient {
    pub api_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The `Xero-tenant-id` header (the organisation), when the connection needs one.
    pub tenant_id: Option<String>,
    http: reqwest::Client,
}

impl XeroClient {
    pub fn new(
        api_url: String,
        token_url: String,
        client_id: String,
        client_secret: SecretString,
        tenant_id: Option<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            api_url: api_url.trim_end_matches('/').to_string(),
            token_url,
            client_id,
            client_secret,
            tenant_id,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
        }
    }

    fn unavailable(message: String) -> XeroUnavailable {
        XeroUnavailable(message)
    }

    async fn token(&self) -> Result<String> {
        let res = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "accounting.transactions"),
            ])
            .send()
            .await
            .map_err(|e| {
                Self::unavailable(format!("Xero token request failed: {}", e.without_url()))
            })?;
        let status = res.status();
        if !status.is_success() {
            return Err(Self::unavailable(format!(
                "Xero refused the client credentials (HTTP {status})"
            )));
        }
        let body: Value = res
            .json()
            .await
            .map_err(|_| Self::unavailable("Xero's token answer is not JSON".into()))?;
        body.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Self::unavailable("Xero's token answer has no access_token".into()))
    }

    /// Of these invoice numbers, those Xero already has (not deleted or
    /// voided), with its id for each.
    pub async fn existing_invoices(&self, numbers: &[&str]) -> Result<BTreeMap<String, String>> {
        let req = self
            .http
            .get(self.invoices_url())
            .query(&[("InvoiceNumbers", numbers.join(","))]);
        let answer = self.call(req, "list invoices").await?;
        Ok(Self::ids(&answer, |i| {
            !matches!(
                i.get("Status").and_then(Value::as_str),
                Some("DELETED" | "VOIDED")
            )
        }))
    }

    /// Creates the invoices in Xero; returns Xero's id for each invoice
    /// number. The `Idempotency-Key` is a digest of the body: the same
    /// invoices sent again are answered by Xero from the first request.
    pub async fn create_invoices(&self, body: &str) -> Result<BTreeMap<String, String>> {
        use sha2::{Digest, Sha256};
        let idempotency_key = hex::encode(Sha256::digest(body.as_bytes()));
        let req = self
            .http
            .post(self.invoices_url())
            .header("Idempotency-Key", idempotency_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let answer = self.call(req, "create the invoices").await?;
        Ok(Self::ids(&answer, |_| true))
    }

    fn invoices_url(&self) -> String {
        format!("{}/api.xro/2.0/Invoices", self.api_url)
    }

    /// Sends an accounting API request with a fresh token and the
    /// organisation header; Xero's JSON answer, or why there is none.
    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        let token = self.token().await?;
        let mut req = req.bearer_auth(token).header("Accept", "application/json");
        if let Some(t) = &self.tenant_id {
            req = req.header("Xero-tenant-id", t);
        }
        let res = req
            .send()
            .await
            .map_err(|e| Self::unavailable(format!("Xero request failed: {}", e.without_url())))?;
        let status = res.status();
        if !status.is_success() {
            return Err(Self::unavailable(format!(
                "Xero refused to {what} (HTTP {status})"
            )));
        }
        res.json()
            .await
            .map_err(|_| Self::unavailable("Xero's answer is not JSON".into()))
    }

    /// Each answered invoice's number and Xero id, of those `keep` accepts.
    fn ids(answer: &Value, keep: impl Fn(&Value) -> bool) -> BTreeMap<String, String> {
        answer
            .get("Invoices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|i| keep(i))
            .filter_map(|i| {
                Some((
                    i.get("InvoiceNumber")?.as_str()?.to_string(),
                    i.get("InvoiceID")?.as_str()?.to_string(),
                ))
            })
            .collect()
    }
}
