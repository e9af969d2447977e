// The HTTP API, as the page calls it: the same endpoints and keys as any client.
// The key is entered once per browser and kept in localStorage (this origin only).

const KEY = "memdistill.key";

export class ApiError extends Error {
  constructor(status, message, type) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function storedKey() {
  return localStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

let onUnauthorized = () => {};

// Called with the error when the server wants a (valid) key; the page asks for one.
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

function query(params) {
  const given = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return given.length ? "?" + new URLSearchParams(given).toString() : "";
}

async function call(method, path, { params, body, signal } = {}) {
  const headers = { Accept: "application/json" };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path + query(params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: "omit",
    cache: "no-store",
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const message = (payload && payload.error) || `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, message, payload && payload.type);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return payload;
}

const part = (text) => encodeURIComponent(text);

export const api = {
  modes: () => call("GET", "/v1/modes"),
  search: (params, signal) => call("GET", "/v1/search", { params, signal }),
  exchange: (id) => call("GET", `/v1/exchanges/${id}`),
  place: (id) => call("GET", `/v1/exchanges/${id}/place`),
  history: (id) => call("GET", `/v1/history/${id}`),
  exchanges: (params) => call("GET", "/v1/exchanges", { params }),
  conversations: (params) => call("GET", "/v1/conversations", { params }),
  conversation: (id, params) => call("GET", `/v1/conversations/${part(id)}`, { params }),
  rooms: (params) => call("GET", "/v1/rooms", { params }),
  room: (key, params) => call("GET", `/v1/rooms/${part(key)}`, { params }),
  timeline: (params) => call("GET", "/v1/timeline", { params }),
  stats: () => call("GET", "/v1/stats"),
  distribution: (params) => call("GET", "/v1/stats/distribution", { params }),
  refine: (body) => call("POST", "/v1/refine", { body }),
  refineSettings: () => call("GET", "/v1/refine/settings"),
  refined: (params) => call("GET", "/v1/refined", { params }),
  restore: (id) => call("POST", `/v1/restore/${id}`),
  forgetPreview: (body) => call("POST", "/v1/forget/preview", { body }),
  forget: (body) => call("POST", "/v1/forget", { body }),
  feedback: (ids, useful) => call("POST", "/v1/feedback", { body: { ids, useful } }),
};
