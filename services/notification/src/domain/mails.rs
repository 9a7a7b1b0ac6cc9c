//! Which e-mails an event causes. Pure: no I/O, no clock; the e-mails without a single-use
//! link are rendered here, the others carry what they need to be rendered around the link the
//! mailer mints when it sends them ([`crate::links`]).

use ps_core::{Email, PracticeId, PracticeRole, StaffId};
use ps_events::event::{
    CertificationInvited, CertificationRecorded, OffboardingCompleted, OffboardingFailed,
    OrgAccessInvited, PasswordResetRequested,
};
use ps_events::{Event, Payload};

use crate::links::LinkMail;
use crate::templates;

/// What an e-mail says: rendered when queued, or (with a single-use link) when sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Rendered(templates::Rendered),
    Link(LinkMail),
}

/// An e-mail an event causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The template's name, as the delivery log shows it.
    pub template: &'static str,
    pub recipient: String,
    pub recipient_name: String,
    pub body: Body,
}

impl Mail {
    fn rendered(
        template: &'static str,
        recipient: impl ToString,
        name: impl ToString,
        rendered: templates::Rendered,
    ) -> Self {
        Self {
            template,
            recipient: recipient.to_string(),
            recipient_name: name.to_string(),
            body: Body::Rendered(rendered),
        }
    }

    fn with_link(recipient: &Email, name: impl ToString, link: LinkMail) -> Self {
        Self {
            template: link.template(),
            recipient: recipient.to_string(),
            recipient_name: name.to_string(),
            body: Body::Link(link),
        }
    }

    /// The subject, as the delivery log shows it before the e-mail is sent.
    pub fn subject(&self) -> String {
        match &self.body {
            Body::Rendered(rendered) => rendered.subject.clone(),
            Body::Link(link) => link.subject(),
        }
    }

    /// The member an invitation is for.
    pub fn staff_id(&self) -> Option<StaffId> {
        match &self.body {
            Body::Rendered(_) => None,
            Body::Link(link) => link.staff_id(),
        }
    }
}

/// Where e-mails without a single-use link point (configured, not minted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailUrls {
    /// Link in certification invitations (the course or exam).
    pub certification: String,
    /// Link in organisation invitations (where the member answers them).
    pub org_invitations: String,
}

/// An invitation arrived without the practice it invites to: it can never be e-mailed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} without a practice")]
pub struct WithoutPractice(pub &'static str);

/// The e-mails `event` causes (none for most events).
pub fn mails_for(event: &Event, urls: &MailUrls) -> Result<Vec<Mail>, WithoutPractice> {
    let practice = || event.practice_id.ok_or(WithoutPractice(event.event_type()));
    Ok(match &event.payload {
        Payload::StaffInvited(p) => vec![invitation(
            practice()?,
            Invited {
                staff_id: p.staff_id,
                email: &p.email,
                name: p.name.as_str(),
                role: p.role,
                practice_name: &p.practice_name,
                inviter_name: &p.inviter_name,
            },
            false,
        )],
        Payload::StaffReinvited(p) => vec![invitation(
            practice()?,
            Invited {
                staff_id: p.staff_id,
                email: &p.email,
                name: p.name.as_str(),
                role: p.role,
                practice_name: &p.practice_name,
                inviter_name: &p.inviter_name,
            },
            true,
        )],
        Payload::PasswordResetRequested(p) => vec![password_reset(p)],
        Payload::CertificationInvited(p) => vec![certification_invitation(p, urls)],
        Payload::CertificationRecorded(p) => vec![certificate_ready(p)],
        Payload::OrgAccessInvited(p) => vec![org_invitation(p, urls)],
        Payload::OffboardingCompleted(p) => offboarding_completed(p, &event.actor.name),
        Payload::OffboardingFailed(p) => vec![offboarding_failed(p, &event.actor.name)],
        _ => Vec::new(),
    })
}

/// What an invitation or a reminder says, besides its link.
struct Invited<'a> {
    staff_id: StaffId,
    email: &'a Email,
    name: &'a str,
    role: PracticeRole,
    practice_name: &'a str,
    inviter_name: &'a str,
}

fn invitation(practice_id: PracticeId, invited: Invited<'_>, reminder: bool) -> Mail {
    Mail::with_link(
        invited.email,
        invited.name,
        LinkMail::Invitation {
            staff_id: invited.staff_id,
            practice_id,
            email: invited.email.to_string(),
            name: invited.name.to_owned(),
            role: invited.role.as_str().to_owned(),
            practice_name: invited.practice_name.to_owned(),
            inviter_name: invited.inviter_name.to_owned(),
            reminder,
        },
    )
}

fn password_reset(p: &PasswordResetRequested) -> Mail {
    Mail::with_link(
        &p.email,
        &p.name,
        LinkMail::PasswordReset {
            user_id: p.user_id,
            name: p.name.to_string(),
        },
    )
}

fn certification_invitation(p: &CertificationInvited, urls: &MailUrls) -> Mail {
    Mail::rendered(
        templates::CERTIFICATION_INVITATION,
        &p.email,
        &p.name,
        templates::certification_invitation(&templates::CertificationEmail {
            member_name: p.name.as_str(),
            inviter_name: &p.inviter_name,
            practice_name: &p.practice_name,
            url: &urls.certification,
        }),
    )
}

fn certificate_ready(p: &CertificationRecorded) -> Mail {
    Mail::rendered(
        templates::CERTIFICATE_READY,
        &p.email,
        &p.name,
        templates::certificate_ready(&templates::CertificateReadyEmail {
            member_name: p.name.as_str(),
            practice_name: &p.practice_name,
            certified_at: p.certified_at,
            certificate_number: &p.certificate_number,
        }),
    )
}

fn org_invitation(p: &OrgAccessInvited, urls: &MailUrls) -> Mail {
    Mail::rendered(
        templates::ORG_INVITATION,
        &p.email,
        &p.name,
        templates::org_invitation(&templates::OrgInvitationEmail {
            member_name: p.name.as_str(),
            inviter_name: &p.inviter_name,
            organisation_names: &p.organisation_names,
            url: &urls.org_invitations,
        }),
    )
}

/// The handover to the replacement and the summary to the manager who asked (`manager`).
fn offboarding_completed(p: &OffboardingCompleted, manager: &str) -> Vec<Mail> {
    vec![
        Mail::rendered(
            templates::OFFBOARDING_HANDOVER,
            &p.replacement.email,
            &p.replacement.name,
            templates::offboarding_handover(&templates::HandoverEmail {
                replacement_name: p.replacement.name.as_str(),
                leaver_name: p.leaver.name.as_str(),
                manager_name: manager,
                holdings: &p.holdings,
                steps: p.counts.steps_reassigned,
            }),
        ),
        Mail::rendered(
            templates::OFFBOARDING_SUMMARY,
            &p.requested_by_email,
            manager,
            templates::offboarding_summary(&templates::SummaryEmail {
                manager_name: manager,
                leaver_name: p.leaver.name.as_str(),
                replacement_name: p.replacement.name.as_str(),
                counts: &p.counts,
            }),
        ),
    ]
}

fn offboarding_failed(p: &OffboardingFailed, manager: &str) -> Mail {
    Mail::rendered(
        templates::OFFBOARDING_FAILED,
        &p.requested_by_email,
        manager,
        templates::offboarding_failed(&templates::OffboardingFailedEmail {
            manager_name: manager,
            leaver_name: p.leaver.name.as_str(),
            replacement_name: p.replacement.name.as_str(),
            reason: &p.reason,
        }),
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ps_core::{OffboardingCounts, PersonName, UserId};
    use ps_events::Actor;
    use ps_events::event::{
        Holding, OffboardingParty, StaffInvited, StaffReinvited, StaffRoleChanged, StatusBefore,
    };

    use super::*;

    fn email(raw: &str) -> Email {
        Email::parse("email", raw).unwrap()
    }

    fn name(raw: &str) -> PersonName {
        PersonName::parse("name", raw).unwrap()
    }

    fn urls() -> MailUrls {
        MailUrls {
            certification: "https://learn.example.test/course".into(),
            org_invitations: "https://app.example.test/org-invitations".into(),
        }
    }

    fn party(person: &str, address: &str) -> OffboardingParty {
        OffboardingParty {
            staff_id: StaffId::generate(),
            user_id: Some(UserId::generate()),
            name: name(person),
            email: email(address),
        }
    }

    fn manager() -> Actor {
        Actor::user(UserId::generate(), "Olive Owner")
    }

    fn in_practice(payload: Payload) -> Event {
        Event::new(PracticeId::generate(), manager(), Utc::now(), payload)
    }

    fn invited() -> StaffInvited {
        StaffInvited {
            staff_id: StaffId::generate(),
            email: email("ada@example.test"),
            name: name("Ada Lovelace"),
            role: PracticeRole::Member,
            practice_name: "Acme".into(),
            inviter_name: "Olive Owner".into(),
            location_ids: Vec::new(),
        }
    }

    fn reinvited() -> StaffReinvited {
        StaffReinvited {
            staff_id: StaffId::generate(),
            email: email("ada@example.test"),
            name: name("Ada Lovelace"),
            role: PracticeRole::Member,
            practice_name: "Acme".into(),
            inviter_name: "Olive Owner".into(),
            invitation_count: 2,
        }
    }

    fn completed() -> OffboardingCompleted {
        OffboardingCompleted {
            offboarding_id: uuid::Uuid::now_v7(),
            leaver: party("Lee Leaver", "lee@example.test"),
            replacement: party("Rae Replacement", "rae@example.test"),
            requested_by_email: email("olive@example.test"),
            counts: OffboardingCounts::default(),
            holdings: vec![Holding {
                organisation_name: "North Clinic".into(),
                role_name: "Biller".into(),
            }],
        }
    }

    fn failed() -> OffboardingFailed {
        OffboardingFailed {
            offboarding_id: uuid::Uuid::now_v7(),
            leaver: party("Lee Leaver", "lee@example.test"),
            leaver_status_before: StatusBefore::Active,
            replacement: party("Rae Replacement", "rae@example.test"),
            requested_by_email: email("olive@example.test"),
            reason: "the replacement left".into(),
        }
    }

    /// An e-mail expected: template, recipient, recipient name, whether it carries a link.
    type Expected = (&'static str, &'static str, &'static str, bool);

    /// Each event, and the e-mails it causes.
    #[expect(clippy::too_many_lines, reason = "one table row per event type")]
    fn cases() -> Vec<(Event, Vec<Expected>)> {
        let ada = "ada@example.test";
        vec![
            (
                in_practice(Payload::StaffInvited(invited())),
                vec![(templates::INVITATION, ada, "Ada Lovelace", true)],
            ),
            (
                in_practice(Payload::StaffReinvited(reinvited())),
                vec![(templates::REINVITATION, ada, "Ada Lovelace", true)],
            ),
            (
                Event::personal(
                    manager(),
                    Utc::now(),
                    Payload::PasswordResetRequested(PasswordResetRequested {
                        user_id: UserId::generate(),
                        email: email(ada),
                        name: name("Ada Lovelace"),
                    }),
                ),
                vec![(templates::PASSWORD_RESET, ada, "Ada Lovelace", true)],
            ),
            (
                in_practice(Payload::CertificationInvited(CertificationInvited {
                    staff_id: StaffId::generate(),
                    email: email(ada),
                    name: name("Ada Lovelace"),
                    practice_name: "Acme".into(),
                    inviter_name: "Olive Owner".into(),
                })),
                vec![(
                    templates::CERTIFICATION_INVITATION,
                    ada,
                    "Ada Lovelace",
                    false,
                )],
            ),
            (
                in_practice(Payload::CertificationRecorded(CertificationRecorded {
                    staff_id: StaffId::generate(),
                    email: email(ada),
                    name: name("Ada Lovelace"),
                    practice_name: "Acme".into(),
                    certified_at: Utc::now(),
                    certificate_number: "C-1".into(),
                })),
                vec![(templates::CERTIFICATE_READY, ada, "Ada Lovelace", false)],
            ),
            (
                in_practice(Payload::OrgAccessInvited(OrgAccessInvited {
                    invitation_id: uuid::Uuid::now_v7(),
                    staff_id: StaffId::generate(),
                    email: email(ada),
                    name: name("Ada Lovelace"),
                    organisation_names: vec!["North Clinic".into(), "South Clinic".into()],
                    inviter_name: "Olive Owner".into(),
                })),
                vec![(templates::ORG_INVITATION, ada, "Ada Lovelace", false)],
            ),
            (
                in_practice(Payload::OffboardingCompleted(completed())),
                vec![
                    (
                        templates::OFFBOARDING_HANDOVER,
                        "rae@example.test",
                        "Rae Replacement",
                        false,
                    ),
                    (
                        templates::OFFBOARDING_SUMMARY,
                        "olive@example.test",
                        "Olive Owner",
                        false,
                    ),
                ],
            ),
            (
                in_practice(Payload::OffboardingFailed(failed())),
                vec![(
                    templates::OFFBOARDING_FAILED,
                    "olive@example.test",
                    "Olive Owner",
                    false,
                )],
            ),
            (
                in_practice(Payload::StaffRoleChanged(StaffRoleChanged {
                    staff_id: StaffId::generate(),
                    user_id: None,
                    from: PracticeRole::Member,
                    to: PracticeRole::UserManager,
                })),
                vec![],
            ),
        ]
    }

    #[test]
    fn each_event_causes_its_emails() {
        for (event, expected) in cases() {
            let mails = mails_for(&event, &urls()).unwrap();
            let got: Vec<_> = mails
                .iter()
                .map(|m| {
                    let link = matches!(m.body, Body::Link(_));
                    (
                        m.template,
                        m.recipient.as_str(),
                        m.recipient_name.as_str(),
                        link,
                    )
                })
                .collect();
            assert_eq!(got, expected, "{}", event.event_type());
            for mail in &mails {
                assert!(!mail.subject().is_empty(), "{}", mail.template);
            }
        }
    }

    #[test]
    fn an_invitation_carries_what_its_link_needs_and_no_link() {
        let p = invited();
        let event = in_practice(Payload::StaffInvited(p.clone()));
        let mails = mails_for(&event, &urls()).unwrap();
        let [mail] = mails.as_slice() else {
            panic!("one e-mail expected: {mails:?}");
        };
        assert_eq!(mail.staff_id(), Some(p.staff_id));
        let Body::Link(LinkMail::Invitation {
            practice_id,
            reminder,
            role,
            ..
        }) = &mail.body
        else {
            panic!("an invitation link e-mail expected: {mail:?}");
        };
        assert_eq!(Some(*practice_id), event.practice_id);
        assert!(!reminder);
        assert_eq!(role, PracticeRole::Member.as_str());
    }

    #[test]
    fn configured_urls_are_in_the_emails_that_point_there() {
        let event = in_practice(Payload::CertificationInvited(CertificationInvited {
            staff_id: StaffId::generate(),
            email: email("ada@example.test"),
            name: name("Ada Lovelace"),
            practice_name: "Acme".into(),
            inviter_name: "Olive Owner".into(),
        }));
        let mails = mails_for(&event, &urls()).unwrap();
        let Body::Rendered(rendered) = &mails[0].body else {
            panic!("a rendered e-mail expected");
        };
        assert!(rendered.text.contains(&urls().certification));
        assert_eq!(mails[0].staff_id(), None);
    }

    #[test]
    fn an_invitation_without_a_practice_is_refused() {
        for payload in [
            Payload::StaffInvited(invited()),
            Payload::StaffReinvited(reinvited()),
        ] {
            let event = Event::personal(manager(), Utc::now(), payload);
            let refused = mails_for(&event, &urls()).unwrap_err();
            assert_eq!(
                refused.to_string(),
                format!("{} without a practice", event.event_type())
            );
        }
    }
}
