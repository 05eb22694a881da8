// Talking to the service: JSON requests, its error shape, and showing errors on the page.

/** An error from the API, carrying the fields of its JSON error body. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = "", requestId = "" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** Parse a response as JSON, turning the service's error shape into an ApiError. */
export async function readJson(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's HTML error page, say): fall through to the status line below.
  }
  if (response.ok && body !== null) return body;
  const err = body && body.error;
  const requestId = (err && err.request_id) || response.headers.get("X-Request-ID") || "";
  if (err && err.message) {
    throw new ApiError(err.message, { status: response.status, code: err.code, requestId });
  }
  const text = response.ok ? "The server sent an unreadable answer." : `The server answered ${response.status} ${response.statusText}.`;
  throw new ApiError(text, { status: response.status, requestId });
}

/** Fetch a URL and return its JSON body; network failures become readable ApiErrors. */
export async function fetchJson(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (exc) {
    throw new ApiError(`Could not reach the server (${exc.message}).`);
  }
  return readJson(response);
}

export function showError(element, err) {
  element.replaceChildren();
  const message = document.createElement("p");
  message.className = "error-message";
  message.textContent = err.message || String(err);
  element.append(message);
  const facts = [];
  if (err.status) facts.push(`HTTP ${err.status}`);
  if (err.code) facts.push(err.code);
  if (err.requestId) facts.push(`request ${err.requestId}`);
  if (facts.length) {
    const detail = document.createElement("p");
    detail.className = "error-detail";
    detail.textContent = facts.join(" · ");
    element.append(detail);
  }
  element.hidden = false;
  if (!(err instanceof ApiError)) console.warn(err);
}

export function hideError(element) {
  element.hidden = true;
  element.replaceChildren();
}

/** A probability as a percentage, with a decimal only where it tells something. */
export const percent = (p) => `${(p * 100).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1)}%`;
