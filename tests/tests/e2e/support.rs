//! What several tests share: a fresh store per test and reading refusals.

use std::fmt::Debug;

use logplane_client::{Error, StatusCode};
use logplane_e2e::StoreLocation;
use logplane_model::Problem;
use logplane_store::testing::TestDatabase;

/// Where a server finds a test database. Declare the database before the server in a test, so
/// the server (dropped first) is gone before the database is removed.
pub fn location(database: &TestDatabase) -> StoreLocation {
    StoreLocation::of(database)
}

/// The problem of a call the server must refuse with `status`; panics on anything else.
pub fn expect_refusal<T: Debug>(result: Result<T, Error>, status: StatusCode) -> Problem {
    match result {
        Err(Error::Api {
            status: actual,
            problem,
            ..
        }) if actual == status => {
            assert_eq!(
                problem.status,
                status.as_u16(),
                "the problem body repeats the status"
            );
            problem
        }
        other => panic!("expected a {status} problem, got {other:?}"),
    }
}
