// The chimerad console: sign in with an API token, then see and drive your
// sessions, and (for admins) everyone's. Routes are the URL's fragment:
// #/ (my sessions), #/sessions/ID (a session), #/admin.

import {API} from "./api.js";
import {h, listen, setText, replace} from "./dom.js";
import {mySessions} from "./sessions.js";
import {sessionPage} from "./session.js";
import {adminPage} from "./admin.js";

const tokenKey = "chimerad.token";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const adminLink = document.getElementById("nav-admin");
const signOutButton = document.getElementById("sign-out");

// app is what the views share: the API, who is signed in and what the
// daemon allows, and a way to leave a notice for the next page.
const app = {
  api: null,
  me: null,
  caps: null,
  notice: "",
  go(hash, notice) {
    app.notice = notice || "";
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

let view = null; // the page shown: {title, node, destroy}

function show(v) {
  if (view?.destroy) view.destroy();
  view = v;
  document.title = `${v.title} · chimerad`;
  replace(main, v.node);
  // Say where we are: focus the page's heading, as a new page would.
  const h1 = main.querySelector("h1");
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({preventScroll: true});
  }
  window.scrollTo(0, 0);
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === v.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function route() {
  if (!app.api) return show(signInPage());
  const hash = location.hash || "#/";
  let m;
  if ((m = hash.match(/^#\/sessions\/([^/]+)$/))) return show(sessionPage(app, decodeURIComponent(m[1])));
  if (hash === "#/admin" && app.me.admin) return show(adminPage(app));
  if (hash.startsWith("#/") || !view) return show(mySessions(app));
}

// signIn checks a token with GET /api/me and, if it works, keeps it in
// this tab's sessionStorage (never in a URL or a cookie).
async function signIn(token) {
  const api = new API(token, expired);
  const me = await api.call("GET", "/api/me"); // a wrong token stops here
  const caps = await api.call("GET", "/api/capabilities");
  sessionStorage.setItem(tokenKey, token);
  app.api = api;
  app.me = me;
  app.caps = caps;
  setText(who, `Signed in as ${me.name}${me.admin ? " (admin)" : ""}`);
  nav.hidden = false;
  adminLink.hidden = !me.admin;
  signOutButton.hidden = false;
}

function signOut(notice) {
  sessionStorage.removeItem(tokenKey);
  app.api = app.me = app.caps = null;
  setText(who, "");
  nav.hidden = true;
  signOutButton.hidden = true;
  app.notice = notice || "";
  route();
}

// expired: a call answered 401, so the token was rotated or its user removed.
function expired() {
  if (app.api) signOut("Your token is no longer accepted (it was replaced, or your user removed). Sign in again.");
}

function signInPage() {
  const notice = app.notice;
  app.notice = "";
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false",
    required: true, "aria-describedby": "token-hint",
  });
  const error = h("p", {class: "error", role: "alert", id: "sign-in-error"});
  const button = h("button", {type: "submit", class: "primary"}, "Sign in");
  const form = h("form", {class: "card sign-in", "aria-labelledby": "sign-in-title"},
    h("h1", {id: "sign-in-title"}, "Sign in to chimerad"),
    notice ? h("p", {class: "notice", role: "status"}, notice) : null,
    h("p", {}, "chimerad runs UCSF ChimeraX sessions for you on this machine. Sign in with your API token to see and drive them."),
    h("div", {class: "field"},
      h("label", {for: "token"}, "API token"),
      input,
      h("p", {class: "hint", id: "token-hint"},
        "It starts with chx_. An admin makes one with ",
        h("code", {}, "chimerad users add NAME"),
        ". It stays in this tab only and is forgotten when you sign out or close the tab.")),
    button,
    error);
  listen(form, "submit", async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    setText(error, "");
    button.disabled = true;
    try {
      await signIn(token);
      route();
    } catch (p) {
      setText(error, p.status === 401
        ? "That API token was not accepted. Check that you copied all of it, or ask an admin for a new one."
        : `Could not sign in: ${p.message}`);
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  return {title: "Sign in", node: h("div", {class: "narrow"}, form)};
}

listen(signOutButton, "click", () => {
  // Whoever signs in next starts at their own sessions.
  history.replaceState(null, "", "#/");
  signOut("You are signed out: this tab no longer holds your token.");
});
listen(window, "hashchange", () => {
  if (location.hash.startsWith("#/") || location.hash === "") route();
});
// The skip link moves focus without touching the route.
listen(document.getElementById("skip"), "click", (e) => {
  e.preventDefault();
  main.focus();
});

(async () => {
  const token = sessionStorage.getItem(tokenKey);
  if (token) {
    try {
      await signIn(token);
    } catch (p) {
      if (p.status !== 401) app.notice = p.message;
      sessionStorage.removeItem(tokenKey);
    }
  }
  route();
})();
