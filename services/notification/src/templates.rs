//! The e-mails, as plain text and HTML. Every value from outside is escaped in the HTML part.

use chrono::{DateTime, Utc};
use html_escape::encode_text as esc;
use ps_core::PracticeRole;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct InvitationEmail<'a> {
    pub invitee_name: &'a str,
    pub inviter_name: &'a str,
    pub practice_name: &'a str,
    pub role: PracticeRole,
    pub url: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub const INVITATION: &str = "staff_invitation";

pub fn invitation(e: &InvitationEmail<'_>) -> Rendered {
    let expires = e.expires_at.format("%-d %B %Y, %H:%M UTC");
    let role = e.role.title();
    let subject = format!(
        "{} invited you to join {} on Practice Staff",
        e.inviter_name, e.practice_name
    );
    let text = format!(
        "Hello {name},\n\n\
         {inviter} invited you to join {practice} as {role}.\n\n\
         Open this link to accept or decline:\n{url}\n\n\
         The link works once and expires on {expires}.\n\
         If you did not expect this invitation, you can ignore this e-mail.\n",
        name = e.invitee_name,
        inviter = e.inviter_name,
        practice = e.practice_name,
        url = e.url,
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\n\
         <p>Hello {name},</p>\n\
         <p><strong>{inviter}</strong> invited you to join <strong>{practice}</strong> as {role}.</p>\n\
         <p><a href=\"{href}\">Accept or decline the invitation</a></p>\n\
         <p>The link works once and expires on {expires}.<br>\n\
         If you did not expect this invitation, you can ignore this e-mail.</p>\n\
         </body></html>\n",
        name = esc(e.invitee_name),
        inviter = esc(e.inviter_name),
        practice = esc(e.practice_name),
        href = html_escape::encode_double_quoted_attribute(e.url),
        role = esc(role),
    );
    Rendered {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_names_practice_and_inviter_and_escapes_html() {
        let rendered = invitation(&InvitationEmail {
            invitee_name: "Ada <script>",
            inviter_name: "Grace & Co",
            practice_name: "Acme Accounting",
            role: PracticeRole::Member,
            url: "http://x/invitation?token=abc&x=\"y\"",
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        });
        assert_eq!(
            rendered.subject,
            "Grace & Co invited you to join Acme Accounting on Practice Staff"
        );
        assert!(
            rendered
                .text
                .contains("http://x/invitation?token=abc&x=\"y\"")
        );
        assert!(rendered.text.contains("as Member"));
        assert!(rendered.html.contains("Ada &lt;script&gt;"));
        assert!(rendered.html.contains("Grace &amp; Co"));
        assert!(rendered.html.contains("token=abc&amp;x=&quot;y&quot;"));
        assert!(!rendered.html.contains("<script>"));
    }
}
