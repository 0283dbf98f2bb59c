//! Name rules. Names are chosen by clients, appear in URLs and never change, so they are kept to
//! a small alphabet that needs no escaping and sorts the same everywhere.

/// A rule for the names of one kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRule {
    pub min_len: usize,
    pub max_len: usize,
    /// Characters allowed besides lowercase ASCII letters and digits; never first or last.
    pub inner_chars: &'static [char],
}

/// Tenants and projects: DNS-label-like, `[a-z0-9-]`, 3–63 characters.
pub const PROJECT_NAME: NameRule = NameRule {
    min_len: 3,
    max_len: 63,
    inner_chars: &['-'],
};
pub const TENANT_NAME: NameRule = PROJECT_NAME;
/// Logstores and API keys also allow `_`.
pub const LOGSTORE_NAME: NameRule = NameRule {
    min_len: 3,
    max_len: 63,
    inner_chars: &['-', '_'],
};
pub const API_KEY_NAME: NameRule = LOGSTORE_NAME;
/// Machine groups and collection configs: 2–128 characters of `[a-z0-9_-]`. They are longer than
/// logstore names because teams often encode environment, region and role in them.
pub const MACHINE_GROUP_NAME: NameRule = NameRule {
    min_len: 2,
    max_len: 128,
    inner_chars: &['-', '_'],
};
pub const COLLECTION_CONFIG_NAME: NameRule = MACHINE_GROUP_NAME;
/// Workers: 2–128 characters of `[a-z0-9._-]`, so a Kubernetes pod or host name can serve as
/// the id. `.` is allowed inside only, so no id is a relative path segment.
pub const WORKER_ID: NameRule = NameRule {
    min_len: 2,
    max_len: 128,
    inner_chars: &['-', '_', '.'],
};

impl NameRule {
    pub fn check(&self, name: &str) -> Result<(), String> {
        let len = name.chars().count();
        if len < self.min_len || len > self.max_len {
            return Err(format!(
                "must be {} to {} characters long, got {len}",
                self.min_len, self.max_len
            ));
        }
        let is_edge_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if let Some(bad) = name
            .chars()
            .find(|&c| !is_edge_char(c) && !self.inner_chars.contains(&c))
        {
            return Err(format!(
                "must contain only lowercase letters, digits and {}; found {bad:?}",
                self.describe_inner_chars()
            ));
        }
        let first = name.chars().next().unwrap_or('-');
        let last = name.chars().last().unwrap_or('-');
        if !is_edge_char(first) || !is_edge_char(last) {
            return Err("must start and end with a lowercase letter or a digit".to_string());
        }
        Ok(())
    }

    pub fn is_valid(&self, name: &str) -> bool {
        self.check(name).is_ok()
    }

    fn describe_inner_chars(&self) -> String {
        self.inner_chars
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn project_names_follow_the_dns_label_rule() {
        for good in ["abc", "web-01", "a1b", &"a".repeat(63)] {
            assert!(PROJECT_NAME.is_valid(good), "{good} should be valid");
        }
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "Abc",
            "a_bc",
            "a.bc",
            "ab c",
            &"a".repeat(64),
            "äbc",
        ] {
            assert!(!PROJECT_NAME.is_valid(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn logstore_names_also_allow_underscore_inside() {
        assert!(LOGSTORE_NAME.is_valid("access_log-2"));
        assert!(!LOGSTORE_NAME.is_valid("_access"));
        assert!(!LOGSTORE_NAME.is_valid("access_"));
    }

    #[test]
    fn machine_group_and_config_names_are_two_to_128_characters() {
        for good in ["ab", "web_01-eu", &"a".repeat(128)] {
            assert!(MACHINE_GROUP_NAME.is_valid(good), "{good} should be valid");
            assert!(
                COLLECTION_CONFIG_NAME.is_valid(good),
                "{good} should be valid"
            );
        }
        for bad in ["a", &"a".repeat(129), "Web", "web.01", "-web", "web_"] {
            assert!(!MACHINE_GROUP_NAME.is_valid(bad), "{bad} should be invalid");
        }
    }

    proptest! {
        #[test]
        fn every_accepted_name_is_url_safe_and_bounded(name in "\\PC{0,70}") {
            if LOGSTORE_NAME.is_valid(&name) {
                prop_assert!(name.len() >= 3 && name.len() <= 63);
                prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
            }
        }

        #[test]
        fn group_and_config_names_are_url_safe_and_bounded(name in "\\PC{0,140}") {
            if MACHINE_GROUP_NAME.is_valid(&name) {
                prop_assert!(name.len() >= 2 && name.len() <= 128);
                prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
            }
        }

        #[test]
        fn names_built_from_the_alphabet_are_accepted(name in "[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]") {
            prop_assert!(LOGSTORE_NAME.is_valid(&name));
        }
    }
}
