// Talks to `weir server`: every request carries the bearer token kept in this browser.
import type { ApiRunChange } from "../../src/server/types";

const TOKEN_KEY = "weir.token";

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event("weir-token"));
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function request(path: string, signal?: AbortSignal): Promise<Response> {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${getToken() ?? ""}` }, signal });
  if (response.status === 401) {
    setToken(null);
    throw new ApiError(401, "the server refused the token");
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new ApiError(response.status, body.error ?? `${response.status} ${response.statusText}`);
  }
  return response;
}

export async function api<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request(path, signal)).json() as Promise<T>;
}

/** An object URL for bytes served by the API (images need the token too, so no plain <img src>). */
export async function blobUrl(path: string): Promise<string> {
  return URL.createObjectURL(await (await request(path)).blob());
}

/**
 * Follows `/api/runs/:id/events`. EventSource cannot send the Authorization header, so the
 * stream is read with fetch and parsed here. Returns a function that stops following.
 */
export function followRun(runId: string, onChange: (change: ApiRunChange) => void, onEnd: () => void): () => void {
  const controller = new AbortController();
  void (async () => {
    try {
      const response = await request(`/api/runs/${encodeURIComponent(runId)}/events`, controller.signal);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(message)?.[1];
          const data = message
            .split("\n")
            .filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6))
            .join("\n");
          if (event === "change") onChange(JSON.parse(data) as ApiRunChange);
        }
      }
      onEnd();
    } catch {
      // A dropped connection ends following (the page then shows the last state it saw).
      if (!controller.signal.aborted) onEnd();
    }
  })();
  return () => controller.abort();
}
