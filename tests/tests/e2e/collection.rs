//! Collection-config distribution through the real binary and the client: groups, configs,
//! bindings, rollouts, enrollment and the agent's long poll over real HTTP. Called by
//! `api_coverage` on its server, so every new operation is exercised there.

use std::time::Duration;

use logplane_client::{BundleUpdate, Client, PageOptions, Precondition, StatusCode};
use logplane_e2e::LogplaneServer;
use logplane_model::collection_config::PreviewRequest;
use logplane_model::{
    AgentEnrollRequest, AgentSyncRequest, CollectionConfigSpec, EnrollmentTokenRequest,
    LogstoreSpec, MachineGroupSpec, SyncState, SyncStatus,
};
use serde_json::json;

use crate::support::expect_refusal;

const TENANT: &str = "acme";
const PROJECT: &str = "p-03";

fn spec(marker: &str) -> CollectionConfigSpec {
    serde_json::from_value(json!({
        "sources": [{ "file": { "include": [format!("/var/log/{marker}.log")] } }],
        "parser": { "regex": { "pattern": "^(?P<level>\\w+) (?P<text>.*)$" } },
        "destination": { "logstore": "app" }
    }))
    .unwrap()
}

fn sync_request(seq: i64, applied: Option<&str>) -> AgentSyncRequest {
    AgentSyncRequest {
        seq,
        status: applied.map(|hash| SyncStatus {
            hash: hash.to_string(),
            state: SyncState::Applied,
            message: String::new(),
        }),
        attributes: None,
    }
}

/// Leaves the project as it found it (no logstore, group or config), so later steps can delete it.
pub async fn collection_distribution(server: &LogplaneServer, admin: &Client) {
    admin
        .put_logstore(
            TENANT,
            PROJECT,
            "app",
            &LogstoreSpec::default(),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    let group_spec: MachineGroupSpec =
        serde_json::from_value(json!({ "selector": { "match_labels": { "role": "edge" } } }))
            .unwrap();
    let group = admin
        .put_machine_group(TENANT, PROJECT, "edge", &group_spec, Precondition::IfAbsent)
        .await
        .unwrap();
    assert!(group.created);
    assert_eq!(
        admin
            .get_machine_group(TENANT, PROJECT, "edge")
            .await
            .unwrap(),
        group.resource
    );
    assert_eq!(
        admin
            .list_machine_groups(TENANT, PROJECT, &PageOptions::default())
            .await
            .unwrap()
            .items,
        std::slice::from_ref(&group.resource)
    );
    assert_eq!(
        admin
            .list_all_machine_groups(TENANT, PROJECT)
            .await
            .unwrap()
            .len(),
        1
    );

    let config = admin
        .put_collection_config(
            TENANT,
            PROJECT,
            "nginx",
            &spec("first"),
            Precondition::IfAbsent,
        )
        .await
        .unwrap();
    assert_eq!(config.resource.revision, 1);
    assert_eq!(
        admin
            .get_collection_config(TENANT, PROJECT, "nginx")
            .await
            .unwrap(),
        config.resource
    );
    assert_eq!(
        admin
            .list_collection_configs(TENANT, PROJECT, &PageOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        admin
            .list_all_collection_configs(TENANT, PROJECT)
            .await
            .unwrap()
            .len(),
        1
    );
    let binding = admin
        .put_binding(TENANT, PROJECT, "edge", "nginx")
        .await
        .unwrap();
    assert!(binding.created);
    assert!(
        !admin
            .put_binding(TENANT, PROJECT, "edge", "nginx")
            .await
            .unwrap()
            .created
    );
    let bound = admin
        .list_machine_group_configs(TENANT, PROJECT, "edge", &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(bound.items, std::slice::from_ref(&binding.resource));
    let groups = admin
        .list_config_machine_groups(TENANT, PROJECT, "nginx", &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(groups.items, std::slice::from_ref(&binding.resource));
    let rollout = admin
        .put_collection_config_rollout(TENANT, PROJECT, "nginx", 100)
        .await
        .unwrap();
    assert_eq!(rollout.resource.percent, 100);

    let token = admin
        .create_enrollment_token(
            TENANT,
            &EnrollmentTokenRequest {
                expires_in_s: 600,
                labels: [("role".to_string(), "edge".to_string())]
                    .into_iter()
                    .collect(),
            },
        )
        .await
        .unwrap();
    let tokens = admin
        .list_enrollment_tokens(TENANT, &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(tokens.items, std::slice::from_ref(&token.token));
    let enrolled = server
        .client()
        .enroll_agent(&AgentEnrollRequest {
            token: token.secret.clone(),
            agent_type: logplane_model::AgentType::FluentBit,
            attributes: serde_json::from_value(json!({ "hostname": "edge-1" })).unwrap(),
        })
        .await
        .unwrap();
    let agent = server
        .client()
        .with_api_key(&enrolled.api_key)
        .await
        .unwrap();
    expect_refusal(
        agent.list_agents(TENANT, &PageOptions::default()).await,
        StatusCode::UNAUTHORIZED,
    );

    let first = agent
        .sync_agent(
            &enrolled.agent_id,
            &sync_request(1, None),
            None,
            Duration::ZERO,
        )
        .await
        .unwrap();
    let BundleUpdate::Changed(bundle) = first.update else {
        panic!("the first sync sends the bundle");
    };
    assert_eq!(bundle.configs[0].name, format!("{PROJECT}_nginx"));
    assert!(
        bundle
            .files
            .iter()
            .any(|f| f.body.contains("/var/log/first.log"))
    );
    let unchanged = agent
        .sync_agent(
            &enrolled.agent_id,
            &sync_request(2, Some(&bundle.hash)),
            Some(&bundle.hash),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        unchanged.update,
        BundleUpdate::Unchanged {
            hash: bundle.hash.clone()
        }
    );

    // A long poll over real HTTP, woken by a change and the rollout that releases it.
    let waiting = {
        let agent = agent.clone();
        let agent_id = enrolled.agent_id.clone();
        let hash = bundle.hash.clone();
        tokio::spawn(async move {
            agent
                .sync_agent(
                    &agent_id,
                    &sync_request(3, None),
                    Some(&hash),
                    Duration::from_secs(30),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    admin
        .put_collection_config(
            TENANT,
            PROJECT,
            "nginx",
            &spec("second"),
            Precondition::IfExists,
        )
        .await
        .unwrap();
    admin
        .put_collection_config_rollout(TENANT, PROJECT, "nginx", 100)
        .await
        .unwrap();
    let woken = waiting.await.unwrap().unwrap();
    let BundleUpdate::Changed(second) = woken.update else {
        panic!("a change wakes the long poll");
    };
    assert_eq!(second.configs[0].revision, 2);

    let revisions = admin
        .list_collection_config_revisions(TENANT, PROJECT, "nginx", &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(revisions.items.len(), 2);
    let status = admin
        .get_collection_config_status(TENANT, PROJECT, "nginx")
        .await
        .unwrap();
    assert_eq!(status.rollout.revision, 2);
    let rolled_back = admin
        .rollback_collection_config(TENANT, PROJECT, "nginx", 1)
        .await
        .unwrap();
    assert_eq!(rolled_back.revision, 3);
    let resumed = admin
        .resume_collection_config_rollout(TENANT, PROJECT, "nginx")
        .await
        .unwrap();
    assert!(!resumed.paused);
    let preview = admin
        .preview_collection_config(
            TENANT,
            PROJECT,
            "nginx",
            &PreviewRequest {
                sample_lines: vec!["WARN disk almost full".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(preview.entries.len(), 1);

    let members = admin
        .list_machine_group_agents(TENANT, PROJECT, "edge", &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(
        members.items[0].id, enrolled.agent_id,
        "the token's labels select it"
    );
    let agents = admin
        .list_agents(TENANT, &PageOptions::default())
        .await
        .unwrap();
    assert_eq!(agents.items.len(), 1);
    assert_eq!(admin.list_all_agents(TENANT).await.unwrap(), agents.items);

    admin
        .delete_enrollment_token(TENANT, &token.token.id)
        .await
        .unwrap();
    admin
        .delete_agent(TENANT, &enrolled.agent_id)
        .await
        .unwrap();
    expect_refusal(
        agent
            .sync_agent(
                &enrolled.agent_id,
                &sync_request(4, None),
                None,
                Duration::ZERO,
            )
            .await,
        StatusCode::UNAUTHORIZED,
    );

    expect_refusal(
        admin
            .delete_collection_config(TENANT, PROJECT, "nginx", None)
            .await,
        StatusCode::CONFLICT,
    );
    admin
        .delete_binding(TENANT, PROJECT, "edge", "nginx")
        .await
        .unwrap();
    admin
        .delete_collection_config(TENANT, PROJECT, "nginx", None)
        .await
        .unwrap();
    admin
        .delete_machine_group(TENANT, PROJECT, "edge", None)
        .await
        .unwrap();
    admin
        .delete_logstore(TENANT, PROJECT, "app", None)
        .await
        .unwrap();
}
