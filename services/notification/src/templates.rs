//! The e-mails, as plain text and HTML. Every value from outside is escaped in the HTML part.

use chrono::{DateTime, Utc};
use html_escape::encode_text as esc;
use ps_core::{OffboardingCounts, PracticeRole};
use ps_events::event::Holding;

/// One e-mail, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Template names, as logged in deliveries.
pub const INVITATION: &str = "staff_invitation";
pub const REINVITATION: &str = "staff_reinvitation";
pub const CERTIFICATION_INVITATION: &str = "certification_invitation";
pub const CERTIFICATE_READY: &str = "certificate_ready";
pub const PASSWORD_RESET: &str = "password_reset";
pub const ORG_INVITATION: &str = "organisation_invitation";
pub const OFFBOARDING_HANDOVER: &str = "offboarding_handover";
pub const OFFBOARDING_SUMMARY: &str = "offboarding_summary";
pub const OFFBOARDING_FAILED: &str = "offboarding_failed";

/// Organisations listed one per line in an e-mail; beyond this, a count of the rest.
const LISTED: usize = 50;

fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %B %Y, %H:%M UTC").to_string()
}

/// One paragraph-per-entry e-mail with an optional call to action; `lines` are plain text.
fn compose(
    subject: String,
    greeting: &str,
    lines: &[String],
    action: Option<(&str, &str)>,
    footer: &[String],
) -> Rendered {
    let mut text = format!("Hello {greeting},\n\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>Hello {},</p>\n",
        esc(greeting)
    );
    for line in lines {
        text.push_str(line);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>\n", esc(line)));
    }
    if let Some((label, url)) = action {
        text.push_str(&format!("{label}:\n{url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            html_escape::encode_double_quoted_attribute(url),
            esc(label)
        ));
    }
    for line in footer {
        text.push_str(line);
        text.push('\n');
        html.push_str(&format!("<p>{}</p>\n", esc(line)));
    }
    html.push_str("</body></html>\n");
    Rendered {
        subject,
        text,
        html,
    }
}

/// What an invitation (or a reminder) says.
pub struct InvitationEmail<'a> {
    pub invitee_name: &'a str,
    pub inviter_name: &'a str,
    pub practice_name: &'a str,
    pub role: PracticeRole,
    pub url: &'a str,
    pub expires_at: DateTime<Utc>,
    /// A resent invitation: says so, and that older links no longer work.
    pub reminder: bool,
}

/// An invitation, or a reminder of one.
pub fn invitation(e: &InvitationEmail<'_>) -> Rendered {
    let subject = format!(
        "{} invited you to join {} on Practice Staff",
        e.inviter_name, e.practice_name
    );
    let subject = if e.reminder {
        format!("Reminder: {subject}")
    } else {
        subject
    };
    let mut lines = vec![format!(
        "{} invited you to join {} as {}.",
        e.inviter_name,
        e.practice_name,
        e.role.title()
    )];
    if e.reminder {
        lines.push("This is a new invitation: links in earlier e-mails no longer work.".into());
    }
    compose(
        subject,
        e.invitee_name,
        &lines,
        Some(("Accept or decline the invitation", e.url)),
        &[
            format!("The link works once and expires on {}.", when(e.expires_at)),
            "If you did not expect this invitation, you can ignore this e-mail.".into(),
        ],
    )
}

/// What a certification invitation says.
pub struct CertificationEmail<'a> {
    pub member_name: &'a str,
    pub inviter_name: &'a str,
    pub practice_name: &'a str,
    pub url: &'a str,
}

/// A certification invitation.
pub fn certification_invitation(e: &CertificationEmail<'_>) -> Rendered {
    compose(
        format!(
            "{} invited you to get certified with {}",
            e.inviter_name, e.practice_name
        ),
        e.member_name,
        &[format!(
            "{} invited you to complete the {} certification.",
            e.inviter_name, e.practice_name
        )],
        Some(("Start the certification", e.url)),
        &["Once it is recorded, your certificate can be downloaded from Practice Staff.".into()],
    )
}

/// What the certificate-ready e-mail says.
pub struct CertificateReadyEmail<'a> {
    pub member_name: &'a str,
    pub practice_name: &'a str,
    pub certified_at: DateTime<Utc>,
    pub certificate_number: &'a str,
}

/// The certificate is ready.
pub fn certificate_ready(e: &CertificateReadyEmail<'_>) -> Rendered {
    compose(
        format!("Your certificate from {} is ready", e.practice_name),
        e.member_name,
        &[format!(
            "Your certification with {} was recorded on {} under number {}.",
            e.practice_name,
            e.certified_at.format("%-d %B %Y"),
            e.certificate_number
        )],
        None,
        &["You can download the certificate (PDF) from Practice Staff.".into()],
    )
}

/// What a password-reset e-mail says.
pub struct PasswordResetEmail<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// A password reset.
pub fn password_reset(e: &PasswordResetEmail<'_>) -> Rendered {
    compose(
        "Reset your Practice Staff password".into(),
        e.name,
        &[
            "Someone, hopefully you, asked to reset the password of your Practice Staff account."
                .into(),
        ],
        Some(("Choose a new password", e.url)),
        &[
            format!(
                "The link works once and expires on {}. Resetting signs you out everywhere.",
                when(e.expires_at)
            ),
            "If you did not ask for this, ignore this e-mail: your password stays as it is.".into(),
        ],
    )
}

/// What an organisation invitation says.
pub struct OrgInvitationEmail<'a> {
    pub member_name: &'a str,
    pub inviter_name: &'a str,
    pub organisation_names: &'a [String],
    pub url: &'a str,
}

/// One e-mail for one changeset, listing every organisation offered.
pub fn org_invitation(e: &OrgInvitationEmail<'_>) -> Rendered {
    let count = e.organisation_names.len();
    let subject = match e.organisation_names {
        [only] => format!("{} gave you access to {only}", e.inviter_name),
        _ => format!(
            "{} gave you access to {count} organisations",
            e.inviter_name
        ),
    };
    let mut lines = vec![format!("{} offered you access to:", e.inviter_name)];
    lines.extend(e.organisation_names.iter().map(|name| format!("• {name}")));
    lines.push("Accept or decline each organisation on its own.".into());
    compose(
        subject,
        e.member_name,
        &lines,
        Some(("Review the invitations", e.url)),
        &[],
    )
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What the replacement is told after a handover.
pub struct HandoverEmail<'a> {
    pub replacement_name: &'a str,
    pub leaver_name: &'a str,
    pub manager_name: &'a str,
    pub holdings: &'a [Holding],
    pub steps: u32,
}

/// To the replacement: what they now hold.
pub fn offboarding_handover(e: &HandoverEmail<'_>) -> Rendered {
    let mut lines = vec![format!(
        "{} handed {}'s work to you.",
        e.manager_name, e.leaver_name
    )];
    if e.holdings.is_empty() {
        lines.push(format!(
            "{} had no organisation access to hand over.",
            e.leaver_name
        ));
    } else {
        lines.push(format!(
            "You now have access to {}:",
            plural(
                u32::try_from(e.holdings.len()).unwrap_or(u32::MAX),
                "organisation",
                "organisations"
            )
        ));
        lines.extend(
            e.holdings
                .iter()
                .take(LISTED)
                .map(|h| format!("• {} — {}", h.organisation_name, h.role_name)),
        );
        if e.holdings.len() > LISTED {
            lines.push(format!("… and {} more.", e.holdings.len() - LISTED));
        }
    }
    if e.steps > 0 {
        lines.push(format!(
            "You are now the approver in {} {} approved in.",
            plural(e.steps, "workflow step", "workflow steps"),
            e.leaver_name
        ));
    }
    compose(
        format!("You are taking over {}'s work", e.leaver_name),
        e.replacement_name,
        &lines,
        None,
        &[],
    )
}

/// What the manager is told after a handover.
pub struct SummaryEmail<'a> {
    pub manager_name: &'a str,
    pub leaver_name: &'a str,
    pub replacement_name: &'a str,
    pub counts: &'a OffboardingCounts,
}

/// To the manager who asked: what the offboarding did.
pub fn offboarding_summary(e: &SummaryEmail<'_>) -> Rendered {
    let c = e.counts;
    compose(
        format!("{} was offboarded", e.leaver_name),
        e.manager_name,
        &[
            format!(
                "{}'s work went to {}: {} and {} handed over.",
                e.leaver_name,
                e.replacement_name,
                plural(c.organisations, "organisation", "organisations"),
                plural(c.steps_reassigned, "workflow step", "workflow steps"),
            ),
            format!(
                "Memberships revoked: {}. New memberships for {}: {}. Existing memberships changed: {}. Invitations withdrawn: {}.",
                c.memberships_revoked,
                e.replacement_name,
                c.memberships_granted,
                c.memberships_changed,
                c.invitations_withdrawn
            ),
            format!(
                "{} can no longer act in the practice; the access audit log lists every change.",
                e.leaver_name
            ),
        ],
        None,
        &[],
    )
}

/// What the manager is told when a handover failed.
pub struct OffboardingFailedEmail<'a> {
    pub manager_name: &'a str,
    pub leaver_name: &'a str,
    pub replacement_name: &'a str,
    pub reason: &'a str,
}

/// To the manager who asked: it did not happen, and why.
pub fn offboarding_failed(e: &OffboardingFailedEmail<'_>) -> Rendered {
    compose(
        format!("Offboarding {} did not happen", e.leaver_name),
        e.manager_name,
        &[
            format!(
                "Handing {}'s work to {} failed: {}.",
                e.leaver_name, e.replacement_name, e.reason
            ),
            format!(
                "Nothing was changed: {} keeps their access and workflow steps. You can offboard them again.",
                e.leaver_name
            ),
        ],
        None,
        &[],
    )
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
            reminder: false,
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

    #[test]
    fn one_org_invitation_lists_every_organisation() {
        let names = vec!["Alpha & Co".to_owned(), "Beta Clinic".to_owned()];
        let rendered = org_invitation(&OrgInvitationEmail {
            member_name: "Ada",
            inviter_name: "Grace",
            organisation_names: &names,
            url: "http://x/org-invitations",
        });
        assert_eq!(rendered.subject, "Grace gave you access to 2 organisations");
        assert!(
            rendered.text.contains("• Alpha & Co\n") && rendered.text.contains("• Beta Clinic")
        );
        assert!(rendered.html.contains("Alpha &amp; Co"));
    }

    #[test]
    fn handover_lists_holdings_and_cuts_long_lists() {
        let holdings: Vec<Holding> = (0..52)
            .map(|i| Holding {
                organisation_name: format!("Org <{i}>"),
                role_name: "Approver".into(),
            })
            .collect();
        let rendered = offboarding_handover(&HandoverEmail {
            replacement_name: "Rae",
            leaver_name: "Lee",
            manager_name: "Mo",
            holdings: &holdings,
            steps: 1,
        });
        assert_eq!(rendered.subject, "You are taking over Lee's work");
        assert!(
            rendered
                .text
                .contains("You now have access to 52 organisations:")
        );
        assert!(rendered.text.contains("• Org <0> — Approver"));
        assert!(rendered.text.contains("• Org <49> — Approver"));
        assert!(!rendered.text.contains("Org <50>"));
        assert!(rendered.text.contains("… and 2 more."));
        assert!(
            rendered
                .text
                .contains("approver in 1 workflow step Lee approved in")
        );
        assert!(rendered.html.contains("Org &lt;0&gt;"));
    }

    #[test]
    fn reminders_say_older_links_are_void() {
        let rendered = invitation(&InvitationEmail {
            invitee_name: "Ada",
            inviter_name: "Grace",
            practice_name: "Acme",
            role: PracticeRole::Member,
            url: "http://x",
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            reminder: true,
        });
        assert!(rendered.subject.starts_with("Reminder: "));
        assert!(rendered.text.contains("earlier e-mails no longer work"));
    }
}
