//! What the server, not the client, decides about every named resource.

use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMeta {
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Changes with every change of the resource; clients send it back in `If-Match`.
    pub etag: String,
}

/// The fields every resource response carries that a client must not send.
pub const META_FIELDS: &[&str] = &["name", "created_at", "updated_at", "etag"];
