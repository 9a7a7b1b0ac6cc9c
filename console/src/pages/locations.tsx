// Locations (facilities): everyone sees them; Account Owner and Account Manager create,
// rename and archive.
import { useState } from "preact/hooks";
import type { Location } from "../gen/staff/v1/staff_pb";
import { useApp, useSignedIn } from "../context";
import { Badge, Button, Confirm, Empty, ErrorBanner, Field, Loading, Modal, Notice, PageHeader, useAction, useAsync } from "../ui";
import { formatDate } from "../lib/format";
import { can } from "../lib/rules";

export function NameDialog(props: { title: string; label: string; initial?: string; submitLabel: string; onClose: () => void; onSubmit: (name: string) => Promise<void> }) {
  const [name, setName] = useState(props.initial ?? "");
  const action = useAction();
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(() => props.onSubmit(name.trim()));
        }}
      >
        <Field label={props.label} error={action.field("name")}>
          {(id, d) => <input id={id} aria-describedby={d} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={action.busy}>
            {props.submitLabel}
          </Button>
        </div>
      </form>
    </Modal>
  );
}

export function LocationsPage() {
  const { api, dir } = useApp();
  const session = useSignedIn();
  const [archived, setArchived] = useState(false);
  const list = useAsync(() => api.staff.listLocations({ includeArchived: archived }), [archived]);
  const [dialog, setDialog] = useState<null | { kind: "create" } | { kind: "rename" | "archive"; l: Location }>(null);
  const [notice, setNotice] = useState("");
  const manage = can.manageLocations(session.role);
  const changed = (text: string) => {
    setDialog(null);
    setNotice(text);
    list.reload();
    void dir.reload("locations").catch(() => {});
  };
  return (
    <div class="stack">
      <PageHeader
        title="Locations"
        subtitle="The practice's facilities. Members may be limited to some of them."
        actions={
          manage ? (
            <Button variant="primary" onClick={() => setDialog({ kind: "create" })}>
              Add location
            </Button>
          ) : null
        }
      />
      <label class="check">
        <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} /> Show archived locations
      </label>
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBanner error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.locations.length === 0 ? <Empty>No locations yet.</Empty> : null}
      {list.data && list.data.locations.length ? (
        <table class="table" aria-label="Locations">
          <thead>
            <tr>
              <th>Name</th>
              <th>Added</th>
              <th>Status</th>
              {manage ? <th class="actions-col"><span class="sr-only">Actions</span></th> : null}
            </tr>
          </thead>
          <tbody>
            {list.data.locations.map((l) => (
              <tr key={l.id} data-location={l.name}>
                <td class="strong">{l.name}</td>
                <td>{formatDate(l.createdAt)}</td>
                <td>{l.archived ? <Badge>Archived</Badge> : <Badge tone="good">In use</Badge>}</td>
                {manage ? (
                  <td class="actions-col">
                    {!l.archived ? (
                      <span class="inline-actions">
                        <Button small onClick={() => setDialog({ kind: "rename", l })}>
                          Rename
                        </Button>
                        <Button small onClick={() => setDialog({ kind: "archive", l })}>
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
      {dialog?.kind === "create" ? (
        <NameDialog
          title="Add location"
          label="Name"
          submitLabel="Add location"
          onClose={() => setDialog(null)}
          onSubmit={async (name) => {
            const l = await api.staff.createLocation({ name });
            changed(`${l.name} was added.`);
          }}
        />
      ) : null}
      {dialog?.kind === "rename" ? (
        <NameDialog
          title={`Rename ${dialog.l.name}`}
          label="New name"
          initial={dialog.l.name}
          submitLabel="Rename"
          onClose={() => setDialog(null)}
          onSubmit={async (name) => {
            const l = await api.staff.renameLocation({ locationId: dialog.l.id, name });
            changed(`${dialog.l.name} is now called ${l.name}.`);
          }}
        />
      ) : null}
      {dialog?.kind === "archive" ? (
        <Confirm
          title={`Archive ${dialog.l.name}?`}
          confirmLabel="Archive"
          danger
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            const l = await api.staff.archiveLocation({ locationId: dialog.l.id });
            changed(`${l.name} was archived.`);
          }}
        >
          <p>It can no longer be given to members or used for new invitations.</p>
        </Confirm>
      ) : null}
    </div>
  );
}
