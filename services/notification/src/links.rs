//! E-mails that carry a single-use link (invitations, reminders, password resets).
//!
//! No raw link is ever stored: the delivery row keeps only what the e-mail needs besides the
//! link ([`LinkMail`], as JSON), and the mailer mints the link from identity ([`LinkIssuer`])
//! at the moment it sends, renders the e-mail around it and forgets it. A retry mints a fresh
//! link, which voids the older one (identity's rule for a newer link), so the link in the
//! e-mail that went out last is always the live one; copies of one event are one delivery (the
//! inbox), so they mint one link. When the e-mail finally fails, its last link is voided.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ps_core::{PracticeId, PracticeRole, StaffId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::templates;

/// What an e-mail with a link needs, besides the link itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkMail {
    Invitation {
        staff_id: StaffId,
        practice_id: PracticeId,
        email: String,
        name: String,
        /// [`PracticeRole::as_str`].
        role: String,
        practice_name: String,
        inviter_name: String,
        /// A reinvitation (a reminder).
        reminder: bool,
    },
    PasswordReset {
        user_id: UserId,
        name: String,
    },
}

/// A link identity minted for one e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedLink {
    /// Not a secret: what [`LinkIssuer::void`] takes.
    pub id: Uuid,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Why no link could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// Identity could not be reached: try again later, the e-mail is not at fault.
    #[error("identity is unavailable: {0}")]
    Unavailable(String),
    /// Identity refused for a reason a retry will not change.
    #[error("identity refused the link: {0}")]
    Refused(String),
}

/// Identity's single-use links, as the mailer needs them.
#[async_trait]
pub trait LinkIssuer: Send + Sync + 'static {
    async fn mint(&self, mail: &LinkMail) -> Result<MintedLink, LinkError>;
    /// Voids a link whose e-mail finally failed.
    async fn void(&self, link: Uuid) -> Result<(), LinkError>;
}

impl LinkMail {
    /// The template name, as the delivery log shows it.
    pub fn template(&self) -> &'static str {
        match self {
            LinkMail::Invitation {
                reminder: false, ..
            } => templates::INVITATION,
            LinkMail::Invitation { reminder: true, .. } => templates::REINVITATION,
            LinkMail::PasswordReset { .. } => templates::PASSWORD_RESET,
        }
    }

    /// The member an invitation is for.
    pub fn staff_id(&self) -> Option<StaffId> {
        match self {
            LinkMail::Invitation { staff_id, .. } => Some(*staff_id),
            LinkMail::PasswordReset { .. } => None,
        }
    }

    /// The e-mail around `link`.
    pub fn render(&self, link: &MintedLink) -> templates::Rendered {
        match self {
            LinkMail::Invitation {
                name,
                role,
                practice_name,
                inviter_name,
                reminder,
                ..
            } => templates::invitation(&templates::InvitationEmail {
                invitee_name: name,
                inviter_name,
                practice_name,
                role: PracticeRole::parse(role).unwrap_or(PracticeRole::Member),
                url: &link.url,
                expires_at: link.expires_at,
                reminder: *reminder,
            }),
            LinkMail::PasswordReset { name, .. } => {
                templates::password_reset(&templates::PasswordResetEmail {
                    name,
                    url: &link.url,
                    expires_at: link.expires_at,
                })
            }
        }
    }

    /// The subject, which does not depend on the link (for the delivery log before sending).
    pub fn subject(&self) -> String {
        self.render(&MintedLink {
            id: Uuid::nil(),
            url: String::new(),
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
        })
        .subject
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(reminder: bool) -> LinkMail {
        LinkMail::Invitation {
            staff_id: StaffId::generate(),
            practice_id: PracticeId::generate(),
            email: "ada@example.test".into(),
            name: "Ada Lovelace".into(),
            role: PracticeRole::AccountManager.as_str().into(),
            practice_name: "Acme".into(),
            inviter_name: "Olive Owner".into(),
            reminder,
        }
    }

    #[test]
    fn a_link_mail_survives_storage_and_renders_around_its_link() {
        let mail = invitation(true);
        let stored = serde_json::to_string(&mail).unwrap();
        assert!(!stored.contains("token"), "{stored}");
        let restored: LinkMail = serde_json::from_str(&stored).unwrap();
        assert_eq!(restored, mail);
        assert_eq!(restored.template(), templates::REINVITATION);
        let link = MintedLink {
            id: Uuid::now_v7(),
            url: "https://app.example.test/invitation?token=abc".into(),
            expires_at: Utc::now(),
        };
        let rendered = restored.render(&link);
        assert!(rendered.text.contains(&link.url));
        assert_eq!(rendered.subject, restored.subject());
        assert!(rendered.subject.starts_with("Reminder:"));
        assert!(rendered.text.contains(PracticeRole::AccountManager.title()));
        assert_eq!(invitation(false).template(), templates::INVITATION);
    }
}
