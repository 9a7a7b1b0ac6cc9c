// Organisation roles: the built-in ones (read-only) and the practice's own, each permission
// of the fixed catalogue toggled by module.
import { useEffect, useState } from "preact/hooks";
import type { Permission, Role } from "../gen/orgaccess/v1/orgaccess_pb";
import { useApp, useDirectory, useSignedIn } from "../context";
import { Badge, Button, Confirm, ErrorBanner, Field, Loading, Modal, Notice, PageHeader, useAction, useUpdateEffect } from "../ui";
import { capitalise, permissionLabel } from "../lib/format";
import { can } from "../lib/rules";

export function byModule(perms: Permission[]): [string, Permission[]][] {
  const groups = new Map<string, Permission[]>();
  for (const p of perms) {
    const m = p.module || p.name.split(".")[0] || "other";
    groups.set(m, [...(groups.get(m) ?? []), p]);
  }
  return [...groups.entries()];
}

function PermissionGrid(props: { perms: Permission[]; chosen: string[]; disabled: boolean; onToggle?: (name: string, on: boolean) => void; idPrefix: string }) {
  return (
    <div class="perm-grid">
      {byModule(props.perms).map(([module, list]) => (
        <fieldset key={module} class="perm-module">
          <legend>{capitalise(module)}</legend>
          {props.disabled
            ? list.map((p) => (
                <span key={p.name} class={props.chosen.includes(p.name) ? "perm perm-on" : "perm perm-off"} title={p.description}>
                  <span aria-hidden="true">{props.chosen.includes(p.name) ? "✓" : "–"}</span> {permissionLabel(p.name)}
                  <span class="sr-only">{props.chosen.includes(p.name) ? " (granted)" : " (not granted)"}</span>
                </span>
              ))
            : list.map((p) => (
            <label key={p.name} class="check" title={p.description}>
              <input
                type="checkbox"
                name={`${props.idPrefix}-${p.name}`}
                checked={props.chosen.includes(p.name)}
                disabled={props.disabled}
                onChange={(e) => props.onToggle?.(p.name, e.currentTarget.checked)}
              />
              {permissionLabel(p.name)}
            </label>
          ))}
        </fieldset>
      ))}
    </div>
  );
}

function RoleCard({ role, perms, editable, onChanged }: { role: Role; perms: Permission[]; editable: boolean; onChanged: (text: string) => void }) {
  const { api } = useApp();
  const [chosen, setChosen] = useState(role.permissions);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const action = useAction();
  useUpdateEffect(() => setChosen(role.permissions), [role]);
  const dirty = chosen.length !== role.permissions.length || chosen.some((p) => !role.permissions.includes(p));
  const canEdit = editable && !role.builtIn;
  return (
    <section class="card role-card" data-role={role.name}>
      <div class="card-head">
        <h2>
          {role.name} {role.builtIn ? <Badge>Built-in</Badge> : <Badge tone="info">Custom</Badge>}
        </h2>
        <span class="muted small">
          {role.memberships} {role.memberships === 1 ? "membership" : "memberships"}
        </span>
      </div>
      <PermissionGrid perms={perms} chosen={chosen} disabled={!canEdit} idPrefix={role.id} onToggle={(name, on) => setChosen(on ? [...chosen, name] : chosen.filter((p) => p !== name))} />
      <ErrorBanner error={action.error} />
      {canEdit ? (
        <div class="actions-left">
          <Button
            variant="primary"
            small
            disabled={!dirty}
            busy={action.busy}
            onClick={() =>
              void action.run(async () => {
                const r = await api.org.updateRole({ roleId: role.id, replacePermissions: true, permissions: chosen });
                onChanged(`The permissions of ${r.name} were saved; they apply to every holder at once.`);
              })
            }
          >
            Save permissions
          </Button>
          <Button small onClick={() => setRenaming(true)}>
            Rename
          </Button>
          <Button small variant="danger" onClick={() => setConfirmDelete(true)}>
            Delete
          </Button>
        </div>
      ) : null}
      {renaming ? (
        <RoleNameDialog
          title={`Rename ${role.name}`}
          initial={role.name}
          onClose={() => setRenaming(false)}
          onSubmit={async (name) => {
            const r = await api.org.updateRole({ roleId: role.id, name });
            setRenaming(false);
            onChanged(`${role.name} is now called ${r.name}.`);
          }}
        />
      ) : null}
      {confirmDelete ? (
        <Confirm
          title={`Delete the role ${role.name}?`}
          confirmLabel="Delete"
          danger
          onClose={() => setConfirmDelete(false)}
          onConfirm={async () => {
            await api.org.deleteRole({ roleId: role.id });
            onChanged(`The role ${role.name} was deleted.`);
          }}
        >
          <p>A role that members hold cannot be deleted.</p>
        </Confirm>
      ) : null}
    </section>
  );
}

function RoleNameDialog(props: { title: string; initial?: string; onClose: () => void; onSubmit: (name: string) => Promise<void> }) {
  const [name, setName] = useState(props.initial ?? "");
  const action = useAction();
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <form class="stack" noValidate onSubmit={(e) => { e.preventDefault(); void action.run(() => props.onSubmit(name.trim())); }}>
        <Field label="Name" error={action.field("name")}>
          {(id, d) => <input id={id} aria-describedby={d} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={action.busy}>Save</Button>
        </div>
      </form>
    </Modal>
  );
}

function CreateRoleDialog(props: { perms: Permission[]; onClose: () => void; onCreated: (r: Role) => void }) {
  const { api } = useApp();
  const [name, setName] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const action = useAction();
  return (
    <Modal title="Add a custom role" onClose={props.onClose} wide>
      <form
        class="stack"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => props.onCreated(await api.org.createRole({ name: name.trim(), permissions: chosen })));
        }}
      >
        <Field label="Name" error={action.field("name")}>
          {(id, d) => <input id={id} aria-describedby={d} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <PermissionGrid perms={props.perms} chosen={chosen} disabled={false} idPrefix="new" onToggle={(n, on) => setChosen(on ? [...chosen, n] : chosen.filter((p) => p !== n))} />
        {action.field("permissions") ? <p class="field-error">{action.field("permissions")}</p> : null}
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={props.onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={action.busy}>
            Add role
          </Button>
        </div>
      </form>
    </Modal>
  );
}

export function RolesPage() {
  const session = useSignedIn();
  const dir = useDirectory();
  const load = useAction();
  const [notice, setNotice] = useState("");
  const [creating, setCreating] = useState(false);
  useEffect(() => void load.run(() => dir.reload("roles")), []);
  const roles = [...dir.roles.values()];
  const editable = can.manageRoles(session.role);
  const changed = (text: string) => {
    setNotice(text);
    void load.run(() => dir.reload("roles"));
  };
  return (
    <div class="stack">
      <PageHeader
        title="Roles"
        subtitle="What a member may do in an organisation. Built-in roles cannot change; custom roles take any set of permissions."
        actions={editable ? <Button variant="primary" onClick={() => setCreating(true)}>Add role</Button> : null}
      />
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBanner error={load.error} />
      {!roles.length && load.busy ? <Loading /> : null}
      {roles.map((r) => (
        <RoleCard key={r.id} role={r} perms={dir.permissions} editable={editable} onChanged={changed} />
      ))}
      {creating ? (
        <CreateRoleDialog
          perms={dir.permissions}
          onClose={() => setCreating(false)}
          onCreated={(r) => {
            setCreating(false);
            changed(`The role ${r.name} was added.`);
          }}
        />
      ) : null}
    </div>
  );
}
