// Refusals from the services, as messages for people: the service's sentence for
// PermissionDenied / FailedPrecondition / NotFound, the wait for ResourceExhausted
// (google.rpc.RetryInfo), and each google.rpc.BadRequest field violation by field.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";
import { formatDuration, sentence, humaniseKey } from "./format";

export interface UiError {
  code: Code | undefined;
  /** The sentence shown where the user acted. */
  message: string;
  /** Field path (as the service names it, e.g. "staff.provider.npi") → description. */
  fields: Record<string, string>;
  /** For ResourceExhausted: how long to wait, in seconds. */
  retryAfterSeconds?: number;
}

function durationSeconds(d: { seconds: bigint; nanos: number } | undefined): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds) + d.nanos / 1e9;
}

/** The last segment of a field path, readable: "entries[1].role_id" → "Role". */
export function fieldLabel(path: string): string {
  const last = path.split(".").pop() ?? path;
  return humaniseKey(last.replace(/\[\d+\]$/, ""));
}

export function toUiError(err: unknown): UiError {
  const e = ConnectError.from(err);
  const fields: Record<string, string> = {};
  for (const detail of e.findDetails(BadRequestSchema)) {
    for (const v of detail.fieldViolations) {
      fields[v.field] = fields[v.field] ? `${fields[v.field]}; ${v.description}` : v.description;
    }
  }
  const retry = e.findDetails(RetryInfoSchema)[0];
  const retryAfterSeconds = durationSeconds(retry?.retryDelay);
  const raw = e.rawMessage.trim();
  let message: string;
  switch (e.code) {
    case Code.InvalidArgument: {
      const entries = Object.entries(fields);
      if (entries.length === 0) message = raw ? sentence(raw) : "Some of the values are not valid.";
      else if (entries.length === 1) {
        const [path, description] = entries[0]!;
        message = `${fieldLabel(path)} ${description}.`.replace(/\.\.$/, ".");
      } else message = "Some values need correcting: see the highlighted fields.";
      break;
    }
    case Code.PermissionDenied:
      message = raw ? `Not allowed: ${sentence(raw).replace(/^./, (c) => c.toLowerCase())}` : "You are not allowed to do that.";
      break;
    case Code.FailedPrecondition:
    case Code.NotFound:
    case Code.AlreadyExists:
    case Code.Aborted:
      message = raw ? sentence(raw) : e.code === Code.NotFound ? "That no longer exists." : "That cannot be done now.";
      break;
    case Code.ResourceExhausted: {
      const base = raw ? sentence(raw) : "Too many attempts.";
      message = retryAfterSeconds !== undefined ? `${base} Try again in ${formatDuration(retryAfterSeconds)}.` : base;
      break;
    }
    case Code.Unauthenticated:
      message = raw ? sentence(raw) : "Your session has ended. Please sign in again.";
      break;
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      message = "The service did not answer. Check your connection and try again.";
      break;
    case Code.Canceled:
      message = "The request was cancelled.";
      break;
    default:
      message = "Something went wrong on our side. Please try again.";
  }
  return { code: e.code, message, fields, retryAfterSeconds };
}

/**
 * The violation for a form field: an exact path, or one ending in ".name" / "]name" (the
 * service names fields as the request does, e.g. "staff.provider.npi" for the form's
 * "provider.npi").
 */
export function fieldError(error: UiError | null | undefined, field: string): string | undefined {
  if (!error) return undefined;
  const hits = Object.entries(error.fields)
    .filter(([path]) => path === field || path.endsWith(`.${field}`) || path.endsWith(`]${field}`))
    .map(([, d]) => d);
  return hits.length ? hits.join("; ") : undefined;
}

/** Violations no form field claimed, as "Label: description" lines. */
export function otherViolations(error: UiError | null | undefined, shown: string[]): string[] {
  if (!error) return [];
  return Object.entries(error.fields)
    .filter(([path]) => !shown.some((f) => path === f || path.endsWith(`.${f}`) || path.endsWith(`]${f}`)))
    .map(([path, d]) => `${fieldLabel(path)}: ${d}`);
}
