import { useState } from "react";
import { setToken } from "./api";

/** Asks for the server token once; the browser keeps it (localStorage) until sign-out or a 401. */
export function TokenGate() {
  const [value, setValue] = useState("");
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setChecking(true);
    setError(null);
    const response = await fetch("/api/runs?limit=1", { headers: { Authorization: `Bearer ${value.trim()}` } }).catch(() => null);
    setChecking(false);
    if (response?.ok) setToken(value.trim());
    else setError(response?.status === 401 ? "That token was refused." : "The server could not be reached.");
  };
  return (
    <div className="gate">
      <form className="gate-card" onSubmit={submit}>
        <div className="brand big">
          <span className="logo" />
          weir
        </div>
        <p>
          Enter the token of this server. <code>weir server</code> prints it on first start and keeps it in{" "}
          <code>.weir/server-token</code>; <code>WEIR_SERVER_TOKEN</code> sets it.
        </p>
        <input
          autoFocus
          type="password"
          name="token"
          placeholder="Server token"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
        {error && <div className="error-note">{error}</div>}
        <button type="submit" className="primary" disabled={!value.trim() || checking}>
          {checking ? "Checking…" : "Open dashboard"}
        </button>
      </form>
    </div>
  );
}
