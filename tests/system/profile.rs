//! Locations, the provider profile (through a field mask), external agents and the staff list's
//! filters.

use ps_proto::common::v1::{PageRequest, PracticeRole};
use ps_proto::staff::v1 as staff;
use system_tests::{Backend, Code, Person, TestSystem, on_every_backend, violated_fields};

on_every_backend!(
    locations_and_the_location_rule,
    provider_profiles_change_only_through_valid_masks,
    the_staff_list_filters_searches_and_pages,
);

async fn create_location(system: &TestSystem, by: &Person, name: &str) -> staff::Location {
    system
        .staff_as(by)
        .await
        .create_location(staff::CreateLocationRequest {
            request_id: String::new(),
            name: name.into(),
        })
        .await
        .expect("CreateLocation")
        .into_inner()
}

async fn locations_and_the_location_rule(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Clinic Group").await;
    let user_manager = system
        .member(&owner, "um@clinic.test", PracticeRole::UserManager)
        .await;
    let mut client = system.staff_as(&owner).await;

    let north = create_location(&system, &owner, "North").await;
    let south = create_location(&system, &owner, "South").await;
    let taken = client
        .create_location(staff::CreateLocationRequest {
            request_id: String::new(),
            name: "north".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let renamed = client
        .rename_location(staff::RenameLocationRequest {
            location_id: south.id.clone(),
            name: "South Clinic".into(),
        })
        .await
        .expect("rename")
        .into_inner();
    assert_eq!(renamed.name, "South Clinic");
    let not_admin = system
        .staff_as(&user_manager)
        .await
        .create_location(staff::CreateLocationRequest {
            request_id: String::new(),
            name: "East".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        not_admin.message(),
        "managing locations needs the Account Owner or Account Manager role"
    );

    // The practice requires a primary location on every invitation.
    let settings = |required| staff::UpdatePracticeSettingsRequest {
        settings: Some(staff::PracticeSettings {
            require_location_for_invites: required,
        }),
    };
    let denied = system
        .staff_as(&user_manager)
        .await
        .update_practice_settings(settings(true))
        .await
        .unwrap_err();
    assert_eq!(
        denied.message(),
        "changing practice settings needs the Account Owner role"
    );
    let practice = client
        .update_practice_settings(settings(true))
        .await
        .expect("settings")
        .into_inner();
    assert!(
        practice
            .settings
            .expect("settings")
            .require_location_for_invites
    );
    let without = client
        .invite_staff(staff::InviteStaffRequest {
            email: "nowhere@clinic.test".into(),
            name: "Nowhere".into(),
            practice_role: PracticeRole::Member as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(without.code(), Code::FailedPrecondition);
    assert!(
        without.message().contains("requires a primary location"),
        "{}",
        without.message()
    );

    let placed = client
        .invite_staff(staff::InviteStaffRequest {
            email: "placed@clinic.test".into(),
            name: "Placed".into(),
            practice_role: PracticeRole::Member as i32,
            primary_location_id: south.id.clone(),
            location_ids: vec![north.id.clone()],
            ..Default::default()
        })
        .await
        .expect("invite with a primary location")
        .into_inner();
    assert_eq!(placed.primary_location_id, south.id);
    let mut expected = vec![north.id.clone(), south.id.clone()];
    expected.sort();
    assert_eq!(placed.location_ids, expected);

    // Archived and foreign locations cannot be given.
    client
        .archive_location(staff::ArchiveLocationRequest {
            location_id: north.id.clone(),
        })
        .await
        .expect("archive");
    let listed = client
        .list_locations(staff::ListLocationsRequest::default())
        .await
        .expect("ListLocations")
        .into_inner()
        .locations;
    assert_eq!(
        listed.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["South Clinic"]
    );
    let all = client
        .list_locations(staff::ListLocationsRequest {
            include_archived: true,
        })
        .await
        .expect("ListLocations")
        .into_inner()
        .locations;
    assert_eq!(all.len(), 2);
    let archived = client
        .set_staff_locations(staff::SetStaffLocationsRequest {
            staff_id: placed.id.clone(),
            location_ids: vec![north.id.clone()],
        })
        .await
        .unwrap_err();
    assert_eq!(archived.code(), Code::NotFound);
    let elsewhere = system.practice_with_owner("Other Clinic").await;
    let foreign = create_location(&system, &elsewhere, "Foreign").await;
    let not_ours = client
        .invite_staff(staff::InviteStaffRequest {
            email: "foreign@clinic.test".into(),
            name: "Foreign".into(),
            practice_role: PracticeRole::Member as i32,
            primary_location_id: foreign.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_ours.code(), Code::NotFound);

    // Editing a member's locations later keeps the primary one; the list filters by location.
    let west = create_location(&system, &owner, "West").await;
    let moved = client
        .set_staff_locations(staff::SetStaffLocationsRequest {
            staff_id: placed.id.clone(),
            location_ids: vec![west.id.clone()],
        })
        .await
        .expect("set locations")
        .into_inner();
    let mut expected = vec![south.id.clone(), west.id.clone()];
    expected.sort();
    assert_eq!(moved.location_ids, expected);
    let at_west = client
        .list_staff(staff::ListStaffRequest {
            location_id: west.id.clone(),
            ..Default::default()
        })
        .await
        .expect("ListStaff")
        .into_inner()
        .staff;
    assert_eq!(
        at_west.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        ["placed@clinic.test"]
    );
}

fn profile_update(
    staff_id: &str,
    provider: staff::ProviderProfile,
    paths: &[&str],
) -> staff::UpdateStaffRequest {
    staff::UpdateStaffRequest {
        staff_id: staff_id.into(),
        staff: Some(staff::StaffUpdate {
            provider: Some(provider),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

async fn provider_profiles_change_only_through_valid_masks(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Provider Practice").await;
    let provider = system
        .member(&owner, "doc@provider.test", PracticeRole::Member)
        .await;
    let colleague = system
        .member(&owner, "colleague@provider.test", PracticeRole::Member)
        .await;
    let provider_id = system.staff_member(&owner, &provider.email).await.id;
    let colleague_id = system.staff_member(&owner, &colleague.email).await.id;
    let mut client = system.staff_as(&owner).await;

    let all_paths = [
        "provider.npi",
        "provider.taxonomy_code",
        "provider.bio",
        "provider.capacity",
        "provider.scheduling_step_minutes",
    ];
    let updated = client
        .update_staff(profile_update(
            &provider_id,
            staff::ProviderProfile {
                npi: "1234567893".into(),
                taxonomy_code: "207Q00000X".into(),
                bio: "Family medicine.".into(),
                capacity: 4,
                scheduling_step_minutes: 30,
            },
            &all_paths,
        ))
        .await
        .expect("a valid profile")
        .into_inner()
        .provider
        .expect("provider");
    assert_eq!(
        (
            updated.npi.as_str(),
            updated.taxonomy_code.as_str(),
            updated.capacity,
            updated.scheduling_step_minutes
        ),
        ("1234567893", "207Q00000X", 4, 30)
    );

    // Every invalid field is named at once, and nothing is written.
    let invalid = client
        .update_staff(profile_update(
            &provider_id,
            staff::ProviderProfile {
                npi: "1234567890".into(),
                taxonomy_code: "207q00000".into(),
                bio: "x".repeat(2001),
                capacity: 101,
                scheduling_step_minutes: 10,
            },
            &all_paths,
        ))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&invalid),
        [
            "staff.provider.npi",
            "staff.provider.taxonomy_code",
            "staff.provider.bio",
            "staff.provider.capacity",
            "staff.provider.scheduling_step_minutes",
        ]
    );
    let unknown = client
        .update_staff(profile_update(
            &provider_id,
            staff::ProviderProfile::default(),
            &["email"],
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["update_mask"]);
    let empty = client
        .update_staff(profile_update(
            &provider_id,
            staff::ProviderProfile::default(),
            &[],
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["update_mask"]);
    let unchanged = system
        .staff_member(&owner, &provider.email)
        .await
        .provider
        .expect("provider");
    assert_eq!(unchanged, updated, "refused updates wrote nothing");

    // Only the masked fields change; an empty value clears one.
    let cleared = client
        .update_staff(profile_update(
            &provider_id,
            staff::ProviderProfile {
                bio: "ignored".into(),
                ..Default::default()
            },
            &["provider.npi"],
        ))
        .await
        .expect("clear the NPI")
        .into_inner()
        .provider
        .expect("provider");
    assert_eq!(cleared.npi, "");
    assert_eq!(
        cleared.bio, "Family medicine.",
        "unmasked fields keep their values"
    );

    // Members edit their own profile, not others', and cannot mark themselves external agents.
    let mut own = system.staff_as(&provider).await;
    own.update_staff(profile_update(
        &provider_id,
        staff::ProviderProfile {
            bio: "My own words.".into(),
            ..Default::default()
        },
        &["provider.bio"],
    ))
    .await
    .expect("a member edits their own bio");
    let others = own
        .update_staff(profile_update(
            &colleague_id,
            staff::ProviderProfile::default(),
            &["provider.bio"],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        others.message(),
        "changing another member's profile needs the Account Owner, Account Manager or User Manager role"
    );
    let agent = own
        .update_staff(staff::UpdateStaffRequest {
            staff_id: provider_id.clone(),
            staff: Some(staff::StaffUpdate {
                external_agent: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["external_agent".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(agent.code(), Code::PermissionDenied);

    // The audit trail has the change with its before and after.
    let events = client
        .list_audit_events(staff::ListAuditEventsRequest {
            staff_id: provider_id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events;
    let own_edit = events
        .iter()
        .find(|e| e.action == "staff.updated")
        .expect("the newest update");
    assert_eq!(own_edit.before, r#"{"bio":"Family medicine."}"#);
    assert_eq!(own_edit.after, r#"{"bio":"My own words."}"#);
    assert_eq!(own_edit.actor_id, provider.user_id);
}

async fn the_staff_list_filters_searches_and_pages(backend: Backend) {
    let system = TestSystem::start(&backend).await;
    let owner = system.practice_with_owner("Listing Practice").await;
    let mut client = system.staff_as(&owner).await;
    for (email, name, role, external) in [
        (
            "bea.agent@list.test",
            "Bea Agent",
            PracticeRole::Member,
            true,
        ),
        (
            "carl@list.test",
            "Carl Manager",
            PracticeRole::UserManager,
            false,
        ),
        (
            "dora@list.test",
            "Dora 100% Sure",
            PracticeRole::Member,
            false,
        ),
        ("eve@list.test", "Eve", PracticeRole::AccountManager, true),
    ] {
        client
            .invite_staff(staff::InviteStaffRequest {
                email: email.into(),
                name: name.into(),
                practice_role: role as i32,
                external_agent: external,
                ..Default::default()
            })
            .await
            .expect("invite");
    }
    let list = |request: staff::ListStaffRequest| {
        let mut client = client.clone();
        async move {
            let mut emails: Vec<String> = client
                .list_staff(request)
                .await
                .expect("ListStaff")
                .into_inner()
                .staff
                .into_iter()
                .map(|m| m.email)
                .collect();
            emails.sort();
            emails
        }
    };
    assert_eq!(
        list(staff::ListStaffRequest {
            external_agent: staff::ExternalAgentFilter::Only as i32,
            ..Default::default()
        })
        .await,
        ["bea.agent@list.test", "eve@list.test"]
    );
    assert_eq!(
        list(staff::ListStaffRequest {
            practice_roles: vec![PracticeRole::Member as i32],
            statuses: vec![staff::StaffStatus::Pending as i32],
            ..Default::default()
        })
        .await,
        ["bea.agent@list.test", "dora@list.test"]
    );
    assert_eq!(
        list(staff::ListStaffRequest {
            query: "AGENT".into(),
            ..Default::default()
        })
        .await,
        ["bea.agent@list.test"],
        "case-insensitive, on name or e-mail"
    );
    assert_eq!(
        list(staff::ListStaffRequest {
            query: "100%".into(),
            ..Default::default()
        })
        .await,
        ["dora@list.test"],
        "% matches itself"
    );
    assert!(
        list(staff::ListStaffRequest {
            query: "%".into(),
            certification_statuses: vec![staff::CertificationStatus::Certified as i32],
            ..Default::default()
        })
        .await
        .is_empty()
    );

    // Pages of two, in creation order, each member once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_staff(staff::ListStaffRequest {
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: token.clone(),
                }),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.staff.len() <= 2);
        seen.extend(page.staff.into_iter().map(|m| m.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 5, "the owner and four invitees");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by id, which follows creation");
}
