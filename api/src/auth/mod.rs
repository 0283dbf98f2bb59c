//! Authentication: API key secrets, the access tokens they are exchanged for, and turning a
//! presented token back into a caller.

pub mod refusals;
pub mod secrets;
pub mod tokens;
