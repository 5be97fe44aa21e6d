//! The answers every operation can get before (or around) its handler, added
//! to the OpenAPI document in one place so that it lists every status the
//! server sends: schemathesis (`scripts/check-openapi.sh`) checks that
//! nothing undocumented ever comes back.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

/// Statuses an operation gets from the layers in front of its handler.
fn layer_answers(op: &Operation) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![(
        "408",
        "`REQUEST_TIMEOUT`: the request took longer than the server's request timeout",
    )];
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        out.push((
            "401",
            "`UNAUTHORIZED` (or the key's refusal code): missing or invalid credentials; \
             sent before any body is read",
        ));
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    if params.iter().any(|p| p.parameter_in == ParameterIn::Query) {
        out.push((
            "400",
            "`INVALID_QUERY`: a query parameter that does not parse",
        ));
    }
    if !params.is_empty() {
        out.push((
            "422",
            "`VALIDATION_ERROR`: a parameter outside what the document allows",
        ));
    }
    if op.request_body.is_some() {
        out.extend([
            ("400", "`INVALID_JSON`: the body is not JSON"),
            (
                "413",
                "`PAYLOAD_TOO_LARGE`: the body is larger than allowed (64 KiB on management \
                 calls, the plan's figure on the data plane)",
            ),
            (
                "415",
                "`UNSUPPORTED_MEDIA_TYPE`: the body is not sent as `application/json`",
            ),
            (
                "422",
                "`INVALID_BODY` / `VALIDATION_ERROR`: the body does not match the schema",
            ),
            (
                "503",
                "`SERVER_BUSY`: the server's memory budget for request bodies is spent; \
                 retry after `Retry-After` seconds",
            ),
        ]);
    }
    out
}

/// Adds each layer answer an operation does not already document.
pub fn add_layer_answers(openapi: &mut utoipa::openapi::OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            for (status, description) in layer_answers(op) {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error_response(description).into());
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}
