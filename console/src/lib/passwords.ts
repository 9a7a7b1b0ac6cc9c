// The password rules identity applies (10 to 128 characters), checked before sending.
export const MIN_PASSWORD = 10;
export const MAX_PASSWORD = 128;

export interface PasswordErrors {
  password?: string;
  confirm?: string;
}

export function checkNewPassword(password: string, confirm: string): PasswordErrors {
  const errors: PasswordErrors = {};
  if ([...password].length < MIN_PASSWORD) errors.password = `Use at least ${MIN_PASSWORD} characters.`;
  else if ([...password].length > MAX_PASSWORD) errors.password = `Use at most ${MAX_PASSWORD} characters.`;
  if (!errors.password && password !== confirm) errors.confirm = "The two passwords differ.";
  return errors;
}

/** Only in-app paths are followed after sign-in (never another site). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/staff";
  if (next.startsWith("/sign-in") || next.startsWith("/invitation") || next.startsWith("/reset-password")) return "/staff";
  return next;
}
