//! Revoking a leaked key takes effect at once: tokens minted from it stop working on the next
//! request, not when they expire, and the refusal is audited.

use logplane_client::{Client, PageOptions, Precondition, StatusCode};
use logplane_e2e::{LogplaneServer, ServerConfig};
use logplane_model::{ApiKeyRequest, AuditResult, Role, TenantSpec};
use logplane_store::Backend;
use logplane_store::testing::TestDatabase;

use crate::support::{expect_refusal, location};

#[tokio::test]
async fn postgres() {
    deleting_a_key_revokes_its_tokens(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite() {
    deleting_a_key_revokes_its_tokens(Backend::Sqlite).await;
}

async fn deleting_a_key_revokes_its_tokens(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let server = LogplaneServer::start(&ServerConfig::new(location(&database))).await;
    let admin = server.admin_client().await;
    admin
        .put_tenant("acme", &TenantSpec::default(), Precondition::IfAbsent)
        .await
        .unwrap();

    // A tenant key.
    let deploy_bot = admin
        .create_tenant_api_key(
            "acme",
            &ApiKeyRequest {
                name: "deploy-bot".into(),
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
    let bot = server
        .client()
        .with_api_key(&deploy_bot.secret)
        .await
        .unwrap();
    bot.get_tenant("acme")
        .await
        .expect("the token works before revocation");
    admin
        .delete_tenant_api_key("acme", &deploy_bot.key.id)
        .await
        .unwrap();
    let refused = bot
        .with_request_id("e2e-after-revocation")
        .unwrap()
        .get_tenant("acme")
        .await;
    let problem = expect_refusal(refused, StatusCode::UNAUTHORIZED);
    assert_eq!(problem.slug(), "unauthorized");
    expect_refusal(
        server.client().exchange_token(&deploy_bot.secret).await,
        StatusCode::UNAUTHORIZED,
    );
    expect_refusal(
        admin.get_tenant_api_key("acme", &deploy_bot.key.id).await,
        StatusCode::NOT_FOUND,
    );

    // A platform key, with the widest role there is.
    let operator = admin
        .create_platform_api_key(&ApiKeyRequest {
            name: "ops-admin".into(),
            role: Role::PlatformAdmin,
        })
        .await
        .unwrap();
    let ops = server
        .client()
        .with_api_key(&operator.secret)
        .await
        .unwrap();
    ops.list_tenants(&PageOptions::default())
        .await
        .expect("the token works before revocation");
    admin
        .delete_platform_api_key(&operator.key.id)
        .await
        .unwrap();
    expect_refusal(
        ops.list_tenants(&PageOptions::default()).await,
        StatusCode::UNAUTHORIZED,
    );

    assert_refusal_audited(&admin, "e2e-after-revocation").await;
}

/// Security teams look for refused credentials in the audit log, by request id.
async fn assert_refusal_audited(admin: &Client, request_id: &str) {
    let events = admin.list_all_platform_audit_events().await.unwrap();
    let refusal = events
        .iter()
        .find(|event| event.request_id.as_deref() == Some(request_id))
        .unwrap_or_else(|| panic!("no audit event for {request_id}: {events:?}"));
    assert_eq!(refusal.result, AuditResult::Denied);
    assert!(refusal.reason.is_some(), "a refusal says why: {refusal:?}");
}
