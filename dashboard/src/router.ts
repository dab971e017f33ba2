import { useEffect, useState } from "react";

/** Hash routes (`#/runs/ID?step=x`): the server serves one index.html for every path. */
export interface Route {
  path: string[];
  query: URLSearchParams;
}

function current(): Route {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  return { path: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", `#${to}`);
  else window.location.hash = to;
  if (replace) window.dispatchEvent(new HashChangeEvent("hashchange"));
}

/** The current route with some query parameters changed (undefined/"" removes one). */
export function withQuery(route: Route, changes: Record<string, string | undefined>): string {
  const q = new URLSearchParams(route.query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === "") q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return `/${route.path.map(encodeURIComponent).join("/")}${s ? `?${s}` : ""}`;
}
