// Practice settings (Account Owner) and organisation access settings (Account Owner and
// Account Manager).
import { useState } from "preact/hooks";
import { useApp, useSignedIn } from "../context";
import { ErrorBanner, Loading, Notice, PageHeader, useAction, useAsync } from "../ui";
import { can } from "../lib/rules";

export function SettingsPage() {
  const { api } = useApp();
  const session = useSignedIn();
  const practice = useAsync(() => api.staff.getPractice({}), []);
  const access = useAsync(() => api.org.getAccessSettings({}), []);
  const action = useAction();
  const [notice, setNotice] = useState("");
  const owner = can.practiceSettings(session.role);
  // The boxes show the choice at once; a refusal puts them back.
  const [requireLocation, setRequireLocation] = useState<boolean | null>(null);
  const [requireAcceptance, setRequireAcceptance] = useState<boolean | null>(null);
  return (
    <div class="stack">
      <PageHeader title="Settings" subtitle={`How ${session.practiceName} invites members and grants organisation access.`} />
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBanner error={action.error} />
      <section class="card">
        <h2>Invitations</h2>
        <ErrorBanner error={practice.error} />
        {practice.data ? (
          <label class="check">
            <input
              type="checkbox"
              name="require-location"
              disabled={!owner || action.busy}
              checked={requireLocation ?? practice.data.settings?.requireLocationForInvites ?? false}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setRequireLocation(on);
                setNotice("");
                void action.run(async () => {
                  await api.staff.updatePracticeSettings({ settings: { requireLocationForInvites: on } });
                  setNotice(on ? "Invitations now need a primary location." : "Invitations no longer need a primary location.");
                }).then((ok) => !ok && setRequireLocation(null));
              }}
            />
            Every invitation must name a primary location
          </label>
        ) : (
          <Loading />
        )}
        {!owner ? <p class="muted small">Only the Account Owner changes this.</p> : null}
      </section>
      <section class="card">
        <h2>Organisation access</h2>
        <ErrorBanner error={access.error} />
        {access.data ? (
          <label class="check">
            <input
              type="checkbox"
              name="require-acceptance"
              disabled={action.busy}
              checked={requireAcceptance ?? access.data.requireAcceptance}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setRequireAcceptance(on);
                setNotice("");
                void action.run(async () => {
                  await api.org.updateAccessSettings({ settings: { requireAcceptance: on } });
                  setNotice(on ? "Members now accept new organisation access before it is active." : "New organisation access is now active at once.");
                }).then((ok) => !ok && setRequireAcceptance(null));
              }}
            />
            Members must accept new organisation access
          </label>
        ) : (
          <Loading />
        )}
      </section>
    </div>
  );
}
