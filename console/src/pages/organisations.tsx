// Client organisations: search, create, rename, archive; one organisation's members, its
// workflows (ordered steps, approvers by name) and its access history.
import { useEffect, useState } from "preact/hooks";
import { StaffStatus } from "../gen/staff/v1/staff_pb";
import type { Organisation, Workflow } from "../gen/orgaccess/v1/orgaccess_pb";
import { useApp, useDirectory, useSignedIn } from "../context";
import { navigate } from "../router";
import { Badge, Button, Confirm, Empty, ErrorBanner, Field, Link, Loading, Modal, Notice, PageHeader, Pager, useAction, useAsync, usePager } from "../ui";
import { formatDate, membershipStatusLabel, membershipStatusTone } from "../lib/format";
import { can } from "../lib/rules";
import { otherViolations } from "../lib/errors";
import { NameDialog } from "./locations";
import { AccessAuditTable } from "./audit";

export function OrganisationsPage() {
  const { api, dir } = useApp();
  const session = useSignedIn();
  const [query, setQuery] = useState("");
  const [archived, setArchived] = useState(false);
  const pager = usePager();
  useEffect(() => pager.reset(), [query, archived]);
  const list = useAsync(() => api.org.listOrganisations({ query: query.trim(), includeArchived: archived, page: { pageSize: 25, pageToken: pager.token } }), [query, archived, pager.token]);
  const [dialog, setDialog] = useState<null | { kind: "create" } | { kind: "rename" | "archive"; o: Organisation }>(null);
  const [notice, setNotice] = useState("");
  const manage = can.manageOrganisations(session.role);
  const changed = (text: string) => {
    setDialog(null);
    setNotice(text);
    list.reload();
    void dir.reload("organisations").catch(() => {});
  };
  return (
    <div class="stack">
      <PageHeader
        title="Organisations"
        subtitle="The practice's client organisations."
        actions={
          manage ? (
            <Button variant="primary" onClick={() => setDialog({ kind: "create" })}>
              Add organisation
            </Button>
          ) : null
        }
      />
      <div class="toolbar" role="search">
        <input type="search" aria-label="Search organisations" placeholder="Search by name" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <label class="check">
          <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} /> Show archived
        </label>
      </div>
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBanner error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.organisations.length === 0 ? <Empty>No organisations match.</Empty> : null}
      {list.data && list.data.organisations.length ? (
        <table class="table" aria-label="Organisations">
          <thead>
            <tr>
              <th>Name</th>
              <th>Added</th>
              <th>Status</th>
              {manage ? <th class="actions-col"><span class="sr-only">Actions</span></th> : null}
            </tr>
          </thead>
          <tbody>
            {list.data.organisations.map((o) => (
              <tr key={o.id} data-organisation={o.name}>
                <td>
                  <Link href={`/organisations/${o.id}`} class="strong">
                    {o.name}
                  </Link>
                </td>
                <td>{formatDate(o.createdAt)}</td>
                <td>{o.archived ? <Badge>Archived</Badge> : <Badge tone="good">Active</Badge>}</td>
                {manage ? (
                  <td class="actions-col">
                    {!o.archived ? (
                      <span class="inline-actions">
                        <Button small onClick={() => navigate(`/organisations/${o.id}/access`)}>
                          Manage access
                        </Button>
                        <Button small onClick={() => setDialog({ kind: "rename", o })}>
                          Rename
                        </Button>
                        <Button small onClick={() => setDialog({ kind: "archive", o })}>
                          Archive
                        </Button>
                      </span>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <Pager pager={pager} nextToken={list.data?.nextPageToken} count={list.data?.organisations.length ?? 0} />
      {dialog?.kind === "create" ? (
        <NameDialog
          title="Add organisation"
          label="Name"
          submitLabel="Add organisation"
          onClose={() => setDialog(null)}
          onSubmit={async (name) => {
            const o = await api.org.createOrganisation({ name });
            changed(`${o.name} was added.`);
          }}
        />
      ) : null}
      {dialog?.kind === "rename" ? (
        <NameDialog
          title={`Rename ${dialog.o.name}`}
          label="New name"
          initial={dialog.o.name}
          submitLabel="Rename"
          onClose={() => setDialog(null)}
          onSubmit={async (name) => {
            const o = await api.org.renameOrganisation({ organisationId: dialog.o.id, name });
            changed(`${dialog.o.name} is now called ${o.name}.`);
          }}
        />
      ) : null}
      {dialog?.kind === "archive" ? (
        <ArchiveOrganisation o={dialog.o} onClose={() => setDialog(null)} onDone={(o) => changed(`${o.name} was archived.`)} />
      ) : null}
    </div>
  );
}

function ArchiveOrganisation(props: { o: Organisation; onClose: () => void; onDone: (o: Organisation) => void }) {
  const { api } = useApp();
  return (
    <Confirm
      title={`Archive ${props.o.name}?`}
      confirmLabel="Archive"
      danger
      onClose={props.onClose}
      onConfirm={async () => props.onDone(await api.org.archiveOrganisation({ organisationId: props.o.id }))}
    >
      <p>Archived organisations grant no access. Their memberships stay as they were.</p>
    </Confirm>
  );
}

export function OrganisationPage({ id }: { id: string }) {
  const { api } = useApp();
  const session = useSignedIn();
  const dir = useDirectory();
  const org = useAsync(async () => {
    await dir.ensure(["staff", "roles", "locations", "organisations"]);
    return api.org.getOrganisation({ organisationId: id });
  }, [id]);
  const [history, setHistory] = useState(false);
  const manage = can.manageOrganisations(session.role);
  const members = useAsync(
    () => (manage ? api.org.listOrganisationMembers({ organisationId: id, includeHistory: history, page: { pageSize: 200 } }) : Promise.resolve(null)),
    [id, history, manage],
  );
  const workflows = useAsync(() => api.org.listWorkflows({ organisationId: id }), [id]);
  const [dialog, setDialog] = useState<null | "rename" | "archive" | "workflow" | { edit: Workflow } | { del: Workflow }>(null);
  const [notice, setNotice] = useState("");
  if (org.error) return <ErrorBanner error={org.error} />;
  const o = org.data;
  if (!o) return <Loading />;
  return (
    <div class="stack">
      <PageHeader
        title={o.name}
        back={{ href: "/organisations", label: "Organisations" }}
        subtitle={<>{o.archived ? <Badge>Archived</Badge> : <Badge tone="good">Active</Badge>} · added {formatDate(o.createdAt)}</>}
        actions={
          manage && !o.archived ? (
            <>
              <Button variant="primary" onClick={() => navigate(`/organisations/${o.id}/access`)}>
                Manage organisation access
              </Button>
              <Button onClick={() => setDialog("rename")}>Rename</Button>
              <Button onClick={() => setDialog("archive")}>Archive</Button>
            </>
          ) : null
        }
      />
      {notice ? <Notice>{notice}</Notice> : null}
      {manage ? (
        <section class="card">
          <div class="card-head">
            <h2>Who can access it</h2>
            <label class="check">
              <input type="checkbox" checked={history} onChange={(e) => setHistory(e.currentTarget.checked)} /> Include declined and revoked
            </label>
          </div>
          <ErrorBanner error={members.error} />
          {members.data ? (
            members.data.memberships.length ? (
              <table class="table" aria-label="Members of the organisation">
                <thead>
                  <tr>
                    <th>Member</th>
                    <th>Role</th>
                    <th>Status</th>
                    <th>Locations</th>
                  </tr>
                </thead>
                <tbody>
                  {members.data.memberships.map((m) => (
                    <tr key={m.id}>
                      <td>
                        <Link href={`/staff/${m.staffId}`}>{dir.staffName(m.staffId)}</Link>
                      </td>
                      <td>{m.roleName || dir.roleName(m.roleId)}</td>
                      <td>
                        <Badge tone={membershipStatusTone(m.status)}>{membershipStatusLabel(m.status)}</Badge>
                      </td>
                      <td>{dir.locationNames(m.locationIds, "All locations")}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <Empty>Nobody has access yet.</Empty>
            )
          ) : null}
        </section>
      ) : null}
      <section class="card">
        <div class="card-head">
          <h2>Workflows</h2>
          {manage && !o.archived ? (
            <Button small variant="primary" onClick={() => setDialog("workflow")}>
              Add workflow
            </Button>
          ) : null}
        </div>
        <ErrorBanner error={workflows.error} />
        {workflows.data && workflows.data.workflows.length === 0 ? <Empty>No workflows yet.</Empty> : null}
        {workflows.data?.workflows.map((w) => (
          <div key={w.id} class="workflow" data-workflow={w.name}>
            <div class="card-head">
              <h3>{w.name}</h3>
              {manage ? (
                <span class="inline-actions">
                  <Button small onClick={() => setDialog({ edit: w })}>
                    Edit
                  </Button>
                  <Button small onClick={() => setDialog({ del: w })}>
                    Delete
                  </Button>
                </span>
              ) : null}
            </div>
            <ol class="steps">
              {w.steps.map((s) => (
                <li key={s.id}>
                  <strong>{s.name}</strong> <span class="muted">approved by</span> {s.approverStaffIds.map((a) => dir.staffName(a)).join(", ")}
                </li>
              ))}
            </ol>
          </div>
        ))}
      </section>
      {manage ? (
        <section class="card">
          <h2>Access history</h2>
          <AccessAuditTable organisationId={o.id} compact />
        </section>
      ) : null}
      {dialog === "rename" ? (
        <NameDialog
          title={`Rename ${o.name}`}
          label="New name"
          initial={o.name}
          submitLabel="Rename"
          onClose={() => setDialog(null)}
          onSubmit={async (name) => {
            const r = await api.org.renameOrganisation({ organisationId: o.id, name });
            dir.put("organisations", r);
            setDialog(null);
            setNotice(`${o.name} is now called ${r.name}.`);
            org.reload();
          }}
        />
      ) : null}
      {dialog === "archive" ? (
        <ArchiveOrganisation
          o={o}
          onClose={() => setDialog(null)}
          onDone={(r) => {
            dir.put("organisations", r);
            setNotice(`${r.name} was archived.`);
            org.reload();
          }}
        />
      ) : null}
      {dialog === "workflow" || (dialog && typeof dialog === "object" && "edit" in dialog) ? (
        <WorkflowDialog
          organisationId={o.id}
          workflow={dialog !== "workflow" && "edit" in dialog ? dialog.edit : undefined}
          onClose={() => setDialog(null)}
          onSaved={(w) => {
            setDialog(null);
            setNotice(`The workflow ${w.name} was saved.`);
            workflows.reload();
          }}
        />
      ) : null}
      {dialog && typeof dialog === "object" && "del" in dialog ? (
        <Confirm
          title={`Delete the workflow ${dialog.del.name}?`}
          confirmLabel="Delete"
          danger
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            await api.org.deleteWorkflow({ workflowId: dialog.del.id });
            setNotice(`The workflow ${dialog.del.name} was deleted.`);
            workflows.reload();
          }}
        >
          <p>Its steps and approvers go with it.</p>
        </Confirm>
      ) : null}
    </div>
  );
}

interface StepDraft {
  name: string;
  approvers: string[];
}

function WorkflowDialog(props: { organisationId: string; workflow?: Workflow | undefined; onClose: () => void; onSaved: (w: Workflow) => void }) {
  const { api } = useApp();
  const dir = useDirectory();
  const [name, setName] = useState(props.workflow?.name ?? "");
  const [steps, setSteps] = useState<StepDraft[]>(props.workflow?.steps.map((s) => ({ name: s.name, approvers: [...s.approverStaffIds] })) ?? [{ name: "", approvers: [] }]);
  const action = useAction();
  const people = [...dir.staff.values()].filter((s) => s.status === StaffStatus.ACTIVE || s.status === StaffStatus.PENDING).sort((a, b) => a.name.localeCompare(b.name));
  const setStep = (i: number, patch: Partial<StepDraft>) => setSteps(steps.map((s, j) => (j === i ? { ...s, ...patch } : s)));
  const shown = ["name", ...steps.flatMap((_, i) => [`steps[${i}].name`, `steps[${i}].approver_staff_ids`])];
  const stepError = (i: number, f: string) =>
    Object.entries(action.error?.fields ?? {})
      .filter(([p]) => p === `steps[${i}].${f}` || p.startsWith(`steps[${i}].${f}[`))
      .map(([, d]) => d)
      .join("; ") || undefined;
  return (
    <Modal title={props.workflow ? `Edit ${props.workflow.name}` : "Add workflow"} onClose={props.onClose} wide>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const input = steps.map((s) => ({ name: s.name.trim(), approverStaffIds: s.approvers }));
            const w = props.workflow
              ? await api.org.updateWorkflow({ workflowId: props.workflow.id, name: name.trim(), replaceSteps: true, steps: input })
              : await api.org.createWorkflow({ organisationId: props.organisationId, name: name.trim(), steps: input });
            props.onSaved(w);
          });
        }}
      >
        <Field label="Workflow name" error={action.error?.fields["name"]}>
          {(id, d) => <input id={id} aria-describedby={d} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <ol class="step-editor">
          {steps.map((s, i) => (
            <li key={i} class="card step-card">
              <div class="card-head">
                <strong>Step {i + 1}</strong>
                {steps.length > 1 ? (
                  <Button small variant="ghost" onClick={() => setSteps(steps.filter((_, j) => j !== i))}>
                    Remove step
                  </Button>
                ) : null}
              </div>
              <Field label="Step name" error={stepError(i, "name")}>
                {(id, d) => <input id={id} aria-describedby={d} value={s.name} onInput={(e) => setStep(i, { name: e.currentTarget.value })} />}
              </Field>
              <fieldset class="field">
                <legend>Approvers</legend>
                <div class="checks">
                  {people.map((p) => (
                    <label key={p.id} class="check">
                      <input
                        type="checkbox"
                        checked={s.approvers.includes(p.id)}
                        onChange={(e) => setStep(i, { approvers: e.currentTarget.checked ? [...s.approvers, p.id] : s.approvers.filter((x) => x !== p.id) })}
                      />
                      {p.name}
                    </label>
                  ))}
                </div>
                {stepError(i, "approver_staff_ids") ? <p class="field-error">{stepError(i, "approver_staff_ids")}</p> : null}
              </fieldset>
            </li>
          ))}
        </ol>
        <div>
          <Button small onClick={() => setSteps([...steps, { name: "", approvers: [] }])}>
            Add a step
          </Button>
        </div>
        {otherViolations(action.error, shown).map((v) => (
          <p class="field-error" key={v}>
            {v}
          </p>
        ))}
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={action.busy}>
            Save workflow
          </Button>
        </div>
      </form>
    </Modal>
  );
}
