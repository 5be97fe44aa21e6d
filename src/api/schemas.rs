//! OpenAPI schemas of the domain's identifiers and vocabularies, with the
//! exact patterns and values their parsers accept (`domain::ids`,
//! `domain::plan`), so a client generated from the document sends only what
//! the server takes. Fields and parameters that carry one of them say so with
//! `value_type = ...` / `params(("id" = TenantId, Path))`.

use crate::domain::api_key::{SecretState, VerifyCode};
use crate::domain::ids::{Integration, KeyId, NamespaceName, ProjectId, TenantId};
use crate::domain::plan::Plan;
use crate::domain::pricing::{CostService, PriceUnit};
use crate::domain::secret::{SecretKind, Service};
use std::borrow::Cow;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

fn text(pattern: &str, max: usize, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(1))
        .max_length(Some(max))
        .description(Some(description))
        .into()
}

macro_rules! schema {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

/// Letters, digits, `_` and `-` (the parsers' `check_slug`).
const SLUG: &str = "^[a-zA-Z0-9_-]+$";

schema!(
    TenantId,
    "TenantId",
    text(SLUG, TenantId::MAX_LEN, "A tenant (customer) id")
);
schema!(
    NamespaceName,
    "NamespaceName",
    text(SLUG, NamespaceName::MAX_LEN, "A cache namespace")
);
schema!(
    ProjectId,
    "ProjectId",
    text(
        SLUG,
        ProjectId::MAX_LEN,
        "The platform project a key is for"
    )
);
schema!(
    Integration,
    "Integration",
    text(
        "^[a-z0-9_-]+$",
        Integration::MAX_LEN,
        "The integration a key is for (part of the key itself)"
    )
);
schema!(
    KeyId,
    "KeyId",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^key_[0-9a-f]{32}$"))
        .description(Some("The stable id of an API key"))
        .into()
);
schema!(
    Plan,
    "Plan",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Plan::ALL.map(Plan::as_str)))
        .into()
);

fn one_of(values: impl IntoIterator<Item = &'static str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

/// Characters `char::is_control` refuses (Unicode category Cc).
const NO_CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

/// Documentation-only types: what a text field accepts.
pub struct DisplayName;
pub struct FreeText;
pub struct BillingMonth;
pub struct Tier;

schema!(
    DisplayName,
    "DisplayName",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            r"^[^{NO_CONTROL}]*[^\s{NO_CONTROL}][^{NO_CONTROL}]*$"
        )))
        .min_length(Some(1))
        .max_length(Some(200))
        .description(Some("A name: not blank, no control characters"))
        .into()
);
schema!(
    FreeText,
    "FreeText",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"))
        .max_length(Some(500))
        .description(Some("Free text: no control characters but newlines"))
        .into()
);
schema!(
    BillingMonth,
    "BillingMonth",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9]{4}-(0[1-9]|1[0-2])$"))
        .description(Some("A billing month, `YYYY-MM`"))
        .into()
);
schema!(
    Tier,
    "Tier",
    one_of(
        Plan::ALL.into_iter().flat_map(|p| [p.as_str(), managed(p)]),
        "A plan, or the seed design's `managed-<plan>` (the platform's pooled key of that plan)"
    )
);

fn managed(plan: Plan) -> &'static str {
    match plan {
        Plan::Free => "managed-free",
        Plan::Pro => "managed-pro",
        Plan::Enterprise => "managed-enterprise",
    }
}

schema!(
    Service,
    "Service",
    one_of(Service::ALL.map(Service::as_str), "An AI provider")
);
schema!(
    CostService,
    "CostService",
    one_of(
        CostService::ALL.map(CostService::as_str),
        "An AI provider, or `keyward` (the response cache's own requests)"
    )
);
schema!(
    PriceUnit,
    "PriceUnit",
    one_of(
        [
            PriceUnit::TokenIn,
            PriceUnit::TokenOut,
            PriceUnit::Character,
            PriceUnit::Second,
            PriceUnit::Minute,
            PriceUnit::Request,
        ]
        .map(PriceUnit::as_str),
        "The unit a price is per"
    )
);
schema!(
    SecretKind,
    "SecretKind",
    one_of(
        [
            SecretKind::Managed,
            SecretKind::Customer,
            SecretKind::Admin,
            SecretKind::Pooled,
        ]
        .map(SecretKind::as_str),
        "Whose key a secret is"
    )
);

pub struct KeyPermission;
pub struct OperatorPermission;
pub struct TenantScopeText;
pub struct NamespaceScope;
pub struct TenantStatusName;
pub struct InvoiceStatusName;
pub struct BillingModeName;

schema!(
    KeyPermission,
    "KeyPermission",
    one_of(
        ["secrets:read"],
        "A right beyond the data plane: `secrets:read` reads the key's own tenant's provider secrets"
    )
);
schema!(
    OperatorPermission,
    "OperatorPermission",
    one_of(
        crate::domain::access::Permission::ALL.map(crate::domain::access::Permission::as_str),
        "A management permission; each operation's security requirement names the one it needs"
    )
);
schema!(
    TenantScopeText,
    "TenantScope",
    text(
        r"^[a-zA-Z0-9_-]+\*?$",
        TenantId::MAX_LEN + 1,
        "One tenant id, or a non-empty id prefix followed by `*`"
    )
);
schema!(
    NamespaceScope,
    "NamespaceScope",
    text(
        r"^[a-zA-Z0-9_-]+\*?$",
        NamespaceName::MAX_LEN,
        "A namespace name, or a non-empty prefix followed by `*`"
    )
);
schema!(
    TenantStatusName,
    "TenantStatus",
    one_of(["active", "suspended"], "A tenant's status")
);
schema!(
    BillingModeName,
    "BillingMode",
    one_of(
        ["cost_plus", "plan_pricing"],
        "How a plan's tenants are invoiced: each service at cost plus the SG&A and compliance lines, or the plan's subscription plus usage at its rate"
    )
);
schema!(
    InvoiceStatusName,
    "InvoiceStatus",
    one_of(["draft", "sent", "paid"], "An invoice's status")
);

/// One message of a cached conversation.
pub struct Message;

schema!(
    Message,
    "Message",
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some(
            "One message: any JSON object (commonly `role` and `content`), part of the \
             entry's identity as given"
        ))
        .into()
);

/// A provider key as stored: printable ASCII without spaces, 8 to 4096 long
/// (`domain::secret::check_secret_value`).
pub struct SecretValue;
/// An RFC 3339 timestamp, e.g. `2026-11-05T10:00:00Z`.
pub struct Timestamp;
/// A calendar day, `YYYY-MM-DD`.
pub struct Day;
/// A calendar day the analytics can count, `YYYY-MM-DD` in the years 2000 to 9999.
pub struct AnalyticsDay;

schema!(
    SecretValue,
    "SecretValue",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[!-~]+$"))
        .min_length(Some(8))
        .max_length(Some(4096))
        .description(Some("A provider key: printable ASCII without spaces"))
        .into()
);

const DAY: &str = "(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])";

schema!(
    Timestamp,
    "Timestamp",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime
        )))
        .pattern(Some(format!(
            r"^[1-9][0-9]{{3}}-{DAY}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{{1,9}})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])$"
        )))
        .description(Some("An RFC 3339 timestamp, e.g. 2026-11-05T10:00:00Z"))
        .into()
);
schema!(
    Day,
    "Day",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date
        )))
        .pattern(Some(format!("^[0-9]{{4}}-{DAY}$")))
        .into()
);
schema!(
    AnalyticsDay,
    "AnalyticsDay",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date
        )))
        .pattern(Some(format!("^[2-9][0-9]{{3}}-{DAY}$")))
        .description(Some("A day in the years 2000 to 9999"))
        .into()
);

/// Text labels of usage events: 1 to N characters, no control characters
/// (`domain::cost::check_label`).
pub struct Label64;
pub struct Label128;
pub struct Label200;

fn label(max: usize) -> RefOr<Schema> {
    text(
        &format!("^[^{NO_CONTROL}]+$"),
        max,
        "A label: no control characters",
    )
}

schema!(Label64, "Label64", label(64));
schema!(Label128, "Label128", label(128));
schema!(Label200, "Label200", label(200));

/// A payment amount: a positive decimal string with at most two places, or a
/// positive whole number (`domain::invoice::parse_amount_cents`).
pub struct Amount;

schema!(
    Amount,
    "Amount",
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^(?=.*[1-9])[0-9]{1,15}(\.[0-9]{0,2})?$"))
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(999_999_999_999_999_i64))
        )
        .description(Some(
            "A positive amount: a decimal string with at most two places, or a whole number"
        ))
        .into()
);

schema!(
    VerifyCode,
    "VerifyCode",
    one_of(
        [
            "VALID",
            "NOT_FOUND",
            "DISABLED",
            "REVOKED",
            "EXPIRED",
            "FORBIDDEN_NAMESPACE",
            "MALFORMED",
        ],
        "The outcome of presenting a key"
    )
);
schema!(
    SecretState,
    "SecretState",
    one_of(
        ["current", "grace", "retired"],
        "Where a secret version stands: the newest, accepted until its grace end, or no longer accepted"
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented values are exactly the wire names serde gives.
    #[test]
    fn enum_schemas_list_the_wire_names() {
        fn values<T: ToSchema>() -> Vec<serde_json::Value> {
            let schema = serde_json::to_value(T::schema()).unwrap();
            schema["enum"].as_array().unwrap().clone()
        }
        use crate::domain::api_key::{SecretState as S, VerifyCode as V};
        let codes = [
            V::Valid,
            V::NotFound,
            V::Disabled,
            V::Revoked,
            V::Expired,
            V::ForbiddenNamespace,
            V::Malformed,
        ];
        let wire: Vec<_> = codes
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        assert_eq!(values::<VerifyCode>(), wire);
        let wire: Vec<_> = [S::Current, S::Grace, S::Retired]
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        assert_eq!(values::<SecretState>(), wire);
        let wire: Vec<_> = Plan::ALL
            .iter()
            .map(|p| serde_json::to_value(p).unwrap())
            .collect();
        assert_eq!(values::<Plan>(), wire);
    }
}

/// A job's name in a path: lowercase letters, digits and dashes.
pub struct JobName;
schema!(
    JobName,
    "JobName",
    text(
        r"^[a-z0-9-]{1,64}$",
        64,
        "A job's name, e.g. generate-invoices"
    )
);

pub struct TaskName;
schema!(
    TaskName,
    "TaskName",
    one_of(
        crate::domain::schedule::Task::ALL.map(crate::domain::schedule::Task::as_str),
        "What a job does when it runs"
    )
);

pub struct EventTypeName;
schema!(
    EventTypeName,
    "EventTypeName",
    one_of(
        std::iter::once("*").chain(
            crate::domain::events::EventType::ALL.map(crate::domain::events::EventType::as_str)
        ),
        "An event type, or * for every one"
    )
);

pub struct DeliveryStatusName;
schema!(
    DeliveryStatusName,
    "DeliveryStatus",
    one_of(
        ["pending", "delivered", "failed"],
        "Where a webhook delivery stands"
    )
);
