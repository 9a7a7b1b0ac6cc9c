// One member: facts, the actions their role allows the caller, the provider profile form
// (UpdateStaff with a field mask, each violation by its field), locations, certification,
// organisation access, offboardings and their history.
import { useEffect, useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CertificationStatus, StaffStatus, type StaffMember } from "../gen/staff/v1/staff_pb";
import { useApp, useDirectory, useSignedIn } from "../context";
import { navigate } from "../router";
import { Badge, Button, Empty, ErrorBanner, Field, Link, Loading, Modal, Notice, PageHeader, downloadBlob, useAction, useAsync, useUpdateEffect } from "../ui";
import {
  certificationLabel,
  certificationTone,
  formatDate,
  formatDateTime,
  membershipStatusLabel,
  membershipStatusTone,
  offboardingStatusLabel,
  offboardingStatusTone,
  roleLabel,
} from "../lib/format";
import { can } from "../lib/rules";
import { otherViolations } from "../lib/errors";
import { RoleSelect, StatusBadge, useMemberActions } from "./staff";
import { StaffAuditTable } from "./audit";

export function MemberPage({ id }: { id: string }) {
  const { api } = useApp();
  const session = useSignedIn();
  const dir = useDirectory();
  const member = useAsync(() => api.staff.getStaff({ staffId: id }), [id]);
  const ops = useMemberActions(() => member.reload());
  useEffect(() => void dir.ensure(["locations", "staff", "organisations", "roles"]).catch(() => {}), []);
  const [recording, setRecording] = useState(false);
  const download = useAction();

  if (member.error) return <ErrorBanner error={member.error} />;
  const m = member.data;
  if (!m) return <Loading />;
  const self = session.staffId;
  const role = session.role;
  const reachable = m.status === StaffStatus.ACTIVE || m.status === StaffStatus.PENDING || m.status === StaffStatus.DEACTIVATED;
  const cert = m.certification;
  const certified = cert?.status === CertificationStatus.CERTIFIED;

  return (
    <div class="stack">
      <PageHeader
        title={m.name}
        back={{ href: "/staff", label: "Practice Staff" }}
        subtitle={
          <>
            {m.email} · {roleLabel(m.practiceRole)} · <StatusBadge status={m.status} />
          </>
        }
        actions={
          <>
            {can.reinvite(role, m) ? (
              <Button busy={ops.action.busy} onClick={() => void ops.reinvite(m)}>
                Reinvite
              </Button>
            ) : null}
            {can.manageAccess(role) && reachable ? <Button onClick={() => navigate(`/staff/${m.id}/access`)}>Manage organisation access</Button> : null}
            {can.deactivate(role, m, self) ? <Button onClick={() => ops.deactivate(m)}>Deactivate</Button> : null}
            {can.reactivate(role, m) ? (
              <Button busy={ops.action.busy} onClick={() => void ops.reactivate(m)}>
                Reactivate
              </Button>
            ) : null}
            {can.offboard(role, m, self) ? <Button onClick={() => navigate(`/staff/${m.id}/offboard`)}>Offboard…</Button> : null}
            {can.remove(role, m, self) ? (
              <Button variant="danger" onClick={() => ops.remove(m)}>
                Remove
              </Button>
            ) : null}
          </>
        }
      />
      {ops.notice ? <Notice>{ops.notice}</Notice> : null}
      <ErrorBanner error={ops.action.error} />
      <div class="grid-2">
        <section class="card">
          <h2>Membership</h2>
          <dl class="facts">
            <dt>Role</dt>
            <dd>{can.changeRole(role, m, self) ? <RoleSelect m={m} disabled={ops.action.busy} onChange={(r) => void ops.changeRole(m, r)} /> : roleLabel(m.practiceRole)}</dd>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={m.status} /> <span class="muted small">since {formatDateTime(m.statusChangedAt)}</span>
            </dd>
            <dt>Invited</dt>
            <dd>
              {formatDateTime(m.invitedAt)}
              {m.invitedByName ? ` by ${m.invitedByName}` : ""}
            </dd>
            <dt>Invitations sent</dt>
            <dd>
              {m.invitationCount}
              {m.lastInvitedAt ? <span class="muted small"> · last {formatDateTime(m.lastInvitedAt)}</span> : null}
            </dd>
            <dt>External agent</dt>
            <dd>{m.externalAgent ? "Yes" : "No"}</dd>
          </dl>
        </section>
        <section class="card">
          <h2>Certification</h2>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <Badge tone={certificationTone(cert?.status ?? CertificationStatus.NOT_CERTIFIED)}>{certificationLabel(cert?.status ?? CertificationStatus.NOT_CERTIFIED)}</Badge>
            </dd>
            <dt>Invited</dt>
            <dd>{formatDateTime(cert?.invitedAt)}</dd>
            <dt>Certified</dt>
            <dd>{formatDate(cert?.certifiedAt)}</dd>
            <dt>Certificate number</dt>
            <dd>{cert?.certificateNumber || "—"}</dd>
          </dl>
          <div class="actions-left">
            {can.inviteToCertification(role, m) && !certified ? (
              <Button busy={ops.action.busy} onClick={() => void ops.inviteToCertification(m)}>
                Send invitation to certification
              </Button>
            ) : null}
            {can.recordCertification(role) && m.status !== StaffStatus.REMOVED ? <Button onClick={() => setRecording(true)}>Record certification</Button> : null}
            {certified && can.downloadCertificate(role, m, self) ? (
              <Button
                busy={download.busy}
                onClick={() =>
                  void download.run(async () => {
                    const c = await api.staff.downloadCertificate({ staffId: m.id });
                    downloadBlob(c.content, c.fileName, c.contentType);
                  })
                }
              >
                Download certificate
              </Button>
            ) : null}
          </div>
          <ErrorBanner error={download.error} />
        </section>
      </div>
      {can.editProfile(role, m, self) ? <ProfileForm m={m} onSaved={() => member.reload()} /> : <ProfileView m={m} />}
      <LocationsCard m={m} onSaved={() => member.reload()} />
      {can.seeOthersAccess(role) || m.id === self ? <AccessCard m={m} /> : null}
      {can.followOffboardings(role) ? <OffboardingsCard m={m} /> : null}
      {can.readAudit(role) ? (
        <section class="card">
          <h2>History</h2>
          <StaffAuditTable staffId={m.id} compact />
        </section>
      ) : null}
      {ops.dialogs}
      {recording ? <RecordCertificationDialog m={m} onClose={() => setRecording(false)} onDone={() => { setRecording(false); ops.setNotice(`The certification of ${m.name} was recorded.`); member.reload(); }} /> : null}
    </div>
  );
}

function ProfileView({ m }: { m: StaffMember }) {
  const p = m.provider;
  return (
    <section class="card">
      <h2>Provider profile</h2>
      <dl class="facts">
        <dt>NPI</dt>
        <dd>{p?.npi || "—"}</dd>
        <dt>Taxonomy code</dt>
        <dd>{p?.taxonomyCode || "—"}</dd>
        <dt>Capacity</dt>
        <dd>{p?.capacity || "—"}</dd>
        <dt>Scheduling step</dt>
        <dd>{p?.schedulingStepMinutes ? `${p.schedulingStepMinutes} minutes` : "—"}</dd>
        <dt>Bio</dt>
        <dd class="prewrap">{p?.bio || "—"}</dd>
      </dl>
    </section>
  );
}

interface ProfileValues {
  name: string;
  external_agent: boolean;
  npi: string;
  taxonomy_code: string;
  bio: string;
  capacity: string;
  scheduling_step_minutes: string;
}

function valuesOf(m: StaffMember): ProfileValues {
  const p = m.provider;
  return {
    name: m.name,
    external_agent: m.externalAgent,
    npi: p?.npi ?? "",
    taxonomy_code: p?.taxonomyCode ?? "",
    bio: p?.bio ?? "",
    capacity: p?.capacity ? String(p.capacity) : "",
    scheduling_step_minutes: p?.schedulingStepMinutes ? String(p.schedulingStepMinutes) : "",
  };
}

/** The field mask paths of what changed. */
export function changedPaths(before: ProfileValues, after: ProfileValues): string[] {
  const paths: string[] = [];
  if (before.name !== after.name) paths.push("name");
  if (before.external_agent !== after.external_agent) paths.push("external_agent");
  for (const k of ["npi", "taxonomy_code", "bio", "capacity", "scheduling_step_minutes"] as const) {
    if (before[k].trim() !== after[k].trim()) paths.push(`provider.${k}`);
  }
  return paths;
}

function toNumber(text: string): number {
  const t = text.trim();
  if (!t) return 0;
  const n = Number(t);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : -1;
}

function ProfileForm({ m, onSaved }: { m: StaffMember; onSaved: () => void }) {
  const { api, dir } = useApp();
  const session = useSignedIn();
  const [values, setValues] = useState(() => valuesOf(m));
  const [saved, setSaved] = useState("");
  const action = useAction();
  useUpdateEffect(() => setValues(valuesOf(m)), [m]);
  const set = (k: keyof ProfileValues, v: string | boolean) => {
    setSaved("");
    setValues({ ...values, [k]: v });
  };
  const paths = changedPaths(valuesOf(m), values);
  const shown = ["name", "external_agent", "provider.npi", "provider.taxonomy_code", "provider.bio", "provider.capacity", "provider.scheduling_step_minutes", "update_mask"];
  const text = (k: "npi" | "taxonomy_code" | "capacity" | "scheduling_step_minutes", label: string, hint: string, inputMode?: "numeric") => (
    <Field label={label} hint={hint} error={action.field(`provider.${k}`)}>
      {(id, d) => <input id={id} aria-describedby={d} name={k} inputMode={inputMode} value={values[k]} onInput={(e) => set(k, e.currentTarget.value)} />}
    </Field>
  );
  return (
    <section class="card">
      <h2>Provider profile</h2>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!paths.length) return;
          void action.run(async () => {
            const capacity = toNumber(values.capacity);
            const step = toNumber(values.scheduling_step_minutes);
            const r = await api.staff.updateStaff({
              staffId: m.id,
              staff: {
                name: values.name.trim(),
                externalAgent: values.external_agent,
                provider: {
                  npi: values.npi.trim(),
                  taxonomyCode: values.taxonomy_code.trim(),
                  bio: values.bio,
                  capacity: capacity < 0 ? 0 : capacity,
                  schedulingStepMinutes: step < 0 ? 0 : step,
                },
              },
              updateMask: { paths },
            });
            dir.put("staff", r);
            setSaved("The profile was saved.");
            onSaved();
          });
        }}
      >
        <div class="grid-2">
          <Field label="Name" error={action.field("name")}>
            {(id, d) => <input id={id} aria-describedby={d} name="name" value={values.name} onInput={(e) => set("name", e.currentTarget.value)} />}
          </Field>
          {text("npi", "NPI", "National Provider Identifier: 10 digits.", "numeric")}
          {text("taxonomy_code", "Taxonomy code", "NUCC code, e.g. 207Q00000X.")}
          {text("capacity", "Capacity", "Concurrent appointments, 1 to 100.", "numeric")}
          {text("scheduling_step_minutes", "Scheduling step (minutes)", "5 to 240, dividing or a multiple of 15.", "numeric")}
          {can.markExternalAgent(session.role) ? (
            <div class="field">
              <span class="label-like">External agent</span>
              <label class="check">
                <input type="checkbox" checked={values.external_agent} onChange={(e) => set("external_agent", e.currentTarget.checked)} />
                Works for several practices
              </label>
              {action.field("external_agent") ? <p class="field-error">{action.field("external_agent")}</p> : null}
            </div>
          ) : null}
        </div>
        <Field label="Bio" hint="At most 2,000 characters." error={action.field("provider.bio")}>
          {(id, d) => <textarea id={id} aria-describedby={d} name="bio" rows={4} value={values.bio} onInput={(e) => set("bio", e.currentTarget.value)} />}
        </Field>
        {otherViolations(action.error, shown).map((v) => (
          <p class="field-error" key={v}>
            {v}
          </p>
        ))}
        <ErrorBanner error={action.error} />
        {saved ? <Notice>{saved}</Notice> : null}
        <div class="actions-left">
          <Button type="submit" variant="primary" busy={action.busy} disabled={!paths.length}>
            Save profile
          </Button>
          {paths.length ? (
            <Button onClick={() => { setValues(valuesOf(m)); action.clear(); }}>Undo changes</Button>
          ) : null}
        </div>
      </form>
    </section>
  );
}

function LocationsCard({ m, onSaved }: { m: StaffMember; onSaved: () => void }) {
  const { api } = useApp();
  const session = useSignedIn();
  const dir = useDirectory();
  const current = [...new Set([m.primaryLocationId, ...m.locationIds].filter(Boolean))];
  const [chosen, setChosen] = useState<string[]>(current);
  const [saved, setSaved] = useState("");
  const action = useAction();
  useUpdateEffect(() => setChosen(current), [m]);
  const locations = [...dir.locations.values()].filter((l) => !l.archived || current.includes(l.id));
  const editable = can.setLocations(session.role) && m.status !== StaffStatus.REMOVED;
  const dirty = chosen.length !== current.length || chosen.some((c) => !current.includes(c));
  return (
    <section class="card">
      <h2>Locations</h2>
      {!locations.length ? <Empty>The practice has no locations.</Empty> : null}
      {editable && locations.length ? (
        <div class="stack">
          <div class="checks">
            {locations.map((l) => (
              <label key={l.id} class="check">
                <input
                  type="checkbox"
                  checked={chosen.includes(l.id)}
                  disabled={l.id === m.primaryLocationId}
                  onChange={(e) => {
                    setSaved("");
                    setChosen(e.currentTarget.checked ? [...chosen, l.id] : chosen.filter((x) => x !== l.id));
                  }}
                />
                {l.name}
                {l.id === m.primaryLocationId ? <span class="muted small"> (primary)</span> : null}
                {l.archived ? <span class="muted small"> (archived)</span> : null}
              </label>
            ))}
          </div>
          <ErrorBanner error={action.error} />
          {saved ? <Notice>{saved}</Notice> : null}
          <div class="actions-left">
            <Button
              variant="primary"
              disabled={!dirty}
              busy={action.busy}
              onClick={() =>
                void action.run(async () => {
                  const r = await api.staff.setStaffLocations({ staffId: m.id, locationIds: chosen });
                  dir.put("staff", r);
                  setSaved("The locations were saved.");
                  onSaved();
                })
              }
            >
              Save locations
            </Button>
          </div>
        </div>
      ) : locations.length ? (
        <p>{dir.locationNames(current, "None")}</p>
      ) : null}
    </section>
  );
}

function AccessCard({ m }: { m: StaffMember }) {
  const { api } = useApp();
  const dir = useDirectory();
  const access = useAsync(() => api.org.listStaffAccess({ staffId: m.id, includeHistory: false }), [m.id, m.status]);
  return (
    <section class="card">
      <h2>Organisation access</h2>
      <ErrorBanner error={access.error} />
      {access.data ? (
        access.data.memberships.length === 0 ? (
          <Empty>No organisation access.</Empty>
        ) : (
          <table class="table">
            <thead>
              <tr>
                <th>Organisation</th>
                <th>Role</th>
                <th>Status</th>
                <th>Locations</th>
              </tr>
            </thead>
            <tbody>
              {access.data.memberships.map((ms) => (
                <tr key={ms.id}>
                  <td>
                    <Link href={`/organisations/${ms.organisationId}`}>{ms.organisationName || dir.organisationName(ms.organisationId)}</Link>
                  </td>
                  <td>{ms.roleName || dir.roleName(ms.roleId)}</td>
                  <td>
                    <Badge tone={membershipStatusTone(ms.status)}>{membershipStatusLabel(ms.status)}</Badge>
                  </td>
                  <td>{dir.locationNames(ms.locationIds, "All locations")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : access.loading ? (
        <Loading />
      ) : null}
      {access.data && access.data.steps.length ? (
        <>
          <h3>Approves in</h3>
          <ul class="plain">
            {access.data.steps.map((s) => (
              <li key={s.stepId}>
                {s.workflowName}, step {s.position} “{s.stepName}” ({dir.organisationName(s.organisationId)})
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}

function OffboardingsCard({ m }: { m: StaffMember }) {
  const { api } = useApp();
  const list = useAsync(() => api.staff.listOffboardings({ staffId: m.id, page: { pageSize: 20 } }), [m.id, m.status]);
  if (!list.data || list.data.offboardings.length === 0) return null;
  return (
    <section class="card">
      <h2>Offboardings</h2>
      <ul class="plain">
        {list.data.offboardings.map((o) => (
          <li key={o.id}>
            <Link href={`/offboardings/${o.id}`}>
              {formatDateTime(o.requestedAt)}: to {o.replacementName}
            </Link>{" "}
            <Badge tone={offboardingStatusTone(o.status)}>{offboardingStatusLabel(o.status)}</Badge>
          </li>
        ))}
      </ul>
    </section>
  );
}

function todayText(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function RecordCertificationDialog(props: { m: StaffMember; onClose: () => void; onDone: () => void }) {
  const { api } = useApp();
  const [number, setNumber] = useState("");
  const [date, setDate] = useState(todayText());
  const action = useAction();
  return (
    <Modal title={`Record the certification of ${props.m.name}`} onClose={props.onClose}>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const when = date === todayText() ? new Date() : new Date(`${date}T12:00:00`);
            await api.staff.recordCertification({ staffId: props.m.id, certificateNumber: number.trim(), certifiedAt: timestampFromDate(when) });
            props.onDone();
          });
        }}
      >
        <Field label="Certificate number" error={action.field("certificate_number")}>
          {(id, d) => <input id={id} aria-describedby={d} value={number} onInput={(e) => setNumber(e.currentTarget.value)} />}
        </Field>
        <Field label="Certified on" error={action.field("certified_at")}>
          {(id, d) => <input id={id} aria-describedby={d} type="date" max={todayText()} value={date} onInput={(e) => setDate(e.currentTarget.value)} />}
        </Field>
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={action.busy}>
            Record certification
          </Button>
        </div>
      </form>
    </Modal>
  );
}
