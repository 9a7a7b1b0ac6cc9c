// The audit logs: staff-directory's (who changed which member, location or setting) and
// org-access's (organisations, access, roles, workflows), with names, local times and a
// readable before → after.
import { useEffect, useState } from "preact/hooks";
import { useApp, useDirectory, useSignedIn } from "../context";
import { Empty, ErrorBanner, Loading, PageHeader, Pager, useAsync, usePager } from "../ui";
import { actionLabel, formatDateTime } from "../lib/format";
import { diffRows } from "../lib/diff";
import { can } from "../lib/rules";

function Changes({ action, before, after }: { action: string; before: string; after: string }) {
  const dir = useDirectory();
  const rows = diffRows(action, before, after, dir.resolver());
  if (!rows.length) return <span class="muted">—</span>;
  return (
    <ul class="changes">
      {rows.map((r) => (
        <li key={r.key} class={r.changed ? "" : "muted"}>
          <span class="change-label">{r.label}:</span>{" "}
          {r.changed && r.before !== "—" ? (
            <>
              <span class="before">{r.before}</span> → <span class="after">{r.after}</span>
            </>
          ) : (
            <span class={r.changed ? "after" : ""}>{r.after === "—" ? r.before : r.after}</span>
          )}
        </li>
      ))}
    </ul>
  );
}

export function StaffAuditTable({ staffId = "", compact = false }: { staffId?: string; compact?: boolean }) {
  const { api } = useApp();
  const dir = useDirectory();
  const pager = usePager();
  useEffect(() => void dir.ensure(["staff", "locations", "roles", "organisations"]).catch(() => {}), []);
  const list = useAsync(() => api.staff.listAuditEvents({ staffId, page: { pageSize: compact ? 10 : 25, pageToken: pager.token } }), [staffId, pager.token]);
  if (list.error) return <ErrorBanner error={list.error} />;
  if (!list.data) return <Loading />;
  if (!list.data.events.length) return <Empty>Nothing recorded yet.</Empty>;
  return (
    <>
      <table class="table audit-table" aria-label="Staff audit log">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            {compact ? null : <th>About</th>}
            <th>Changes</th>
          </tr>
        </thead>
        <tbody>
          {list.data.events.map((e) => (
            <tr key={e.id}>
              <td class="nowrap">{formatDateTime(e.occurredAt)}</td>
              <td>{e.actorName || "System"}</td>
              <td>{actionLabel(e.action)}</td>
              {compact ? null : <td>{e.targetStaffId ? dir.staffName(e.targetStaffId) : e.targetLocationId ? dir.locationName(e.targetLocationId) : "The practice"}</td>}
              <td>
                <Changes action={e.action} before={e.before} after={e.after} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager pager={pager} nextToken={list.data.nextPageToken} count={list.data.events.length} />
    </>
  );
}

export function AccessAuditTable({ organisationId = "", staffId = "", compact = false }: { organisationId?: string; staffId?: string; compact?: boolean }) {
  const { api } = useApp();
  const dir = useDirectory();
  const pager = usePager();
  useEffect(() => void dir.ensure(["staff", "locations", "roles", "organisations"]).catch(() => {}), []);
  const list = useAsync(
    () => api.org.listAccessAuditEvents({ organisationId, staffId, page: { pageSize: compact ? 10 : 25, pageToken: pager.token } }),
    [organisationId, staffId, pager.token],
  );
  if (list.error) return <ErrorBanner error={list.error} />;
  if (!list.data) return <Loading />;
  if (!list.data.events.length) return <Empty>Nothing recorded yet.</Empty>;
  return (
    <>
      <table class="table audit-table" aria-label="Access audit log">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            {organisationId ? null : <th>Organisation</th>}
            <th>Member</th>
            <th>Changes</th>
          </tr>
        </thead>
        <tbody>
          {list.data.events.map((e) => (
            <tr key={e.id}>
              <td class="nowrap">{formatDateTime(e.occurredAt)}</td>
              <td>{e.actorName || "System"}</td>
              <td>{actionLabel(e.action)}</td>
              {organisationId ? null : <td>{e.organisationId ? dir.organisationName(e.organisationId) : "—"}</td>}
              <td>{e.staffId ? dir.staffName(e.staffId) : "—"}</td>
              <td>
                <Changes action={e.action} before={e.before} after={e.after} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager pager={pager} nextToken={list.data.nextPageToken} count={list.data.events.length} />
    </>
  );
}

export function AuditPage() {
  const session = useSignedIn();
  const staffLog = can.readAudit(session.role);
  const [tab, setTab] = useState<"staff" | "access">(staffLog ? "staff" : "access");
  return (
    <div class="stack">
      <PageHeader title="Audit log" subtitle="Who changed what, newest first." />
      <div class="tabs" role="tablist">
        {staffLog ? (
          <button type="button" role="tab" aria-selected={tab === "staff"} class={tab === "staff" ? "tab on" : "tab"} onClick={() => setTab("staff")}>
            Staff and practice
          </button>
        ) : null}
        <button type="button" role="tab" aria-selected={tab === "access"} class={tab === "access" ? "tab on" : "tab"} onClick={() => setTab("access")}>
          Organisation access
        </button>
      </div>
      <section class="card">{tab === "staff" && staffLog ? <StaffAuditTable /> : <AccessAuditTable />}</section>
    </div>
  );
}
