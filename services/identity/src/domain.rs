//! Identity's domain values and results, independent of gRPC and storage: passwords and
//! secret tokens, the values the store reads and writes (users, single-use links, sessions,
//! memberships, signing keys), the commands the edge builds from requests, and use-case
//! results.
//!
//! - [`service_accounts`]: the rules of machine callers' accounts and credentials.

pub mod service_accounts;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ps_core::{
    Email, FieldViolation, PersonName, PracticeId, PracticeRole, SessionId, StaffId, UserId,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A password as typed: 10–128 characters. Longer phrases are welcome; the upper bound only
/// keeps hashing cost predictable.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    /// A new password must meet the length rules.
    pub fn new_password(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let chars = raw.chars().count();
        if chars == 0 {
            return Err(FieldViolation::new(field, "is required"));
        }
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(FieldViolation::new(
                field,
                format!(
                    "must be {} to {} characters",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password presented to sign in: only its presence and size are checked, the hash does
    /// the rest.
    pub fn presented(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldViolation::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A secret handed to a person once (invitation link token, refresh token): 256 random bits,
/// base64url. Only its SHA-256 is stored; at that entropy a fast hash is enough.
#[derive(Clone)]
pub struct SecretToken(String);

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

impl SecretToken {
    pub fn generate() -> Self {
        Self(ps_auth::random_token())
    }

    /// A token presented by a caller. Anything that is not 43 base64url characters cannot be
    /// one of ours.
    pub fn presented(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if raw.len() != 43
            || !raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(FieldViolation::new(field, "is not a valid token"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

/// A refresh token: the session it belongs to and a 256-bit secret, `<session>.<secret>`.
/// Naming the session lets a presented token that is not the session's current one be
/// recognised as a replay of an older one, which revokes the session.
#[derive(Clone)]
pub struct RefreshToken {
    pub session: SessionId,
    pub secret: SecretToken,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl RefreshToken {
    pub fn new(session: SessionId) -> Self {
        Self {
            session,
            secret: SecretToken::generate(),
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let bad = || FieldViolation::new(field, "is not a valid refresh token");
        let (session, secret) = raw.split_once('.').ok_or_else(bad)?;
        let session = URL_SAFE_NO_PAD
            .decode(session)
            .ok()
            .and_then(|bytes| uuid::Uuid::from_slice(&bytes).ok())
            .ok_or_else(bad)?;
        Ok(Self {
            session: SessionId(session),
            secret: SecretToken::presented(field, secret).map_err(|_| bad())?,
        })
    }

    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(self.session.as_uuid().as_bytes()),
            self.secret.as_str()
        )
    }

    /// Whether this token's secret is the one whose hash is stored (constant time).
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        bool::from(self.secret.hash().as_slice().ct_eq(stored_hash))
    }
}

/// A practice the signed-in person may act in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyPractice {
    pub practice_id: PracticeId,
    pub practice_name: String,
    pub staff_id: StaffId,
    pub role: PracticeRole,
    pub current: bool,
}

/// A password reset link, returned once to notification.
#[derive(Debug, Clone)]
pub struct IssuedResetLink {
    pub id: uuid::Uuid,
    pub token: SecretToken,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// What an invitation offers, shown before the invitee answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationView {
    pub practice_id: PracticeId,
    pub practice_name: String,
    pub inviter_name: String,
    pub email: Email,
    pub invitee_name: String,
    pub role: PracticeRole,
    pub expires_at: DateTime<Utc>,
    pub existing_account: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub user_id: UserId,
    pub practice_id: PracticeId,
    pub staff_id: StaffId,
}

/// A request from notification for a fresh invitation link.
#[derive(Debug, Clone)]
pub struct IssueInvitation {
    pub email: Email,
    pub invitee_name: PersonName,
    pub practice_id: PracticeId,
    pub practice_name: String,
    pub staff_id: StaffId,
    pub inviter_name: String,
    pub role: PracticeRole,
}

#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub id: uuid::Uuid,
    pub token: SecretToken,
    pub url: String,
    pub expires_at: DateTime<Utc>,
    pub user_id: UserId,
}

#[derive(Debug, Clone)]
pub struct SignedIn {
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: RefreshToken,
    pub refresh_expires_at: DateTime<Utc>,
    pub user_id: UserId,
    pub practice_id: PracticeId,
    pub role: PracticeRole,
}

/// What a single-use link is for (stored as `action_links.purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Invitation,
    PasswordReset,
}

impl LinkPurpose {
    pub const ALL: &'static [LinkPurpose] = &[LinkPurpose::Invitation, LinkPurpose::PasswordReset];
}

/// How a used link was answered (stored as `action_links.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Accepted,
    Declined,
    PasswordSet,
}

impl LinkOutcome {
    pub const ALL: &'static [LinkOutcome] = &[
        LinkOutcome::Accepted,
        LinkOutcome::Declined,
        LinkOutcome::PasswordSet,
    ];
}

/// A single-use link sent by e-mail: an invitation or a password reset. Only the hash of its
/// token is stored, so a link is found by the token the caller presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionLink {
    pub id: uuid::Uuid,
    pub purpose: LinkPurpose,
    pub user_id: UserId,
    /// The practice and member an invitation is for; none for password resets.
    pub practice_id: Option<PracticeId>,
    pub staff_id: Option<StaffId>,
    /// What the invitee sees before answering, captured when the link was issued.
    pub practice_name: String,
    pub inviter_name: String,
    pub invitee_name: String,
    /// The role an invitation grants; none for password resets.
    pub role: Option<PracticeRole>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    /// Set when a newer link for the same person and practice replaced this one.
    pub voided_at: Option<DateTime<Utc>>,
}

/// A person's account: one per e-mail, whatever the practices they belong to.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    /// argon2id PHC string; none until the first invitation is accepted.
    pub password_hash: Option<String>,
    /// Failed sign-ins since the last success or lock.
    pub failed_sign_ins: u32,
    /// Sign-in refuses every password until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Start of the current password-reset rate-limit window and the requests within it.
    pub reset_window_started_at: Option<DateTime<Utc>>,
    pub resets_in_window: u32,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("has_password", &self.password_hash.is_some())
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether sign-in refuses every password at `now`.
    pub fn locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// A signed-in session in one practice, kept going by its refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub practice_id: PracticeId,
    /// SHA-256 of the secret part of the current refresh token; rotated on every refresh.
    pub refresh_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which of a user's open sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsToEnd {
    All,
    InPractice(PracticeId),
    One(SessionId),
}

/// A practice a user may sign in to, with their role there: written when an invitation is
/// accepted and kept in step with staff-directory's events, so sign-in needs no call to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub user_id: UserId,
    pub practice_id: PracticeId,
    pub staff_id: StaffId,
    pub practice_name: String,
    pub role: PracticeRole,
    pub active: bool,
}

/// A queued password reset request: only the e-mail as typed, whether or not it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    pub id: uuid::Uuid,
    pub email: Email,
}

/// How a signing key's private part is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// Sealed with the key-encryption key: nonce, then ciphertext.
    Sealed,
    /// A clear PKCS#8 key, as stored before keys were sealed (sealed at the next start).
    Clear,
}

impl KeyFormat {
    pub const ALL: &'static [KeyFormat] = &[KeyFormat::Sealed, KeyFormat::Clear];
}

/// A token signing key as stored: its id and its private part in `format`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub private_key: Vec<u8>,
    pub format: KeyFormat,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A sign-in as asked: the e-mail, the password, and the practice when the person named one.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub email: Email,
    pub password: Password,
    pub practice: Option<PracticeId>,
}

/// An invitation answered yes: its token and the invitee's password (their existing one, or
/// the one they choose now).
#[derive(Debug, Clone)]
pub struct AcceptInvitation {
    pub token: SecretToken,
    pub password: Password,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert_eq!(
            Password::new_password("password", "")
                .unwrap_err()
                .description,
            "is required"
        );
        assert!(Password::new_password("password", "short").is_err());
        assert!(Password::new_password("password", &"x".repeat(129)).is_err());
        assert!(Password::new_password("password", "long enough pass").is_ok());
        assert!(Password::presented("password", "").is_err());
        assert!(format!("{:?}", Password::presented("p", "secret").unwrap()).contains("***"));
    }

    #[test]
    fn refresh_tokens_name_their_session_and_match_in_constant_time() {
        let token = RefreshToken::new(SessionId::generate());
        let parsed = RefreshToken::parse("refresh_token", &token.encode()).unwrap();
        assert_eq!(parsed.session, token.session);
        assert!(parsed.matches(&token.secret.hash()));
        assert!(!parsed.matches(&SecretToken::generate().hash()));
        for bad in [
            "",
            "nodot",
            "!!!.abc",
            &format!("{}.short", token.encode().split('.').next().unwrap()),
        ] {
            assert!(RefreshToken::parse("refresh_token", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_have_256_bits_and_are_checked_for_shape() {
        let token = SecretToken::generate();
        assert_eq!(token.as_str().len(), 43);
        assert!(SecretToken::presented("token", token.as_str()).is_ok());
        assert!(SecretToken::presented("token", "abc").is_err());
        assert!(SecretToken::presented("token", &"!".repeat(43)).is_err());
        assert_eq!(token.hash().len(), 32);
        assert_ne!(token.hash(), SecretToken::generate().hash());
    }

    #[test]
    fn presented_secrets_are_required_and_bounded() {
        assert_eq!(
            Password::presented("password", &"x".repeat(129))
                .unwrap_err()
                .description,
            "must be at most 128 characters"
        );
        assert!(Password::presented("password", &"x".repeat(128)).is_ok());
        assert_eq!(
            SecretToken::presented("token", "   ")
                .unwrap_err()
                .description,
            "is required"
        );
    }

    /// What a log line or a panic message would print of these never holds the secret.
    #[test]
    fn secrets_are_left_out_of_debug_output() {
        let token = SecretToken::generate();
        let refresh = RefreshToken::new(SessionId::generate());
        let user = User {
            id: UserId::generate(),
            email: Email::parse("email", "ana@example.com").unwrap(),
            name: "Ana".into(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            failed_sign_ins: 0,
            locked_until: None,
            reset_window_started_at: None,
            resets_in_window: 0,
        };
        let key = StoredSigningKey {
            kid: "k1".into(),
            private_key: b"-----BEGIN PRIVATE KEY-----".to_vec(),
            format: KeyFormat::Sealed,
        };
        assert_eq!(format!("{token:?}"), "SecretToken(***)");
        let refresh_printed = format!("{refresh:?}");
        assert!(refresh_printed.contains(&refresh.session.to_string()));
        assert!(!refresh_printed.contains(refresh.secret.as_str()));
        let user_printed = format!("{user:?}");
        assert!(
            user_printed.contains("has_password: true"),
            "{user_printed}"
        );
        assert!(!user_printed.contains("argon2id"), "{user_printed}");
        let key_printed = format!("{key:?}");
        assert!(key_printed.contains("k1"), "{key_printed}");
        assert!(!key_printed.contains("PRIVATE") && !key_printed.contains("45, 45"));
    }

    #[test]
    fn a_lock_holds_until_its_time() {
        let now = DateTime::from_timestamp(1_796_287_200, 0).unwrap();
        let mut user = User {
            id: UserId::generate(),
            email: Email::parse("email", "ana@example.com").unwrap(),
            name: "Ana".into(),
            password_hash: None,
            failed_sign_ins: 5,
            locked_until: None,
            reset_window_started_at: None,
            resets_in_window: 0,
        };
        assert!(!user.locked_at(now));
        user.locked_until = Some(now + chrono::Duration::minutes(15));
        assert!(user.locked_at(now));
        assert!(!user.locked_at(now + chrono::Duration::minutes(15)));
    }
}
