// The web chat page: plain JavaScript over the HTTP API and one EventSource; no build step.
const $ = (id) => document.getElementById(id);
let token = null;
let source = null;
let lastEventId = null;
let historyBefore = null;

/** fetch, with the browser's own words for a network failure ("Failed to fetch") replaced by plain ones. */
async function reach(path, init) {
  try {
    return await fetch(path, init);
  } catch {
    throw new Error("The server cannot be reached right now. Try again in a moment.");
  }
}

/** One API call; a problem+json answer throws its `detail`, the server's own text. */
async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await reach(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(answer?.detail ?? `${response.status} ${response.statusText}`);
  return answer;
}

const showError = (error) => ($("error").textContent = error ? error.message : "");
const say = (text) => {
  const line = document.createElement("p");
  line.textContent = text;
  $("deliveries").append(line);
  line.scrollIntoView({ block: "nearest" });
};

const describe = {
  message: (data) => `${data.from}: ${data.text}`,
  broadcast: (data) => `${data.from} (broadcast): ${data.text}`,
  presence: (data) => `${data.username} logged ${data.status === "online" ? "in" : "out"}`,
  private_started: (data) => `${data.from} started private messaging with you (use the terminal client)`,
  private_stopped: (data) => `${data.from} stopped private messaging with you`,
  session_ended: (data) => (data.reason === "timeout" ? "Logged out after inactivity" : "Logged out"),
  resync: () => "The stream started again from the newest events",
};

/** The event stream; the browser resumes a dropped one with Last-Event-ID, and one it gave up on is reopened here. */
function connect() {
  const query = new URLSearchParams({ access_token: token });
  if (lastEventId) query.set("lastEventId", lastEventId);
  source = new EventSource(`/events?${query}`);
  for (const [type, text] of Object.entries(describe)) {
    source.addEventListener(type, (event) => {
      if (event.lastEventId) lastEventId = event.lastEventId;
      const data = JSON.parse(event.data);
      say(text(data));
      if (type === "presence") void refreshOnline();
      if (type === "session_ended") loggedOut();
    });
  }
  source.addEventListener("open", () => void refreshOnline());
  source.addEventListener("error", () => {
    // A refused reconnect (e.g. 503 while the server starts) closes the EventSource for good: try again.
    if (source?.readyState === EventSource.CLOSED && token) setTimeout(() => token && connect(), 1000);
  });
}

async function refreshOnline(since) {
  const { users } = await api("GET", since === undefined ? "/users/online" : `/users/online?since=${since}`);
  $("online").replaceChildren(...users.map((name) => Object.assign(document.createElement("li"), { textContent: name })));
}

async function showHistory(withUser, before) {
  const query = new URLSearchParams({ with: withUser, limit: "20" });
  if (before) query.set("before", before);
  const page = await api("GET", `/messages?${query}`);
  if (!before) $("history").replaceChildren();
  for (const message of page.messages) {
    const item = document.createElement("li");
    item.textContent = `${message.from} → ${message.to}: ${message.text}`;
    $("history").append(item);
  }
  historyBefore = page.nextBefore;
  $("older").hidden = historyBefore === null;
}

function loggedOut() {
  source?.close();
  source = null;
  token = null;
  lastEventId = null;
  $("chat").hidden = true;
  $("login").hidden = false;
}

const handle = (work) => (event) => {
  event.preventDefault();
  showError(null);
  work(event).catch(showError);
};

$("login").addEventListener(
  "submit",
  handle(async (event) => {
    const form = new FormData(event.target);
    const response = await reach("/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail);
    token = answer.token;
    $("welcome").textContent = `${answer.detail} You are ${answer.username}.`;
    $("deliveries").replaceChildren();
    $("login").hidden = true;
    $("chat").hidden = false;
    event.target.reset();
    connect();
  }),
);

$("send").addEventListener(
  "submit",
  handle(async (event) => {
    const form = new FormData(event.target);
    const to = String(form.get("to")).trim();
    const text = String(form.get("text"));
    const action = event.submitter?.value ?? "send";
    if (action === "send") {
      const sent = await api("POST", "/messages", { to, text });
      say(`to ${sent.to}: ${sent.text}${sent.delivery === "stored" ? " (stored until they log in)" : ""}`);
    } else if (action === "broadcast") {
      const sent = await api("POST", "/broadcasts", { text });
      say(`broadcast to ${sent.recipients}: ${sent.text}`);
      if (sent.detail) say(sent.detail);
    } else if (action === "block" || action === "unblock") {
      say((await api(action === "block" ? "PUT" : "DELETE", `/blocks/${encodeURIComponent(to)}`)).detail);
      return;
    } else if (action === "history") {
      await showHistory(to);
      return;
    }
    event.target.elements.text.value = "";
  }),
);

$("older").addEventListener(
  "click",
  handle(() => showHistory(new FormData($("send")).get("to"), historyBefore)),
);
$("refresh").addEventListener(
  "click",
  handle(() => refreshOnline()),
);
$("since").addEventListener(
  "submit",
  handle((event) => refreshOnline(Number(new FormData(event.target).get("seconds")))),
);
$("logout").addEventListener(
  "click",
  handle(async () => {
    await api("POST", "/logout");
    loggedOut();
  }),
);
