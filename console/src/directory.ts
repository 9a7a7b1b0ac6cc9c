// Names for ids: the practice's staff, locations, organisations and organisation roles, loaded
// once after sign-in and reloaded after changes, so every page shows names, never ids.
import type { Api } from "./api";
import type { StaffMember, Location } from "./gen/staff/v1/staff_pb";
import type { Organisation, Role, Permission } from "./gen/orgaccess/v1/orgaccess_pb";
import type { NameResolver } from "./lib/diff";

export type Kind = "staff" | "locations" | "organisations" | "roles";

export class Directory {
  staff = new Map<string, StaffMember>();
  locations = new Map<string, Location>();
  organisations = new Map<string, Organisation>();
  roles = new Map<string, Role>();
  permissions: Permission[] = [];
  version = 0;
  private listeners = new Set<() => void>();
  private pending = new Map<Kind, Promise<void>>();
  private loaded = new Set<Kind>();

  constructor(private api: Api) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private bump(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  reset(): void {
    this.staff.clear();
    this.locations.clear();
    this.organisations.clear();
    this.roles.clear();
    this.permissions = [];
    this.loaded.clear();
    this.bump();
  }

  /** Loads what is not loaded yet (or everything named in `reload`). */
  async ensure(kinds: Kind[], reload = false): Promise<void> {
    await Promise.all(
      kinds.map((k) => {
        if (!reload && this.loaded.has(k)) return Promise.resolve();
        const running = this.pending.get(k);
        if (running && !reload) return running;
        const p = this.load(k).finally(() => this.pending.delete(k));
        this.pending.set(k, p);
        return p;
      }),
    );
  }

  reload(...kinds: Kind[]): Promise<void> {
    return this.ensure(kinds, true);
  }

  private async load(kind: Kind): Promise<void> {
    switch (kind) {
      case "staff": {
        const all = new Map<string, StaffMember>();
        let pageToken = "";
        do {
          const res = await this.api.staff.listStaff({ page: { pageSize: 500, pageToken } });
          for (const m of res.staff) all.set(m.id, m);
          pageToken = res.nextPageToken;
        } while (pageToken);
        this.staff = all;
        break;
      }
      case "locations": {
        const res = await this.api.staff.listLocations({ includeArchived: true });
        this.locations = new Map(res.locations.map((l) => [l.id, l]));
        break;
      }
      case "organisations": {
        const all = new Map<string, Organisation>();
        let pageToken = "";
        do {
          const res = await this.api.org.listOrganisations({ page: { pageSize: 500, pageToken }, includeArchived: true });
          for (const o of res.organisations) all.set(o.id, o);
          pageToken = res.nextPageToken;
        } while (pageToken);
        this.organisations = all;
        break;
      }
      case "roles": {
        const [roles, perms] = await Promise.all([this.api.org.listRoles({}), this.api.org.listPermissions({})]);
        this.roles = new Map(roles.roles.map((r) => [r.id, r]));
        this.permissions = perms.permissions;
        break;
      }
    }
    this.loaded.add(kind);
    this.bump();
  }

  /** Puts a changed record in place without a reload. */
  put(kind: "staff", value: StaffMember): void;
  put(kind: "locations", value: Location): void;
  put(kind: "organisations", value: Organisation): void;
  put(kind: "roles", value: Role): void;
  put(kind: Kind, value: StaffMember | Location | Organisation | Role): void {
    (this[kind] as Map<string, typeof value>).set(value.id, value);
    this.bump();
  }

  staffName(id: string): string {
    return this.staff.get(id)?.name ?? (id ? "(unknown member)" : "—");
  }
  locationName(id: string): string {
    return this.locations.get(id)?.name ?? (id ? "(unknown location)" : "—");
  }
  organisationName(id: string): string {
    return this.organisations.get(id)?.name ?? (id ? "(unknown organisation)" : "—");
  }
  roleName(id: string): string {
    return this.roles.get(id)?.name ?? (id ? "(unknown role)" : "—");
  }

  /** Location names joined, or `empty` for none. */
  locationNames(ids: readonly string[], empty = "—"): string {
    return ids.length ? ids.map((id) => this.locationName(id)).join(", ") : empty;
  }

  resolver(): NameResolver {
    return {
      staff: (id) => this.staff.get(id)?.name,
      location: (id) => this.locations.get(id)?.name,
      organisation: (id) => this.organisations.get(id)?.name,
      role: (id) => this.roles.get(id)?.name,
    };
  }
}
