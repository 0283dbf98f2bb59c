//! A restart (a deploy, a crash, a node drain) loses nothing: resources, keys, and the tokens
//! already handed out, because the signing key lives in the store rather than in the process.

use logplane_client::Precondition;
use logplane_e2e::{BOOTSTRAP_ADMIN_KEY, LogplaneServer, ServerConfig};
use logplane_model::{ApiKeyRequest, LogstoreSpec, ProjectSpec, Role, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;

use crate::support::location;

#[tokio::test]
async fn postgres() {
    restart_keeps_everything_written(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite() {
    restart_keeps_everything_written(Backend::Sqlite).await;
}

async fn restart_keeps_everything_written(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let config = ServerConfig::new(location(&database));
    let mut server = LogplaneServer::start(&config).await;

    let admin_token = server
        .client()
        .exchange_token(BOOTSTRAP_ADMIN_KEY)
        .await
        .unwrap()
        .access_token;
    let admin = server.client().with_bearer_token(&admin_token).unwrap();
    let tenant_spec = TenantSpec {
        display_name: "Acme Corp".into(),
        labels: [("team".to_string(), "search".to_string())]
            .into_iter()
            .collect(),
    };
    let tenant = admin
        .put_tenant("acme", &tenant_spec, Precondition::IfAbsent)
        .await
        .unwrap()
        .resource;
    let project = admin
        .put_project(
            "acme",
            "web",
            &ProjectSpec {
                description: "the shop front".into(),
                ..Default::default()
            },
            Precondition::IfAbsent,
        )
        .await
        .unwrap()
        .resource;
    let logstore_spec = LogstoreSpec {
        shard_count: 3,
        retention_days: 90,
        ..Default::default()
    };
    let logstore = admin
        .put_logstore(
            "acme",
            "web",
            "app-logs",
            &logstore_spec,
            Precondition::IfAbsent,
        )
        .await
        .unwrap()
        .resource;
    let shards = admin.list_shards("acme", "web", "app-logs").await.unwrap();
    let editor_key = admin
        .create_tenant_api_key(
            "acme",
            &ApiKeyRequest {
                name: "ci-editor".into(),
                role: Role::Editor,
            },
        )
        .await
        .unwrap();
    let worker_key = admin
        .create_platform_api_key(&ApiKeyRequest {
            name: "fleet-worker".into(),
            role: Role::Worker,
        })
        .await
        .unwrap();
    let editor_token = server
        .client()
        .exchange_token(&editor_key.secret)
        .await
        .unwrap()
        .access_token;

    let status = server.stop().await;
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop: {status}");
    drop(server);

    let server = LogplaneServer::start(&config).await;
    // Tokens minted by the first process, sent to the second.
    let admin = server.client().with_bearer_token(&admin_token).unwrap();
    let editor = server.client().with_bearer_token(&editor_token).unwrap();

    assert_eq!(admin.get_tenant("acme").await.unwrap(), tenant);
    assert_eq!(admin.get_project("acme", "web").await.unwrap(), project);
    assert_eq!(
        admin.get_logstore("acme", "web", "app-logs").await.unwrap(),
        logstore
    );
    assert_eq!(
        admin.list_shards("acme", "web", "app-logs").await.unwrap(),
        shards
    );
    assert_eq!(
        admin.list_all_tenant_api_keys("acme").await.unwrap(),
        std::slice::from_ref(&editor_key.key)
    );
    let platform_keys = admin.list_all_platform_api_keys().await.unwrap();
    assert!(
        platform_keys.contains(&worker_key.key),
        "the platform key survived: {platform_keys:?}"
    );

    assert_eq!(
        editor.get_project("acme", "web").await.unwrap(),
        project,
        "a token minted before the restart still works"
    );
    let written = editor
        .put_project(
            "acme",
            "web",
            &ProjectSpec {
                description: "changed after the restart".into(),
                ..Default::default()
            },
            Precondition::IfMatch(project.etag.clone()),
        )
        .await
        .expect("the stored ETag still guards writes after the restart");
    assert!(!written.created);
    server
        .client()
        .exchange_token(&editor_key.secret)
        .await
        .expect("an API key created before the restart is still exchanged");
}
