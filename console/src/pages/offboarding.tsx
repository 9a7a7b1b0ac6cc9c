// Offboard: pick a replacement, preview the whole plan by name (organisations, workflow steps,
// withdrawn invitations, warnings), Done runs OffboardStaff, then follow it to the end. And
// the practice's offboarding history.
import { useEffect, useState } from "preact/hooks";
import { ExistingAccess, type OffboardingCounts } from "../gen/common/v1/common_pb";
import { StaffStatus, OffboardingStatus, type Offboarding } from "../gen/staff/v1/staff_pb";
import { MembershipStatus, type OffboardingPlan } from "../gen/orgaccess/v1/orgaccess_pb";
import { useApp, useDirectory } from "../context";
import { navigate } from "../router";
import { Badge, Button, Empty, ErrorBanner, Link, Loading, PageHeader, Pager, useAction, useAsync, usePager } from "../ui";
import {
  existingAccessLabel,
  formatDateTime,
  handoverActionLabel,
  membershipStatusLabel,
  offboardingStatusLabel,
  offboardingStatusTone,
  roleLabel,
  stepActionLabel,
  listWords,
} from "../lib/format";
import { toUiError, type UiError } from "../lib/errors";

export function countsWords(c: OffboardingCounts | undefined): string {
  if (!c) return "";
  const parts: string[] = [];
  const n = (v: number, one: string, many: string) => (v ? `${v} ${v === 1 ? one : many}` : "");
  parts.push(
    n(c.organisations, "organisation handed over", "organisations handed over"),
    n(c.membershipsGranted, "new membership", "new memberships"),
    n(c.membershipsChanged, "membership changed", "memberships changed"),
    n(c.membershipsRevoked, "membership revoked", "memberships revoked"),
    n(c.stepsReassigned, "workflow step reassigned", "workflow steps reassigned"),
    n(c.invitationsWithdrawn, "invitation withdrawn", "invitations withdrawn"),
  );
  const text = listWords(parts.filter(Boolean));
  return text ? `${text.charAt(0).toUpperCase()}${text.slice(1)}.` : "Nothing to hand over.";
}

export function OffboardPage({ id }: { id: string }) {
  const { api } = useApp();
  const dir = useDirectory();
  const leaver = useAsync(async () => {
    await dir.ensure(["staff", "organisations", "roles", "locations"]);
    return api.staff.getStaff({ staffId: id });
  }, [id]);
  const [replacementId, setReplacementId] = useState("");
  const [existing, setExisting] = useState<ExistingAccess>(ExistingAccess.KEEP_REPLACEMENT_ROLE);
  const [plan, setPlan] = useState<OffboardingPlan | null>(null);
  const previewing = useAction();
  const running = useAction();

  if (leaver.error) return <ErrorBanner error={leaver.error} />;
  const m = leaver.data;
  if (!m) return <Loading />;
  const candidates = [...dir.staff.values()].filter((s) => s.status === StaffStatus.ACTIVE && s.id !== m.id).sort((a, b) => a.name.localeCompare(b.name));
  const fresh = plan && plan.replacementId === replacementId && plan.existingAccess === existing;

  return (
    <div class="stack">
      <PageHeader
        title={`Offboard ${m.name}`}
        back={{ href: `/staff/${m.id}`, label: m.name }}
        subtitle="Hand every organisation and workflow step of a leaving member to a replacement in one go. Preview the plan first: nothing changes until you press Done."
      />
      <section class="card">
        <div class="grid-2">
          <div class="field">
            <label for="replacement">Replacement</label>
            <select id="replacement" value={replacementId} onChange={(e) => setReplacementId(e.currentTarget.value)}>
              <option value="">Choose an active member</option>
              {candidates.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} — {roleLabel(c.practiceRole)}
                </option>
              ))}
            </select>
            {previewing.field("replacement_id") ? <p class="field-error">{previewing.field("replacement_id")}</p> : null}
          </div>
          <fieldset class="field">
            <legend>Where the replacement already has access</legend>
            <label class="check">
              <input type="radio" name="existing" checked={existing === ExistingAccess.KEEP_REPLACEMENT_ROLE} onChange={() => setExisting(ExistingAccess.KEEP_REPLACEMENT_ROLE)} />
              {existingAccessLabel(ExistingAccess.KEEP_REPLACEMENT_ROLE)}
            </label>
            <label class="check">
              <input type="radio" name="existing" checked={existing === ExistingAccess.USE_LEAVER_ROLE} onChange={() => setExisting(ExistingAccess.USE_LEAVER_ROLE)} />
              {existingAccessLabel(ExistingAccess.USE_LEAVER_ROLE)}
            </label>
          </fieldset>
        </div>
        <ErrorBanner error={previewing.error} />
        <div class="actions-left">
          <Button
            variant={fresh ? "secondary" : "primary"}
            disabled={!replacementId}
            busy={previewing.busy}
            onClick={() =>
              void previewing.run(async () => {
                setPlan(await api.org.previewOffboarding({ staffId: m.id, replacementId, existingAccess: existing }));
              })
            }
          >
            Preview plan
          </Button>
        </div>
      </section>
      {plan && fresh ? (
        <>
          <PlanView plan={plan} leaverName={m.name} />
          <section class="card confirm-card">
            <p>
              Pressing <strong>Done</strong> marks {m.name} as Offboarding at once and applies exactly this plan in one go; {m.name} then becomes Offboarded and their sessions in
              the practice end. {dir.staffName(replacementId)} and you each get an e-mail.
            </p>
            <ErrorBanner error={running.error} />
            <div class="actions-left">
              <Button
                variant="danger"
                busy={running.busy}
                onClick={() =>
                  void running.run(async () => {
                    const o = await api.staff.offboardStaff({ staffId: m.id, replacementId, existingAccess: existing });
                    await dir.reload("staff");
                    navigate(`/offboardings/${o.id}`);
                  })
                }
              >
                Done
              </Button>
              <Button onClick={() => setPlan(null)}>Cancel</Button>
            </div>
          </section>
        </>
      ) : null}
    </div>
  );
}

export function PlanView({ plan, leaverName }: { plan: OffboardingPlan; leaverName: string }) {
  const dir = useDirectory();
  const replacement = dir.staffName(plan.replacementId);
  const status = (s: MembershipStatus) => (s === MembershipStatus.UNSPECIFIED ? "" : ` (${membershipStatusLabel(s)})`);
  return (
    <section class="card plan" aria-label="Offboarding plan">
      <h2>
        The plan: {leaverName} → {replacement}
      </h2>
      <p class="lead">{countsWords(plan.counts)}</p>
      <p class="muted small">{existingAccessLabel(plan.existingAccess)} where they already have access.</p>
      {plan.warnings.length ? (
        <div class="warnings" role="note">
          <h3>Warnings</h3>
          <ul>
            {plan.warnings.map((w, i) => (
              <li key={i}>
                {w.message}
                {w.organisationId ? <span class="muted"> ({dir.organisationName(w.organisationId)})</span> : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <h3>Organisations ({plan.organisations.length})</h3>
      {plan.organisations.length ? (
        <table class="table">
          <thead>
            <tr>
              <th>Organisation</th>
              <th>{leaverName}'s role</th>
              <th>{replacement} now</th>
              <th>{replacement} after</th>
              <th>What happens</th>
              <th>Location limits</th>
            </tr>
          </thead>
          <tbody>
            {plan.organisations.map((o) => (
              <tr key={o.organisationId}>
                <td class="strong">{o.organisationName}</td>
                <td>{o.leaverRoleName}</td>
                <td>{o.replacementRoleNameBefore ? `${o.replacementRoleNameBefore}${status(o.replacementStatusBefore)}` : <span class="muted">No access</span>}</td>
                <td>{o.replacementRoleNameAfter}</td>
                <td>{handoverActionLabel(o.action)}</td>
                <td>{dir.locationNames(o.locationIds, "All locations")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Empty>{leaverName} has no organisation access.</Empty>
      )}
      <h3>Workflow steps ({plan.steps.length})</h3>
      {plan.steps.length ? (
        <table class="table">
          <thead>
            <tr>
              <th>Workflow</th>
              <th>Organisation</th>
              <th>Step</th>
              <th>What happens</th>
              <th>Approvers after</th>
            </tr>
          </thead>
          <tbody>
            {plan.steps.map((s) => (
              <tr key={s.stepId}>
                <td class="strong">{s.workflowName}</td>
                <td>{dir.organisationName(s.organisationId)}</td>
                <td>
                  {s.position}. {s.stepName}
                </td>
                <td>{stepActionLabel(s.action)}</td>
                <td>{s.approverStaffIdsAfter.map((a) => dir.staffName(a)).join(", ") || <span class="muted">Nobody</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Empty>{leaverName} approves in no workflow step.</Empty>
      )}
      <h3>Organisation invitations withdrawn ({plan.withdrawnInvitations.length})</h3>
      {plan.withdrawnInvitations.length ? (
        <ul class="plain">
          {plan.withdrawnInvitations.map((w) => (
            <li key={w.membershipId}>
              {w.organisationName} <span class="muted">as {w.roleName}</span>
            </li>
          ))}
        </ul>
      ) : (
        <Empty>None.</Empty>
      )}
    </section>
  );
}

export function OffboardingPage({ id }: { id: string }) {
  const { api, dir } = useApp();
  const [o, setO] = useState<Offboarding | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      try {
        const r = await api.staff.getOffboarding({ offboardingId: id });
        if (!live) return;
        setO(r);
        setError(null);
        if (r.status === OffboardingStatus.REQUESTED) timer = setTimeout(() => void tick(), 1000);
        else void dir.reload("staff").catch(() => {});
      } catch (err) {
        if (!live) return;
        setError(toUiError(err));
        timer = setTimeout(() => void tick(), 3000);
      }
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [id]);
  if (!o) return error ? <ErrorBanner error={error} /> : <Loading />;
  return (
    <div class="stack">
      <PageHeader title={`Offboarding of ${o.staffName}`} back={{ href: "/offboardings", label: "Offboardings" }} />
      <section class="card" aria-live="polite">
        <p class="lead">
          <Badge tone={offboardingStatusTone(o.status)}>{offboardingStatusLabel(o.status)}</Badge>{" "}
          {o.status === OffboardingStatus.REQUESTED
            ? `Handing ${o.staffName}'s work to ${o.replacementName}…`
            : o.status === OffboardingStatus.COMPLETED
              ? `${o.staffName}'s work went to ${o.replacementName}. ${countsWords(o.counts)}`
              : `Nothing was changed: ${o.failureReason || "the handover failed"}. ${o.staffName} is back to their former status.`}
        </p>
        <dl class="facts">
          <dt>Leaver</dt>
          <dd>
            <Link href={`/staff/${o.staffId}`}>{o.staffName}</Link>
          </dd>
          <dt>Replacement</dt>
          <dd>
            <Link href={`/staff/${o.replacementId}`}>{o.replacementName}</Link>
          </dd>
          <dt>Existing access</dt>
          <dd>{existingAccessLabel(o.existingAccess)}</dd>
          <dt>Requested</dt>
          <dd>
            {formatDateTime(o.requestedAt)} by {o.requestedByName}
          </dd>
          <dt>Finished</dt>
          <dd>{formatDateTime(o.finishedAt)}</dd>
        </dl>
      </section>
      <ErrorBanner error={error} />
    </div>
  );
}

export function OffboardingsPage() {
  const { api } = useApp();
  const pager = usePager();
  const list = useAsync(() => api.staff.listOffboardings({ page: { pageSize: 25, pageToken: pager.token } }), [pager.token]);
  return (
    <div class="stack">
      <PageHeader title="Offboardings" subtitle="Every handover of a leaving member's work, newest first. Start one from a member's Actions menu." />
      <ErrorBanner error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.offboardings.length === 0 ? <Empty>No offboardings yet.</Empty> : null}
      {list.data && list.data.offboardings.length ? (
        <table class="table" aria-label="Offboardings">
          <thead>
            <tr>
              <th>Leaver</th>
              <th>Replacement</th>
              <th>Requested</th>
              <th>Status</th>
              <th>Result</th>
            </tr>
          </thead>
          <tbody>
            {list.data.offboardings.map((o) => (
              <tr key={o.id}>
                <td>
                  <Link href={`/offboardings/${o.id}`} class="strong">
                    {o.staffName}
                  </Link>
                </td>
                <td>{o.replacementName}</td>
                <td>
                  {formatDateTime(o.requestedAt)}
                  <div class="muted small">by {o.requestedByName}</div>
                </td>
                <td>
                  <Badge tone={offboardingStatusTone(o.status)}>{offboardingStatusLabel(o.status)}</Badge>
                </td>
                <td class="small">{o.status === OffboardingStatus.FAILED ? o.failureReason : o.status === OffboardingStatus.COMPLETED ? countsWords(o.counts) : "…"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <Pager pager={pager} nextToken={list.data?.nextPageToken} count={list.data?.offboardings.length ?? 0} />
    </div>
  );
}
