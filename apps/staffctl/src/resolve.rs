//! What a person types for a staff member, an organisation, a role, a location, a workflow, a
//! practice or an organisation invitation — its id, an e-mail (staff), or its exact name in any
//! case — turned into the thing itself; and ids turned back into names for printing.
//!
//! [`resolve`] decides among candidates and knows nothing of the services. The `Caller`
//! methods below fetch the candidates through the services' own list RPCs, letting the service
//! search where it can (ListStaff and ListOrganisations take a query) so that a large practice
//! is not read whole, and remember every name they see in the [`NameBook`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use anyhow::Result;
use ps_proto::common::v1::PageRequest;
use ps_proto::identity::v1 as identity;
use ps_proto::orgaccess::v1 as org;
use ps_proto::staff::v1 as staff;
use tonic::Code;

use crate::cli::{role_title, status_error, status_title};
use crate::session::Caller;
use crate::table::is_id;

/// What is being looked up, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Staff,
    Organisation,
    Role,
    Location,
    Workflow,
    Practice,
    OrgInvitation,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Staff => "staff member",
            Kind::Organisation => "organisation",
            Kind::Role => "role",
            Kind::Location => "location",
            Kind::Workflow => "workflow",
            Kind::Practice => "practice of yours",
            Kind::OrgInvitation => "open organisation invitation",
        }
    }

    fn nouns(self) -> &'static str {
        match self {
            Kind::Staff => "staff members",
            Kind::Organisation => "organisations",
            Kind::Role => "roles",
            Kind::Location => "locations",
            Kind::Workflow => "workflows",
            Kind::Practice => "of your practices",
            Kind::OrgInvitation => "organisation invitations",
        }
    }
}

/// One thing a typed text may name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub id: String,
    pub name: String,
    /// Staff only: matched exactly (any case) when the typed text holds an `@`.
    pub email: String,
    /// Further ids naming the same thing (an organisation invitation: the invitation's id and
    /// the organisation's).
    pub aliases: Vec<String>,
    /// What tells two of the same name apart in an error: a status, an organisation.
    pub detail: String,
}

impl Candidate {
    fn describe(&self) -> String {
        let mut text = self.name.clone();
        if !self.email.is_empty() {
            text.push_str(&format!(" <{}>", self.email));
        }
        if !self.detail.is_empty() {
            text.push_str(&format!(" ({})", self.detail));
        }
        format!("{text}  {}", self.id)
    }
}

/// Why a typed text names nothing, or more than one thing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unresolved {
    NotFound {
        kind: Kind,
        typed: String,
    },
    /// Each match described by name (e-mail, detail) and id.
    Ambiguous {
        kind: Kind,
        typed: String,
        matches: Vec<String>,
    },
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::NotFound { kind, typed } if is_id(typed) => {
                write!(f, "no {} with id {typed}", kind.noun())
            }
            Unresolved::NotFound { kind, typed } if *kind == Kind::Staff && typed.contains('@') => {
                write!(f, "no staff member with e-mail {typed}")
            }
            Unresolved::NotFound { kind, typed } => {
                write!(f, "no {} called \"{typed}\"", kind.noun())
            }
            Unresolved::Ambiguous {
                kind,
                typed,
                matches,
            } => {
                let give = if *kind == Kind::Staff {
                    "an e-mail or an id"
                } else {
                    "an id"
                };
                write!(
                    f,
                    "{} {} match \"{typed}\"; give {give}:",
                    matches.len(),
                    kind.nouns()
                )?;
                for m in matches {
                    write!(f, "\n  {m}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Unresolved {}

/// The candidate `typed` names: an id (or alias) it equals wins; then, when it holds an `@`,
/// the e-mail it equals; then the name it equals, ignoring case and repeated spaces. No match
/// or several are errors, the latter listing each match.
pub(crate) fn resolve<'a>(
    kind: Kind,
    typed: &str,
    candidates: &'a [Candidate],
) -> Result<&'a Candidate, Unresolved> {
    let typed = typed.trim();
    let decide = |found: Vec<&'a Candidate>| -> Option<Result<&'a Candidate, Unresolved>> {
        let mut seen = BTreeSet::new();
        let found: Vec<&Candidate> = found
            .into_iter()
            .filter(|c| seen.insert(c.id.as_str()))
            .collect();
        match found.as_slice() {
            [] => None,
            [one] => Some(Ok(*one)),
            many => Some(Err(Unresolved::Ambiguous {
                kind,
                typed: typed.to_owned(),
                matches: many.iter().map(|c| c.describe()).collect(),
            })),
        }
    };
    if is_id(typed) {
        let same = |id: &String| id.eq_ignore_ascii_case(typed);
        let by_id = candidates
            .iter()
            .filter(|c| same(&c.id) || c.aliases.iter().any(same))
            .collect();
        if let Some(decided) = decide(by_id) {
            return decided;
        }
    }
    if typed.contains('@') {
        let wanted = typed.to_lowercase();
        let by_email = candidates
            .iter()
            .filter(|c| !c.email.is_empty() && c.email.to_lowercase() == wanted)
            .collect();
        if let Some(decided) = decide(by_email) {
            return decided;
        }
    }
    let wanted = normalised(typed);
    let by_name = candidates
        .iter()
        .filter(|c| normalised(&c.name) == wanted)
        .collect();
    decide(by_name).unwrap_or_else(|| {
        Err(Unresolved::NotFound {
            kind,
            typed: typed.to_owned(),
        })
    })
}

fn normalised(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The item among `items` that `typed` names.
fn pick<T>(
    kind: Kind,
    typed: &str,
    items: Vec<T>,
    candidate: impl Fn(&T) -> Candidate,
) -> Result<T, Unresolved> {
    let candidates: Vec<Candidate> = items.iter().map(&candidate).collect();
    let chosen = resolve(kind, typed, &candidates)?.id.clone();
    items
        .into_iter()
        .zip(candidates)
        .find(|(_, c)| c.id == chosen)
        .map(|(item, _)| item)
        .ok_or(Unresolved::NotFound {
            kind,
            typed: typed.to_owned(),
        })
}

/// The one of `practices` that `typed` names: its id or its name.
pub(crate) fn choose_practice(
    typed: &str,
    practices: Vec<identity::MyPractice>,
) -> Result<identity::MyPractice> {
    Ok(pick(Kind::Practice, typed, practices, |p| Candidate {
        id: p.practice_id.clone(),
        name: p.practice_name.clone(),
        detail: role_title(p.practice_role).to_owned(),
        ..Default::default()
    })?)
}

/// Whether `err` says that nothing was called so.
pub(crate) fn is_not_found(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<Unresolved>(),
        Some(Unresolved::NotFound { .. })
    )
}

/// Names of the ids met so far, to print names where the services answer with ids.
#[derive(Default)]
pub(crate) struct NameBook {
    /// Staff id → (name, e-mail).
    staff: HashMap<String, (String, String)>,
    organisations: HashMap<String, String>,
    /// Every location, archived ones too, once read.
    locations: Option<Vec<staff::Location>>,
    roles: Option<Vec<org::Role>>,
}

impl NameBook {
    pub(crate) fn add_staff(&mut self, m: &staff::StaffMember) {
        self.staff
            .insert(m.id.clone(), (m.name.clone(), m.email.clone()));
    }

    pub(crate) fn add_organisation(&mut self, o: &org::Organisation) {
        self.organisations.insert(o.id.clone(), o.name.clone());
    }

    /// A staff member's name, or their id when it is not known.
    pub(crate) fn staff(&self, id: &str) -> String {
        match self.staff.get(id) {
            Some((name, _)) => name.clone(),
            None => shown(id),
        }
    }

    pub(crate) fn email(&self, id: &str) -> String {
        self.staff
            .get(id)
            .map(|(_, email)| email.clone())
            .unwrap_or_default()
    }

    /// Names joined by commas.
    pub(crate) fn staff_list(&self, ids: &[String]) -> String {
        ids.iter()
            .map(|id| self.staff(id))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn organisation(&self, id: &str) -> String {
        self.organisations
            .get(id)
            .cloned()
            .unwrap_or_else(|| shown(id))
    }

    pub(crate) fn location(&self, id: &str) -> String {
        self.locations
            .iter()
            .flatten()
            .find(|l| l.id == id)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| shown(id))
    }

    /// Location names joined by commas; empty for none.
    pub(crate) fn locations(&self, ids: &[String]) -> String {
        ids.iter()
            .map(|id| self.location(id))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn role(&self, id: &str) -> String {
        self.roles
            .iter()
            .flatten()
            .find(|r| r.id == id)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| shown(id))
    }

    /// The name of any id met so far, whatever it names (for audit entries).
    pub(crate) fn any(&self, id: &str) -> Option<String> {
        if let Some((name, _)) = self.staff.get(id) {
            return Some(name.clone());
        }
        if let Some(name) = self.organisations.get(id) {
            return Some(name.clone());
        }
        let location = self.locations.iter().flatten().find(|l| l.id == id);
        let role = self.roles.iter().flatten().find(|r| r.id == id);
        location
            .map(|l| l.name.clone())
            .or_else(|| role.map(|r| r.name.clone()))
    }

    fn knows(&self, id: &str) -> bool {
        self.any(id).is_some()
    }
}

/// An id shown where its name is not known: `-` for none.
fn shown(id: &str) -> String {
    if id.is_empty() {
        "-".into()
    } else {
        id.to_owned()
    }
}

/// The largest page the services serve.
const PAGE: u32 = 500;
/// Up to this many unknown ids are looked up one by one; for more, the whole list is read.
const ONE_BY_ONE: usize = 20;
/// ListStaff's and ListOrganisations' longest query.
const LONGEST_QUERY: usize = 200;

fn page(token: &str) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: PAGE,
        page_token: token.to_owned(),
    })
}

/// Answers that mean "no such thing here" for an id that looked right.
fn absent(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::NotFound | Code::InvalidArgument)
}

impl Caller {
    /// The staff member `typed` names (id, e-mail or name), searched with ListStaff's query.
    pub(crate) async fn staff_member(&mut self, typed: &str) -> Result<staff::StaffMember> {
        let typed = typed.trim();
        let mut client = self.staff().await?;
        if is_id(typed) {
            match client
                .get_staff(staff::GetStaffRequest {
                    staff_id: typed.to_owned(),
                })
                .await
            {
                Ok(found) => {
                    let member = found.into_inner();
                    self.names.add_staff(&member);
                    return Ok(member);
                }
                Err(status) if absent(&status) => {}
                Err(status) => return Err(status_error(status)),
            }
        }
        let mut found = Vec::new();
        if typed.chars().count() <= LONGEST_QUERY {
            let mut token = String::new();
            loop {
                let listed = client
                    .list_staff(staff::ListStaffRequest {
                        page: page(&token),
                        query: typed.to_owned(),
                        ..Default::default()
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                found.extend(listed.staff);
                if listed.next_page_token.is_empty() {
                    break;
                }
                token = listed.next_page_token;
            }
        }
        found.iter().for_each(|m| self.names.add_staff(m));
        Ok(pick(Kind::Staff, typed, found, |m| Candidate {
            id: m.id.clone(),
            name: m.name.clone(),
            email: m.email.clone(),
            detail: status_title(m.status).to_owned(),
            ..Default::default()
        })?)
    }

    pub(crate) async fn staff_id(&mut self, typed: &str) -> Result<String> {
        Ok(self.staff_member(typed).await?.id)
    }

    /// The organisation `typed` names, searched with ListOrganisations' query: current ones
    /// first, archived ones when no current one matches.
    pub(crate) async fn organisation(&mut self, typed: &str) -> Result<org::Organisation> {
        let typed = typed.trim();
        let mut client = self.orgs().await?;
        if is_id(typed) {
            match client
                .get_organisation(org::GetOrganisationRequest {
                    organisation_id: typed.to_owned(),
                })
                .await
            {
                Ok(found) => {
                    let organisation = found.into_inner();
                    self.names.add_organisation(&organisation);
                    return Ok(organisation);
                }
                Err(status) if absent(&status) => {}
                Err(status) => return Err(status_error(status)),
            }
        }
        let mut last = None;
        for include_archived in [false, true] {
            let found = if typed.chars().count() <= LONGEST_QUERY {
                self.organisations_matching(typed, include_archived).await?
            } else {
                Vec::new()
            };
            let archived = |o: &org::Organisation| if o.archived { "archived" } else { "" };
            match pick(Kind::Organisation, typed, found, |o| Candidate {
                id: o.id.clone(),
                name: o.name.clone(),
                detail: archived(o).to_owned(),
                ..Default::default()
            }) {
                Ok(organisation) => return Ok(organisation),
                Err(err @ Unresolved::NotFound { .. }) => last = Some(err),
                Err(err) => return Err(err.into()),
            }
        }
        Err(last
            .unwrap_or(Unresolved::NotFound {
                kind: Kind::Organisation,
                typed: typed.to_owned(),
            })
            .into())
    }

    pub(crate) async fn organisation_id(&mut self, typed: &str) -> Result<String> {
        Ok(self.organisation(typed).await?.id)
    }

    /// Every organisation whose name contains `query` (all of them for an empty query).
    pub(crate) async fn organisations_matching(
        &mut self,
        query: &str,
        include_archived: bool,
    ) -> Result<Vec<org::Organisation>> {
        let mut client = self.orgs().await?;
        let mut found = Vec::new();
        let mut token = String::new();
        loop {
            let listed = client
                .list_organisations(org::ListOrganisationsRequest {
                    page: page(&token),
                    query: query.to_owned(),
                    include_archived,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            found.extend(listed.organisations);
            if listed.next_page_token.is_empty() {
                break;
            }
            token = listed.next_page_token;
        }
        found.iter().for_each(|o| self.names.add_organisation(o));
        Ok(found)
    }

    /// The practice's roles, built-in and custom, read once.
    pub(crate) async fn roles(&mut self) -> Result<Vec<org::Role>> {
        if let Some(roles) = &self.names.roles {
            return Ok(roles.clone());
        }
        let roles = self
            .orgs()
            .await?
            .list_roles(org::ListRolesRequest {})
            .await
            .map_err(status_error)?
            .into_inner()
            .roles;
        self.names.roles = Some(roles.clone());
        Ok(roles)
    }

    pub(crate) async fn role(&mut self, typed: &str) -> Result<org::Role> {
        let roles = self.roles().await?;
        Ok(pick(Kind::Role, typed, roles, |r| Candidate {
            id: r.id.clone(),
            name: r.name.clone(),
            detail: if r.built_in { "built-in" } else { "custom" }.to_owned(),
            ..Default::default()
        })?)
    }

    pub(crate) async fn role_id(&mut self, typed: &str) -> Result<String> {
        Ok(self.role(typed).await?.id)
    }

    /// Every location of the practice, archived ones too, read once.
    pub(crate) async fn locations(&mut self) -> Result<Vec<staff::Location>> {
        if let Some(locations) = &self.names.locations {
            return Ok(locations.clone());
        }
        let locations = self
            .staff()
            .await?
            .list_locations(staff::ListLocationsRequest {
                include_archived: true,
            })
            .await
            .map_err(status_error)?
            .into_inner()
            .locations;
        self.names.locations = Some(locations.clone());
        Ok(locations)
    }

    /// The location `typed` names: current ones first, archived ones when none matches.
    pub(crate) async fn location_id(&mut self, typed: &str) -> Result<String> {
        let all = self.locations().await?;
        let candidate = |l: &staff::Location| Candidate {
            id: l.id.clone(),
            name: l.name.clone(),
            detail: if l.archived { "archived" } else { "" }.to_owned(),
            ..Default::default()
        };
        let current: Vec<staff::Location> = all.iter().filter(|l| !l.archived).cloned().collect();
        match pick(Kind::Location, typed, current, candidate) {
            Ok(location) => Ok(location.id),
            Err(Unresolved::NotFound { .. }) => Ok(pick(Kind::Location, typed, all, candidate)?.id),
            Err(err) => Err(err.into()),
        }
    }

    pub(crate) async fn location_ids(&mut self, typed: &[String]) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(typed.len());
        for t in typed {
            ids.push(self.location_id(t).await?);
        }
        Ok(ids)
    }

    /// The workflow `typed` names, in `organisation` when given, otherwise in any organisation
    /// of the practice.
    pub(crate) async fn workflow(
        &mut self,
        typed: &str,
        organisation: Option<&str>,
    ) -> Result<org::Workflow> {
        let typed = typed.trim();
        let mut client = self.orgs().await?;
        if is_id(typed) {
            match client
                .get_workflow(org::GetWorkflowRequest {
                    workflow_id: typed.to_owned(),
                })
                .await
            {
                Ok(found) => return Ok(found.into_inner()),
                Err(status) if absent(&status) => {}
                Err(status) => return Err(status_error(status)),
            }
        }
        let organisations = match organisation {
            Some(o) => vec![self.organisation(o).await?],
            None => self.organisations_matching("", false).await?,
        };
        let mut workflows = Vec::new();
        for o in &organisations {
            workflows.extend(
                client
                    .list_workflows(org::ListWorkflowsRequest {
                        organisation_id: o.id.clone(),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner()
                    .workflows,
            );
        }
        let names = &self.names;
        Ok(pick(Kind::Workflow, typed, workflows, |w| Candidate {
            id: w.id.clone(),
            name: w.name.clone(),
            detail: format!("in {}", names.organisation(&w.organisation_id)),
            ..Default::default()
        })?)
    }

    /// One of the practices the caller is active in.
    pub(crate) async fn my_practice(&mut self, typed: &str) -> Result<identity::MyPractice> {
        let practices = self
            .identity()
            .await?
            .list_my_practices(identity::ListMyPracticesRequest {})
            .await
            .map_err(status_error)?
            .into_inner()
            .practices;
        choose_practice(typed, practices)
    }

    /// The id of the caller's open organisation invitation that `typed` names: its id, the
    /// invitation id an e-mail or `access org` gave, the organisation's id or its name. An id
    /// matching none of them goes to the service as it is, which says why it is not open.
    pub(crate) async fn my_org_invitation(&mut self, typed: &str) -> Result<String> {
        let open = self
            .orgs()
            .await?
            .list_my_org_invitations(org::ListMyOrgInvitationsRequest {})
            .await
            .map_err(status_error)?
            .into_inner()
            .memberships;
        match pick(Kind::OrgInvitation, typed, open, |m| Candidate {
            id: m.id.clone(),
            name: m.organisation_name.clone(),
            aliases: vec![m.invitation_id.clone(), m.organisation_id.clone()],
            detail: m.role_name.clone(),
            ..Default::default()
        }) {
            Ok(membership) => Ok(membership.id),
            Err(Unresolved::NotFound { .. }) if is_id(typed) => Ok(typed.trim().to_owned()),
            Err(err) => Err(err.into()),
        }
    }

    /// Looks up the names of these staff ids (unknown ones stay ids: names are for reading,
    /// never a reason to fail).
    pub(crate) async fn learn_staff<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        let unknown: BTreeSet<String> = ids
            .into_iter()
            .filter(|id| is_id(id) && !self.names.knows(id))
            .map(str::to_owned)
            .collect();
        if unknown.is_empty() {
            return;
        }
        let Ok(mut client) = self.staff().await else {
            return;
        };
        if unknown.len() <= ONE_BY_ONE {
            for id in unknown {
                if let Ok(found) = client
                    .get_staff(staff::GetStaffRequest { staff_id: id })
                    .await
                {
                    self.names.add_staff(&found.into_inner());
                }
            }
            return;
        }
        let mut token = String::new();
        while let Ok(listed) = client
            .list_staff(staff::ListStaffRequest {
                page: page(&token),
                ..Default::default()
            })
            .await
        {
            let listed = listed.into_inner();
            listed.staff.iter().for_each(|m| self.names.add_staff(m));
            if listed.next_page_token.is_empty() {
                break;
            }
            token = listed.next_page_token;
        }
    }

    /// Looks up the names of these organisation ids (unknown ones stay ids).
    pub(crate) async fn learn_organisations<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        let unknown: BTreeSet<String> = ids
            .into_iter()
            .filter(|id| is_id(id) && !self.names.organisations.contains_key(*id))
            .map(str::to_owned)
            .collect();
        if unknown.is_empty() {
            return;
        }
        if unknown.len() > ONE_BY_ONE {
            let _ = self.organisations_matching("", true).await;
            return;
        }
        let Ok(mut client) = self.orgs().await else {
            return;
        };
        for id in unknown {
            if let Ok(found) = client
                .get_organisation(org::GetOrganisationRequest {
                    organisation_id: id,
                })
                .await
            {
                self.names.add_organisation(&found.into_inner());
            }
        }
    }

    /// Reads the practice's locations for their names (nothing when it cannot).
    pub(crate) async fn learn_locations(&mut self) {
        let _ = self.locations().await;
    }

    /// Reads the practice's roles for their names (nothing when it cannot).
    pub(crate) async fn learn_roles(&mut self) {
        let _ = self.roles().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLIVE: &str = "0193a1b2-0000-7000-8000-000000000001";
    const BEA: &str = "0193a1b2-0000-7000-8000-000000000002";
    const BEA_TOO: &str = "0193a1b2-0000-7000-8000-000000000003";
    const ALIAS: &str = "0193a1b2-0000-7000-8000-0000000000aa";
    const NOBODY: &str = "0193a1b2-0000-7000-8000-0000000000ff";

    fn staff() -> Vec<Candidate> {
        let person = |id: &str, name: &str, email: &str, detail: &str| Candidate {
            id: id.into(),
            name: name.into(),
            email: email.into(),
            detail: detail.into(),
            ..Default::default()
        };
        vec![
            person(OLIVE, "Olive Owner", "olive@acme.test", "Active"),
            person(BEA, "Bea Member", "bea@acme.test", "Active"),
            person(BEA_TOO, "bea  member", "bea.m@acme.test", "Pending"),
        ]
    }

    #[test]
    fn typed_text_resolves_by_id_then_e_mail_then_exact_name() {
        let candidates = staff();
        let cases: [(&str, Result<&str, &str>); 11] = [
            (OLIVE, Ok(OLIVE)),
            (&OLIVE.to_uppercase(), Ok(OLIVE)),
            ("olive@acme.test", Ok(OLIVE)),
            (" OLIVE@ACME.TEST ", Ok(OLIVE)),
            ("olive owner", Ok(OLIVE)),
            ("Olive   Owner", Ok(OLIVE)),
            ("bea.m@acme.test", Ok(BEA_TOO)),
            ("Olive", Err("no staff member called \"Olive\"")),
            (
                "nobody@acme.test",
                Err("no staff member with e-mail nobody@acme.test"),
            ),
            (
                NOBODY,
                Err("no staff member with id 0193a1b2-0000-7000-8000-0000000000ff"),
            ),
            (
                "Bea Member",
                Err(
                    "2 staff members match \"Bea Member\"; give an e-mail or an id:\n  \
                     Bea Member <bea@acme.test> (Active)  0193a1b2-0000-7000-8000-000000000002\n  \
                     bea  member <bea.m@acme.test> (Pending)  0193a1b2-0000-7000-8000-000000000003",
                ),
            ),
        ];
        for (typed, expected) in cases {
            let got = resolve(Kind::Staff, typed, &candidates)
                .map(|c| c.id.as_str())
                .map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_owned), "typed {typed:?}");
        }
    }

    #[test]
    fn aliases_name_a_candidate_and_may_be_shared() {
        let invitation = |id: &str, organisation: &str| Candidate {
            id: id.into(),
            name: organisation.into(),
            aliases: vec![ALIAS.into()],
            detail: "Approver".into(),
            ..Default::default()
        };
        let one = [invitation(OLIVE, "Client One")];
        assert_eq!(
            resolve(Kind::OrgInvitation, ALIAS, &one).map(|c| c.id.as_str()),
            Ok(OLIVE)
        );
        let two = [
            invitation(OLIVE, "Client One"),
            invitation(BEA, "Client Two"),
        ];
        let err = resolve(Kind::OrgInvitation, ALIAS, &two).unwrap_err();
        assert!(
            matches!(&err, Unresolved::Ambiguous { matches, .. } if matches.len() == 2),
            "{err}"
        );
        assert!(err.to_string().contains("Client Two (Approver)"), "{err}");
        assert_eq!(
            resolve(Kind::OrgInvitation, "client two", &two).map(|c| c.id.as_str()),
            Ok(BEA)
        );
    }

    #[test]
    fn e_mails_match_staff_only_and_names_may_hold_an_at_sign() {
        let org = [Candidate {
            id: OLIVE.into(),
            name: "Smith @ Partners".into(),
            ..Default::default()
        }];
        assert_eq!(
            resolve(Kind::Organisation, "smith @ partners", &org).map(|c| c.id.as_str()),
            Ok(OLIVE)
        );
        assert_eq!(
            resolve(Kind::Organisation, "x", &[])
                .unwrap_err()
                .to_string(),
            "no organisation called \"x\""
        );
    }

    #[test]
    fn a_repeated_candidate_is_one_match() {
        let mut candidates = staff();
        candidates.push(candidates[0].clone());
        assert_eq!(
            resolve(Kind::Staff, "Olive Owner", &candidates).map(|c| c.id.as_str()),
            Ok(OLIVE)
        );
    }
}
