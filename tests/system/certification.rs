//! Certifications: invitation e-mails, recording by the owner or an internal service, and the
//! PDF certificate.

use ps_proto::common::v1::PracticeRole;
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, Code, TestSystem, on_every_backend, violated_fields};

on_every_backend!(certification_from_invitation_to_pdf);

async fn certification_from_invitation_to_pdf(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Certified Clinic").await;
    let nurse = system
        .member(&owner, "zoe@cert.test", PracticeRole::Member)
        .await;
    let manager = system
        .member(&owner, "manager@cert.test", PracticeRole::UserManager)
        .await;
    let nurse_id = system.staff_member(&owner, &nurse.email).await.id;
    let manager_id = system.staff_member(&owner, &manager.email).await.id;
    let mut client = system.staff_as(&owner).await;

    let early = system
        .staff_as(&nurse)
        .await
        .download_certificate(staff::DownloadCertificateRequest {
            staff_id: nurse_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert_eq!(early.message(), "this member is not certified");

    // Invitation: a member cannot send one; a manager can, and the member gets an e-mail.
    let denied = system
        .staff_as(&nurse)
        .await
        .invite_to_certification(staff::InviteToCertificationRequest {
            request_id: String::new(),
            staff_id: manager_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let invited = system
        .staff_as(&manager)
        .await
        .invite_to_certification(staff::InviteToCertificationRequest {
            request_id: String::new(),
            staff_id: nurse_id.clone(),
        })
        .await
        .expect("invite to certification")
        .into_inner();
    let certification = invited.certification.expect("certification");
    assert_eq!(
        certification.status,
        staff::CertificationStatus::Invited as i32
    );
    assert!(certification.invited_at.is_some());
    let mail = system.wait_for_mail("zoe@cert.test", 2).await;
    assert!(
        mail.subject()
            .contains("invited you to get certified with Certified Clinic"),
        "{}",
        mail.subject()
    );
    assert!(
        mail.content
            .contains("https://app.example.test/certification")
    );
    let pending = system
        .invite(&owner, "pending@cert.test", PracticeRole::Member)
        .await;
    let not_active = client
        .invite_to_certification(staff::InviteToCertificationRequest {
            request_id: String::new(),
            staff_id: pending.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_active.code(), Code::FailedPrecondition);

    // Recording: only the Account Owner (or an internal service); bad input is refused.
    let record = |staff_id: &str, number: &str| staff::RecordCertificationRequest {
        staff_id: staff_id.into(),
        certified_at: None,
        certificate_number: number.into(),
    };
    let not_owner = system
        .staff_as(&manager)
        .await
        .record_certification(record(&nurse_id, "CERT-1"))
        .await
        .unwrap_err();
    assert_eq!(
        not_owner.message(),
        "recording a certification needs the Account Owner role"
    );
    let bad_number = client
        .record_certification(record(&nurse_id, "not valid!"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_number), ["certificate_number"]);
    let future = client
        .record_certification(staff::RecordCertificationRequest {
            certified_at: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() + 86_400 * 30,
                nanos: 0,
            }),
            ..record(&nurse_id, "CERT-1")
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&future), ["certified_at"]);
    let certified = client
        .record_certification(record(&nurse_id, "CERT-2026-001"))
        .await
        .expect("record")
        .into_inner()
        .certification
        .expect("certification");
    assert_eq!(
        certified.status,
        staff::CertificationStatus::Certified as i32
    );
    assert_eq!(certified.certificate_number, "CERT-2026-001");
    let ready = system.wait_for_mail("zoe@cert.test", 3).await;
    assert_eq!(
        ready.subject(),
        "Your certificate from Certified Clinic is ready"
    );

    // A course system records for a practice with `certification.record`; a token without
    // that scope is refused.
    let internal_request = staff::InternalRecordCertificationRequest {
        practice_id: owner.practice_id.clone(),
        staff_id: manager_id.clone(),
        certified_at: None,
        certificate_number: "EXT-7".into(),
        recorded_by: "Course System".into(),
    };
    let refused = system
        .staff_internal(&[ps_auth::scopes::STAFF_READ])
        .await
        .record_certification(internal_request.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let by_service = system
        .staff_internal(&[ps_auth::scopes::CERTIFICATION_RECORD])
        .await
        .record_certification(internal_request)
        .await
        .expect("internal record")
        .into_inner();
    assert_eq!(
        by_service.certification.expect("certification").status,
        staff::CertificationStatus::Certified as i32
    );

    // The list shows and filters certification.
    let certified_staff = client
        .list_staff(staff::ListStaffRequest {
            certification_statuses: vec![staff::CertificationStatus::Certified as i32],
            ..Default::default()
        })
        .await
        .expect("ListStaff")
        .into_inner()
        .staff;
    let mut emails: Vec<&str> = certified_staff.iter().map(|m| m.email.as_str()).collect();
    emails.sort();
    assert_eq!(emails, ["manager@cert.test", "zoe@cert.test"]);
    assert!(certified_staff.iter().all(|m| {
        m.certification
            .as_ref()
            .is_some_and(|c| c.certified_at.is_some())
    }));

    // The member downloads their certificate: a PDF with their name, practice and number.
    let file = system
        .staff_as(&nurse)
        .await
        .download_certificate(staff::DownloadCertificateRequest {
            staff_id: nurse_id.clone(),
        })
        .await
        .expect("download")
        .into_inner();
    assert_eq!(file.content_type, "application/pdf");
    assert_eq!(file.file_name, "certificate-CERT-2026-001.pdf");
    let pdf = lopdf::Document::load_mem(&file.content).expect("the certificate parses as a PDF");
    let text = pdf.extract_text(&[1]).expect("text of page 1");
    for expected in [
        "Certificate of Completion",
        "Person zoe@cert.test",
        "Certified Clinic",
        "CERT-2026-001",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text:?}");
    }

    // Someone else's certificate: staff managers only, and never another practice's.
    let colleague = system
        .staff_as(&nurse)
        .await
        .download_certificate(staff::DownloadCertificateRequest {
            staff_id: manager_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(colleague.code(), Code::PermissionDenied);
    system
        .staff_as(&manager)
        .await
        .download_certificate(staff::DownloadCertificateRequest {
            staff_id: nurse_id.clone(),
        })
        .await
        .expect("a staff manager downloads a member's certificate");
    let stranger = system.practice_with_owner("Uncertified Clinic").await;
    let foreign = system
        .staff_as(&stranger)
        .await
        .download_certificate(staff::DownloadCertificateRequest { staff_id: nurse_id })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
}
