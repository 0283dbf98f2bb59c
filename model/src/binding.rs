//! Bindings: which collection configs the agents of a machine group run. Many to many, within a
//! project; a binding has no fields of its own, so it is created by `PUT` without a body.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CollectionConfigBinding {
    pub machine_group: String,
    pub collection_config: String,
    pub created_at: Timestamp,
    pub etag: String,
}
