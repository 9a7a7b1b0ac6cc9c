import { describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, RetryInfoSchema } from "../src/gen/google/rpc/error_details_pb";
import { fieldError, fieldLabel, otherViolations, toUiError } from "../src/lib/errors";

function badRequest(violations: [string, string][]): ConnectError {
  const value = create(BadRequestSchema, { fieldViolations: violations.map(([field, description]) => ({ field, description })) });
  // As the wire delivers it: the detail's type name and its bytes (grpc-status-details-bin).
  const err = new ConnectError("invalid request", Code.InvalidArgument);
  err.details.push({ type: BadRequestSchema.typeName, value: toBinary(BadRequestSchema, value) });
  return err;
}

describe("toUiError", () => {
  it("keeps each field violation by its path", () => {
    const e = toUiError(badRequest([["staff.provider.npi", "has a wrong check digit"]]));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.fields).toEqual({ "staff.provider.npi": "has a wrong check digit" });
    expect(e.message).toBe("NPI has a wrong check digit.");
    expect(fieldError(e, "provider.npi")).toBe("has a wrong check digit");
    expect(fieldError(e, "npi")).toBe("has a wrong check digit");
    expect(fieldError(e, "provider.bio")).toBeUndefined();
  });
  it("asks to look at the fields when several are wrong, and lists the ones no field shows", () => {
    const e = toUiError(badRequest([["email", "is not an e-mail address"], ["entries[1].role_id", "is not a role of this practice"]]));
    expect(e.message).toBe("Some values need correcting: see the highlighted fields.");
    expect(otherViolations(e, ["email"])).toEqual(["Role: is not a role of this practice"]);
    expect(fieldLabel("entries[1].location_ids[0]")).toBe("Locations");
  });
  it("turns refusals into sentences", () => {
    expect(toUiError(new ConnectError("changing a practice role needs the Account Owner role", Code.PermissionDenied)).message).toBe(
      "Not allowed: changing a practice role needs the Account Owner role.",
    );
    expect(toUiError(new ConnectError("the practice must keep an active Account Owner", Code.FailedPrecondition)).message).toBe(
      "The practice must keep an active Account Owner.",
    );
    expect(toUiError(new ConnectError("staff member not found", Code.NotFound)).message).toBe("Staff member not found.");
  });
  it("says how long to wait when the service gives a retry delay", () => {
    const retry = create(RetryInfoSchema, { retryDelay: { seconds: 1500n, nanos: 0 } });
    const err = new ConnectError("reinvitation limit reached for this member", Code.ResourceExhausted);
    err.details.push({ type: RetryInfoSchema.typeName, value: toBinary(RetryInfoSchema, retry) });
    const e = toUiError(err);
    expect(e.retryAfterSeconds).toBe(1500);
    expect(e.message).toBe("Reinvitation limit reached for this member. Try again in 25 minutes.");
  });
  it("hides internal errors and explains unreachable services", () => {
    expect(toUiError(new ConnectError("db exploded: table x", Code.Internal)).message).toBe("Something went wrong on our side. Please try again.");
    expect(toUiError(new TypeError("Failed to fetch")).message).toBe("Something went wrong on our side. Please try again.");
    expect(toUiError(new ConnectError("", Code.Unavailable)).message).toMatch(/did not answer/);
    expect(toUiError(new ConnectError("wrong e-mail or password", Code.Unauthenticated)).message).toBe("Wrong e-mail or password.");
  });
});
