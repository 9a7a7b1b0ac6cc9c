import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import type { Api } from "./api";
import type { Directory } from "./directory";
import type { Session } from "./lib/session";

export interface AppServices {
  api: Api;
  dir: Directory;
}

export const AppContext = createContext<AppServices | null>(null);

export function useApp(): AppServices {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error("AppContext missing");
  return ctx;
}

export function useSession(): Session | null {
  const { api } = useApp();
  const [s, setS] = useState(api.session.get());
  useEffect(() => api.session.subscribe(setS), [api]);
  return s;
}

/** The signed-in session (pages behind sign-in only). */
export function useSignedIn(): Session {
  const s = useSession();
  if (!s) throw new Error("not signed in");
  return s;
}

/** Re-renders when the name directory changes. */
export function useDirectory(): Directory {
  const { dir } = useApp();
  const [, setV] = useState(dir.version);
  useEffect(() => dir.subscribe(() => setV(dir.version)), [dir]);
  return dir;
}
