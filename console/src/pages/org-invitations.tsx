// The signed-in member's organisation invitations (the e-mail's /organisation-invitations
// link): accept or decline each organisation, and the access they already hold.
import { useState } from "preact/hooks";
import type { Membership } from "../gen/orgaccess/v1/orgaccess_pb";
import { useApp, useDirectory, useSignedIn } from "../context";
import { Badge, Button, Empty, ErrorBanner, Loading, Notice, PageHeader, useAction, useAsync } from "../ui";
import { formatDateTime, membershipStatusLabel, membershipStatusTone } from "../lib/format";

export function OrgInvitationsPage() {
  const { api } = useApp();
  const session = useSignedIn();
  const dir = useDirectory();
  const invitations = useAsync(async () => {
    await dir.ensure(["locations"]).catch(() => {});
    return api.org.listMyOrgInvitations({});
  }, []);
  const mine = useAsync(() => api.org.listStaffAccess({ staffId: session.staffId }), [session.staffId]);
  const [answered, setAnswered] = useState<Record<string, Membership>>({});
  const action = useAction();
  const [notice, setNotice] = useState("");

  const answer = (m: Membership, accept: boolean) =>
    action.run(async () => {
      setNotice("");
      const r = accept ? await api.org.acceptOrgInvitation({ membershipId: m.id }) : await api.org.declineOrgInvitation({ membershipId: m.id });
      setAnswered({ ...answered, [m.id]: r });
      setNotice(accept ? `You can now act in ${m.organisationName} as ${m.roleName}.` : `You declined access to ${m.organisationName}.`);
      mine.reload();
    });

  const list = invitations.data?.memberships ?? [];
  return (
    <div class="stack">
      <PageHeader title="My organisation invitations" subtitle="Client organisations you were offered access to. Answer each one separately." />
      <ErrorBanner error={invitations.error} />
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBanner error={action.error} />
      {invitations.loading && !invitations.data ? <Loading /> : null}
      {invitations.data && list.length === 0 ? <Empty>No invitations are waiting for an answer.</Empty> : null}
      {list.length ? (
        <table class="table" aria-label="Organisation invitations">
          <thead>
            <tr>
              <th>Organisation</th>
              <th>Role</th>
              <th>Locations</th>
              <th>Offered</th>
              <th class="actions-col">Answer</th>
            </tr>
          </thead>
          <tbody>
            {list.map((m) => {
              const done = answered[m.id];
              return (
                <tr key={m.id} data-org={m.organisationName}>
                  <td class="strong">{m.organisationName}</td>
                  <td>{m.roleName}</td>
                  <td>{dir.locationNames(m.locationIds, "All locations")}</td>
                  <td>{formatDateTime(m.createdAt)}</td>
                  <td class="actions-col">
                    {done ? (
                      <Badge tone={membershipStatusTone(done.status)}>{membershipStatusLabel(done.status)}</Badge>
                    ) : (
                      <span class="inline-actions">
                        <Button small onClick={() => void answer(m, false)} disabled={action.busy}>
                          Decline
                        </Button>
                        <Button small variant="primary" onClick={() => void answer(m, true)} disabled={action.busy}>
                          Accept
                        </Button>
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
      <section class="card">
        <h2>My organisations</h2>
        <ErrorBanner error={mine.error} />
        {mine.data ? (
          mine.data.memberships.length ? (
            <ul class="plain">
              {mine.data.memberships.map((m) => (
                <li key={m.id}>
                  <strong>{m.organisationName}</strong> — {m.roleName} <Badge tone={membershipStatusTone(m.status)}>{membershipStatusLabel(m.status)}</Badge>
                </li>
              ))}
            </ul>
          ) : (
            <Empty>You have no organisation access yet.</Empty>
          )
        ) : null}
      </section>
    </div>
  );
}
