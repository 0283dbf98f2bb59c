//! What can go wrong in the store, in the terms the API answers with. Database errors are
//! classified here, once, from SQLSTATE codes and constraint kinds.

use logplane_model::ValidationErrors;
use logplane_model::quota::QuotaExceeded;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(String),
    /// An authenticated caller lacks the role for this operation inside its own tenant.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// `If-Match` named another version, or `If-None-Match: *` found the resource.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The operation conflicts with the resource's state (it has children, a name is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A count quota would be exceeded by this create.
    #[error("{0}")]
    QuotaExceeded(QuotaExceeded),
    /// The input is well-formed but not acceptable in the current state (an immutable field).
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The database could not be reached or did not answer in time. `may_have_committed` is set
    /// when the connection was lost while committing, so the change may or may not have landed.
    #[error("store unavailable: {reason}")]
    Unavailable {
        reason: String,
        may_have_committed: bool,
    },
    /// A leader-only write by a replica that is no longer leader under the epoch it was elected
    /// with. Nothing was written; the replica must stop acting as leader.
    #[error("fenced: {0}")]
    Fenced(String),
    /// A conflict with a concurrent transaction that a retry resolves; never leaves the store.
    #[error("transient conflict: {0}")]
    Transient(String),
    #[error("internal store error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SQLSTATEs (PostgreSQL) and result codes (SQLite) that mean "this transaction lost a race and
/// certainly did not commit; run it again".
const TRANSIENT_CODES: &[&str] = &[
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "55P03", // lock_not_available
    "5",     // SQLITE_BUSY
    "6",     // SQLITE_LOCKED
    "261",   // SQLITE_BUSY_RECOVERY
    "517",   // SQLITE_BUSY_SNAPSHOT
    "773",   // SQLITE_BUSY_TIMEOUT
];

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        classify(error, false)
    }
}

impl StoreError {
    /// Classifies an error raised by `COMMIT`: a lost connection there leaves the outcome unknown.
    pub(crate) fn from_commit(error: sqlx::Error) -> Self {
        classify(error, true)
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        StoreError::Internal(error.to_string())
    }
}

fn classify(error: sqlx::Error, during_commit: bool) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if TRANSIENT_CODES.contains(&code.as_str()) {
                return StoreError::Transient(db.message().to_string());
            }
            match db.kind() {
                // A unique or foreign-key violation in our transactions means a concurrent
                // transaction created or deleted a row we checked for; the retry sees its effect
                // and answers accordingly (exists, conflict, parent not found).
                sqlx::error::ErrorKind::UniqueViolation
                | sqlx::error::ErrorKind::ForeignKeyViolation => {
                    StoreError::Transient(db.message().to_string())
                }
                _ if is_connection_class(&code) => unavailable(&error, during_commit),
                _ => StoreError::Internal(format!("database error {code}: {}", db.message())),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => unavailable(&error, during_commit),
        _ => StoreError::Internal(error.to_string()),
    }
}

/// SQLSTATE classes 08 (connection exception), 57P (operator intervention, e.g. the server is
/// shutting down) and 53 (insufficient resources) are outages, not bugs.
fn is_connection_class(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
}

fn unavailable(error: &sqlx::Error, during_commit: bool) -> StoreError {
    StoreError::Unavailable {
        reason: error.to_string(),
        may_have_committed: during_commit,
    }
}
