// The console's client of chimerad's REST API, on the same origin. The
// token goes only in Authorization headers; <img> and EventSource use the
// signed URLs of POST /api/sessions/{id}/urls instead.

// Problem is an API error: an RFC 9457 problem body, whose detail is a
// sentence for people.
export class Problem extends Error {
  constructor(status, body, retryAfter) {
    super(body?.detail || `The server answered ${status}.`);
    this.status = status;
    this.code = body?.code || "";
    this.retryAfter = retryAfter ? Number(retryAfter) : 0;
  }
}

// networkProblem is what a request that never got an answer says.
function networkProblem() {
  const p = new Problem(0, {detail: "chimerad did not answer: is the daemon still running?"});
  p.code = "network";
  return p;
}

async function parse(r) {
  const text = await r.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return {detail: text.slice(0, 300)};
  }
}

// API calls chimerad with a token. onUnauthorized is told when a call
// answers 401: the token no longer works.
export class API {
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.signed = new Map(); // session id → {urls, until}
  }

  // call sends a request with an optional JSON body and returns the
  // answer's JSON (null when empty), or throws a Problem.
  async call(method, path, body) {
    const opts = {method, headers: {Authorization: `Bearer ${this.token}`}, cache: "no-store"};
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, opts);
    } catch {
      throw networkProblem();
    }
    const data = await parse(r);
    if (!r.ok) throw this.problem(r.status, data, r.headers.get("Retry-After"));
    return data;
  }

  problem(status, data, retryAfter) {
    const p = new Problem(status, data, retryAfter);
    if (status === 401 && this.onUnauthorized) this.onUnauthorized(p);
    return p;
  }

  // upload posts a multipart form, telling onProgress the fraction sent
  // (fetch cannot report an upload's progress; XMLHttpRequest can).
  upload(path, form, onProgress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open("POST", path);
      x.setRequestHeader("Authorization", `Bearer ${this.token}`);
      x.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      });
      x.upload.addEventListener("load", () => onProgress(1));
      x.addEventListener("load", () => {
        let data = null;
        try {
          data = x.responseText ? JSON.parse(x.responseText) : null;
        } catch {
          data = {detail: x.responseText.slice(0, 300)};
        }
        if (x.status >= 200 && x.status < 300) resolve(data);
        else reject(this.problem(x.status, data, x.getResponseHeader("Retry-After")));
      });
      x.addEventListener("error", () => reject(networkProblem()));
      x.send(form);
    });
  }

  // urls returns a live session's signed URLs, asking for new ones a
  // minute before they expire (or always, with fresh).
  async urls(id, fresh) {
    const have = this.signed.get(id);
    if (!fresh && have && Date.now() < have.until) return have.urls;
    const urls = await this.call("POST", `/api/sessions/${encodeURIComponent(id)}/urls`);
    this.signed.set(id, {urls, until: Date.parse(urls.expires_at) - 60_000});
    return urls;
  }
}

// follow opens a session's event stream through its signed URL and calls
// on(type, data) for each event. The browser's EventSource reconnects by
// itself with Last-Event-ID; when it gives up (the URL expired, or the
// session ended) follow asks for a new URL while the session lives. It
// returns a function that closes the stream.
export function follow(api, id, on) {
  let es = null, closed = false, retry = null;
  const types = ["state", "execution_state", "command", "checkpoint", "idle_warning", "reset"];
  async function open(fresh) {
    let urls;
    try {
      urls = await api.urls(id, fresh);
    } catch (p) {
      if (p.status === 409 || p.status === 404) on("gone", {problem: p});
      else if (!closed) retry = setTimeout(() => open(true), 5000);
      return;
    }
    if (closed) return;
    es = new EventSource(urls.events);
    for (const t of types) {
      es.addEventListener(t, (e) => {
        let data = {};
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        on(t, data);
      });
    }
    es.addEventListener("open", () => on("open", {}));
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED && !closed) {
        es = null;
        retry = setTimeout(() => open(true), 1000);
      }
    });
  }
  open(false);
  return () => {
    closed = true;
    clearTimeout(retry);
    if (es) es.close();
  };
}
