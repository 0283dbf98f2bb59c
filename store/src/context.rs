//! The one context value every store call carries: who is asking, and under which request id
//! their actions are audited.

use logplane_model::Caller;
use logplane_model::quota::ApiRate;

#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Caller,
    pub request_id: Option<String>,
    /// The client's address, recorded in the audit events the request causes.
    pub client_address: Option<String>,
}

impl Ctx {
    pub fn new(caller: Caller, request_id: Option<String>) -> Self {
        Self {
            caller,
            request_id,
            client_address: None,
        }
    }

    pub fn with_client_address(mut self, address: Option<String>) -> Self {
        self.client_address = address;
        self
    }
}

/// Conditions a write is made under (`If-Match` / `If-None-Match: *`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    #[default]
    None,
    /// The resource must exist with this ETag; `None` means `If-Match: *` (any version).
    IfMatch(Option<String>),
    /// The resource must not exist (`If-None-Match: *`).
    IfAbsent,
    /// `If-Match` and `If-None-Match: *` together: no state satisfies both. Kept apart from a
    /// malformed request so it is answered 412 after the rest of the request has been checked.
    Contradictory,
}

/// What a PUT did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome<T> {
    Created(T),
    Replaced(T),
    /// The body equalled the stored resource: nothing was written, the ETag is unchanged.
    Unchanged(T),
}

impl<T> PutOutcome<T> {
    pub fn resource(&self) -> &T {
        match self {
            PutOutcome::Created(r) | PutOutcome::Replaced(r) | PutOutcome::Unchanged(r) => r,
        }
    }

    pub fn into_resource(self) -> T {
        match self {
            PutOutcome::Created(r) | PutOutcome::Replaced(r) | PutOutcome::Unchanged(r) => r,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> PutOutcome<U> {
        match self {
            PutOutcome::Created(r) => PutOutcome::Created(f(r)),
            PutOutcome::Replaced(r) => PutOutcome::Replaced(f(r)),
            PutOutcome::Unchanged(r) => PutOutcome::Unchanged(f(r)),
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, PutOutcome::Created(_))
    }
}

/// One page of a list, with the cursor to resume after (the API turns it into a page token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The API key behind a token, as the request path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    pub caller: Caller,
    /// The API rate of the key's tenant; `None` for platform keys.
    pub api_rate: Option<ApiRate>,
}

/// The answer to a query-slot request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotAdmission {
    Granted(logplane_model::QuerySlot),
    /// The tenant already has its `max_queued_queries` waiting.
    QueueFull {
        queued: i64,
        limit: i64,
    },
    /// No slot came free within the request's `max_wait_ms`.
    TimedOut,
}

/// An agent just enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledAgent {
    pub agent_id: String,
    pub tenant: String,
}
