// A session's page: its snapshot, a command line with the allowed words
// as completions and an output pane, its events and log, checkpoint,
// restart and end, its files, and the idle clock kept going by heartbeats
// while the page is visible (none while it is hidden).

import {follow} from "./api.js";
import {h, listen, setText, replace, bytes, clock, until, time, structure, reason, plural} from "./dom.js";
import {stateBadge, execBadge, isLive} from "./table.js";
import {confirm} from "./dialog.js";

// sizes are the snapshot's presets; "fit" is the width the page has.
const sizes = [
  ["fit", "Fit to the page"],
  ["640x480", "640 × 480"],
  ["800x600", "800 × 600"],
  ["1024x768", "1024 × 768"],
  ["1280x960", "1280 × 960"],
  ["1920x1080", "1920 × 1080"],
];

const maxOutput = 200; // entries kept in the output pane
const maxEvents = 50;
const maxLogLines = 400;

// sameText says whether two texts say the same, but for spaces and markup.
function sameText(a, b) {
  const norm = (x) => String(x || "").replace(/<[^>]*>/g, "").replace(/\s+/g, " ").trim();
  const x = norm(a), y = norm(b);
  return x !== "" && y !== "" && (x.includes(y) || y.includes(x));
}

export function sessionPage(app, id) {
  const {api, me, caps} = app;
  const notice = app.notice;
  app.notice = "";
  const path = `/api/sessions/${encodeURIComponent(id)}`;
  let s = null; // the session record
  let gone = false;
  const timers = [];
  let closeEvents = null;

  const title = h("h1", {}, "Session");
  const crumb = h("a", {href: `#/sessions/${encodeURIComponent(id)}`, "aria-current": "page"}, "…");
  const meta = h("div", {class: "meta"});
  const idle = h("span", {class: "idle"});
  const usage = h("p", {class: "muted usage"});
  const banner = h("div", {class: "banner", role: "status"});
  const pageError = h("p", {class: "error", role: "alert"});

  // The snapshot.
  const img = h("img", {class: "snapshot", alt: "Snapshot", width: "800", height: "600"});
  const sizeSelect = h("select", {id: "snap-size"}, sizes.map(([v, label]) => h("option", {value: v}, label)));
  const refreshButton = h("button", {type: "button"}, "Refresh");
  const snapStatus = h("span", {class: "snap-status", role: "status"});
  const frame = h("div", {class: "frame"}, img);

  // The command line and its output.
  const words = (caps.commands.allow || []).slice().sort();
  const cmd = h("input", {
    id: "command", type: "text", list: "command-words", autocomplete: "off", spellcheck: "false",
    autocapitalize: "off", placeholder: "color red; view", "aria-describedby": "command-hint",
  });
  const runButton = h("button", {type: "submit", class: "primary"}, "Run");
  const output = h("div", {
    id: "output", class: "output", role: "log", "aria-live": "polite", "aria-label": "Output", tabindex: "0",
  }, h("p", {class: "muted"}, "Results of your commands appear here."));
  // Only the field is named "Command", so that finding it by that label
  // finds it alone.
  const cmdForm = h("form", {class: "command"},
    h("label", {for: "command"}, "Command"),
    h("div", {class: "inline"}, cmd, runButton),
    h("datalist", {id: "command-words"}, words.map((w) => h("option", {value: w}))),
    h("p", {class: "hint", id: "command-hint"},
      `A ChimeraX command line; the commands this server allows are offered as you type (${words.length} of them).`));

  // Actions.
  const checkpointButton = h("button", {type: "button"}, "Checkpoint");
  const restartButton = h("button", {type: "button"}, "Restart");
  const endButton = h("button", {type: "button", class: "danger"}, "End session");
  const actionStatus = h("p", {class: "status", role: "status"});
  const actions = h("div", {class: "actions"}, checkpointButton, restartButton, endButton);

  // Nothing acts before the session is read; showSession enables what
  // a live session allows.
  const controls = [cmd, runButton, checkpointButton, restartButton, endButton, refreshButton, sizeSelect];
  for (const el of controls) el.disabled = true;

  const files = h("ul", {class: "files"});
  const events = h("ol", {class: "events", reversed: true});
  const log = h("pre", {class: "log", tabindex: "0", role: "region", "aria-label": "ChimeraX log"});

  let grid;
  const page = h("div", {class: "page session"},
    h("nav", {class: "crumbs", "aria-label": "Breadcrumb"},
      h("ol", {}, h("li", {}, h("a", {href: "#/"}, "Sessions")), h("li", {}, crumb))),
    title,
    notice ? h("p", {class: "notice", role: "status"}, notice) : null,
    meta,
    banner,
    pageError,
    grid = h("div", {class: "session-grid"},
      h("section", {class: "card viewer", "aria-labelledby": "view-title"},
        h("div", {class: "card-head"},
          h("h2", {id: "view-title"}, "View"),
          h("div", {class: "snapbar"},
            h("label", {for: "snap-size"}, "Size"), sizeSelect, refreshButton, snapStatus)),
        frame,
        cmdForm,
        output),
      h("div", {class: "side"},
        h("section", {class: "card", "aria-labelledby": "actions-title"},
          h("h2", {id: "actions-title"}, "Session"),
          h("p", {}, idle),
          usage,
          actions,
          actionStatus),
        h("section", {class: "card", "aria-labelledby": "files-title"},
          h("h2", {id: "files-title"}, "Files"),
          files),
        h("section", {class: "card"},
          h("h2", {}, "Events"),
          h("div", {class: "scroll", tabindex: "0", role: "region", "aria-label": "Events"}, events)),
        h("section", {class: "card"},
          h("h2", {}, "ChimeraX log"),
          log))));

  // showSession puts the record on the page.
  function showSession() {
    const name = s.name || s.id.slice(0, 8);
    setText(title, name);
    setText(crumb, name);
    document.title = `${name} · chimerad`;
    img.alt = `Snapshot of ${name}`;
    replace(meta,
      h("span", {}, "State ", stateBadge(s)),
      h("span", {}, "Execution ", execBadge(s)),
      h("span", {}, `Structure: ${structure(s.structure)}`),
      h("span", {}, s.from_pool ? "From the warm pool" : "Started for you"),
      me.admin && s.owner !== me.name ? h("span", {}, `Owner: ${s.owner}`) : null,
      h("span", {}, `Created ${time(s.created_at)}`));
    tickIdle();
    const st = s.stats || {};
    setText(usage, [
      st.commands !== undefined ? plural(st.commands, "command") : "",
      st.rss_bytes ? `${bytes(st.rss_bytes)} of memory` : "",
      st.disk_bytes ? `${bytes(st.disk_bytes)} on disk` : "",
    ].filter(Boolean).join(" · "));
    const live = isLive(s);
    for (const el of controls) el.disabled = !live;
    if (!live) {
      setText(banner, `This session has ended${s.termination_reason ? ` (${reason(s.termination_reason)})` : ""}` +
        `${s.terminated_at ? ` at ${time(s.terminated_at)}` : ""}.${s.error ? ` ${s.error}` : ""}`);
      banner.className = "banner ended";
      stop();
      showEnded();
    } else {
      setText(banner, s.state === "starting" ? "ChimeraX is starting…" : "");
      banner.className = s.state === "starting" ? "banner" : "banner empty";
    }
  }

  // showEnded turns the page into the record of an ended session: no
  // snapshot or commands, and a way to resume it from its checkpoint.
  let endedShown = false;
  function showEnded() {
    if (endedShown) return;
    endedShown = true;
    replace(frame, h("p", {class: "gone"}, "No snapshot: the session has ended."));
    frame.removeAttribute("aria-busy");
    sizeSelect.parentElement.hidden = true;
    cmdForm.hidden = true;
    if (output.querySelector(".muted")) output.hidden = true;
    replace(files, h("li", {class: "muted"}, "Its files were removed when it ended."));
    if (!events.children.length) events.append(h("li", {class: "muted"}, "It has ended: no more events."));
    if (s.checkpoint_at) {
      const resume = h("button", {type: "button", class: "primary"}, "Resume from checkpoint");
      listen(resume, "click", async () => {
        resume.disabled = true;
        setText(actionStatus, "Starting a new session from its latest checkpoint…");
        try {
          const fresh = await api.call("POST", "/api/sessions", {resume_from: s.id});
          app.go(`#/sessions/${encodeURIComponent(fresh.id)}`, `Session ${fresh.name || fresh.id.slice(0, 8)} resumed from the checkpoint of ${time(s.checkpoint_at)}.`);
        } catch (p) {
          setText(actionStatus, `Could not resume it: ${p.message}`);
          resume.disabled = false;
        }
      });
      replace(actions, resume);
    } else {
      replace(actions);
      actions.hidden = true;
    }
    if (!log.textContent) {
      cursor = "";
      readLog(true);
    }
  }

  function tickIdle() {
    if (!s || !isLive(s)) return setText(idle, "Ended.");
    if (!s.idle_expires_at) {
      if (!heartbeatSeconds()) return setText(idle, "No idle timeout: it runs until you end it.");
      return setText(idle, s.execution_state === "busy" ? "Busy: it is not idle while a command runs." : "Ends after a while without use.");
    }
    const left = until(s.idle_expires_at);
    const hb = heartbeatSeconds();
    const cap = s.max_lifetime_expires_at ? ` It ends at ${time(s.max_lifetime_expires_at)} at the latest.` : "";
    setText(idle, `Ends if idle in ${clock(left)} (at ${time(s.idle_expires_at)}).` +
      (hb ? " This page keeps it alive while you look at it." : "") + cap);
  }

  async function load() {
    try {
      s = await api.call("GET", path);
    } catch (p) {
      setText(title, "Session not found");
      setText(crumb, "not found");
      setText(pageError, p.message);
      grid.hidden = true;
      return;
    }
    if (gone) return;
    showSession();
    if (!isLive(s)) return;
    closeEvents = follow(api, id, onEvent);
    refreshSnapshot();
    loadFiles();
    readLog();
    startHeartbeats();
  }

  // --- The snapshot: an <img> with a signed URL, reloaded after each
  // command; one render at a time, and one more if asked meanwhile.
  let loading = false, again = false, renders = 0;
  function snapSize() {
    const v = sizeSelect.value;
    if (v !== "fit") return v.split("x").map(Number);
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const max = caps.snapshots.max_width || 4096;
    const w = Math.max(160, Math.min(max, Math.round(frame.clientWidth * dpr)));
    return [w, Math.round((w * 3) / 4)];
  }
  async function refreshSnapshot() {
    if (!s || !isLive(s) || gone) return;
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    setText(snapStatus, "Rendering…");
    frame.setAttribute("aria-busy", "true");
    try {
      const urls = await api.urls(id);
      const [w, hgt] = snapSize();
      img.width = w;
      img.height = hgt;
      img.src = `${urls.snapshot}&width=${w}&height=${hgt}&n=${++renders}`;
    } catch (p) {
      loading = false;
      frame.removeAttribute("aria-busy");
      setText(snapStatus, `No snapshot: ${p.message}`);
    }
  }
  listen(img, "load", () => {
    loading = false;
    frame.removeAttribute("aria-busy");
    setText(snapStatus, `Rendered at ${time(new Date().toISOString())}`);
    if (again) {
      again = false;
      refreshSnapshot();
    }
  });
  listen(img, "error", () => {
    loading = false;
    frame.removeAttribute("aria-busy");
    setText(snapStatus, "The snapshot could not be rendered.");
    api.signed.delete(id); // perhaps the URL expired: the next one is new
  });
  listen(refreshButton, "click", () => refreshSnapshot());
  listen(sizeSelect, "change", () => refreshSnapshot());

  // --- Commands.
  let ownCommands = 0; // commands of ours whose event is still to come
  function say(...nodes) {
    const first = output.querySelector(".muted");
    if (first) first.remove();
    const entry = h("div", {class: "entry"}, nodes);
    output.append(entry);
    while (output.children.length > maxOutput) output.firstChild.remove();
    output.scrollTop = output.scrollHeight;
    return entry;
  }
  listen(cmdForm, "submit", async (e) => {
    e.preventDefault();
    const line = cmd.value.trim();
    if (!line || runButton.disabled) return;
    runButton.disabled = true;
    const entry = say(h("p", {class: "in"}, h("span", {class: "prompt", "aria-hidden": "true"}, "› "), line));
    try {
      ownCommands++;
      const res = await api.call("POST", `${path}/commands`, {command: line});
      const log = res.log || {};
      for (const [kind, lines] of [["note", log.note], ["warning", log.warning], ["error", log.error], ["bug", log.bug]]) {
        for (const text of lines || []) {
          // The exception is shown once, below, with its class.
          if (res.error && sameText(text, res.error.message)) continue;
          entry.append(h("pre", {class: kind}, text));
        }
      }
      if (res.error) entry.append(h("p", {class: "error"}, `${res.error.type}: ${res.error.message}`));
      else if (!entry.querySelector("pre")) entry.append(h("p", {class: "ok"}, "Done."));
      cmd.value = "";
      refreshSnapshot();
    } catch (p) {
      ownCommands = Math.max(0, ownCommands - 1);
      entry.append(h("p", {class: "error"}, p.message));
    } finally {
      runButton.disabled = !isLive(s);
      output.scrollTop = output.scrollHeight;
      cmd.focus();
    }
  });

  // --- Events.
  function onEvent(type, d) {
    if (gone) return;
    if (type === "open") return;
    if (type === "gone") {
      reload();
      return;
    }
    if (type !== "execution_state") addEvent(type, d); // the badge shows those
    if (type === "state") {
      const was = s.state;
      s.state = d.state;
      if (d.reason) s.termination_reason = d.reason;
      if (!isLive(s)) reload();
      else {
        showSession();
        if (was !== "ready" && s.state === "ready") refreshSnapshot();
      }
    } else if (type === "execution_state") {
      s.execution_state = d.execution_state;
      showSession();
      if (d.execution_state === "idle") reload(); // the idle clock starts again
    } else if (type === "idle_warning") {
      s.idle_expires_at = d.idle_expires_at;
      tickIdle();
    } else if (type === "command") {
      // Our own command's image is already on its way; another client's is not.
      if (ownCommands > 0) ownCommands--;
      else refreshSnapshot();
      if (/^save\b/.test(d.command?.command || "")) loadFiles();
      reload();
    } else if (type === "checkpoint") {
      loadFiles();
      reload();
    }
  }

  function addEvent(type, d) {
    let text = type.replaceAll("_", " ");
    if (type === "state") text = `state: ${d.state}${d.reason ? ` (${reason(d.reason)})` : ""}`;
    if (type === "execution_state") text = d.execution_state;
    if (type === "command") text = `${d.command?.command || ""}${d.command && !d.command.ok ? " — failed" : ""}`;
    if (type === "checkpoint") text = `checkpoint of ${bytes(d.checkpoint?.size_bytes)}`;
    if (type === "idle_warning") text = `idle warning: ends at ${time(d.idle_expires_at)}`;
    events.prepend(h("li", {}, h("time", {datetime: d.time}, time(d.time)), " ", h("span", {class: `ev-${type}`}, text)));
    while (events.children.length > maxEvents) events.lastChild.remove();
  }

  let rereading = null;
  function reload() {
    clearTimeout(rereading);
    rereading = setTimeout(async () => {
      try {
        const fresh = await api.call("GET", path);
        if (gone) return;
        s = fresh;
        showSession();
      } catch {
        // shown at the next try
      }
    }, 250);
  }

  // --- Files: what `save` wrote, and the latest checkpoint, each a
  // signed link that downloads it.
  async function loadFiles() {
    try {
      const list = await api.call("GET", `${path}/files`);
      if (gone) return;
      const items = list.files.map((f) => h("li", {},
        h("a", {href: f.url, download: f.name}, f.name), h("span", {class: "muted"}, ` ${bytes(f.size_bytes)}, ${time(f.modified_at)}`)));
      if (list.checkpoint) {
        items.push(h("li", {},
          h("a", {href: list.checkpoint.url, download: ""}, "Latest checkpoint"),
          h("span", {class: "muted"}, ` ${bytes(list.checkpoint.size_bytes)}, ${time(list.checkpoint.modified_at)}`)));
      }
      if (!items.length) items.push(h("li", {class: "muted"}, "No files yet: ", h("code", {}, "save picture.png"), " writes one."));
      replace(files, items);
    } catch (p) {
      if (!gone) replace(files, h("li", {class: "error"}, p.message));
    }
  }

  // --- The log: its tail, then what came since, while the page is seen.
  let cursor = "";
  async function readLog(once) {
    if (gone || !s || (!once && (!isLive(s) || document.visibilityState !== "visible"))) return;
    try {
      const q = cursor ? `cursor=${encodeURIComponent(cursor)}` : "lines=80";
      const r = await api.call("GET", `${path}/logs?${q}`);
      if (gone) return;
      if (r.next_cursor) cursor = r.next_cursor;
      if (r.lines.length) {
        const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        const lines = (log.textContent ? log.textContent.split("\n") : []).concat(r.lines).slice(-maxLogLines);
        log.textContent = lines.join("\n");
        if (atEnd) log.scrollTop = log.scrollHeight;
      } else if (!log.textContent) {
        log.textContent = "(nothing yet)";
      }
    } catch {
      // the session ended, or the network blinked: the next read says
    }
  }

  // --- Heartbeats: the page is activity only while someone can see it.
  function heartbeatSeconds() {
    const t = s?.idle_timeout_seconds ?? me.limits.idle_timeout_seconds;
    if (!t) return 0;
    return Math.min(60, Math.max(1, t / 4));
  }
  async function beat() {
    if (gone || !s || !isLive(s) || document.visibilityState !== "visible") return;
    try {
      const r = await api.call("PUT", `${path}/heartbeat`);
      if (gone) return;
      s.idle_expires_at = r.idle_expires_at;
      s.last_activity_at = r.last_activity_at;
      tickIdle();
    } catch (p) {
      if (p.status === 409) reload();
    }
  }
  let beating = null;
  function startHeartbeats() {
    const every = heartbeatSeconds();
    if (every) beating = setInterval(beat, every * 1000);
  }
  function onVisibility() {
    if (document.visibilityState === "visible") {
      beat();
      readLog();
    }
  }
  document.addEventListener("visibilitychange", onVisibility);

  // --- Actions.
  listen(checkpointButton, "click", async () => {
    checkpointButton.disabled = true;
    setText(actionStatus, "Saving a checkpoint…");
    try {
      const cp = await api.call("POST", `${path}/checkpoint`);
      setText(actionStatus, `Checkpoint saved at ${time(cp.at)} (${bytes(cp.size_bytes)}).`);
      loadFiles();
    } catch (p) {
      setText(actionStatus, `No checkpoint: ${p.message}`);
    } finally {
      checkpointButton.disabled = !isLive(s);
    }
  });
  listen(restartButton, "click", async () => {
    restartButton.disabled = true;
    setText(actionStatus, "Restarting ChimeraX…");
    try {
      s = await api.call("POST", `${path}/restart`);
      showSession();
      setText(actionStatus, `Restarted: a fresh ChimeraX opened ${s.checkpoint_at ? "the latest checkpoint" : "the structure again"}.`);
      refreshSnapshot();
    } catch (p) {
      setText(actionStatus, `Restart failed: ${p.message}`);
      reload();
    } finally {
      restartButton.disabled = !isLive(s);
    }
  });
  listen(endButton, "click", async () => {
    const name = s.name || s.id.slice(0, 8);
    const yes = await confirm({
      title: `End session ${name}?`,
      text: "Its ChimeraX stops and the files it saved are removed. Download what you need first.",
      ok: "End session",
    });
    if (!yes) return;
    endButton.disabled = true;
    setText(actionStatus, "Ending the session…");
    try {
      await api.call("DELETE", path);
      app.go("#/", `Session ${name} ended.`);
    } catch (p) {
      setText(actionStatus, `Could not end it: ${p.message}`);
      endButton.disabled = false;
    }
  });

  function stop() {
    clearInterval(beating);
    beating = null;
    if (closeEvents) closeEvents();
    closeEvents = null;
  }

  load();
  timers.push(setInterval(tickIdle, 1000));
  timers.push(setInterval(readLog, 4000));
  timers.push(setInterval(() => s && isLive(s) && loadFiles(), 5 * 60_000)); // fresh signed links

  return {
    title: "Session",
    nav: "",
    node: page,
    destroy() {
      gone = true;
      stop();
      timers.forEach(clearInterval);
      clearTimeout(rereading);
      document.removeEventListener("visibilitychange", onVisibility);
    },
  };
}
