//! Who may do what. Every store call carries a [`Caller`]; the store asks [`Caller::authorize`]
//! before it reads or writes, so the rule lives in one place and no route can forget it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, in every tenant: tenants, quotas, workers.
    PlatformAdmin,
    /// The worker protocol.
    Worker,
    /// Query slots on behalf of tenants.
    QueryFrontend,
    /// Everything inside its tenant, including API keys and the audit log.
    Admin,
    /// Creates, changes and deletes resources inside its tenant.
    Editor,
    /// Reads resources inside its tenant.
    Viewer,
    /// The agent protocol, for its own agent only.
    Agent,
}

/// Which audience (JWT `aud`) a role's tokens carry. Tokens of one audience are refused by the
/// endpoints of every other, so a leaked worker token cannot manage tenants and the reverse.
pub const AUDIENCE_API: &str = "logplane-api";
pub const AUDIENCE_WORKER: &str = "logplane-worker";
pub const AUDIENCE_QUERY: &str = "logplane-query";
pub const AUDIENCE_AGENT: &str = "logplane-agent";

impl Role {
    pub const PLATFORM_KEY_ROLES: [Role; 3] =
        [Role::PlatformAdmin, Role::Worker, Role::QueryFrontend];
    pub const TENANT_KEY_ROLES: [Role; 3] = [Role::Admin, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::Worker => "worker",
            Role::QueryFrontend => "query-frontend",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Agent => "agent",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [
            Role::PlatformAdmin,
            Role::Worker,
            Role::QueryFrontend,
            Role::Admin,
            Role::Editor,
            Role::Viewer,
            Role::Agent,
        ]
        .into_iter()
        .find(|role| role.as_str() == text)
    }

    pub fn audience(self) -> &'static str {
        match self {
            Role::PlatformAdmin | Role::Admin | Role::Editor | Role::Viewer => AUDIENCE_API,
            Role::Worker => AUDIENCE_WORKER,
            Role::QueryFrontend => AUDIENCE_QUERY,
            Role::Agent => AUDIENCE_AGENT,
        }
    }

    /// Whether keys with this role belong to a tenant (as opposed to the platform).
    pub fn is_tenant_scoped(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Editor | Role::Viewer | Role::Agent
        )
    }

    /// How much of the management API a tenant-scoped role reaches, for comparisons.
    fn tenant_level(self) -> u8 {
        match self {
            Role::Admin => 3,
            Role::Editor => 2,
            Role::Viewer => 1,
            _ => 0,
        }
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read a tenant's resources.
    Read,
    /// Create, change or delete a tenant's resources.
    Write,
    /// A tenant's credentials and audit log.
    Admin,
    /// Platform operations: tenants themselves, platform keys, quotas, workers.
    Platform,
    /// Query slots, acquired by query frontends on behalf of any tenant.
    QuerySlots,
    /// The agent protocol, by an agent of the tenant. Which agent it may act for is the store's
    /// check (its own id only), since the rule needs the agent named in the request.
    AgentProtocol,
}

impl Access {
    fn required_tenant_level(self) -> Option<u8> {
        match self {
            Access::Read => Some(1),
            Access::Write => Some(2),
            Access::Admin => Some(3),
            Access::Platform | Access::QuerySlots | Access::AgentProtocol => None,
        }
    }
}

/// Why a caller was turned away. `Hidden` answers 404 so a caller learns nothing about other
/// tenants, not even that a name exists; `Forbidden` answers 403 inside the caller's own tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    Hidden,
    Forbidden,
}

/// The authenticated principal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The API key (or agent) the credential was issued for.
    pub key_id: String,
    pub role: Role,
    /// The tenant a tenant-scoped credential belongs to; `None` for platform credentials.
    pub tenant: Option<String>,
}

impl Caller {
    /// Decides whether this caller may perform `access` on `tenant` (or, when `tenant` is `None`,
    /// on the platform itself).
    pub fn authorize(&self, tenant: Option<&str>, access: Access) -> Result<(), Denial> {
        if self.role == Role::PlatformAdmin {
            return Ok(());
        }
        if access == Access::QuerySlots {
            return match self.role {
                Role::QueryFrontend => Ok(()),
                _ if tenant.is_some() && self.tenant.as_deref() != tenant => Err(Denial::Hidden),
                _ => Err(Denial::Forbidden),
            };
        }
        if access == Access::AgentProtocol {
            return match (self.role, tenant) {
                _ if tenant.is_some() && self.tenant.as_deref() != tenant => Err(Denial::Hidden),
                (Role::Agent, Some(_)) => Ok(()),
                _ => Err(Denial::Forbidden),
            };
        }
        let Some(target) = tenant else {
            return Err(Denial::Forbidden);
        };
        if self.tenant.as_deref() != Some(target) {
            return Err(Denial::Hidden);
        }
        match access.required_tenant_level() {
            Some(level) if self.role.tenant_level() >= level => Ok(()),
            _ => Err(Denial::Forbidden),
        }
    }

    /// Whether list results of `tenant` may be shown to this caller at all.
    pub fn sees_tenant(&self, tenant: &str) -> bool {
        self.authorize(Some(tenant), Access::Read).is_ok()
    }

    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, tenant: Option<&str>) -> Caller {
        Caller {
            key_id: "k".into(),
            role,
            tenant: tenant.map(str::to_string),
        }
    }

    #[test]
    fn other_tenants_are_hidden_not_forbidden() {
        let admin_b = caller(Role::Admin, Some("b"));
        for access in [Access::Read, Access::Write, Access::Admin, Access::Platform] {
            assert_eq!(admin_b.authorize(Some("a"), access), Err(Denial::Hidden));
        }
    }

    #[test]
    fn tenant_roles_are_ordered_inside_their_tenant() {
        let viewer = caller(Role::Viewer, Some("a"));
        let editor = caller(Role::Editor, Some("a"));
        let admin = caller(Role::Admin, Some("a"));
        assert_eq!(viewer.authorize(Some("a"), Access::Read), Ok(()));
        assert_eq!(
            viewer.authorize(Some("a"), Access::Write),
            Err(Denial::Forbidden)
        );
        assert_eq!(editor.authorize(Some("a"), Access::Write), Ok(()));
        assert_eq!(
            editor.authorize(Some("a"), Access::Admin),
            Err(Denial::Forbidden)
        );
        assert_eq!(admin.authorize(Some("a"), Access::Admin), Ok(()));
        assert_eq!(
            admin.authorize(Some("a"), Access::Platform),
            Err(Denial::Forbidden)
        );
        assert_eq!(admin.authorize(None, Access::Read), Err(Denial::Forbidden));
    }

    #[test]
    fn platform_roles_other_than_admin_reach_no_tenant_resource() {
        for role in [Role::Worker, Role::QueryFrontend] {
            let c = caller(role, None);
            assert_eq!(c.authorize(Some("a"), Access::Read), Err(Denial::Hidden));
            assert_eq!(c.authorize(None, Access::Platform), Err(Denial::Forbidden));
        }
        assert_eq!(
            caller(Role::PlatformAdmin, None).authorize(Some("a"), Access::Admin),
            Ok(())
        );
    }

    #[test]
    fn query_frontends_take_slots_for_any_tenant_and_nothing_else() {
        let frontend = caller(Role::QueryFrontend, None);
        assert_eq!(frontend.authorize(Some("a"), Access::QuerySlots), Ok(()));
        assert_eq!(
            frontend.authorize(Some("a"), Access::Read),
            Err(Denial::Hidden)
        );
        assert_eq!(
            caller(Role::Admin, Some("a")).authorize(Some("a"), Access::QuerySlots),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            caller(Role::Admin, Some("b")).authorize(Some("a"), Access::QuerySlots),
            Err(Denial::Hidden)
        );
    }

    #[test]
    fn agents_reach_the_agent_protocol_of_their_tenant_and_nothing_else() {
        let agent = caller(Role::Agent, Some("a"));
        assert_eq!(agent.authorize(Some("a"), Access::AgentProtocol), Ok(()));
        assert_eq!(
            agent.authorize(Some("b"), Access::AgentProtocol),
            Err(Denial::Hidden)
        );
        for access in [Access::Read, Access::Write, Access::Admin] {
            assert_eq!(agent.authorize(Some("a"), access), Err(Denial::Forbidden));
        }
        assert_eq!(
            caller(Role::Admin, Some("a")).authorize(Some("a"), Access::AgentProtocol),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn every_role_name_parses_back() {
        for role in [
            Role::PlatformAdmin,
            Role::Worker,
            Role::QueryFrontend,
            Role::Admin,
            Role::Editor,
            Role::Viewer,
            Role::Agent,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
