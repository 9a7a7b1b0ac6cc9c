// Pages before sign-in: sign in (with the practice picker), forgotten password, the reset link,
// and the invitation link from the e-mail.
import { useEffect, useState } from "preact/hooks";
import type { Invitation } from "../gen/identity/v1/identity_pb";
import { useApp } from "../context";
import { navigate, useLocation } from "../router";
import { Button, ErrorBanner, Field, Link, Loading, Notice, Confirm, useAction } from "../ui";
import { formatDateTime, roleLabel } from "../lib/format";
import { checkNewPassword, safeNext, type PasswordErrors } from "../lib/passwords";
import { practiceChoices, type PracticeChoice } from "../lib/session";
import { toUiError, type UiError } from "../lib/errors";

let prefillEmail = "";

function PublicCard(props: { title: string; children: preact.ComponentChildren; wide?: boolean }) {
  return (
    <div class="public">
      <div class="brand-line">
        <span class="logo" aria-hidden="true">PS</span> Practice Staff
      </div>
      <main class={`card public-card${props.wide ? " public-wide" : ""}`}>
        <h1>{props.title}</h1>
        {props.children}
      </main>
    </div>
  );
}

export function SignInPage() {
  const { api, dir } = useApp();
  const loc = useLocation();
  const [email, setEmail] = useState(prefillEmail);
  const [password, setPassword] = useState("");
  // Active in several practices: identity named them once the password was right.
  const [choices, setChoices] = useState<PracticeChoice[] | null>(null);
  const [picked, setPicked] = useState("");
  const action = useAction();
  const next = safeNext(loc.query.get("next"));

  const signIn = async (practiceId: string) => {
    await api.adopt(await api.identity.signIn({ email, password, practiceId }), email);
    dir.reset();
    navigate(next, { replace: true });
  };

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      try {
        await signIn("");
      } catch (err) {
        const offered = practiceChoices(err);
        if (!offered) throw err;
        setChoices(offered);
        setPicked(offered[0]?.practiceId ?? "");
      }
    });
  };

  const choose = (e: Event) => {
    e.preventDefault();
    void action.run(() => signIn(picked));
  };

  if (choices) {
    return (
      <PublicCard title="Choose a practice">
        <p>You are a member of several practices. Which one do you want to work in?</p>
        <form onSubmit={choose} class="stack">
          <fieldset class="choice-list">
            <legend class="sr-only">Practice</legend>
            {choices.map((p) => (
              <label key={p.practiceId} class="choice">
                <input type="radio" name="practice" value={p.practiceId} checked={picked === p.practiceId} onChange={() => setPicked(p.practiceId)} />
                <span>
                  <strong>{p.practiceName}</strong>
                  <span class="muted"> · {roleLabel(p.role)}</span>
                </span>
              </label>
            ))}
          </fieldset>
          <ErrorBanner error={action.error} />
          <Button type="submit" variant="primary" busy={action.busy}>
            Continue
          </Button>
          <Button
            variant="ghost"
            onClick={() => {
              setChoices(null);
              setPassword("");
              action.clear();
            }}
          >
            Sign in as someone else
          </Button>
        </form>
      </PublicCard>
    );
  }

  return (
    <PublicCard title="Sign in">
      <form onSubmit={submit} class="stack" noValidate>
        <Field label="E-mail" error={action.field("email")}>
          {(id, d) => (
            <input id={id} aria-describedby={d} type="email" autoComplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          )}
        </Field>
        <Field label="Password" error={action.field("password")}>
          {(id, d) => (
            <input id={id} aria-describedby={d} type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          )}
        </Field>
        <ErrorBanner error={action.error} />
        <Button type="submit" variant="primary" busy={action.busy}>
          Sign in
        </Button>
        <p class="muted small">
          <Link href="/forgot-password">Forgot your password?</Link>
        </p>
      </form>
    </PublicCard>
  );
}

export function ForgotPasswordPage() {
  const { api } = useApp();
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const action = useAction();
  return (
    <PublicCard title="Forgot your password?">
      {sent ? (
        <div class="stack">
          <Notice>If an account exists for {email}, an e-mail with a link to choose a new password is on its way. The link works once, for an hour.</Notice>
          <Link href="/sign-in">Back to sign in</Link>
        </div>
      ) : (
        <form
          class="stack"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () => {
              await api.identity.requestPasswordReset({ email });
              setSent(true);
            });
          }}
        >
          <p>Enter your e-mail address and we will send you a link to choose a new password.</p>
          <Field label="E-mail" error={action.field("email")}>
            {(id, d) => <input id={id} aria-describedby={d} type="email" autoComplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
          </Field>
          <ErrorBanner error={action.error} />
          <Button type="submit" variant="primary" busy={action.busy}>
            Send the link
          </Button>
          <Link href="/sign-in">Back to sign in</Link>
        </form>
      )}
    </PublicCard>
  );
}

/**
 * A single-use token from an e-mail link: read once, then taken out of the address bar (and
 * kept for this tab only, so a reload still works).
 */
function useLinkToken(kind: string): string {
  const loc = useLocation();
  const key = `ps.link.${kind}`;
  const [token] = useState(() => {
    const fromUrl = loc.query.get("token");
    if (fromUrl) {
      sessionStorage.setItem(key, fromUrl);
      history.replaceState(null, "", loc.path);
      return fromUrl;
    }
    return sessionStorage.getItem(key) ?? "";
  });
  return token;
}

function forgetLinkToken(kind: string): void {
  sessionStorage.removeItem(`ps.link.${kind}`);
}

function PasswordPair(props: {
  password: string;
  confirm: string;
  setPassword: (v: string) => void;
  setConfirm: (v: string) => void;
  errors: PasswordErrors;
  serverError?: string | undefined;
  label?: string;
}) {
  return (
    <>
      <Field label={props.label ?? "New password"} hint="At least 10 characters." error={props.errors.password ?? props.serverError}>
        {(id, d) => (
          <input id={id} aria-describedby={d} type="password" autoComplete="new-password" value={props.password} onInput={(e) => props.setPassword(e.currentTarget.value)} />
        )}
      </Field>
      <Field label="Repeat the password" error={props.errors.confirm}>
        {(id, d) => (
          <input id={id} aria-describedby={d} type="password" autoComplete="new-password" value={props.confirm} onInput={(e) => props.setConfirm(e.currentTarget.value)} />
        )}
      </Field>
    </>
  );
}

export function ResetPasswordPage() {
  const { api } = useApp();
  const token = useLinkToken("reset");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<PasswordErrors>({});
  const [done, setDone] = useState(false);
  const action = useAction();
  if (!token) {
    return (
      <PublicCard title="Choose a new password">
        <Notice tone="bad">This page needs the link from your password reset e-mail.</Notice>
        <Link href="/forgot-password">Ask for a new link</Link>
      </PublicCard>
    );
  }
  return (
    <PublicCard title="Choose a new password">
      {done ? (
        <div class="stack">
          <Notice>Your password was changed, and every session of your account was signed out.</Notice>
          <Button variant="primary" onClick={() => navigate("/sign-in")}>
            Sign in
          </Button>
        </div>
      ) : (
        <form
          class="stack"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            const errs = checkNewPassword(password, confirm);
            setErrors(errs);
            if (errs.password || errs.confirm) return;
            void action.run(async () => {
              await api.identity.resetPassword({ token, newPassword: password });
              forgetLinkToken("reset");
              setDone(true);
            });
          }}
        >
          <PasswordPair password={password} confirm={confirm} setPassword={setPassword} setConfirm={setConfirm} errors={errors} serverError={action.field("new_password")} />
          <ErrorBanner error={action.error} />
          <Button type="submit" variant="primary" busy={action.busy}>
            Change password
          </Button>
        </form>
      )}
    </PublicCard>
  );
}

export function InvitationPage() {
  const { api } = useApp();
  const token = useLinkToken("invitation");
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const [loadError, setLoadError] = useState<UiError | null>(null);
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<PasswordErrors>({});
  const [outcome, setOutcome] = useState<"accepted" | "declined" | null>(null);
  const [confirmDecline, setConfirmDecline] = useState(false);
  const action = useAction();

  useEffect(() => {
    if (!token) return;
    api.identity.getInvitation({ token }).then(setInvitation, (err: unknown) => setLoadError(toUiError(err)));
  }, [token]);

  if (!token) {
    return (
      <PublicCard title="Invitation">
        <Notice tone="bad">This page needs the link from your invitation e-mail.</Notice>
      </PublicCard>
    );
  }
  if (loadError) {
    return (
      <PublicCard title="Invitation">
        <div class="stack">
          <Notice tone="bad">This invitation link cannot be used: {loadError.message} Ask the person who invited you to send a new one.</Notice>
          <Link href="/sign-in">Go to sign in</Link>
        </div>
      </PublicCard>
    );
  }
  if (!invitation) return <PublicCard title="Invitation"><Loading /></PublicCard>;

  if (outcome === "accepted") {
    return (
      <PublicCard title={`Welcome to ${invitation.practiceName}`}>
        <div class="stack">
          <Notice>You have joined {invitation.practiceName} as {roleLabel(invitation.practiceRole)}.</Notice>
          <Button
            variant="primary"
            onClick={() => {
              prefillEmail = invitation.email;
              navigate("/sign-in");
            }}
          >
            Continue to sign in
          </Button>
        </div>
      </PublicCard>
    );
  }
  if (outcome === "declined") {
    return (
      <PublicCard title="Invitation declined">
        <Notice tone="info">You declined the invitation to join {invitation.practiceName}. Nothing else will happen.</Notice>
      </PublicCard>
    );
  }

  const accept = (e: Event) => {
    e.preventDefault();
    if (!invitation.existingAccount) {
      const errs = checkNewPassword(password, confirm);
      setErrors(errs);
      if (errs.password || errs.confirm) return;
    } else if (!password) {
      setErrors({ password: "Enter your current password." });
      return;
    }
    void action.run(async () => {
      await api.identity.acceptInvitation({ token, password });
      forgetLinkToken("invitation");
      setOutcome("accepted");
    });
  };

  return (
    <PublicCard title={`Join ${invitation.practiceName}`}>
      <dl class="facts">
        <dt>Practice</dt>
        <dd>{invitation.practiceName}</dd>
        <dt>Invited by</dt>
        <dd>{invitation.inviterName}</dd>
        <dt>Role</dt>
        <dd>{roleLabel(invitation.practiceRole)}</dd>
        <dt>For</dt>
        <dd>
          {invitation.inviteeName} ({invitation.email})
        </dd>
        <dt>Link valid until</dt>
        <dd>{formatDateTime(invitation.expiresAt)}</dd>
      </dl>
      <form class="stack" onSubmit={accept} noValidate>
        {invitation.existingAccount ? (
          <>
            <p>You already have a Practice Staff account. Enter its password to accept.</p>
            <Field label="Your current password" error={errors.password ?? action.field("password")}>
              {(id, d) => (
                <input id={id} aria-describedby={d} type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
              )}
            </Field>
          </>
        ) : (
          <>
            <p>Choose a password for your new account.</p>
            <PasswordPair password={password} confirm={confirm} setPassword={setPassword} setConfirm={setConfirm} errors={errors} serverError={action.field("password")} label="Password" />
          </>
        )}
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={() => setConfirmDecline(true)}>Decline</Button>
          <Button type="submit" variant="primary" busy={action.busy}>
            Accept invitation
          </Button>
        </div>
      </form>
      {confirmDecline ? (
        <Confirm
          title="Decline the invitation?"
          confirmLabel="Decline invitation"
          danger
          onClose={() => setConfirmDecline(false)}
          onConfirm={async () => {
            await api.identity.declineInvitation({ token });
            forgetLinkToken("invitation");
            setOutcome("declined");
          }}
        >
          <p>
            You will not join {invitation.practiceName}. {invitation.inviterName} can invite you again later.
          </p>
        </Confirm>
      ) : null}
    </PublicCard>
  );
}
