// Small helpers to build the page and say things in it: elements from
// plain data (text is always text, never HTML), and the ways the console
// writes times, sizes and durations.

// h builds an element: h("a", {href: "#/"}, "My sessions"). Attributes
// named on* are refused (the CSP allows no inline handlers anyway); use
// listen. Children are nodes or strings (as text); null and false are
// skipped; arrays are flattened.
export function h(tag, attrs, ...children) {
  const el = tag.includes(":")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(tag.indexOf(":") + 1))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) throw new Error("h: use listen for " + k);
    if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

// svg builds an SVG element: svg("rect", {x: 1}).
export function svg(tag, attrs, ...children) {
  return h("svg:" + tag, attrs, ...children);
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// listen adds an event listener and returns el.
export function listen(el, type, fn) {
  el.addEventListener(type, fn);
  return el;
}

// setText sets an element's text only when it changed, so that what has
// focus or is being read stays put.
export function setText(el, text) {
  text = String(text ?? "");
  if (el.textContent !== text) el.textContent = text;
}

// replace swaps an element's children for new ones.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// uid makes element ids unique within the page.
let uidCount = 0;
export function uid(prefix) {
  return `${prefix}-${++uidCount}`;
}

// bytes writes a size for people, in the binary units chimerad's
// settings use: 1.2 MiB.
export function bytes(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do {
    n /= 1024;
    i++;
  } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

// clock writes a number of seconds as h:mm:ss or m:ss.
export function clock(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

// duration writes a number of seconds in words: "30 minutes".
export function duration(seconds) {
  if (!seconds) return "never";
  if (seconds % 86400 === 0) return plural(seconds / 86400, "day");
  if (seconds % 3600 === 0) return plural(seconds / 3600, "hour");
  if (seconds % 60 === 0) return plural(seconds / 60, "minute");
  return plural(seconds, "second");
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// time writes an API time as the local time of day, with the date when it
// is not today.
export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso), now = new Date();
  const t = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  if (d.toDateString() === now.toDateString()) return t;
  return `${d.toLocaleDateString([], {day: "numeric", month: "short"})} ${t}`;
}

// until is the number of seconds from now to an API time.
export function until(iso) {
  return (Date.parse(iso) - Date.now()) / 1000;
}

// reason writes a termination reason for people: idle_timeout → idle timeout.
export function reason(r) {
  return r ? r.replaceAll("_", " ") : "";
}

// structure says what a session opened.
export function structure(st) {
  if (!st) return "—";
  switch (st.source) {
    case "pdb":
      return `PDB ${st.pdb_id}`;
    case "upload":
      return st.filename || "an upload";
    case "checkpoint":
      return "a checkpoint";
    default:
      return "nothing (empty)";
  }
}
