//! Service accounts' rules, free of storage and gRPC: what a valid account is, who may manage
//! which, which secrets are still accepted, what a client assertion must say, and which scopes
//! a token gets; and the values its use cases take and return.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_auth::Scope;
use ps_core::{FieldViolation, PracticeId, UserId};

/// How long a replaced secret keeps working unless the rotation says otherwise: long enough
/// for a rolling update of every replica that holds it.
pub const DEFAULT_SECRET_GRACE: Duration = Duration::from_secs(3600);
/// The longest grace a rotation may ask for.
pub const MAX_SECRET_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The furthest ahead a client assertion may expire (RFC 7523 wants them short-lived).
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on an assertion's iat and exp.
pub const ASSERTION_LEEWAY_SECS: i64 = 30;

/// A service account's name: 1–100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(FieldViolation::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description: at most 500 characters (may be empty).
pub fn description(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let value = raw.trim();
    if value.chars().count() > 500 {
        return Err(FieldViolation::new(field, "must be at most 500 characters"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Scopes from a request: known ones, no repeats. `required` says whether none is an error.
pub fn scopes(field: &str, raw: &[String], required: bool) -> Result<Vec<Scope>, FieldViolation> {
    if required && raw.is_empty() {
        return Err(FieldViolation::new(
            field,
            "needs at least one scope (see the catalogue in docs/service-accounts.md)",
        ));
    }
    let mut parsed = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        let scope = Scope::parse(name.trim()).ok_or_else(|| {
            FieldViolation::new(
                format!("{field}[{i}]"),
                "is not a known scope (see docs/service-accounts.md)",
            )
        })?;
        if parsed.contains(&scope) {
            return Err(FieldViolation::new(
                format!("{field}[{i}]"),
                format!("repeats {scope}"),
            ));
        }
        parsed.push(scope);
    }
    parsed.sort();
    Ok(parsed)
}

/// Product-internal scopes (minting links) only for platform-wide accounts.
pub fn scopes_fit_practice(
    field: &str,
    scopes: &[Scope],
    practice: Option<PracticeId>,
) -> Result<(), FieldViolation> {
    match scopes.iter().position(|s| s.is_product_internal()) {
        Some(i) if practice.is_some() => Err(FieldViolation::new(
            format!("{field}[{i}]"),
            format!(
                "{} is for the product's own platform-wide accounts only",
                scopes[i]
            ),
        )),
        _ => Ok(()),
    }
}

/// Who manages service accounts: the operator (every account), or an Account Owner (the
/// accounts limited to their practice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manager {
    Operator,
    Owner {
        user: UserId,
        name: String,
        practice: PracticeId,
    },
}

impl Manager {
    /// Whether this manager may see and change an account limited to `practice` (`None`:
    /// platform-wide). Callers answer NotFound when not, as for a missing account.
    pub fn manages(&self, practice: Option<PracticeId>) -> bool {
        match self {
            Manager::Operator => true,
            Manager::Owner { practice: own, .. } => practice == Some(*own),
        }
    }

    /// The practice a new account is limited to: an owner's is always their own (asking for
    /// another is refused); the operator's is what they asked.
    pub fn practice_for_new(
        &self,
        requested: Option<PracticeId>,
    ) -> Result<Option<PracticeId>, FieldViolation> {
        match self {
            Manager::Operator => Ok(requested),
            Manager::Owner { practice, .. } => match requested {
                None => Ok(Some(*practice)),
                Some(asked) if asked == *practice => Ok(Some(asked)),
                Some(_) => Err(FieldViolation::new(
                    "practice_id",
                    "must be your own practice (or empty)",
                )),
            },
        }
    }

    /// How the account's history names whoever made a change.
    pub fn actor_name(&self) -> String {
        match self {
            Manager::Operator => "operator".into(),
            Manager::Owner { name, .. } => name.clone(),
        }
    }
}

/// A stored secret: its hash and, once replaced, until when it still works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub hash: Vec<u8>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl StoredSecret {
    pub fn accepted_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|until| until > now)
    }
}

/// Whether `presented` (the SHA-256 of what the caller sent) is one of the secrets still
/// accepted at `now`. Compared in constant time.
pub fn secret_accepted(secrets: &[StoredSecret], presented: &[u8], now: DateTime<Utc>) -> bool {
    use subtle::ConstantTimeEq;
    secrets
        .iter()
        .filter(|s| s.accepted_at(now))
        .fold(false, |found, s| {
            found | bool::from(s.hash.ct_eq(presented))
        })
}

/// How long the replaced secret keeps working after a rotation.
pub fn grace(seconds: u32, end_now: bool) -> Result<Duration, FieldViolation> {
    if end_now {
        return Ok(Duration::ZERO);
    }
    if seconds == 0 {
        return Ok(DEFAULT_SECRET_GRACE);
    }
    let asked = Duration::from_secs(u64::from(seconds));
    if asked > MAX_SECRET_GRACE {
        return Err(FieldViolation::new(
            "grace_seconds",
            format!("must be at most {} (7 days)", MAX_SECRET_GRACE.as_secs()),
        ));
    }
    Ok(asked)
}

/// The claims of a client assertion that matter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why an assertion is refused (the caller only ever hears "refused").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionProblem {
    NotForThisClient,
    Expired,
    TooLong,
    IssuedInTheFuture,
    NoId,
}

/// What an assertion must say: issued by and about `client_id`, current, short-lived, with
/// an id (it is accepted once).
pub fn check_assertion(
    claims: &AssertionClaims,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AssertionProblem> {
    let now = now.timestamp();
    if claims.iss != client_id || claims.sub != client_id {
        return Err(AssertionProblem::NotForThisClient);
    }
    if claims.exp <= now - ASSERTION_LEEWAY_SECS {
        return Err(AssertionProblem::Expired);
    }
    if claims.iat > now + ASSERTION_LEEWAY_SECS {
        return Err(AssertionProblem::IssuedInTheFuture);
    }
    if claims.exp - claims.iat > MAX_ASSERTION_LIFETIME_SECS {
        return Err(AssertionProblem::TooLong);
    }
    if claims.jti.trim().is_empty() || claims.jti.len() > 200 {
        return Err(AssertionProblem::NoId);
    }
    Ok(())
}

/// The scopes a token gets: the requested ones (each held by the account), or all of them.
pub fn token_scopes(held: &[Scope], requested: &[Scope]) -> Result<Vec<Scope>, FieldViolation> {
    if requested.is_empty() {
        return Ok(held.to_vec());
    }
    match requested.iter().find(|s| !held.contains(s)) {
        Some(missing) => Err(FieldViolation::new(
            "scopes",
            format!("{missing} is not one of the account's scopes"),
        )),
        None => Ok(requested.to_vec()),
    }
}

/// Scopes as stored and carried in tokens: space-separated.
pub fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stored scopes back; a name this build no longer knows is dropped.
pub fn split(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// A service account to create, as validated at the edge.
#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    pub name: AccountName,
    pub description: String,
    pub scopes: Vec<Scope>,
    /// As asked; [`Manager::practice_for_new`] decides the account's.
    pub practice: Option<PracticeId>,
    pub with_secret: bool,
}

/// Whether an account may get tokens (stored as `service_accounts.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Disabled,
}

impl AccountStatus {
    pub const ALL: &'static [AccountStatus] = &[AccountStatus::Active, AccountStatus::Disabled];
}

/// A service account as stored, without its secrets and keys: what issuing a token and
/// managing the account need. [`ServiceAccount`] is the view its managers get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    pub id: ps_core::ServiceAccountId,
    pub name: String,
    pub description: String,
    pub scopes: Vec<Scope>,
    /// The practice it is limited to; none for a platform-wide account.
    pub practice: Option<PracticeId>,
    pub practice_name: String,
    pub status: AccountStatus,
    /// Carried by its tokens, and ended (like a signed-out session) when the account is
    /// disabled; enabling starts a new one.
    pub token_session: ps_core::SessionId,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub rotated_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// An IssueServiceToken request as validated at the edge: the account, its proof, and the
/// scopes asked for (none: all it holds).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub client_id: ps_core::ServiceAccountId,
    pub proof: Proof,
    pub scopes: Vec<Scope>,
}

/// Which accounts to list: the operator may narrow to one practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountListing {
    pub practice: Option<PracticeId>,
    pub page: ps_core::PageRequest,
}

/// A new secret for an account; the secrets it replaces work for `grace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretRotation {
    pub account: ps_core::ServiceAccountId,
    pub grace: Duration,
}

/// One registered public key to remove from an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRemoval {
    pub account: ps_core::ServiceAccountId,
    pub key_id: uuid::Uuid,
}

/// A registered public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    pub key_id: uuid::Uuid,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
}

/// A service account as its managers see it (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: ps_core::ServiceAccountId,
    pub name: String,
    pub description: String,
    pub scopes: Vec<Scope>,
    pub practice: Option<PracticeId>,
    pub practice_name: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub rotated_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub keys: Vec<AccountKey>,
    pub has_secret: bool,
    pub previous_secrets_expire_at: Vec<DateTime<Utc>>,
}

/// One change in an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub action: String,
    pub actor_name: String,
    pub occurred_at: DateTime<Utc>,
    pub detail: String,
}

/// A credential presented to IssueServiceToken.
#[derive(Debug, Clone)]
pub enum Proof {
    Secret(crate::domain::SecretToken),
    Assertion(String),
}

/// A service token and what it carries.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub lifetime: Duration,
    pub scopes: Vec<Scope>,
    pub account_id: ps_core::ServiceAccountId,
}

/// The product's own service accounts, provisioned by identity at start from configuration
/// (their secrets are the configuration's; ids and scopes are fixed here, so every deployment
/// names them alike).
#[derive(Debug, Clone, Copy)]
pub struct ProductAccount {
    pub id: uuid::Uuid,
    pub name: &'static str,
    pub scopes: &'static [Scope],
}

/// notification: mints and voids the links it e-mails.
pub const NOTIFICATION_ACCOUNT: ProductAccount = ProductAccount {
    id: ps_auth::scopes::NOTIFICATION_ACCOUNT_ID,
    name: "notification",
    scopes: ps_auth::scopes::NOTIFICATION,
};

#[cfg(test)]
mod tests {
    use super::*;
    use ps_auth::scopes::{IDENTITY_INVITATION_LINKS, ORGACCESS_CHECK, STAFF_READ};

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn scopes_must_be_known_distinct_and_present() {
        assert_eq!(
            scopes("scopes", &strings(&["staff.read", "orgaccess.check"]), true).unwrap(),
            vec![ORGACCESS_CHECK, STAFF_READ]
        );
        for (raw, field, says) in [
            (vec![], "scopes", "at least one"),
            (
                vec!["orgaccess.check", "root"],
                "scopes[1]",
                "not a known scope",
            ),
            (
                vec!["staff.read", "staff.read"],
                "scopes[1]",
                "repeats staff.read",
            ),
        ] {
            let v = scopes("scopes", &strings(&raw), true).unwrap_err();
            assert_eq!(v.field, field);
            assert!(v.description.contains(says), "{}", v.description);
        }
        assert_eq!(scopes("scopes", &[], false).unwrap(), vec![]);
    }

    #[test]
    fn link_scopes_are_for_platform_wide_accounts_only() {
        let practice = Some(PracticeId::generate());
        let refused = scopes_fit_practice(
            "scopes",
            &[ORGACCESS_CHECK, IDENTITY_INVITATION_LINKS],
            practice,
        )
        .unwrap_err();
        assert_eq!(refused.field, "scopes[1]");
        assert!(scopes_fit_practice("scopes", &[IDENTITY_INVITATION_LINKS], None).is_ok());
        assert!(scopes_fit_practice("scopes", &[ORGACCESS_CHECK], practice).is_ok());
    }

    #[test]
    fn owners_manage_their_practice_only_and_the_operator_everything() {
        let own = PracticeId::generate();
        let other = PracticeId::generate();
        let owner = Manager::Owner {
            user: UserId::generate(),
            name: "Olive Owner".into(),
            practice: own,
        };
        assert!(owner.manages(Some(own)));
        assert!(!owner.manages(Some(other)));
        assert!(!owner.manages(None));
        assert!(Manager::Operator.manages(None));
        assert!(Manager::Operator.manages(Some(other)));
        assert_eq!(owner.practice_for_new(None).unwrap(), Some(own));
        assert_eq!(owner.practice_for_new(Some(own)).unwrap(), Some(own));
        assert_eq!(
            owner.practice_for_new(Some(other)).unwrap_err().field,
            "practice_id"
        );
        assert_eq!(Manager::Operator.practice_for_new(None).unwrap(), None);
        assert_eq!(owner.actor_name(), "Olive Owner");
        assert_eq!(Manager::Operator.actor_name(), "operator");
    }

    #[test]
    fn replaced_secrets_work_until_their_grace_ends() {
        let now = Utc::now();
        let current = StoredSecret {
            hash: vec![1; 32],
            expires_at: None,
        };
        let replaced = StoredSecret {
            hash: vec![2; 32],
            expires_at: Some(now + chrono::Duration::minutes(10)),
        };
        let secrets = [current, replaced];
        assert!(secret_accepted(&secrets, &[1; 32], now));
        assert!(secret_accepted(&secrets, &[2; 32], now));
        assert!(!secret_accepted(&secrets, &[3; 32], now));
        let later = now + chrono::Duration::minutes(11);
        assert!(secret_accepted(&secrets, &[1; 32], later));
        assert!(!secret_accepted(&secrets, &[2; 32], later));
    }

    #[test]
    fn grace_defaults_to_an_hour_caps_at_a_week_and_can_end_at_once() {
        assert_eq!(grace(0, false).unwrap(), DEFAULT_SECRET_GRACE);
        assert_eq!(grace(60, false).unwrap(), Duration::from_secs(60));
        assert_eq!(grace(60, true).unwrap(), Duration::ZERO);
        assert_eq!(
            grace(8 * 24 * 3600, false).unwrap_err().field,
            "grace_seconds"
        );
    }

    #[test]
    fn assertions_must_be_for_the_client_current_short_and_identified() {
        let now = Utc::now();
        let t = now.timestamp();
        let good = AssertionClaims {
            iss: "c".into(),
            sub: "c".into(),
            iat: t,
            exp: t + 60,
            jti: "j".into(),
        };
        assert_eq!(check_assertion(&good, "c", now), Ok(()));
        let cases = [
            (
                AssertionClaims {
                    sub: "d".into(),
                    ..good.clone()
                },
                AssertionProblem::NotForThisClient,
            ),
            (
                AssertionClaims {
                    iss: "d".into(),
                    ..good.clone()
                },
                AssertionProblem::NotForThisClient,
            ),
            (
                AssertionClaims {
                    iat: t - 400,
                    exp: t - 100,
                    ..good.clone()
                },
                AssertionProblem::Expired,
            ),
            (
                AssertionClaims {
                    exp: t + 3600,
                    ..good.clone()
                },
                AssertionProblem::TooLong,
            ),
            (
                AssertionClaims {
                    iat: t + 120,
                    exp: t + 180,
                    ..good.clone()
                },
                AssertionProblem::IssuedInTheFuture,
            ),
            (
                AssertionClaims {
                    jti: " ".into(),
                    ..good.clone()
                },
                AssertionProblem::NoId,
            ),
        ];
        for (claims, problem) in cases {
            assert_eq!(
                check_assertion(&claims, "c", now),
                Err(problem),
                "{claims:?}"
            );
        }
    }

    #[test]
    fn tokens_get_the_requested_subset_or_everything() {
        let held = [ORGACCESS_CHECK, STAFF_READ];
        assert_eq!(token_scopes(&held, &[]).unwrap(), held.to_vec());
        assert_eq!(
            token_scopes(&held, &[STAFF_READ]).unwrap(),
            vec![STAFF_READ]
        );
        assert!(token_scopes(&held, &[IDENTITY_INVITATION_LINKS]).is_err());
        assert_eq!(split(&join(&held)), held.to_vec());
        assert_eq!(split("staff.read gone.scope"), vec![STAFF_READ]);
    }

    #[test]
    fn names_and_descriptions_are_bounded() {
        assert!(AccountName::parse("name", " billing ").is_ok());
        assert_eq!(
            AccountName::parse("name", "").unwrap_err().description,
            "is required"
        );
        assert!(AccountName::parse("name", &"x".repeat(101)).is_err());
        assert!(description("description", &"x".repeat(501)).is_err());
        assert_eq!(description("description", "").unwrap(), "");
    }

    #[test]
    fn names_and_descriptions_refuse_control_characters() {
        let name = AccountName::parse("name", "  billing sync ").unwrap();
        assert_eq!(name.as_str(), "billing sync");
        for (raw, says) in [
            ("", "is required"),
            ("bill\u{0}ing", "must not contain control characters"),
        ] {
            assert_eq!(
                AccountName::parse("name", raw).unwrap_err().description,
                says
            );
        }
        assert!(AccountName::parse("name", &"n".repeat(AccountName::MAX_CHARS + 1)).is_err());
        assert_eq!(
            description("description", "line one\nline two").unwrap(),
            "line one\nline two"
        );
        assert_eq!(
            description("description", "tab\there")
                .unwrap_err()
                .description,
            "must not contain control characters"
        );
    }
}
