import { describe, expect, it } from "vitest";
import { decodeQuotedPrintable } from "../e2e/harness";

describe("the e2e mail reader", () => {
  it("decodes quoted-printable soft breaks and escapes", () => {
    const body = "http://localhost:1/invitation?token=3DRwYv=\nlBs1\r\nCaf=C3=A9";
    expect(decodeQuotedPrintable(body)).toBe("http://localhost:1/invitation?token=RwYvlBs1\r\nCafé");
  });
});
