import { render } from "preact";
import "./styles.css";
import { Api, loadConfig } from "./api";
import { Directory } from "./directory";
import { AppContext } from "./context";
import { App } from "./app";

async function start(): Promise<void> {
  const root = document.getElementById("app")!;
  try {
    const config = await loadConfig();
    const api = new Api(config, window.sessionStorage);
    const dir = new Directory(api);
    render(
      <AppContext.Provider value={{ api, dir }}>
        <App />
      </AppContext.Provider>,
      root,
    );
  } catch (err) {
    root.innerHTML = "";
    const p = document.createElement("p");
    p.className = "banner banner-bad";
    p.textContent = `The console could not load its settings (/config.json): ${err instanceof Error ? err.message : String(err)}`;
    root.appendChild(p);
  }
}

void start();
