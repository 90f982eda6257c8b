/*
 * The portal pages' behaviour: launching a study activity and resetting the history.
 * Both write through the JSON API (POST /api/study-sessions, POST
 * /api/study-sessions/reset), so the pages have no write path of their own.
 *
 * Signed in (the accounts mode), an activity served from another origin cannot use the
 * portal's cookie: the launch asks for a launch token for the new session and hands it
 * over in the URL's fragment (#token=...), which no server log or Referer header sees.
 */
"use strict";

(function () {
  const api = window.LangPortal;

  function showStatus(element, message, kind) {
    if (!element) return;
    element.textContent = message;
    element.classList.toggle("error", kind === "error");
  }

  /** Start a session for the form's group and activity, then open the activity. */
  function setUpLaunchForm(form) {
    const button = form.querySelector("button[type=submit]");
    const status = form.querySelector(".form-status");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = new FormData(form);
      const body = {
        group_id: Number(fields.get("group_id")),
        study_activity_id: Number(fields.get("study_activity_id")),
      };
      button.disabled = true;
      showStatus(status, "Starting a session…");
      try {
        // One key per click: a retry after a lost answer cannot start a second session.
        const created = await api.postJson("/api/study-sessions", body, {
          idempotencyKey: api.newIdempotencyKey(),
          attempts: 4,
          onRetry: () => showStatus(status, "Connection trouble; trying again…"),
        });
        const target = new URL(form.dataset.launchUrl, window.location.href);
        target.searchParams.set("group_id", String(body.group_id));
        target.searchParams.set("session_id", String(created.id));
        if (form.dataset.launchToken === "yes" && target.origin !== window.location.origin) {
          // Making the token changes nothing, so asking again after a lost answer is safe.
          const launch = await api.postJson(`/api/study-sessions/${created.id}/launch-token`, undefined, {
            safeToRetry: true,
          });
          target.hash = `token=${encodeURIComponent(launch.token)}`;
        }
        showStatus(status, "Opening the activity…");
        window.location.assign(target.href);
      } catch (problem) {
        showStatus(status, `Could not start the session. ${problem.message}`, "error");
        button.disabled = false;
      }
    });
  }

  /** The reset button opens a confirmation dialog; only "confirm" deletes anything. */
  function setUpReset(opener) {
    const dialog = document.getElementById("reset-dialog");
    const status = document.getElementById("reset-status");
    if (!dialog) return;
    opener.addEventListener("click", () => {
      dialog.returnValue = "";
      dialog.showModal();
    });
    dialog.addEventListener("close", async () => {
      if (dialog.returnValue !== "confirm") return;
      opener.disabled = true;
      showStatus(status, "Deleting the study history…");
      try {
        // Resetting twice leaves the same empty history, so a retry is safe.
        await api.postJson("/api/study-sessions/reset", undefined, { safeToRetry: true });
        const done = new URL(window.location.href);
        done.searchParams.set("reset", "done");
        window.location.assign(done.href);
      } catch (problem) {
        showStatus(status, `The history was not deleted. ${problem.message}`, "error");
        opener.disabled = false;
      }
    });
  }

  document.querySelectorAll("form[data-launch]").forEach(setUpLaunchForm);
  document.querySelectorAll("[data-reset-open]").forEach(setUpReset);
})();
