//! Request extractors that turn every malformed input into a problem naming what was wrong,
//! instead of axum's plain-text rejections.

pub mod body;
pub mod caller;
pub mod client_address;
pub mod page;
pub mod path;
pub mod precondition;

pub use body::{ApiJson, RequestBody};
pub use caller::{AgentCaller, Authenticated, OperationId, RequestId};
pub use client_address::{ClientAddress, TrustedProxies};
pub use page::PageQuery;
pub use path::ApiPath;
pub use precondition::WriteConditions;
