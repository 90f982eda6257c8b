/*
 * Talking to the lang-portal JSON API from the browser.
 *
 * LangPortal.postJson() sends a write and retries it when that is safe: a retry of a
 * write carries the same Idempotency-Key, so the server replays the stored answer
 * instead of doing the work twice. LangPortal.getJson() retries reads. Failures are
 * thrown as ApiProblem errors whose message is a sentence for the learner, never the
 * raw JSON body.
 *
 * Signed in to the portal (the accounts mode), a page carries its CSRF token in
 * <meta name="csrf-token">; every write sends it as X-CSRFToken, since the sign-in
 * cookie goes with the request and the server refuses a cookie write without it.
 */
"use strict";

(function () {
  // Statuses worth retrying: in flight elsewhere (409), rate limited (429), server trouble.
  const RETRYABLE = new Set([409, 429, 500, 502, 503, 504]);
  const MAX_DELAY_MS = 5000;

  class ApiProblem extends Error {
    constructor(message, status, body) {
      super(message);
      this.name = "ApiProblem";
      this.status = status; // 0 when the server could not be reached
      this.body = body;
    }
  }

  /** A fresh random key for one write (and every retry of it). */
  function newIdempotencyKey() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes); // works on plain http too, unlike randomUUID
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  function sleep(milliseconds) {
    return new Promise((resolve) => window.setTimeout(resolve, milliseconds));
  }

  function retryDelay(response, attempt) {
    const retryAfter = response ? Number(response.headers.get("Retry-After")) : NaN;
    if (Number.isFinite(retryAfter) && retryAfter >= 0) {
      return Math.min(retryAfter * 1000, MAX_DELAY_MS);
    }
    return Math.min(250 * 2 ** attempt, MAX_DELAY_MS);
  }

  /** The page's CSRF token, when the page was served to someone signed in. */
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : null;
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch (error) {
      return null;
    }
  }

  /** A sentence that says what went wrong and what the learner can do about it. */
  function describe(status, body) {
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    const reference = body && body.request_id ? ` (request id ${body.request_id})` : "";
    switch (status) {
      case 0:
        return "The server could not be reached. Check that lang-portal is running and try again.";
      case 401:
        if (csrfToken()) {
          return "You are no longer signed in (you signed out, or the sign-in ran out). Sign in again and retry.";
        }
        return (
          "This server requires an API token for changes (LANG_PORTAL_API_TOKEN is set), " +
          "and the built-in pages do not have it. They are meant for the open, single-user " +
          "setup: unset the token to study here."
        );
      case 404:
        return detail ? `${detail.charAt(0).toUpperCase()}${detail.slice(1)}.` : "That no longer exists.";
      case 409:
        return "The same request is still being handled; try again in a moment.";
      case 429:
        return "Too many requests right now; wait a moment and try again.";
      case 503:
        return "The database is unavailable right now; try again shortly.";
      default:
        if (status >= 500) {
          return `The server failed to do this${reference}. Try again; if it keeps failing, check the server log.`;
        }
        return detail ? `The server refused this: ${detail}.` : `The server refused this (status ${status}).`;
    }
  }

  async function request(method, url, body, options) {
    const attempts = options.attempts || 1;
    const headers = { Accept: "application/json" };
    // Every write is JSON, even one without a body: the server refuses anything else, so
    // that no other site's form or beacon can write (a JSON write needs a preflight).
    if (method !== "GET") headers["Content-Type"] = "application/json";
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
    const csrf = csrfToken();
    if (method !== "GET" && csrf) headers["X-CSRFToken"] = csrf;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let problem = null;
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      if (attempt > 0 && options.onRetry) options.onRetry(attempt, problem);
      let response = null;
      try {
        response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
      } catch (error) {
        problem = new ApiProblem(describe(0, null), 0, null);
      }
      if (response) {
        const data = await readJson(response);
        if (response.ok) {
          if (options.onResponse) options.onResponse(response);
          return data;
        }
        problem = new ApiProblem(describe(response.status, data), response.status, data);
        if (!RETRYABLE.has(response.status)) throw problem;
      }
      if (attempt + 1 < attempts) await sleep(retryDelay(response, attempt));
    }
    throw problem;
  }

  /**
   * POST a JSON body (or none). Retries network errors and retryable statuses only when
   * options.idempotencyKey is given (the key makes a retry safe) or options.safeToRetry.
   */
  function postJson(url, body, options = {}) {
    const retry = Boolean(options.idempotencyKey || options.safeToRetry);
    return request("POST", url, body, { ...options, attempts: retry ? options.attempts || 5 : 1 });
  }

  /**
   * GET JSON, retrying network errors and server trouble a few times.
   * options.onResponse(response) sees the successful response, for its headers.
   */
  function getJson(url, options = {}) {
    return request("GET", url, undefined, { ...options, attempts: options.attempts || 4 });
  }

  window.LangPortal = { ApiProblem, newIdempotencyKey, postJson, getJson, describe };
})();
