//! The OpenAPI 3.1 document. Routes document themselves (`utoipa::path` on each handler); this
//! module adds what every operation shares, so no handler can forget it: the bearer security
//! requirement and the problem responses each kind of operation can give.

use std::collections::HashMap;

use axum::http::Method;
use utoipa::OpenApi as _;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Type};

use crate::problem::PROBLEM_CONTENT_TYPE;

pub const BEARER_SCHEME: &str = "bearer";

/// Operations callable without a token.
const PUBLIC_OPERATIONS: &[&str] = &[
    "token_create",
    "agent_enroll",
    "health_check",
    "readiness_check",
    "metrics_get",
];

/// Public operations that check a credential of their own (an API key, an enrollment token).
const CREDENTIAL_OPERATIONS: &[&str] = &["token_create", "agent_enroll"];

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Logplane",
        description = "The control plane of a multi-tenant log service: tenants, projects, logstores and their shards, and what every agent collects.\n\n\
            Authenticate by exchanging an API key at `POST /v1/auth/token` and sending the token as `Authorization: Bearer <token>`.\n\n\
            Writes are `PUT` (create or replace, idempotent) with optimistic concurrency through `ETag` / `If-Match`, \
            and `If-None-Match: *` for create-only. Errors are RFC 9457 problem documents.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "auth", description = "Access tokens"),
        (name = "tenants", description = "Tenants (platform admins)"),
        (name = "projects", description = "A tenant's projects"),
        (name = "logstores", description = "Logstores of a project"),
        (name = "shards", description = "Hash-range shards of a logstore"),
        (name = "api-keys", description = "Platform and tenant API keys"),
        (name = "audit", description = "Audit events"),
        (name = "quotas", description = "Per-tenant quotas and usage"),
        (name = "query-slots", description = "Cluster-wide query concurrency, for query frontends (tokens of audience `logplane-query`)"),
        (name = "machine-groups", description = "Machine groups of a project: selectors over the tenant's agents, and the collection configs bound to them"),
        (name = "collection-configs", description = "Collection configs of a project: what agents collect, revisions, rollouts, status and preview"),
        (name = "agents", description = "Enrollment tokens, the tenant's agents, and the agent protocol (enrollment, and sync with tokens of audience `logplane-agent`)"),
        (name = "workers", description = "The worker pool: registration and heartbeats for workers (tokens of audience `logplane-worker`), administration and the scheduler's status for platform admins"),
        (name = "operations", description = "Health, readiness and metrics"),
    ),
    components(schemas(logplane_model::Problem, logplane_model::FieldError))
)]
struct ApiDoc;

pub fn base_document() -> OpenApi {
    ApiDoc::openapi()
}

/// The responses shared by operations, as reusable components.
struct StandardResponse {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    headers: &'static [(&'static str, &'static str)],
}

const STANDARD_RESPONSES: &[StandardResponse] = &[
    StandardResponse {
        status: "400",
        name: "BadRequest",
        description: "The request is malformed (body syntax, headers, a path parameter of the wrong type)",
        headers: &[],
    },
    StandardResponse {
        status: "401",
        name: "Unauthorized",
        description: "No credential, or one that is invalid, expired, revoked or for another audience",
        headers: &[("WWW-Authenticate", "Always `Bearer`")],
    },
    StandardResponse {
        status: "403",
        name: "Forbidden",
        description: "The caller's role does not allow this inside its tenant",
        headers: &[],
    },
    StandardResponse {
        status: "404",
        name: "NotFound",
        description: "No such resource, or not visible to the caller",
        headers: &[],
    },
    StandardResponse {
        status: "412",
        name: "PreconditionFailed",
        description: "`If-Match` or `If-None-Match` did not hold",
        headers: &[],
    },
    StandardResponse {
        status: "413",
        name: "PayloadTooLarge",
        description: "The body exceeds 1 MiB",
        headers: &[],
    },
    StandardResponse {
        status: "415",
        name: "UnsupportedMediaType",
        description: "The body is not `application/json`",
        headers: &[],
    },
    StandardResponse {
        status: "422",
        name: "ValidationFailed",
        description: "A field, parameter or name is invalid; `errors` names each",
        headers: &[],
    },
    StandardResponse {
        status: "429",
        name: "RateLimited",
        description: "A request budget is exhausted (the tenant's, the API key's or agent's, or the refused credentials of the client's address); retry after `Retry-After` seconds",
        headers: &[
            ("Retry-After", "Seconds to wait before retrying"),
            (
                "RateLimit-Limit",
                "The burst size of the budget that refused the request",
            ),
            ("RateLimit-Remaining", "Requests left in that budget (0)"),
            ("RateLimit-Reset", "Seconds until that budget is full again"),
        ],
    },
    StandardResponse {
        status: "500",
        name: "InternalError",
        description: "The server failed; quote `request_id` when reporting it",
        headers: &[],
    },
    StandardResponse {
        status: "503",
        name: "Unavailable",
        description: "The store is unreachable; retry after `Retry-After` seconds",
        headers: &[("Retry-After", "Seconds to wait before retrying")],
    },
];

/// The shared response for a request head over hyper's buffer (`connections.rs`): no problem
/// document, since the request never reaches the application.
const HEAD_TOO_LARGE: &str = "HeadTooLarge";

fn problem_response(standard: &StandardResponse) -> Response {
    let content = Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))));
    let mut builder = ResponseBuilder::new()
        .description(standard.description)
        .content(PROBLEM_CONTENT_TYPE, content);
    for &(name, description) in standard.headers {
        let schema = ObjectBuilder::new().schema_type(Type::String).build();
        builder = builder.header(
            name,
            HeaderBuilder::new()
                .schema(Some(schema))
                .description(Some(description))
                .build(),
        );
    }
    builder.build()
}

/// Adds security requirements and the standard error responses to every operation.
pub fn complete(mut document: OpenApi) -> OpenApi {
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    for standard in STANDARD_RESPONSES {
        components.responses.insert(
            standard.name.to_string(),
            RefOr::T(problem_response(standard)),
        );
    }
    components.responses.insert(
        HEAD_TOO_LARGE.to_string(),
        RefOr::T(
            ResponseBuilder::new()
                .description(
                    "The request line and headers exceed 8 KiB; answered by the HTTP layer \
                     before the request is read, with no body",
                )
                .build(),
        ),
    );
    for (_path, item) in document.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                add_shared_parts(&method, operation);
            }
        }
    }
    document
}

fn add_shared_parts(method: &Method, operation: &mut Operation) {
    let public = operation
        .operation_id
        .as_deref()
        .is_some_and(|id| PUBLIC_OPERATIONS.contains(&id));
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_parameter_in = |place: ParameterIn| {
        parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let has_path_parameters = has_parameter_in(ParameterIn::Path);
    let has_query_parameters = has_parameter_in(ParameterIn::Query);
    // Write preconditions fail with 412; other headers (a sync's If-None-Match) do not.
    let has_conditions = has_parameter_in(ParameterIn::Header)
        && (*method == Method::PUT || *method == Method::DELETE);
    let has_body = operation.request_body.is_some();

    let mut applicable = vec!["500", "503"];
    if !public {
        applicable.extend(["401", "403", "429"]);
        operation.security = Some(vec![SecurityRequirement::new(
            BEARER_SCHEME,
            Vec::<String>::new(),
        )]);
    } else if operation
        .operation_id
        .as_deref()
        .is_some_and(|id| CREDENTIAL_OPERATIONS.contains(&id))
    {
        // A client address presenting too many refused credentials is answered 429
        // (`auth/refusals.rs`).
        applicable.extend(["401", "429"]);
    }
    if has_path_parameters {
        // A path parameter that does not parse as its type (a shard id past i64) is a 400.
        applicable.extend(["400", "404"]);
    }
    if has_body {
        applicable.extend(["400", "413", "415", "422"]);
    }
    if has_query_parameters || (*method == Method::PUT && has_path_parameters) {
        applicable.push("422");
    }
    if has_conditions {
        applicable.extend(["400", "412"]);
    }
    // Any request can be too large a head (`connections.rs`).
    operation
        .responses
        .responses
        .entry("431".to_string())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(HEAD_TOO_LARGE)));
    for standard in STANDARD_RESPONSES
        .iter()
        .filter(|s| applicable.contains(&s.status))
    {
        operation
            .responses
            .responses
            .entry(standard.status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(standard.name)));
    }
}

/// Maps a matched route back to its operation id, for logs, metrics and audit events.
#[derive(Debug, Default)]
pub struct OperationIndex {
    by_route: HashMap<(Method, String), &'static str>,
}

impl OperationIndex {
    pub fn from_document(document: &OpenApi) -> Self {
        let mut by_route = HashMap::new();
        for (path, item) in &document.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                if let Some(id) = operation.as_ref().and_then(|o| o.operation_id.clone()) {
                    // Leaked once at start: a few dozen short strings that live as long as the server.
                    by_route.insert((method, path.clone()), &*Box::leak(id.into_boxed_str()));
                }
            }
        }
        Self { by_route }
    }

    pub fn lookup(&self, method: &Method, route: &str) -> Option<&'static str> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.by_route
            .get(&(method.clone(), route.to_string()))
            .copied()
    }
}
