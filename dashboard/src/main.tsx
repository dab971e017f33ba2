import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./styles.css";
import { getToken, setToken } from "./api";
import { DiffPage } from "./DiffPage";
import { ArtifactPage } from "./ArtifactPreview";
import { RunPage } from "./RunPage";
import { RunsList } from "./RunsList";
import { SchedulesPage } from "./SchedulesPage";
import { useRoute } from "./router";
import { TokenGate } from "./TokenGate";

function App() {
  const route = useRoute();
  const [token, setTokenState] = useState(getToken);
  useEffect(() => {
    const update = () => setTokenState(getToken());
    window.addEventListener("weir-token", update);
    return () => window.removeEventListener("weir-token", update);
  }, []);
  if (!token) return <TokenGate />;
  const [section, id] = route.path;
  let page: React.ReactNode;
  if (section === "runs" && id) page = <RunPage key={id} runId={id} route={route} />;
  else if (section === "diff") page = <DiffPage a={route.query.get("a") ?? ""} b={route.query.get("b") ?? ""} />;
  else if (section === "artifacts" && id) page = <ArtifactPage id={id} />;
  else if (section === "schedules") page = <SchedulesPage />;
  else page = <RunsList route={route} />;
  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/">
          <span className="logo" />
          weir
        </a>
        <nav>
          <a href="#/" className={!section || section === "runs" ? "active" : ""}>
            Runs
          </a>
          <a href="#/schedules" className={section === "schedules" ? "active" : ""}>
            Schedules
          </a>
          <a href="#/diff" className={section === "diff" ? "active" : ""}>
            Compare
          </a>
        </nav>
        <div className="spacer" />
        <button className="ghost small" onClick={() => setToken(null)} title="Forget the token kept in this browser">
          Sign out
        </button>
      </header>
      <main>{page}</main>
    </div>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
