// The table of sessions that "My sessions" and the admin page share. Rows
// are kept by session id and updated in place, so that a link or button
// with focus stays where it is while the table follows the sessions.

import {h, setText, replace, clock, until, time, structure, reason, uid} from "./dom.js";

const live = new Set(["starting", "ready", "stopping"]);

export function isLive(s) {
  return live.has(s.state);
}

// stateBadge shows a session's state, and once ended why.
export function stateBadge(s) {
  const ended = !isLive(s);
  return h("span", {class: ["badge", `state-${s.state}`]},
    s.state, ended && s.termination_reason ? `: ${reason(s.termination_reason)}` : "");
}

export function execBadge(s) {
  if (!isLive(s) || !s.execution_state) return "—";
  return h("span", {class: ["badge", `exec-${s.execution_state}`]}, s.execution_state);
}

// idleLeft says how long until a session's idle end; defaultIdle is the
// daemon's idle timeout, for sessions without their own.
export function idleLeft(s, defaultIdle) {
  if (!isLive(s)) return "—";
  if (!s.idle_expires_at) {
    if (!(s.idle_timeout_seconds ?? defaultIdle)) return "no idle timeout";
    return s.execution_state === "busy" ? "not while busy" : "—";
  }
  const left = until(s.idle_expires_at);
  return left > 0 ? `in ${clock(left)}` : "due now";
}

// sessionTable makes the table. opts: caption, owner (show the owner
// column), action (a function making a row's action cell content), empty
// (the text shown when there are no rows), defaultIdle (the daemon's idle
// timeout).
export function sessionTable(opts) {
  const cols = [
    ["Name", (s) => h("a", {href: `#/sessions/${encodeURIComponent(s.id)}`}, s.name || s.id.slice(0, 8))],
    opts.owner ? ["Owner", (s) => s.owner] : null,
    ["State", stateBadge],
    ["Execution", execBadge],
    ["Structure", (s) => structure(s.structure)],
    ["Idle expiry", (s) => idleLeft(s, opts.defaultIdle)],
    ["From pool", (s) => (s.from_pool ? "yes" : "no")],
    ["Created", (s) => time(s.created_at)],
    opts.action ? ["Actions", opts.action] : null,
  ].filter(Boolean);
  const idleCol = cols.findIndex((c) => c[0] === "Idle expiry");
  const body = h("tbody");
  const empty = h("p", {class: "empty"}, opts.empty);
  const table = h("table", {class: "sessions"},
    h("caption", {class: "visually-hidden"}, opts.caption),
    h("thead", {}, h("tr", {}, cols.map(([name]) => h("th", {scope: "col"}, name)))),
    body);
  const rows = new Map(); // id → {tr, key, s}
  let shown = [];

  // cell contents are rebuilt only when the session changed.
  function fill(row, s) {
    const key = JSON.stringify([s.name, s.owner, s.state, s.termination_reason, s.execution_state, s.structure, s.from_pool, s.created_at]);
    row.s = s;
    if (row.key === key) return;
    row.key = key;
    cols.forEach(([name, make], i) => {
      const td = row.tr.children[i];
      if (name === "Name") {
        const a = td.querySelector("a");
        if (a) setText(a, s.name || s.id.slice(0, 8));
        else replace(td, make(s));
      } else if (name === "Actions") {
        if (!td.firstChild || !isLive(s)) replace(td, make(s, row.nameID));
      } else replace(td, make(s));
    });
  }

  return {
    node: h("div", {class: "table-wrap"}, table, empty),
    // update shows these sessions, in this order.
    update(list) {
      shown = list;
      const seen = new Set();
      let prev = null;
      for (const s of list) {
        seen.add(s.id);
        let row = rows.get(s.id);
        if (!row) {
          const nameID = uid("session-name");
          row = {tr: h("tr", {}, cols.map(([name], i) => (i === 0
            ? h("th", {scope: "row", "data-label": name, id: nameID})
            : h("td", {"data-label": name})))), key: "", nameID};
          rows.set(s.id, row);
        }
        fill(row, s);
        const want = prev ? prev.nextSibling : body.firstChild;
        if (want !== row.tr) body.insertBefore(row.tr, want);
        prev = row.tr;
      }
      for (const [id, row] of rows) {
        if (!seen.has(id)) {
          row.tr.remove();
          rows.delete(id);
        }
      }
      table.hidden = list.length === 0;
      empty.hidden = list.length > 0;
    },
    // tick updates the countdowns.
    tick() {
      for (const s of shown) {
        const row = rows.get(s.id);
        if (row) setText(row.tr.children[idleCol], idleLeft(s, opts.defaultIdle));
      }
    },
  };
}
