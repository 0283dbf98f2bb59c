//! SIGTERM with agents parked in long polls: they are answered at once (304), so the server
//! stops without holding them for the rest of their wait or running out its shutdown grace.

use std::time::Duration;

use logplane_client::{BundleUpdate, Precondition};
use logplane_e2e::server::EXIT_WITHIN;
use logplane_e2e::{LogplaneServer, ServerConfig};
use logplane_model::{
    AgentEnrollRequest, AgentSyncRequest, AgentType, CollectionConfigSpec, EnrollmentTokenRequest,
    LogstoreSpec, MachineGroupSpec, ProjectSpec, TenantSpec,
};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;
use serde_json::json;

use crate::support::location;

#[tokio::test]
async fn postgres() {
    waiting_agents_are_answered_at_shutdown(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite() {
    waiting_agents_are_answered_at_shutdown(Backend::Sqlite).await;
}

async fn waiting_agents_are_answered_at_shutdown(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut server = LogplaneServer::start(&ServerConfig::new(location(&database))).await;
    let admin = server.admin_client().await;
    admin
        .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
        .await
        .unwrap();
    admin
        .put_project(
            "acme",
            "web",
            &ProjectSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    admin
        .put_logstore(
            "acme",
            "web",
            "app",
            &LogstoreSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    admin
        .put_machine_group(
            "acme",
            "web",
            "all",
            &MachineGroupSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let spec: CollectionConfigSpec = serde_json::from_value(json!({
        "sources": [{ "journald": {} }], "destination": { "logstore": "app" }
    }))
    .unwrap();
    admin
        .put_collection_config("acme", "web", "journal", &spec, Precondition::IfAbsent)
        .await
        .unwrap();
    admin
        .put_binding("acme", "web", "all", "journal")
        .await
        .unwrap();
    admin
        .put_collection_config_rollout("acme", "web", "journal", 100)
        .await
        .unwrap();
    let token = admin
        .create_enrollment_token(
            "acme",
            &EnrollmentTokenRequest {
                expires_in_s: 600,
                labels: Default::default(),
            },
        )
        .await
        .unwrap();
    let enrolled = server
        .client()
        .enroll_agent(&AgentEnrollRequest {
            token: token.secret,
            agent_type: AgentType::Vector,
            attributes: serde_json::from_value(json!({ "hostname": "node-1" })).unwrap(),
        })
        .await
        .unwrap();
    let agent = server
        .client()
        .with_api_key(&enrolled.api_key)
        .await
        .unwrap();
    let request = |seq| AgentSyncRequest {
        seq,
        status: None,
        attributes: None,
    };
    let first = agent
        .sync_agent(&enrolled.agent_id, &request(1), None, Duration::ZERO)
        .await
        .unwrap();
    let BundleUpdate::Changed(bundle) = first.update else {
        panic!("the first sync sends the bundle");
    };
    let parked = {
        let agent = agent.clone();
        let id = enrolled.agent_id.clone();
        tokio::spawn(async move {
            agent
                .sync_agent(
                    &id,
                    &request(2),
                    Some(&bundle.hash),
                    Duration::from_secs(60),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.send_sigterm();
    let answered = parked.await.unwrap().unwrap();
    assert!(
        matches!(answered.update, BundleUpdate::Unchanged { .. }),
        "{answered:?}"
    );
    let status = server.wait_for_exit(EXIT_WITHIN).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        !server.stderr_text().contains("shutdown grace expired"),
        "the parked agent did not hold the shutdown: {}",
        server.stderr_text()
    );
}
