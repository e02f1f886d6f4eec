// "My sessions": the user's sessions, live from their event streams, and
// the form that creates one from an upload or a PDB id.

import {follow} from "./api.js";
import {h, listen, setText, bytes, plural} from "./dom.js";
import {sessionTable, isLive} from "./table.js";

// maxStreams bounds the event streams the page keeps open: a browser
// holds at most six connections to one server, and the page needs some
// for its own calls. Sessions beyond it are followed by polling.
const maxStreams = 3;

export function mySessions(app) {
  const {api, me, caps} = app;
  const notice = app.notice;
  app.notice = "";
  let sessions = [];
  let showEnded = false;
  const streams = new Map(); // id → close
  const timers = [];
  let gone = false;

  const capacity = h("p", {class: "capacity", id: "my-capacity"});
  const listError = h("p", {class: "error", role: "alert"});
  const table = sessionTable({
    caption: "Your sessions",
    empty: "You have no live sessions. Create one with the form.",
    defaultIdle: me.limits.idle_timeout_seconds,
  });
  const toggle = h("input", {type: "checkbox", id: "show-ended"});
  listen(toggle, "change", () => {
    showEnded = toggle.checked;
    refresh();
  });

  const page = h("div", {class: "page"},
    h("h1", {}, "My sessions"),
    notice ? h("p", {class: "notice", role: "status"}, notice) : null,
    capacity,
    h("div", {class: "two"},
      newSessionForm(app, () => refresh()),
      h("section", {class: "card", "aria-labelledby": "list-title"},
        h("div", {class: "card-head"},
          h("h2", {id: "list-title"}, "Sessions"),
          h("div", {class: "check"}, toggle, h("label", {for: "show-ended"}, "Show ended"))),
        listError,
        table.node)));

  function show() {
    table.update(sessions.filter((s) => showEnded || isLive(s)));
  }

  // refresh reads the list (reading is never activity) and follows the
  // newest live sessions' events.
  async function refresh() {
    try {
      const [list, st] = await Promise.all([
        api.call("GET", showEnded ? "/api/sessions?limit=50" : "/api/sessions?state=live"),
        api.call("GET", "/api/status"),
      ]);
      if (gone) return;
      sessions = list.sessions;
      setText(listError, "");
      showCapacity(st);
      show();
      followLive();
    } catch (p) {
      if (!gone) setText(listError, `Could not read your sessions: ${p.message}`);
    }
  }

  function showCapacity(st) {
    const cap = st.user.max_sessions ? ` of at most ${st.user.max_sessions}` : "";
    const server = st.max_sessions ? `${st.live} of ${st.max_sessions}` : `${st.live}`;
    setText(capacity, `You have ${plural(st.user.live, "live session")}${cap}. ` +
      `This server runs ${server} sessions${st.queued ? `, ${st.queued} waiting for a place` : ""}.`);
  }

  function followLive() {
    const want = new Set(sessions.filter(isLive).slice(0, maxStreams).map((s) => s.id));
    for (const [id, close] of streams) {
      if (!want.has(id)) {
        close();
        streams.delete(id);
      }
    }
    for (const id of want) {
      if (!streams.has(id)) streams.set(id, follow(api, id, (type, d) => onEvent(id, type, d)));
    }
  }

  const rereads = new Map(); // id → timer
  function onEvent(id, type, d) {
    const s = sessions.find((x) => x.id === id);
    if (!s) return;
    if (type === "state") {
      s.state = d.state;
      if (d.reason) s.termination_reason = d.reason;
    } else if (type === "execution_state") {
      s.execution_state = d.execution_state;
    } else if (type === "idle_warning" && d.idle_expires_at) {
      s.idle_expires_at = d.idle_expires_at;
    }
    show();
    // A command, checkpoint, the end of a busy spell or a state change
    // moves the idle clock or ends the session: read the record again
    // (soon, once for a burst).
    if (type !== "open") {
      clearTimeout(rereads.get(id));
      rereads.set(id, setTimeout(async () => {
        try {
          const fresh = await api.call("GET", `/api/sessions/${encodeURIComponent(id)}`);
          const i = sessions.findIndex((x) => x.id === id);
          if (i >= 0 && !gone) {
            sessions[i] = fresh;
            show();
          }
        } catch {
          // the next poll says
        }
      }, 300));
    }
  }

  refresh();
  timers.push(setInterval(() => table.tick(), 1000));
  timers.push(setInterval(() => document.visibilityState === "visible" && refresh(), 10_000));

  return {
    title: "My sessions",
    nav: "#/",
    node: page,
    destroy() {
      gone = true;
      timers.forEach(clearInterval);
      rereads.forEach(clearTimeout);
      for (const close of streams.values()) close();
    },
  };
}

// accept lists the file suffixes chimerad takes, for the file picker.
function accept(caps) {
  const out = [];
  for (const exts of Object.values(caps.uploads.formats)) {
    for (const e of exts) out.push(e, `${e}.gz`);
  }
  if (caps.uploads.gzip) out.push(".gz"); // pickers match the last suffix only
  return out.join(",");
}

// newSessionForm creates a session from an upload (with a progress bar)
// or a PDB id; while the create waits for a place, it says how many wait.
function newSessionForm(app, created) {
  const {api, caps} = app;
  const name = h("input", {id: "new-name", name: "name", type: "text", autocomplete: "off", maxlength: "200"});
  const file = h("input", {id: "new-file", name: "file", type: "file", accept: accept(caps), "aria-describedby": "new-file-hint"});
  const pdb = h("input", {
    id: "new-pdb", name: "pdb_id", type: "text", autocomplete: "off", spellcheck: "false",
    placeholder: "1hpv", "aria-describedby": "new-pdb-hint", pattern: "\\s*([0-9][A-Za-z0-9]{3}|pdb_[0-9]{4}[0-9A-Za-z]{4})\\s*",
  });
  const button = h("button", {type: "submit", class: "primary"}, "Create");
  const progress = h("progress", {id: "new-progress", max: "100", value: "0"});
  const progressRow = h("div", {class: "field progress", hidden: true},
    h("label", {for: "new-progress"}, "Upload progress"), progress);
  const status = h("p", {class: "status", role: "status"});
  const error = h("p", {class: "error", role: "alert"});
  const names = {pdb: "PDB", mmcif: "mmCIF", sdf: "SDF", mol2: "MOL2"};
  const formats = Object.keys(caps.uploads.formats).map((f) => names[f] || f).join(", ");

  const form = h("form", {class: "card new-session", "aria-labelledby": "new-title", novalidate: true},
    h("h2", {id: "new-title"}, "New session"),
    h("div", {class: "field"},
      h("label", {for: "new-name"}, "Name"),
      name),
    h("div", {class: "field"},
      h("label", {for: "new-file"}, "Structure file"),
      file,
      h("p", {class: "hint", id: "new-file-hint"},
        `${formats}, optionally gzip'd; up to ${bytes(caps.uploads.max_bytes)}.`)),
    h("p", {class: "or"}, "or"),
    h("div", {class: "field"},
      h("label", {for: "new-pdb"}, "PDB id"),
      pdb,
      h("p", {class: "hint", id: "new-pdb-hint"}, "An entry chimerad downloads from the PDB (needs its internet access)."),
    ),
    h("p", {class: "hint"}, "With neither, the session starts empty."),
    h("div", {class: "actions"}, button),
    progressRow,
    status,
    error);

  let watching = null;
  // watchQueue says "Waiting for a place" while the create is pending and
  // creates are queued.
  function watchQueue() {
    let busy = false;
    watching = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        const st = await api.call("GET", "/api/status");
        if (watching && st.queued > 0) setText(status, `Waiting for a place: ${st.queued} queued.`);
      } catch {
        // the create's own answer says what went wrong
      } finally {
        busy = false;
      }
    }, 1000);
  }

  listen(form, "submit", async (e) => {
    e.preventDefault();
    setText(error, "");
    const f = file.files[0], id = pdb.value.trim(), label = name.value.trim();
    if (f && id) {
      setText(error, "Give a structure file or a PDB id, not both.");
      pdb.focus();
      return;
    }
    if (id && !pdb.checkValidity()) {
      setText(error, `"${id}" is not a PDB id: they look like 1hpv (or pdb_00001hpv).`);
      pdb.focus();
      return;
    }
    if (f && f.size > caps.uploads.max_bytes) {
      setText(error, `${f.name} is ${bytes(f.size)}: over the upload limit of ${bytes(caps.uploads.max_bytes)}.`);
      file.focus();
      return;
    }
    button.disabled = true;
    watchQueue();
    try {
      let s;
      if (f) {
        const body = new FormData();
        if (label) body.append("name", label);
        body.append("file", f, f.name);
        progress.value = 0;
        progressRow.hidden = false;
        setText(status, `Uploading ${f.name}…`);
        s = await api.upload("/api/sessions", body, (frac) => {
          progress.value = Math.round(frac * 100);
          if (frac >= 1) setText(status, "Uploaded. Starting ChimeraX and opening the structure…");
        });
      } else {
        setText(status, id ? `Starting ChimeraX and fetching ${id}…` : "Starting ChimeraX…");
        const body = {};
        if (label) body.name = label;
        if (id) body.pdb_id = id;
        s = await api.call("POST", "/api/sessions", body);
      }
      form.reset();
      created();
      app.go(`#/sessions/${encodeURIComponent(s.id)}`, `Session ${s.name || s.id.slice(0, 8)} is ready.`);
    } catch (p) {
      setText(status, "");
      let msg = p.message;
      if (p.status === 429 && p.retryAfter) msg += ` Try again in ${plural(p.retryAfter, "second")}.`;
      setText(error, msg);
    } finally {
      clearInterval(watching);
      watching = null;
      button.disabled = false;
      progressRow.hidden = true;
    }
  });
  return form;
}
