// The shell: public pages before sign-in; after it, a header (practice, person, practice
// switcher, sign out), the navigation a role may use, and the page.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useApp, useSession } from "./context";
import { match, navigate, useLocation } from "./router";
import { Link, ErrorBanner, useAction } from "./ui";
import { can } from "./lib/rules";
import { roleLabel } from "./lib/format";
import type { Session } from "./lib/session";
import { SignInPage, ForgotPasswordPage, ResetPasswordPage, InvitationPage } from "./pages/auth";
import { StaffPage } from "./pages/staff";
import { MemberPage } from "./pages/member";
import { StaffAccessPage, OrganisationAccessPage } from "./pages/access";
import { OrgInvitationsPage } from "./pages/org-invitations";
import { OffboardPage, OffboardingPage, OffboardingsPage } from "./pages/offboarding";
import { LocationsPage } from "./pages/locations";
import { OrganisationsPage, OrganisationPage } from "./pages/organisations";
import { RolesPage } from "./pages/roles";
import { AuditPage } from "./pages/audit";
import { DeliveriesPage } from "./pages/deliveries";
import { SettingsPage } from "./pages/settings";
import { CertificationPage } from "./pages/certification";

const PUBLIC: Record<string, () => preact.JSX.Element> = {
  "/sign-in": SignInPage,
  "/forgot-password": ForgotPasswordPage,
  "/reset-password": ResetPasswordPage,
  "/invitation": InvitationPage,
};

type Route = { pattern: string; render: (p: Record<string, string>) => preact.JSX.Element; allowed?: (s: Session) => boolean };

const ROUTES: Route[] = [
  { pattern: "/staff", render: () => <StaffPage /> },
  { pattern: "/staff/:id", render: (p) => <MemberPage id={p.id!} /> },
  { pattern: "/staff/:id/access", render: (p) => <StaffAccessPage id={p.id!} />, allowed: (s) => can.manageAccess(s.role) },
  { pattern: "/staff/:id/offboard", render: (p) => <OffboardPage id={p.id!} />, allowed: (s) => can.followOffboardings(s.role) },
  { pattern: "/organisation-invitations", render: () => <OrgInvitationsPage /> },
  { pattern: "/certification", render: () => <CertificationPage /> },
  { pattern: "/organisations", render: () => <OrganisationsPage /> },
  { pattern: "/organisations/:id", render: (p) => <OrganisationPage id={p.id!} /> },
  { pattern: "/organisations/:id/access", render: (p) => <OrganisationAccessPage id={p.id!} />, allowed: (s) => can.manageAccess(s.role) },
  { pattern: "/offboardings", render: () => <OffboardingsPage />, allowed: (s) => can.followOffboardings(s.role) },
  { pattern: "/offboardings/:id", render: (p) => <OffboardingPage id={p.id!} />, allowed: (s) => can.followOffboardings(s.role) },
  { pattern: "/locations", render: () => <LocationsPage /> },
  { pattern: "/roles", render: () => <RolesPage /> },
  { pattern: "/audit", render: () => <AuditPage />, allowed: (s) => can.readAccessAudit(s.role) },
  { pattern: "/deliveries", render: () => <DeliveriesPage />, allowed: (s) => can.readDeliveries(s.role) },
  { pattern: "/settings", render: () => <SettingsPage />, allowed: (s) => can.accessSettings(s.role) },
];

interface NavItem {
  href: string;
  label: string;
  show: (s: Session) => boolean;
}

const NAV: NavItem[] = [
  { href: "/staff", label: "Practice Staff", show: () => true },
  { href: "/organisations", label: "Organisations", show: () => true },
  { href: "/locations", label: "Locations", show: () => true },
  { href: "/roles", label: "Roles", show: () => true },
  { href: "/offboardings", label: "Offboardings", show: (s) => can.followOffboardings(s.role) },
  { href: "/audit", label: "Audit log", show: (s) => can.readAccessAudit(s.role) },
  { href: "/deliveries", label: "E-mail log", show: (s) => can.readDeliveries(s.role) },
  { href: "/settings", label: "Settings", show: (s) => can.accessSettings(s.role) },
];

const MINE: NavItem[] = [
  { href: "/organisation-invitations", label: "My organisation invitations", show: () => true },
  { href: "/certification", label: "My certification", show: () => true },
];

function PracticeSwitcher({ session }: { session: Session }) {
  const { api, dir } = useApp();
  const action = useAction();
  if (session.practices.length < 2) return <span class="practice-name">{session.practiceName}</span>;
  return (
    <span class="practice-switch">
      <label class="sr-only" for="practice-switch">
        Practice
      </label>
      <select
        id="practice-switch"
        value={session.practiceId}
        disabled={action.busy}
        onChange={(e) => {
          const practiceId = e.currentTarget.value;
          void action.run(async () => {
            const res = await api.identity.switchPractice({ practiceId });
            await api.adopt(res, session.email);
            dir.reset();
            navigate("/staff");
          });
        }}
      >
        {session.practices.map((p) => (
          <option key={p.practiceId} value={p.practiceId}>
            {p.practiceName}
          </option>
        ))}
      </select>
      {action.error ? <span class="field-error">{action.error.message}</span> : null}
    </span>
  );
}

function Shell({ session, path, children }: { session: Session; path: string; children: ComponentChildren }) {
  const { api, dir } = useApp();
  const active = (href: string) => path === href || path.startsWith(`${href}/`);
  return (
    <div class="shell">
      <header class="topbar">
        <div class="brand">
          <span class="logo" aria-hidden="true">PS</span>
          <PracticeSwitcher session={session} />
        </div>
        <div class="me">
          <Link href={session.staffId ? `/staff/${session.staffId}` : "/staff"} class="me-name">
            {session.personName || session.email}
          </Link>
          <span class="me-role">{roleLabel(session.role)}</span>
          <button
            type="button"
            class="btn btn-ghost btn-small"
            onClick={() => {
              void api.signOut().then(() => {
                dir.reset();
                navigate("/sign-in", { replace: true });
              });
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <div class="body">
        <nav class="sidenav" aria-label="Main">
          <ul>
            {NAV.filter((n) => n.show(session)).map((n) => (
              <li key={n.href}>
                <Link href={n.href} class={active(n.href) ? "active" : ""}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
          <p class="nav-heading">Me</p>
          <ul>
            {MINE.map((n) => (
              <li key={n.href}>
                <Link href={n.href} class={active(n.href) ? "active" : ""}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <main class="content" key={session.practiceId}>
          {children}
        </main>
      </div>
    </div>
  );
}

function NotFound() {
  return (
    <div class="stack">
      <h1>Page not found</h1>
      <p>
        <Link href="/staff">Go to Practice Staff</Link>
      </p>
    </div>
  );
}

export function App() {
  const { api, dir } = useApp();
  const loc = useLocation();
  const session = useSession();
  const [ready, setReady] = useState(false);

  useEffect(() => {
    api.onSessionEnded = () => {
      dir.reset();
      const here = window.location.pathname + window.location.search;
      navigate(`/sign-in?next=${encodeURIComponent(here)}`, { replace: true });
    };
    setReady(true);
  }, []);

  const publicPage = PUBLIC[loc.path];
  useEffect(() => {
    if (!publicPage && !session) {
      const here = loc.path === "/" ? "" : `?next=${encodeURIComponent(loc.path + (window.location.search || ""))}`;
      navigate(`/sign-in${here}`, { replace: true });
    } else if (loc.path === "/") {
      navigate("/staff", { replace: true });
    }
  }, [loc.path, !!session, !!publicPage]);

  if (!ready) return null;
  if (publicPage) {
    const Page = publicPage;
    return <Page />;
  }
  if (!session) return null;
  let page: preact.JSX.Element = <NotFound />;
  for (const r of ROUTES) {
    const params = match(r.pattern, loc.path);
    if (params) {
      page = !r.allowed || r.allowed(session) ? r.render(params) : <ErrorBanner error={{ code: undefined, message: "Your role does not give access to this page.", fields: {} }} />;
      break;
    }
  }
  return (
    <Shell session={session} path={loc.path}>
      {page}
    </Shell>
  );
}
