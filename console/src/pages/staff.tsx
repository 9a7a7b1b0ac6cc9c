// Practice Staff: the members table with search, filters and paging; adding, reinviting,
// role changes, removal, deactivation and certification invitations from each row.
import { useEffect, useState } from "preact/hooks";
import { PracticeRole } from "../gen/common/v1/common_pb";
import { CertificationStatus, StaffStatus, type StaffMember } from "../gen/staff/v1/staff_pb";
import { useApp, useDirectory, useSignedIn } from "../context";
import { navigate } from "../router";
import {
  Badge,
  Button,
  Confirm,
  Empty,
  ErrorBanner,
  Field,
  Link,
  Loading,
  Menu,
  MenuItem,
  Modal,
  Notice,
  PageHeader,
  Pager,
  useAction,
  useAsync,
  usePager,
} from "../ui";
import {
  PRACTICE_ROLES,
  STAFF_STATUSES,
  certificationLabel,
  certificationTone,
  formatDate,
  formatDateTime,
  roleLabel,
  staffStatusLabel,
  staffStatusTone,
} from "../lib/format";
import { can, invitableRoles } from "../lib/rules";
import { otherViolations } from "../lib/errors";

const PAGE_SIZE = 25;

export function StatusBadge({ status }: { status: StaffStatus }) {
  return <Badge tone={staffStatusTone(status)}>{staffStatusLabel(status)}</Badge>;
}

export function CertificationCell({ m }: { m: StaffMember }) {
  const c = m.certification;
  const status = c?.status ?? CertificationStatus.NOT_CERTIFIED;
  const when = status === CertificationStatus.CERTIFIED ? c?.certifiedAt : status === CertificationStatus.INVITED ? c?.invitedAt : undefined;
  return (
    <span class="cell-stack">
      <Badge tone={certificationTone(status)}>{certificationLabel(status)}</Badge>
      {when ? <span class="muted small">{formatDate(when)}</span> : null}
    </span>
  );
}

export function LocationsCell({ m }: { m: StaffMember }) {
  const dir = useDirectory();
  const ids = [...new Set([m.primaryLocationId, ...m.locationIds].filter(Boolean))];
  if (!ids.length) return <span class="muted">None</span>;
  return (
    <span class="cell-stack">
      {ids.map((id) => (
        <span key={id}>
          {dir.locationName(id)}
          {id === m.primaryLocationId ? <span class="muted small"> (primary)</span> : null}
        </span>
      ))}
    </span>
  );
}

/** The row and detail actions that change a member, shared by the table and the detail page. */
export function useMemberActions(onChanged: (m?: StaffMember) => void) {
  const { api, dir } = useApp();
  const action = useAction();
  const [notice, setNotice] = useState("");
  const [confirm, setConfirm] = useState<null | { kind: "remove" | "deactivate"; m: StaffMember }>(null);

  const done = (m: StaffMember, text: string) => {
    dir.put("staff", m);
    setNotice(text);
    onChanged(m);
  };
  const run = (fn: () => Promise<void>) => {
    setNotice("");
    return action.run(fn);
  };
  const reinvite = (m: StaffMember) =>
    run(async () => {
      const r = await api.staff.reinviteStaff({ staffId: m.id });
      done(r, `A new invitation was sent to ${r.name} (${r.invitationCount} sent so far).`);
    });
  const changeRole = (m: StaffMember, role: PracticeRole) =>
    run(async () => {
      const r = await api.staff.changePracticeRole({ staffId: m.id, practiceRole: role });
      done(r, `${r.name} is now ${roleLabel(r.practiceRole)}.`);
    });
  const reactivate = (m: StaffMember) =>
    run(async () => {
      const r = await api.staff.reactivateStaff({ staffId: m.id });
      done(r, `${r.name} is active again.`);
    });
  const inviteToCertification = (m: StaffMember) =>
    run(async () => {
      const r = await api.staff.inviteToCertification({ staffId: m.id });
      done(r, `${r.name} was e-mailed an invitation to certify.`);
    });

  const dialogs = confirm ? (
    confirm.kind === "remove" ? (
      <Confirm
        title={`Remove ${confirm.m.name}?`}
        confirmLabel="Remove"
        danger
        onClose={() => setConfirm(null)}
        onConfirm={async () => {
          const r = await api.staff.removeStaff({ staffId: confirm.m.id });
          done(r, `${r.name} was removed from the practice.`);
        }}
      >
        <p>
          {confirm.m.name} loses access to the practice and all its organisations at once; their sessions here end. The record and its history stay. Inviting them again later
          reuses it.
        </p>
      </Confirm>
    ) : (
      <Confirm
        title={`Deactivate ${confirm.m.name}?`}
        confirmLabel="Deactivate"
        danger
        onClose={() => setConfirm(null)}
        onConfirm={async () => {
          const r = await api.staff.deactivateStaff({ staffId: confirm.m.id });
          done(r, `${r.name} was deactivated.`);
        }}
      >
        <p>{confirm.m.name} is refused by every service at once and their sessions in this practice end. Reactivating restores their role and organisation access.</p>
      </Confirm>
    )
  ) : null;

  return {
    action,
    notice,
    setNotice,
    reinvite,
    changeRole,
    reactivate,
    inviteToCertification,
    remove: (m: StaffMember) => setConfirm({ kind: "remove", m }),
    deactivate: (m: StaffMember) => setConfirm({ kind: "deactivate", m }),
    dialogs,
  };
}

export function RoleSelect(props: { m: StaffMember; onChange: (r: PracticeRole) => void; disabled?: boolean }) {
  return (
    <select
      aria-label={`Role of ${props.m.name}`}
      class="inline-select"
      value={String(props.m.practiceRole)}
      disabled={props.disabled}
      onChange={(e) => props.onChange(Number(e.currentTarget.value) as PracticeRole)}
    >
      {PRACTICE_ROLES.map((r) => (
        <option key={r} value={String(r)}>
          {roleLabel(r)}
        </option>
      ))}
    </select>
  );
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function StaffPage() {
  const { api } = useApp();
  const session = useSignedIn();
  const dir = useDirectory();
  const [query, setQuery] = useState("");
  const [status, setStatus] = useState(0);
  const [role, setRole] = useState(0);
  const [location, setLocation] = useState("");
  const [adding, setAdding] = useState(false);
  const pager = usePager();
  const q = useDebounced(query, 250);
  useEffect(() => pager.reset(), [q, status, role, location]);
  useEffect(() => void dir.ensure(["locations", "staff"]).catch(() => {}), []);

  const list = useAsync(
    () =>
      api.staff.listStaff({
        page: { pageSize: PAGE_SIZE, pageToken: pager.token },
        statuses: status ? [status as StaffStatus] : [],
        practiceRoles: role ? [role as PracticeRole] : [],
        locationId: location,
        query: q,
      }),
    [q, status, role, location, pager.token],
  );
  const ops = useMemberActions(() => list.reload());
  const self = session.staffId;
  const owner = session.role === PracticeRole.ACCOUNT_OWNER;
  const locations = [...dir.locations.values()].filter((l) => !l.archived);

  return (
    <div class="stack">
      <PageHeader
        title="Practice Staff"
        subtitle={`Everyone invited to ${session.practiceName}, with their role, status, certification and locations.`}
        actions={
          can.invite(session.role) ? (
            <Button variant="primary" onClick={() => setAdding(true)}>
              Add user
            </Button>
          ) : null
        }
      />
      <div class="toolbar" role="search">
        <input type="search" aria-label="Search by name or e-mail" placeholder="Search by name or e-mail" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <select aria-label="Status" value={String(status)} onChange={(e) => setStatus(Number(e.currentTarget.value))}>
          <option value="0">All statuses</option>
          {STAFF_STATUSES.map((s) => (
            <option key={s} value={String(s)}>
              {staffStatusLabel(s)}
            </option>
          ))}
        </select>
        <select aria-label="Role" value={String(role)} onChange={(e) => setRole(Number(e.currentTarget.value))}>
          <option value="0">All roles</option>
          {PRACTICE_ROLES.map((r) => (
            <option key={r} value={String(r)}>
              {roleLabel(r)}
            </option>
          ))}
        </select>
        {locations.length ? (
          <select aria-label="Location" value={location} onChange={(e) => setLocation(e.currentTarget.value)}>
            <option value="">All locations</option>
            {locations.map((l) => (
              <option key={l.id} value={l.id}>
                {l.name}
              </option>
            ))}
          </select>
        ) : null}
      </div>
      {ops.notice ? <Notice>{ops.notice}</Notice> : null}
      <ErrorBanner error={ops.action.error} />
      <ErrorBanner error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.staff.length === 0 ? <Empty>No members match.</Empty> : null}
      {list.data && list.data.staff.length > 0 ? (
        <div class="table-wrap">
          <table class="table" aria-label="Practice staff">
            <thead>
              <tr>
                <th>Name</th>
                <th>Role</th>
                <th>Status</th>
                <th>Invitation</th>
                <th>Certification</th>
                <th>Locations</th>
                <th>External agent</th>
                <th class="actions-col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.staff.map((m) => (
                <tr key={m.id} data-member={m.email}>
                  <td>
                    <Link href={`/staff/${m.id}`} class="strong">
                      {m.name}
                    </Link>
                    {m.id === self ? <span class="muted small"> (you)</span> : null}
                    <div class="muted small">{m.email}</div>
                  </td>
                  <td>{can.changeRole(session.role, m, self) ? <RoleSelect m={m} disabled={ops.action.busy} onChange={(r) => void ops.changeRole(m, r)} /> : roleLabel(m.practiceRole)}</td>
                  <td>
                    <span class="cell-stack">
                      <StatusBadge status={m.status} />
                      <span class="muted small nowrap" title={formatDateTime(m.statusChangedAt)}>
                        since {formatDate(m.statusChangedAt)}
                      </span>
                    </span>
                  </td>
                  <td>
                    {m.status === StaffStatus.PENDING ? (
                      <span class="cell-stack">
                        <span class="small">
                          Sent {m.invitationCount} {m.invitationCount === 1 ? "time" : "times"}
                        </span>
                        <span class="muted small nowrap">last {formatDateTime(m.lastInvitedAt)}</span>
                        {m.invitationFailedAt ? (
                          <span
                            class="badge badge-bad"
                            data-testid="invitation-failed"
                            title={m.invitationFailure || undefined}
                          >
                            Not delivered {formatDate(m.invitationFailedAt)}
                          </span>
                        ) : null}
                        {can.reinvite(session.role, m) ? (
                          <Button small busy={ops.action.busy} onClick={() => void ops.reinvite(m)}>
                            Reinvite
                          </Button>
                        ) : null}
                      </span>
                    ) : (
                      <span class="cell-stack">
                        <span class="small">Invited by {m.invitedByName || "—"}</span>
                        <span class="muted small nowrap">{formatDate(m.invitedAt)}</span>
                      </span>
                    )}
                  </td>
                  <td>
                    <CertificationCell m={m} />
                  </td>
                  <td>
                    <LocationsCell m={m} />
                  </td>
                  <td>{m.externalAgent ? "Yes" : <span class="muted">No</span>}</td>
                  <td class="actions-col">
                    <RowMenu m={m} ops={ops} self={self} role={session.role} owner={owner} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Pager pager={pager} nextToken={list.data?.nextPageToken} count={list.data?.staff.length ?? 0} />
      {ops.dialogs}
      {adding ? (
        <AddUserDialog
          onClose={() => setAdding(false)}
          onAdded={(m) => {
            setAdding(false);
            ops.setNotice(`${m.name} was invited as ${roleLabel(m.practiceRole)}; the invitation e-mail is on its way.`);
            dir.put("staff", m);
            list.reload();
          }}
        />
      ) : null}
    </div>
  );
}

function RowMenu(props: { m: StaffMember; ops: ReturnType<typeof useMemberActions>; self: string; role: PracticeRole; owner: boolean }) {
  const { m, ops, self, role } = props;
  const items: preact.JSX.Element[] = [];
  items.push(
    <MenuItem key="view" onClick={() => navigate(`/staff/${m.id}`)}>
      View details
    </MenuItem>,
  );
  const reachable = m.status === StaffStatus.ACTIVE || m.status === StaffStatus.PENDING || m.status === StaffStatus.DEACTIVATED;
  if (can.manageAccess(role) && reachable) {
    items.push(
      <MenuItem key="access" onClick={() => navigate(`/staff/${m.id}/access`)}>
        Manage organisation access
      </MenuItem>,
    );
  }
  if (can.inviteToCertification(role, m) && m.certification?.status !== CertificationStatus.CERTIFIED) {
    items.push(
      <MenuItem key="cert" onClick={() => void ops.inviteToCertification(m)}>
        Send invitation to certification
      </MenuItem>,
    );
  }
  if (can.deactivate(role, m, self)) {
    items.push(
      <MenuItem key="deact" onClick={() => ops.deactivate(m)}>
        Deactivate
      </MenuItem>,
    );
  }
  if (can.reactivate(role, m)) {
    items.push(
      <MenuItem key="react" onClick={() => void ops.reactivate(m)}>
        Reactivate
      </MenuItem>,
    );
  }
  if (can.offboard(role, m, self)) {
    items.push(
      <MenuItem key="off" onClick={() => navigate(`/staff/${m.id}/offboard`)}>
        Offboard…
      </MenuItem>,
    );
  }
  if (can.remove(role, m, self)) {
    items.push(
      <MenuItem key="rm" danger onClick={() => ops.remove(m)}>
        Remove
      </MenuItem>,
    );
  }
  return <Menu label="Actions">{items}</Menu>;
}

function AddUserDialog(props: { onClose: () => void; onAdded: (m: StaffMember) => void }) {
  const { api } = useApp();
  const session = useSignedIn();
  const dir = useDirectory();
  const practice = useAsync(() => api.staff.getPractice({}), []);
  const roles = invitableRoles(session.role);
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [role, setRole] = useState<PracticeRole>(roles.includes(PracticeRole.MEMBER) ? PracticeRole.MEMBER : (roles[roles.length - 1] ?? PracticeRole.MEMBER));
  const [primary, setPrimary] = useState("");
  const [others, setOthers] = useState<string[]>([]);
  const [external, setExternal] = useState(false);
  const action = useAction();
  const required = practice.data?.settings?.requireLocationForInvites ?? false;
  const locations = [...dir.locations.values()].filter((l) => !l.archived);
  const shown = ["email", "name", "practice_role", "primary_location_id", "location_ids", "external_agent"];

  return (
    <Modal title="Add user" onClose={props.onClose}>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const m = await api.staff.inviteStaff({
              email: email.trim(),
              name: name.trim(),
              practiceRole: role,
              primaryLocationId: primary,
              locationIds: others.filter((id) => id !== primary),
              externalAgent: external,
            });
            props.onAdded(m);
          });
        }}
      >
        <p class="muted">They get an e-mail with a link to accept or decline. The link works once and for 7 days.</p>
        <Field label="E-mail" required error={action.field("email")}>
          {(id, d) => <input id={id} aria-describedby={d} type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label="Name" required error={action.field("name")}>
          {(id, d) => <input id={id} aria-describedby={d} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label="Role" error={action.field("practice_role")}>
          {(id, d) => (
            <select id={id} aria-describedby={d} value={String(role)} onChange={(e) => setRole(Number(e.currentTarget.value) as PracticeRole)}>
              {roles.map((r) => (
                <option key={r} value={String(r)}>
                  {roleLabel(r)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label="Primary location"
          required={required}
          hint={required ? "This practice requires a primary location for every invitation." : locations.length ? undefined : "The practice has no locations yet."}
          error={action.field("primary_location_id")}
        >
          {(id, d) => (
            <select id={id} aria-describedby={d} value={primary} onChange={(e) => setPrimary(e.currentTarget.value)}>
              <option value="">{required ? "Choose a location" : "None"}</option>
              {locations.map((l) => (
                <option key={l.id} value={l.id}>
                  {l.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        {locations.length > 1 ? (
          <fieldset class="field">
            <legend>Further locations</legend>
            <div class="checks">
              {locations
                .filter((l) => l.id !== primary)
                .map((l) => (
                  <label key={l.id} class="check">
                    <input
                      type="checkbox"
                      checked={others.includes(l.id)}
                      onChange={(e) => setOthers(e.currentTarget.checked ? [...others, l.id] : others.filter((x) => x !== l.id))}
                    />
                    {l.name}
                  </label>
                ))}
            </div>
            {action.field("location_ids") ? <p class="field-error">{action.field("location_ids")}</p> : null}
          </fieldset>
        ) : null}
        <label class="check">
          <input type="checkbox" checked={external} onChange={(e) => setExternal(e.currentTarget.checked)} />
          External agent (works for several practices)
        </label>
        {otherViolations(action.error, shown).map((v) => (
          <p class="field-error" key={v}>
            {v}
          </p>
        ))}
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={action.busy}>
            Send invitation
          </Button>
        </div>
      </form>
    </Modal>
  );
}
