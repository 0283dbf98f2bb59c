//! One page of a list. Lists are ordered by name (audit events: newest first) and resumed with
//! the opaque `next_page_token`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `page_token` to get the next page; null on the last page.
    pub next_page_token: Option<String>,
}

/// Where a list resumes: strictly after `after` (a name or an id), at most `size` items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub size: u32,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn first(size: u32) -> Self {
        Self { size, after: None }
    }
}
