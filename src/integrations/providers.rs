//! Service adapters for the AI providers whose keys the vault holds. Each
//! adapter says, without doing any I/O, how to check a key with its provider
//! (the cheapest authenticated call), whether and how the provider can mint
//! keys, and how it charges; one HTTP executor runs those requests with a
//! timeout. Base URLs come from `KEYWARD_PROVIDER_<SERVICE>_URL`, defaulting
//! to each provider's real API.

use crate::domain::pricing::{units_of, CostService, PriceUnit};
use crate::domain::secret::{Service, Validation};
use std::collections::HashMap;
use std::time::Duration;

/// An HTTP request an adapter wants made.
#[derive(Clone)]
pub struct ProviderRequest {
    pub method: reqwest::Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
}
crate::debug_without_secrets!(ProviderRequest { method, path });

/// One provider's rules.
pub trait ProviderAdapter: Send + Sync {
    fn service(&self) -> Service;
    fn default_base_url(&self) -> &'static str;
    /// The cheapest authenticated call that tells a valid key from an invalid one.
    fn validation_request(&self, key: &str) -> ProviderRequest;
    /// The call that mints a key for `tenant` with admin credentials, when
    /// the provider has a management API.
    fn provision_request(&self, _admin_key: &str, _tenant: &str) -> Option<ProviderRequest> {
        None
    }
    /// Whether the provider can mint keys.
    fn can_provision(&self) -> bool {
        self.provision_request("", "").is_some()
    }
    /// The new key in a successful provisioning answer.
    fn provisioned_key(&self, _body: &serde_json::Value) -> Option<String> {
        None
    }
    /// The provider's id of the new key in a provisioning answer, which
    /// `revoke_request` names it by.
    fn provisioned_key_id(&self, _body: &serde_json::Value) -> Option<String> {
        None
    }
    /// The call that revokes a key keyward minted (by the provider's id for
    /// it) with admin credentials, when the provider has one.
    fn revoke_request(&self, _admin_key: &str, _key_id: &str) -> Option<ProviderRequest> {
        None
    }
    /// The units its cost model charges by (prices live in the store).
    fn cost_units(&self) -> &'static [PriceUnit] {
        units_of(CostService::Provider(self.service()))
    }
}

fn get(path: &str, headers: Vec<(&'static str, String)>) -> ProviderRequest {
    ProviderRequest {
        method: reqwest::Method::GET,
        path: path.into(),
        headers,
        body: None,
    }
}

struct OpenAi;
impl ProviderAdapter for OpenAi {
    fn service(&self) -> Service {
        Service::OpenAi
    }
    fn default_base_url(&self) -> &'static str {
        "https://api.openai.com"
    }
    fn validation_request(&self, key: &str) -> ProviderRequest {
        get(
            "/v1/models",
            vec![("authorization", format!("Bearer {key}"))],
        )
    }
}

struct Anthropic;
impl ProviderAdapter for Anthropic {
    fn service(&self) -> Service {
        Service::Anthropic
    }
    fn default_base_url(&self) -> &'static str {
        "https://api.anthropic.com"
    }
    fn validation_request(&self, key: &str) -> ProviderRequest {
        get(
            "/v1/models",
            vec![
                ("x-api-key", key.to_string()),
                ("anthropic-version", "2023-06-01".into()),
            ],
        )
    }
}

struct Hume;
impl ProviderAdapter for Hume {
    fn service(&self) -> Service {
        Service::Hume
    }
    fn default_base_url(&self) -> &'static str {
        "https://api.hume.ai"
    }
    fn validation_request(&self, key: &str) -> ProviderRequest {
        get(
            "/v0/evi/configs?page_size=1",
            vec![("x-hume-api-key", key.to_string())],
        )
    }
    fn provision_request(&self, admin_key: &str, tenant: &str) -> Option<ProviderRequest> {
        Some(ProviderRequest {
            method: reqwest::Method::POST,
            path: "/v0/api-keys".into(),
            headers: vec![("x-hume-api-key", admin_key.to_string())],
            body: Some(serde_json::json!({"name": format!("keyward-{tenant}")})),
        })
    }
    fn provisioned_key(&self, body: &serde_json::Value) -> Option<String> {
        body.get("api_key")
            .or_else(|| body.get("key"))
            .and_then(|k| k.as_str())
            .map(str::to_string)
    }
    fn provisioned_key_id(&self, body: &serde_json::Value) -> Option<String> {
        body.get("id")
            .and_then(|k| k.as_str())
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= 128
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(str::to_string)
    }
    fn revoke_request(&self, admin_key: &str, key_id: &str) -> Option<ProviderRequest> {
        Some(ProviderRequest {
            method: reqwest::Method::DELETE,
            path: format!("/v0/api-keys/{key_id}"),
            headers: vec![("x-hume-api-key", admin_key.to_string())],
            body: None,
        })
    }
}

struct ElevenLabs;
impl ProviderAdapter for ElevenLabs {
    fn service(&self) -> Service {
        Service::ElevenLabs
    }
    fn default_base_url(&self) -> &'static str {
        "https://api.elevenlabs.io"
    }
    fn validation_request(&self, key: &str) -> ProviderRequest {
        get("/v1/user", vec![("xi-api-key", key.to_string())])
    }
}

struct Deepgram;
impl ProviderAdapter for Deepgram {
    fn service(&self) -> Service {
        Service::Deepgram
    }
    fn default_base_url(&self) -> &'static str {
        "https://api.deepgram.com"
    }
    fn validation_request(&self, key: &str) -> ProviderRequest {
        get(
            "/v1/projects",
            vec![("authorization", format!("Token {key}"))],
        )
    }
}

/// Why provisioning a key at a provider did not work.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0} has no key management API keyward can use")]
    Unsupported(Service),
    #[error("{0} refused the admin credentials")]
    Refused(Service),
    #[error("{0} did not answer usably: {1}")]
    Unavailable(Service, String),
}

/// A key minted at a provider, with the provider's id for it when given.
pub struct Minted {
    pub key: zeroize::Zeroizing<String>,
    pub provider_key_id: Option<String>,
}

/// Every adapter with its base URL, and the HTTP client that runs them.
pub struct Providers {
    adapters: HashMap<Service, (Box<dyn ProviderAdapter>, String)>,
    client: reqwest::Client,
}

impl Providers {
    /// Base URLs from `base_urls` (by service) or each provider's default.
    pub fn new(base_urls: &HashMap<Service, String>, timeout: Duration) -> Self {
        let all: [Box<dyn ProviderAdapter>; 5] = [
            Box::new(OpenAi),
            Box::new(Anthropic),
            Box::new(Hume),
            Box::new(ElevenLabs),
            Box::new(Deepgram),
        ];
        let adapters = all
            .into_iter()
            .map(|a| {
                let url = base_urls
                    .get(&a.service())
                    .cloned()
                    .unwrap_or_else(|| a.default_base_url().to_string());
                (a.service(), (a, url.trim_end_matches('/').to_string()))
            })
            .collect();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("the HTTP client builds");
        Self { adapters, client }
    }

    pub fn adapter(&self, service: Service) -> &dyn ProviderAdapter {
        self.adapters[&service].0.as_ref()
    }

    async fn send(
        &self,
        service: Service,
        req: ProviderRequest,
    ) -> Result<(reqwest::StatusCode, serde_json::Value), String> {
        let base = &self.adapters[&service].1;
        let mut builder = self
            .client
            .request(req.method, format!("{base}{}", req.path));
        for (name, value) in req.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = req.body {
            builder = builder.json(&body);
        }
        // The error text of reqwest names the URL, never the headers.
        let res = builder.send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                "could not be reached".to_string()
            }
        })?;
        let status = res.status();
        let body = res.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    /// Checks a key with its provider.
    pub async fn validate(&self, service: Service, key: &str) -> Validation {
        let req = self.adapter(service).validation_request(key);
        match self.send(service, req).await {
            Ok((status, _)) if status.is_success() => Validation::Valid,
            Ok((status, _)) if status == 401 || status == 403 => Validation::Invalid,
            Ok((status, _)) => {
                tracing::warn!(%service, %status, "provider answered a key check unexpectedly");
                Validation::Unavailable
            }
            Err(e) => {
                tracing::warn!(%service, error = %e, "provider key check failed");
                Validation::Unavailable
            }
        }
    }

    /// Revokes at the provider a key keyward minted, by the provider's id.
    pub async fn revoke(
        &self,
        service: Service,
        admin_key: &str,
        key_id: &str,
    ) -> Result<(), ProvisionError> {
        let req = self
            .adapter(service)
            .revoke_request(admin_key, key_id)
            .ok_or(ProvisionError::Unsupported(service))?;
        let (status, _) = self
            .send(service, req)
            .await
            .map_err(|e| ProvisionError::Unavailable(service, e))?;
        match status.as_u16() {
            401 | 403 => Err(ProvisionError::Refused(service)),
            // Already gone at the provider: what a revocation wants.
            404 | 410 => Ok(()),
            _ if status.is_success() => Ok(()),
            _ => Err(ProvisionError::Unavailable(
                service,
                format!("status {status}"),
            )),
        }
    }

    /// Mints a key for `tenant` with admin credentials.
    pub async fn provision(
        &self,
        service: Service,
        admin_key: &str,
        tenant: &str,
    ) -> Result<Minted, ProvisionError> {
        let adapter = self.adapter(service);
        let req = adapter
            .provision_request(admin_key, tenant)
            .ok_or(ProvisionError::Unsupported(service))?;
        let (status, body) = self
            .send(service, req)
            .await
            .map_err(|e| ProvisionError::Unavailable(service, e))?;
        if status == 401 || status == 403 {
            return Err(ProvisionError::Refused(service));
        }
        if !status.is_success() {
            return Err(ProvisionError::Unavailable(
                service,
                format!("status {status}"),
            ));
        }
        let key = adapter
            .provisioned_key(&body)
            .ok_or_else(|| ProvisionError::Unavailable(service, "the answer held no key".into()))?;
        Ok(Minted {
            key: zeroize::Zeroizing::new(key),
            provider_key_id: adapter.provisioned_key_id(&body),
        })
    }
}
