//! Certifications: invitation, recording, and the certificate itself.

use ps_auth::UserCaller;
use ps_core::{PersonName, PracticeId, PracticeRole, StaffId};
use ps_events::event::{CertificationInvited, CertificationRecorded};
use ps_events::{Actor, Payload};

use super::{Change, Directory};
use crate::certificate;
use crate::domain::{CertificationRecord, CertificationStatus, StaffMember, StaffStatus};
use crate::error::Error;
use crate::store;

/// Who records a certification.
pub enum Recorder<'a> {
    /// A signed-in user (must be the practice's Account Owner).
    User(&'a UserCaller),
    /// An internal service, on behalf of the named party, for `practice`.
    Service {
        practice: PracticeId,
        on_behalf_of: String,
    },
}

/// A generated certificate.
pub struct CertificateFile {
    pub file_name: String,
    pub content: Vec<u8>,
}

impl Directory {
    /// A retry with the same request id answers with the member instead of inviting again.
    pub async fn invite_to_certification(
        &self,
        caller: &UserCaller,
        id: StaffId,
        key: Option<ps_core::RequestKey>,
    ) -> Result<StaffMember, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            self.db(),
            caller.practice_id.as_uuid(),
            "InviteToCertification",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.invite_to_certification_now(caller, id, key),
            |id| self.get_staff(caller, StaffId(id)),
        )
        .await
    }

    async fn invite_to_certification_now(
        &self,
        caller: &UserCaller,
        id: StaffId,
        key: Option<&ps_core::RequestKey>,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&PracticeRole::STAFF_MANAGERS, "inviting to certification")?;
        let tx = self.begin().await?;
        let practice = store::practices::get(&tx, caller.practice_id).await?;
        let mut member = self.member_for_update(&tx, caller.practice_id, id).await?;
        if member.status != StaffStatus::Active {
            return Err(Error::FailedPrecondition(format!(
                "only Active members can be invited to certification; this member is {}",
                member.status.as_str()
            )));
        }
        if member.certification.status == CertificationStatus::Certified {
            return Err(Error::FailedPrecondition(
                "this member is already certified".into(),
            ));
        }
        let before =
            serde_json::json!({ "certification_status": member.certification.status.as_str() });
        member.certification.status = CertificationStatus::Invited;
        member.certification.invited_at = Some(self.now());
        store::members::save_certification(&tx, &member).await?;
        self.publish(
            &tx,
            caller.practice_id,
            &acting.actor,
            Payload::CertificationInvited(CertificationInvited {
                staff_id: id,
                email: member.email.clone(),
                name: PersonName::from_trusted(member.name.clone()),
                practice_name: practice.name,
                inviter_name: acting.actor.name.clone(),
            }),
        )
        .await?;
        let invited = Change::staff("certification.invited", id).before_after(
            before,
            serde_json::json!({ "certification_status": CertificationStatus::Invited.as_str() }),
        );
        self.audit(&tx, caller.practice_id, &acting.actor, invited)
            .await?;
        let scope = caller.practice_id.as_uuid();
        super::remember(&tx, scope, "InviteToCertification", key, id.as_uuid()).await?;
        tx.commit().await?;
        self.published();
        Ok(member)
    }

    pub async fn record_certification(
        &self,
        recorder: Recorder<'_>,
        id: StaffId,
        record: CertificationRecord,
    ) -> Result<StaffMember, Error> {
        let (practice_id, actor) = match recorder {
            Recorder::User(caller) => {
                let acting = self.acting(caller).await?;
                acting.require(&[PracticeRole::AccountOwner], "recording a certification")?;
                (caller.practice_id, acting.actor)
            }
            Recorder::Service {
                practice,
                on_behalf_of,
            } => (practice, Actor::service(on_behalf_of)),
        };
        let now = self.now();
        let certified_at = record.certified_at.unwrap_or(now);
        if certified_at > now + chrono::Duration::minutes(5) {
            return Err(Error::Invalid(
                ps_core::FieldViolation::new("certified_at", "must not be in the future").into(),
            ));
        }
        let tx = self.begin().await?;
        let practice = store::practices::get(&tx, practice_id).await?;
        let mut member = self.member_for_update(&tx, practice_id, id).await?;
        if matches!(member.status, StaffStatus::Removed | StaffStatus::Declined) {
            return Err(Error::FailedPrecondition(format!(
                "a certification cannot be recorded for a {} member",
                member.status.as_str()
            )));
        }
        let before = serde_json::json!({
            "certification_status": member.certification.status.as_str(),
            "certificate_number": member.certification.certificate_number,
        });
        member.certification.status = CertificationStatus::Certified;
        member.certification.certified_at = Some(certified_at);
        member.certification.certificate_number = Some(record.certificate_number.clone());
        store::members::save_certification(&tx, &member).await?;
        self.publish(
            &tx,
            practice_id,
            &actor,
            Payload::CertificationRecorded(CertificationRecorded {
                staff_id: id,
                email: member.email.clone(),
                name: PersonName::from_trusted(member.name.clone()),
                practice_name: practice.name,
                certified_at,
                certificate_number: record.certificate_number.clone(),
            }),
        )
        .await?;
        let recorded = Change::staff("certification.recorded", id).before_after(
            before,
            serde_json::json!({
                "certification_status": CertificationStatus::Certified.as_str(),
                "certificate_number": record.certificate_number,
                "certified_at": certified_at,
            }),
        );
        self.audit(&tx, practice_id, &actor, recorded).await?;
        tx.commit().await?;
        self.published();
        Ok(member)
    }

    /// The member's certificate as a PDF: theirs to download, or a staff manager's.
    pub async fn download_certificate(
        &self,
        caller: &UserCaller,
        id: StaffId,
    ) -> Result<CertificateFile, Error> {
        let acting = self.acting(caller).await?;
        if acting.member.id != id {
            acting.require(
                &PracticeRole::STAFF_MANAGERS,
                "downloading another member's certificate",
            )?;
        }
        let member = self.get_staff(caller, id).await?;
        let (Some(certified_at), Some(number)) = (
            member.certification.certified_at,
            member.certification.certificate_number.as_deref(),
        ) else {
            return Err(Error::FailedPrecondition(
                "this member is not certified".into(),
            ));
        };
        if member.certification.status != CertificationStatus::Certified {
            return Err(Error::FailedPrecondition(
                "this member is not certified".into(),
            ));
        }
        let practice = store::practices::get(self.db(), caller.practice_id).await?;
        let content = certificate::render(&certificate::Certificate {
            member_name: &member.name,
            practice_name: &practice.name,
            certified_at,
            number,
        });
        Ok(CertificateFile {
            file_name: format!("certificate-{number}.pdf"),
            content,
        })
    }
}
