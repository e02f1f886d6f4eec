// The admin page: capacity and the warm pool, every user's sessions with a
// Kill action, the users (add, a new token shown once, remove), and usage
// per day drawn from /api/stats.

import {h, listen, setText, replace, plural, uid} from "./dom.js";
import {sessionTable, isLive} from "./table.js";
import {barChart} from "./chart.js";
import {confirm} from "./dialog.js";

const pollEvery = 3000;

// timeUnit picks the unit to show hours up to max in: h, min or s.
function timeUnit(max) {
  if (max >= 1) return {mul: 1, suffix: "h"};
  if (max * 60 >= 1) return {mul: 60, suffix: "min"};
  return {mul: 3600, suffix: "s"};
}

// hours writes a number of hours for people: 2.5 h, 12 min, 40 s.
function hours(v) {
  const {mul, suffix} = timeUnit(v);
  return v === 0 ? "0" : `${+(v * mul).toPrecision(3)} ${suffix}`;
}

export function adminPage(app) {
  const {api, me} = app;
  let gone = false;
  const timers = [];
  let showEnded = false;
  let sessions = [];

  // --- Capacity and pool.
  const figures = h("dl", {class: "figures"});
  const meter = h("div", {class: "meter", "aria-hidden": "true"}, h("div", {class: "meter-fill"}));
  const capError = h("p", {class: "error", role: "alert"});
  function figure(label, value, note) {
    return h("div", {class: "figure"}, h("dt", {}, label), h("dd", {}, h("span", {class: "big"}, String(value)), note ? h("span", {class: "muted"}, ` ${note}`) : null));
  }
  function showStatus(st) {
    replace(figures,
      figure("Live", st.live, st.max_sessions ? `of ${st.max_sessions}` : "no cap"),
      figure("Starting", st.starting),
      figure("Queued", st.queued),
      st.pool.size ? figure("Pool ready", st.pool.ready, `of ${st.pool.size}`) : figure("Pool ready", "off", "no warm pool"),
      figure("Per user", st.user.max_sessions || "no cap", st.user.max_sessions ? "sessions at most" : ""));
    const frac = st.max_sessions ? Math.min(1, st.live / st.max_sessions) : 0;
    meter.firstChild.style.width = `${Math.round(frac * 100)}%`;
    meter.hidden = !st.max_sessions;
  }

  // --- Every user's sessions.
  const killStatus = h("p", {class: "status", role: "status"});
  const table = sessionTable({
    caption: "Every user's sessions",
    owner: true,
    empty: "No live sessions.",
    defaultIdle: me.limits.idle_timeout_seconds,
    action: (s, nameID) => {
      if (!isLive(s)) return "—";
      const b = h("button", {type: "button", class: "danger small", "aria-describedby": nameID}, "Kill");
      listen(b, "click", () => kill(s, b));
      return b;
    },
  });
  const toggle = h("input", {type: "checkbox", id: "admin-show-ended"});
  listen(toggle, "change", () => {
    showEnded = toggle.checked;
    poll();
  });
  async function kill(s, button) {
    button.disabled = true;
    const name = s.name || s.id.slice(0, 8);
    setText(killStatus, `Killing ${s.owner}'s session ${name}…`);
    try {
      await api.call("DELETE", `/api/sessions/${encodeURIComponent(s.id)}?reason=admin_kill`);
      setText(killStatus, `Killed ${s.owner}'s session ${name}.`);
    } catch (p) {
      setText(killStatus, `Could not kill ${name}: ${p.message}`);
      button.disabled = false;
    }
    poll();
  }

  const listError = h("p", {class: "error", role: "alert"});
  let polling = false;
  async function poll() {
    if (polling || gone) return;
    polling = true;
    try {
      const [st, list] = await Promise.all([
        api.call("GET", "/api/status"),
        api.call("GET", showEnded ? "/api/sessions?limit=100" : "/api/sessions?state=live&limit=1000"),
      ]);
      if (gone) return;
      setText(capError, "");
      setText(listError, "");
      showStatus(st);
      sessions = list.sessions;
      table.update(sessions.filter((s) => showEnded || isLive(s)));
    } catch (p) {
      if (!gone) setText(capError, `Could not read the capacity: ${p.message}`);
    } finally {
      polling = false;
    }
  }

  // --- Users.
  const users = h("tbody");
  const usersError = h("p", {class: "error", role: "alert"});
  const tokenPanel = h("div", {class: "token-panel", hidden: true});
  const newName = h("input", {id: "user-name", type: "text", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "user-name-hint"});
  const newAdmin = h("input", {id: "user-admin", type: "checkbox"});
  const addButton = h("button", {type: "submit", class: "primary"}, "Add user");
  const addForm = h("form", {class: "add-user", "aria-label": "Add a user", novalidate: true},
    h("div", {class: "field"}, h("label", {for: "user-name"}, "User name"), newName,
      h("p", {class: "hint", id: "user-name-hint"}, "Letters, digits, dots, dashes and underscores.")),
    h("div", {class: "check"}, newAdmin, h("label", {for: "user-admin"}, "Admin")),
    h("div", {class: "actions"}, addButton));

  // showToken shows a token once, with a way to copy it; it is never
  // shown again (chimerad keeps only its hash).
  function showToken(user, token, what) {
    const field = h("input", {id: "new-token", type: "text", readonly: true, value: token, class: "mono", spellcheck: "false"});
    const copy = h("button", {type: "button"}, "Copy");
    const copied = h("span", {role: "status", class: "muted"});
    listen(copy, "click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(token);
        setText(copied, "Copied.");
      } catch {
        setText(copied, "Select the token and copy it.");
      }
    });
    const done = h("button", {type: "button", class: "quiet"}, "Done");
    listen(done, "click", () => {
      tokenPanel.hidden = true;
      replace(tokenPanel);
    });
    replace(tokenPanel,
      h("p", {}, h("strong", {}, `${what} for ${user}.`), " It is shown this once: copy it now and give it to them."),
      h("label", {for: "new-token"}, `Token for ${user}`),
      h("div", {class: "inline"}, field, copy, done),
      copied);
    tokenPanel.hidden = false;
    field.focus();
    field.select();
  }

  async function loadUsers() {
    try {
      const r = await api.call("GET", "/api/users");
      if (gone) return;
      setText(usersError, "");
      replace(users, r.users.map((u) => {
        const rowID = uid("user");
        const rotate = h("button", {type: "button", class: "small", "aria-describedby": rowID}, "New token");
        const remove = h("button", {type: "button", class: "danger small", "aria-describedby": rowID}, "Remove");
        listen(rotate, "click", async () => {
          const yes = await confirm({
            title: `A new token for ${u.name}?`,
            text: `${u.name}'s current token stops working at once, and so do the links signed with it.`,
            ok: "Make a new token",
          });
          if (!yes) return;
          try {
            const t = await api.call("POST", `/api/users/${encodeURIComponent(u.name)}/token`);
            showToken(u.name, t.token, "A new token");
            loadUsers();
          } catch (p) {
            setText(usersError, p.message);
          }
        });
        listen(remove, "click", async () => {
          const yes = await confirm({
            title: `Remove ${u.name}?`,
            text: `${u.name}'s token stops working and their live sessions end.`,
            ok: "Remove user",
          });
          if (!yes) return;
          try {
            await api.call("DELETE", `/api/users/${encodeURIComponent(u.name)}`);
            loadUsers();
            poll();
          } catch (p) {
            setText(usersError, p.message);
          }
        });
        const self = u.name === me.name;
        return h("tr", {},
          h("th", {scope: "row", id: rowID, "data-label": "Name"}, u.name),
          h("td", {"data-label": "Role"}, u.admin ? "admin" : "user"),
          h("td", {"data-label": "Token issued"}, u.token_issued_at ? new Date(u.token_issued_at).toLocaleString() : "—"),
          h("td", {"data-label": "Actions", class: "row-actions"}, rotate, self ? null : remove));
      }));
    } catch (p) {
      if (!gone) setText(usersError, `Could not read the users: ${p.message}`);
    }
  }
  listen(addForm, "submit", async (e) => {
    e.preventDefault();
    const name = newName.value.trim();
    if (!name) {
      setText(usersError, "Give the new user a name.");
      newName.focus();
      return;
    }
    addButton.disabled = true;
    try {
      const r = await api.call("POST", "/api/users", {name, admin: newAdmin.checked});
      addForm.reset();
      setText(usersError, "");
      showToken(r.user.name, r.token, "The token");
      loadUsers();
    } catch (p) {
      setText(usersError, p.message);
      newName.focus();
    } finally {
      addButton.disabled = false;
    }
  });

  // --- Usage per day. /api/stats counts the sessions created since a
  // time; the sessions of one day are the difference between the counts
  // since its midnight and since the next.
  const period = h("select", {id: "usage-days"},
    [7, 14, 30].map((n) => h("option", {value: n, selected: n === 14}, `Last ${n} days`)));
  const charts = h("div", {class: "charts"});
  const usageTable = h("div", {class: "usage-figures"});
  const usageStatus = h("p", {class: "status", role: "status"});
  const perUser = h("div", {class: "table-wrap"});
  let lastUsage = null;
  async function loadUsage() {
    const n = Number(period.value);
    const midnights = [];
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    for (let i = n - 1; i >= 0; i--) {
      const d = new Date(today);
      d.setDate(d.getDate() - i);
      midnights.push(d);
    }
    setText(usageStatus, "Reading usage…");
    try {
      const all = await Promise.all(midnights.map((d) => api.call("GET", `/api/stats?since=${encodeURIComponent(d.toISOString().replace(/\.\d+Z$/, "Z"))}`)));
      if (gone) return;
      const days = midnights.map((d, i) => {
        const a = all[i].totals, b = all[i + 1]?.totals;
        // Live sessions count up to each answer's own "until": a day with
        // no new session has no hours, whatever those instants add.
        const sessions = Math.max(0, a.sessions_created - (b ? b.sessions_created : 0));
        return {
          date: d,
          label: d.toLocaleDateString([], {weekday: "short", day: "numeric", month: "short"}),
          short: d.toLocaleDateString([], {day: "numeric", month: "numeric"}),
          sessions,
          hours: sessions ? Math.max(0, a.session_hours - (b ? b.session_hours : 0)) : 0,
        };
      });
      lastUsage = {days, first: all[0]};
      drawUsage();
      setText(usageStatus, "");
    } catch (p) {
      if (!gone) setText(usageStatus, `Could not read usage: ${p.message}`);
    }
  }
  function drawUsage() {
    if (!lastUsage) return;
    const {days, first} = lastUsage;
    // As wide as a column of the charts' grid (two side by side, or one).
    const cols = getComputedStyle(charts).gridTemplateColumns.split(" ").length;
    const w = ((charts.clientWidth || 600) - 24 * (cols - 1)) / cols;
    // Hours, or minutes or seconds while no day reaches one.
    const {mul: unit, suffix} = timeUnit(Math.max(...days.map((d) => d.hours)));
    const fmtTime = (v) => `${+v.toPrecision(3)} ${suffix}`;
    replace(charts,
      h("figure", {},
        h("figcaption", {}, "Sessions created per day"),
        barChart({id: "chart-sessions", title: `Sessions created per day, last ${days.length} days`, width: w, colour: "#0b5cad",
          minStep: 1, format: (v) => String(Math.round(v)), days: days.map((d) => ({label: d.label, short: d.short, value: d.sessions}))})),
      h("figure", {},
        h("figcaption", {}, "Session-hours per day"),
        barChart({id: "chart-hours", title: `Session-hours per day, last ${days.length} days`, width: w, colour: "#1a7f37",
          format: fmtTime, days: days.map((d) => ({label: d.label, short: d.short, value: d.hours * unit}))})));
    replace(usageTable, h("details", {},
      h("summary", {}, "The figures per day"),
      h("table", {class: "plain"},
        h("caption", {class: "visually-hidden"}, "Sessions and session-hours per day"),
        h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Day"), h("th", {scope: "col"}, "Sessions"), h("th", {scope: "col"}, "Session-hours"))),
        h("tbody", {}, days.map((d) => h("tr", {},
          h("th", {scope: "row"}, d.label), h("td", {}, String(d.sessions)), h("td", {}, hours(d.hours))))))));
    replace(perUser, first.users.length === 0 ? h("p", {class: "empty"}, "Nobody used chimerad in this period.") :
      h("table", {class: "plain stack"},
        h("caption", {}, `Per user, over the last ${days.length} days`),
        h("thead", {}, h("tr", {}, ["User", "Sessions", "Live", "Session-hours", "Commands", "CPU seconds"].map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, first.users.map((u) => h("tr", {},
          h("th", {scope: "row", "data-label": "User"}, u.user),
          h("td", {"data-label": "Sessions"}, String(u.sessions_created)),
          h("td", {"data-label": "Live"}, String(u.live)),
          h("td", {"data-label": "Session-hours"}, hours(u.session_hours)),
          h("td", {"data-label": "Commands"}, String(u.commands)),
          h("td", {"data-label": "CPU seconds"}, u.cpu_seconds.toFixed(1)))))));
  }
  listen(period, "change", loadUsage);
  let resizeTimer = null;
  function onResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawUsage, 200);
  }
  window.addEventListener("resize", onResize);

  const page = h("div", {class: "page admin"},
    h("h1", {}, "Admin"),
    h("section", {class: "card", "aria-labelledby": "cap-title"},
      h("h2", {id: "cap-title"}, "Capacity and pool"),
      capError, figures, meter),
    h("section", {class: "card", "aria-labelledby": "all-title"},
      h("div", {class: "card-head"},
        h("h2", {id: "all-title"}, "All sessions"),
        h("div", {class: "check"}, toggle, h("label", {for: "admin-show-ended"}, "Show ended"))),
      listError, killStatus, table.node),
    h("div", {class: "two admin-lower"},
      h("section", {class: "card", "aria-labelledby": "users-title"},
        h("h2", {id: "users-title"}, "Users"),
        addForm, tokenPanel, usersError,
        h("div", {class: "table-wrap"},
          h("table", {class: "plain stack users"},
            h("caption", {class: "visually-hidden"}, "Users"),
            h("thead", {}, h("tr", {}, ["Name", "Role", "Token issued", "Actions"].map((c) => h("th", {scope: "col"}, c)))),
            users))),
      h("section", {class: "card", "aria-labelledby": "usage-title"},
        h("div", {class: "card-head"},
          h("h2", {id: "usage-title"}, "Usage"),
          h("div", {class: "inline"}, h("label", {for: "usage-days"}, "Period"), period)),
        usageStatus, charts, usageTable, perUser)));

  poll();
  loadUsers();
  // The charts need the page laid out to know their width.
  requestAnimationFrame(() => loadUsage());
  timers.push(setInterval(() => document.visibilityState === "visible" && poll(), pollEvery));
  timers.push(setInterval(() => table.tick(), 1000));

  return {
    title: "Admin",
    nav: "#/admin",
    node: page,
    destroy() {
      gone = true;
      timers.forEach(clearInterval);
      clearTimeout(resizeTimer);
      window.removeEventListener("resize", onResize);
    },
  };
}
