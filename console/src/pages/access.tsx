// Manage Organisation access: one member into many organisations (SetStaffAccess), or many
// members into one organisation (SetOrganisationAccess). A checkbox and a role per row, one
// role for all or per row, location limits; Preview shows the diff by name, then Update.
import { useMemo, useState } from "preact/hooks";
import { StaffStatus } from "../gen/staff/v1/staff_pb";
import type { AccessChangeResult, Membership } from "../gen/orgaccess/v1/orgaccess_pb";
import { useApp, useDirectory } from "../context";
import { Badge, Button, Empty, ErrorBanner, Loading, Notice, PageHeader, Popover, useAction, useAsync, useUpdateEffect } from "../ui";
import { membershipStatusLabel, membershipStatusTone, listWords, roleLabel, staffStatusLabel } from "../lib/format";
import { buildEntries, describeChange, holds, initialState, violationsByRow, type AccessKind, type AccessRow, type Mode, type RowState } from "../lib/access";
import { fieldError } from "../lib/errors";
import { requestId } from "../api";
import type { Directory } from "../directory";

async function allOrgMembers(api: ReturnType<typeof useApp>["api"], organisationId: string): Promise<Membership[]> {
  const out: Membership[] = [];
  let pageToken = "";
  do {
    const res = await api.org.listOrganisationMembers({ organisationId, page: { pageSize: 500, pageToken } });
    out.push(...res.memberships);
    pageToken = res.nextPageToken;
  } while (pageToken);
  return out;
}

function defaultRole(dir: Directory): string {
  const roles = [...dir.roles.values()];
  return (roles.find((r) => r.name === "Viewer") ?? roles[0])?.id ?? "";
}

export function StaffAccessPage({ id }: { id: string }) {
  const { api } = useApp();
  const dir = useDirectory();
  const data = useAsync(async () => {
    await dir.ensure(["organisations", "roles", "locations", "staff"]);
    const [member, access] = await Promise.all([api.staff.getStaff({ staffId: id }), api.org.listStaffAccess({ staffId: id })]);
    return { member, access };
  }, [id]);
  if (data.error) return <ErrorBanner error={data.error} />;
  if (!data.data) return <Loading />;
  const { member, access } = data.data;
  const byOrg = new Map(access.memberships.filter(holds).map((m) => [m.organisationId, m]));
  const rows: (AccessRow & { label: string; sub: string })[] = [...dir.organisations.values()]
    .filter((o) => !o.archived || byOrg.has(o.id))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((o) => ({ key: o.id, current: byOrg.get(o.id), label: o.name, sub: o.archived ? "Archived" : "" }));
  return (
    <div class="stack">
      <PageHeader
        title="Manage Organisation access"
        back={{ href: `/staff/${member.id}`, label: member.name }}
        subtitle={
          <>
            Which client organisations <strong>{member.name}</strong> ({roleLabel(member.practiceRole)}, {staffStatusLabel(member.status)}) may act in, and with which role.
          </>
        }
      />
      {rows.length === 0 ? (
        <Empty>The practice has no organisations yet. Add them on the Organisations page.</Empty>
      ) : (
        <AccessEditor
          kind="staff"
          rows={rows}
          rowHeading="Organisation"
          limitLocations={[...new Set([member.primaryLocationId, ...member.locationIds].filter(Boolean))]}
          onSubmit={(req) => api.org.setStaffAccess({ ...req, staffId: member.id })}
          onApplied={() => data.reload()}
          subject={member.name}
        />
      )}
    </div>
  );
}

export function OrganisationAccessPage({ id }: { id: string }) {
  const { api } = useApp();
  const dir = useDirectory();
  const data = useAsync(async () => {
    await dir.ensure(["organisations", "roles", "locations", "staff"]);
    const [org, members] = await Promise.all([api.org.getOrganisation({ organisationId: id }), allOrgMembers(api, id)]);
    return { org, members };
  }, [id]);
  if (data.error) return <ErrorBanner error={data.error} />;
  if (!data.data) return <Loading />;
  const { org, members } = data.data;
  const byStaff = new Map(members.filter(holds).map((m) => [m.staffId, m]));
  const eligible = new Set([StaffStatus.ACTIVE, StaffStatus.PENDING, StaffStatus.DEACTIVATED]);
  const rows = [...dir.staff.values()]
    .filter((s) => eligible.has(s.status) || byStaff.has(s.id))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => ({ key: s.id, current: byStaff.get(s.id), label: s.name, sub: `${roleLabel(s.practiceRole)} · ${staffStatusLabel(s.status)}` }));
  return (
    <div class="stack">
      <PageHeader
        title="Manage Organisation access"
        back={{ href: `/organisations/${org.id}`, label: org.name }}
        subtitle={
          <>
            Which members may act in <strong>{org.name}</strong>, and with which role.
          </>
        }
      />
      <AccessEditor
        kind="organisation"
        rows={rows}
        rowHeading="Member"
        onSubmit={(req) => api.org.setOrganisationAccess({ ...req, organisationId: org.id })}
        onApplied={() => data.reload()}
        subject={org.name}
      />
    </div>
  );
}

interface SubmitRequest {
  requestId: string;
  defaultRoleId: string;
  entries: ReturnType<typeof buildEntries>["entries"];
  preview: boolean;
}

function AccessEditor(props: {
  kind: AccessKind;
  rows: (AccessRow & { label: string; sub: string })[];
  rowHeading: string;
  limitLocations?: string[];
  onSubmit: (req: SubmitRequest) => Promise<AccessChangeResult>;
  onApplied: () => void;
  subject: string;
}) {
  const dir = useDirectory();
  const rowsKey = props.rows
    .map((r) => `${r.key}:${r.current?.id ?? ""}:${r.current?.roleId ?? ""}:${r.current?.status ?? ""}:${r.current?.locationIds.join(",") ?? ""}`)
    .join("|");
  const init = useMemo(() => initialState(props.rows, defaultRole(dir)), [rowsKey]);
  const [mode, setMode] = useState<Mode>(init.mode);
  const [defaultRoleId, setDefaultRoleId] = useState(init.defaultRoleId);
  const [states, setStates] = useState<Record<string, RowState>>(init.states);
  const [preview, setPreview] = useState<{ result: AccessChangeResult; signature: string; applyId: string } | null>(null);
  const [applied, setApplied] = useState<AccessChangeResult | null>(null);
  const [index, setIndex] = useState<string[]>([]);
  const action = useAction();
  useUpdateEffect(() => {
    setMode(init.mode);
    setDefaultRoleId(init.defaultRoleId);
    setStates(init.states);
  }, [init]);

  const roles = [...dir.roles.values()];
  const locations = [...dir.locations.values()].filter((l) => !l.archived);
  const built = buildEntries(props.kind, props.rows, states, mode);
  const signature = JSON.stringify({ mode, defaultRoleId, entries: built.entries });
  const fresh = preview && preview.signature === signature;
  const rowErrors = violationsByRow(action.error?.fields ?? {}, index);
  const update = (key: string, patch: Partial<RowState>) => {
    setApplied(null);
    setStates({ ...states, [key]: { ...states[key]!, ...patch } });
  };

  const send = (isPreview: boolean) =>
    action.run(async () => {
      setIndex(built.index);
      const result = await props.onSubmit({
        requestId: isPreview ? requestId() : (preview?.applyId ?? requestId()),
        defaultRoleId,
        entries: built.entries,
        preview: isPreview,
      });
      if (isPreview) {
        setApplied(null);
        setPreview({ result, signature, applyId: requestId() });
      } else {
        setPreview(null);
        setApplied(result);
        await dir.reload("roles");
        props.onApplied();
      }
    });

  const checkedCount = Object.values(states).filter((s) => s.checked).length;

  return (
    <div class="stack">
      <section class="card">
        <div class="access-controls">
          <fieldset class="segmented">
            <legend>Role</legend>
            <label class={mode === "same" ? "on" : ""}>
              <input type="radio" name="mode" checked={mode === "same"} onChange={() => setMode("same")} /> One role for all
            </label>
            <label class={mode === "per" ? "on" : ""}>
              <input type="radio" name="mode" checked={mode === "per"} onChange={() => setMode("per")} /> A role per {props.kind === "staff" ? "organisation" : "member"}
            </label>
          </fieldset>
          <div class="field inline-field">
            <label for="default-role">{mode === "same" ? "Role for all" : "Default role"}</label>
            <select id="default-role" value={defaultRoleId} onChange={(e) => setDefaultRoleId(e.currentTarget.value)}>
              {roles.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
            {fieldError(action.error, "default_role_id") ? <p class="field-error">{fieldError(action.error, "default_role_id")}</p> : null}
          </div>
          <p class="muted small">{checkedCount} selected</p>
        </div>
        <div class="table-frame">
          <table class="table" aria-label="Organisation access">
            <thead>
              <tr>
                <th class="check-col">Access</th>
                <th>{props.rowHeading}</th>
                <th>Now</th>
                <th>Role</th>
                <th>Location limits</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => {
                const s = states[r.key];
                if (!s) return null;
                const err = rowErrors[r.key];
                return (
                  <tr key={r.key} class={err ? "row-invalid" : s.checked ? "row-on" : ""} data-row={r.label}>
                    <td class="check-col">
                      <input type="checkbox" aria-label={`Access to ${r.label}`} checked={s.checked} onChange={(e) => update(r.key, { checked: e.currentTarget.checked })} />
                    </td>
                    <td>
                      <strong>{r.label}</strong>
                      {r.sub ? <div class="muted small">{r.sub}</div> : null}
                      {err ? (
                        <p class="field-error" role="alert">
                          {err}
                        </p>
                      ) : null}
                    </td>
                    <td>
                      {r.current ? (
                        <span class="cell-stack">
                          <Badge tone={membershipStatusTone(r.current.status)}>{membershipStatusLabel(r.current.status)}</Badge>
                          <span class="muted small">{r.current.roleName || dir.roleName(r.current.roleId)}</span>
                        </span>
                      ) : (
                        <span class="muted">No access</span>
                      )}
                    </td>
                    <td>
                      {mode === "per" ? (
                        <select aria-label={`Role in ${r.label}`} class="inline-select" disabled={!s.checked} value={s.roleId} onChange={(e) => update(r.key, { roleId: e.currentTarget.value })}>
                          {roles.map((role) => (
                            <option key={role.id} value={role.id}>
                              {role.name}
                            </option>
                          ))}
                        </select>
                      ) : (
                        <span class={s.checked ? "" : "muted"}>{s.checked ? dir.roleName(defaultRoleId) : "—"}</span>
                      )}
                    </td>
                    <td>
                      <LocationLimits
                        label={r.label}
                        disabled={!s.checked}
                        chosen={s.locationIds}
                        options={locations.map((l) => ({ id: l.id, name: l.name, warn: !!props.limitLocations && !props.limitLocations.includes(l.id) }))}
                        onChange={(ids) => update(r.key, { locationIds: ids })}
                      />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <ErrorBanner error={action.error} />
        <div class="actions-left">
          <Button variant={fresh ? "secondary" : "primary"} busy={action.busy} onClick={() => void send(true)}>
            Preview changes
          </Button>
          <Button variant="primary" disabled={!fresh || action.busy} onClick={() => void send(false)} title={fresh ? "" : "Preview first"}>
            Update
          </Button>
          {preview && !fresh ? <span class="muted small">The form changed since the preview: preview again.</span> : null}
        </div>
      </section>
      {preview ? <ChangeSummary title="Preview: nothing is changed yet" result={preview.result} kind={props.kind} /> : null}
      {applied ? (
        <>
          <Notice>
            Saved. {countWords(applied)}
            {applied.invitationIds.length
              ? props.kind === "staff"
                ? ` ${props.subject} was e-mailed an invitation and answers each organisation on their organisation invitations page.`
                : " The members offered access were e-mailed and answer on their organisation invitations page."
              : ""}
          </Notice>
          <ChangeSummary title="What changed" result={applied} kind={props.kind} />
        </>
      ) : null}
    </div>
  );
}

function countWords(r: AccessChangeResult): string {
  const parts: string[] = [];
  if (r.added.length) parts.push(`${r.added.length} added`);
  if (r.changed.length) parts.push(`${r.changed.length} changed`);
  if (r.removed.length) parts.push(`${r.removed.length} removed`);
  if (r.unchanged) parts.push(`${r.unchanged} unchanged`);
  return parts.length ? `${listWords(parts)}.` : "Nothing changed.";
}

function LocationLimits(props: { label: string; disabled: boolean; chosen: string[]; options: { id: string; name: string; warn: boolean }[]; onChange: (ids: string[]) => void }) {
  const dir = useDirectory();
  if (!props.options.length) return <span class="muted">All locations</span>;
  const text = props.chosen.length ? props.chosen.map((id) => dir.locationName(id)).join(", ") : "All locations";
  if (props.disabled) return <span class="muted">{props.chosen.length ? text : "—"}</span>;
  return (
    <Popover ariaLabel={`Location limits in ${props.label}`} label={text}>
      <>
        <p class="muted small">Limit to these locations (none: every location):</p>
        {props.options.map((o) => (
          <label key={o.id} class="check">
            <input
              type="checkbox"
              checked={props.chosen.includes(o.id)}
              onChange={(e) => props.onChange(e.currentTarget.checked ? [...props.chosen, o.id] : props.chosen.filter((x) => x !== o.id))}
            />
            {o.name}
            {o.warn ? <span class="muted small"> (not one of the member's locations)</span> : null}
          </label>
        ))}
      </>
    </Popover>
  );
}

export function ChangeSummary({ title, result, kind }: { title: string; result: AccessChangeResult; kind: AccessKind }) {
  const dir = useDirectory();
  const r = dir.resolver();
  const groups = [
    { name: "Added", kind: "added" as const, items: result.added },
    { name: "Changed", kind: "changed" as const, items: result.changed },
    { name: "Removed", kind: "removed" as const, items: result.removed },
  ].filter((g) => g.items.length);
  return (
    <section class="card" aria-label={title}>
      <h2>{title}</h2>
      {groups.length === 0 ? <p>Nothing to change: everything is already as asked.</p> : null}
      {groups.map((g) => (
        <div key={g.name} class="diff-group">
          <h3>
            {g.name} ({g.items.length})
          </h3>
          <table class="table diff-table">
            <thead>
              <tr>
                <th>{kind === "staff" ? "Organisation" : "Member"}</th>
                <th>Role</th>
                <th>Locations</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {g.items.map((c, i) => {
                const line = describeChange(c, g.kind, r);
                return (
                  <tr key={i} class={`diff-${g.kind}`}>
                    <td>{kind === "staff" ? line.organisation : line.member}</td>
                    <td>{line.role}</td>
                    <td>{line.locations}</td>
                    <td>{line.status}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ))}
      {result.unchanged ? <p class="muted small">{result.unchanged} already as asked (unchanged).</p> : null}
    </section>
  );
}
