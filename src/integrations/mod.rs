//! Outbound integrations: the AI providers' APIs (`providers`: validating
//! keys, provisioning managed keys, usage units) and Xero's accounting API
//! (`xero`). They speak the outside world's protocols and know nothing of
//! keyward's services; the vault and billing services call them.

pub mod providers;
pub mod xero;
