// Small building blocks shared by the pages.
import type { ComponentChildren, JSX } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { onLinkClick } from "./router";
import { toUiError, fieldError, type UiError } from "./lib/errors";
import type { Tone } from "./lib/format";

export function Link(props: { href: string; children: ComponentChildren; class?: string; title?: string }) {
  return (
    <a href={props.href} class={props.class} title={props.title} onClick={(e) => onLinkClick(e as unknown as MouseEvent, props.href)}>
      {props.children}
    </a>
  );
}

type ButtonProps = JSX.HTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "secondary" | "danger" | "ghost";
  busy?: boolean;
  small?: boolean;
  type?: "button" | "submit";
  disabled?: boolean;
};

export function Button({ variant = "secondary", busy, small, type = "button", disabled, children, class: cls, ...rest }: ButtonProps) {
  return (
    <button
      {...rest}
      type={type}
      disabled={disabled || busy}
      aria-busy={busy ? "true" : undefined}
      class={`btn btn-${variant}${small ? " btn-small" : ""}${cls ? ` ${String(cls)}` : ""}`}
    >
      {children}
    </button>
  );
}

let fieldSeq = 0;
export function useId(prefix = "f"): string {
  const ref = useRef<string>();
  if (!ref.current) ref.current = `${prefix}-${++fieldSeq}`;
  return ref.current;
}

/** A labelled control with its hint and its field violation. */
export function Field(props: {
  label: string;
  error?: string | undefined;
  hint?: string;
  required?: boolean;
  children: (id: string, describedBy: string | undefined) => ComponentChildren;
  class?: string;
}) {
  const id = useId();
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy = [props.error ? errId : "", props.hint ? hintId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class={`field${props.error ? " field-invalid" : ""}${props.class ? ` ${props.class}` : ""}`}>
      <label for={id}>
        {props.label}
        {props.required ? <span class="required" aria-hidden="true"> *</span> : null}
      </label>
      {props.children(id, describedBy)}
      {props.hint ? (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      ) : null}
      {props.error ? (
        <p class="field-error" id={errId} role="alert">
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

export function ErrorBanner({ error, prefix }: { error: UiError | null | undefined; prefix?: string }) {
  if (!error) return null;
  return (
    <div class="banner banner-error" role="alert">
      {prefix ? <strong>{prefix} </strong> : null}
      {error.message}
    </div>
  );
}

export function Notice({ children, tone = "good" }: { children: ComponentChildren; tone?: Tone }) {
  return (
    <div class={`banner banner-${tone}`} role="status">
      {children}
    </div>
  );
}

export function Badge({ tone = "neutral", children }: { tone?: Tone; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") props.onClose();
    };
    window.addEventListener("keydown", onKey);
    ref.current?.querySelector<HTMLElement>("input, select, textarea, button.btn-primary")?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return (
    <div class="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={`modal${props.wide ? " modal-wide" : ""}`} role="dialog" aria-modal="true" aria-label={props.title} ref={ref}>
        <div class="modal-head">
          <h2>{props.title}</h2>
          <button type="button" class="icon-btn" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </div>
        <div class="modal-body">{props.children}</div>
      </div>
    </div>
  );
}

/** A confirmation step for changes that are hard to undo. */
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
}) {
  const action = useAction();
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <div class="stack">
        {props.children}
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button onClick={props.onClose}>Cancel</Button>
          <Button
            variant={props.danger ? "danger" : "primary"}
            busy={action.busy}
            onClick={() => void action.run(async () => {
              await props.onConfirm();
              props.onClose();
            })}
          >
            {props.confirmLabel}
          </Button>
        </div>
      </div>
    </Modal>
  );
}

/** A small drop-down of actions. */
export function Menu(props: { label: string; children: ComponentChildren; align?: "left" | "right" }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [open]);
  return (
    <div class="menu" ref={ref}>
      <button type="button" class="btn btn-secondary btn-small" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}>
        {props.label} ▾
      </button>
      {open ? (
        <div class={`menu-list menu-${props.align ?? "right"}`} role="menu" onClick={() => setOpen(false)}>
          {props.children}
        </div>
      ) : null}
    </div>
  );
}

export function MenuItem(props: { onClick: () => void; children: ComponentChildren; danger?: boolean }) {
  return (
    <button type="button" role="menuitem" class={`menu-item${props.danger ? " menu-danger" : ""}`} onClick={props.onClick}>
      {props.children}
    </button>
  );
}

export interface AsyncState<T> {
  data: T | undefined;
  error: UiError | null;
  loading: boolean;
  reload: () => void;
}

/** Loads data for a page; reload() fetches again. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: UiError | null; loading: boolean }>({
    data: undefined,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (err: unknown) => live && setState({ data: undefined, error: toUiError(err), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export interface Action {
  busy: boolean;
  error: UiError | null;
  run: (fn: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
  field: (name: string) => string | undefined;
}

/** A user's action: busy while it runs, its refusal kept for display where they acted. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(toUiError(err));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(null), field: (name: string) => fieldError(error, name) };
}

export function PageHeader(props: { title: string; subtitle?: ComponentChildren; actions?: ComponentChildren; back?: { href: string; label: string } }) {
  return (
    <div class="page-header">
      <div>
        {props.back ? (
          <Link href={props.back.href} class="back-link">
            ← {props.back.label}
          </Link>
        ) : null}
        <h1>{props.title}</h1>
        {props.subtitle ? <p class="subtitle">{props.subtitle}</p> : null}
      </div>
      {props.actions ? <div class="page-actions">{props.actions}</div> : null}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p class="loading" aria-live="polite">
      {label}
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** Cursor paging: a stack of page tokens for Previous, the answer's next_page_token for Next. */
export function usePager() {
  const [tokens, setTokens] = useState<string[]>([""]);
  const token = tokens[tokens.length - 1] ?? "";
  return {
    token,
    page: tokens.length,
    next: (t: string) => setTokens([...tokens, t]),
    prev: () => setTokens(tokens.length > 1 ? tokens.slice(0, -1) : tokens),
    reset: () => setTokens([""]),
  };
}

export function Pager(props: { pager: ReturnType<typeof usePager>; nextToken: string | undefined; count: number }) {
  const { pager, nextToken } = props;
  if (pager.page === 1 && !nextToken) return null;
  return (
    <div class="pager">
      <Button small disabled={pager.page === 1} onClick={pager.prev}>
        ← Previous
      </Button>
      <span>Page {pager.page}</span>
      <Button small disabled={!nextToken} onClick={() => nextToken && pager.next(nextToken)}>
        Next →
      </Button>
    </div>
  );
}

/** Saves bytes as a file the browser downloads. */
export function downloadBlob(bytes: Uint8Array, fileName: string, contentType: string): void {
  const blob = new Blob([bytes as BlobPart], { type: contentType || "application/octet-stream" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = fileName || "download";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A button that opens a small panel below it; a click elsewhere or Escape closes it. */
export function Popover(props: { label: string; ariaLabel: string; children: ComponentChildren }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const key = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", key);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", key);
    };
  }, [open]);
  return (
    <div class="popover" ref={ref}>
      <button type="button" class="popover-toggle" aria-label={props.ariaLabel} aria-expanded={open} onClick={() => setOpen(!open)}>
        {props.label}
      </button>
      {open ? <div class="popover-body">{props.children}</div> : null}
    </div>
  );
}

/**
 * An effect for later changes only: skips the first render, so state seeded from props is
 * not reset after the person has started typing (Preact runs effects after paint).
 */
export function useUpdateEffect(fn: () => void, deps: unknown[]): void {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    fn();
  }, deps);
}
