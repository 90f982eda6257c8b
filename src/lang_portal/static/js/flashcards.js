/*
 * The flashcards activity.
 *
 * Opened as /activities/flashcards/?group_id=G&session_id=S (the portal's launch form
 * adds both). It reads the group's words from /api/groups/G/words/raw, shows each
 * kanji, flips to the reading and meaning (Space), and the learner marks it right (→)
 * or wrong (←). Answers are posted in batches to /api/study-sessions/S/review. Each
 * batch gets its own Idempotency-Key, fixed with its contents before the first try,
 * so a retry after a lost answer replays instead of recording the reviews twice.
 * Batches are sent one at a time, in order.
 */
"use strict";

(function () {
  const BATCH_SIZE = 10;
  const SAVE_ATTEMPTS = 8;
  const api = window.LangPortal;
  const byId = (id) => document.getElementById(id);
  const root = byId("flashcards");

  const state = {
    groupId: null,
    sessionId: null,
    cards: [],
    index: 0,
    flipped: false,
    right: 0,
    wrong: 0,
    pending: [], // answers not yet in a batch
    outbox: [], // batches waiting to be saved: {key, reviews}
    saved: 0,
    sending: false,
    failure: null,
    phase: "loading", // loading | cards | saving | done | problem
  };

  function parseId(raw) {
    if (!/^[1-9][0-9]{0,15}$/.test(raw || "")) return null;
    const value = Number(raw);
    return Number.isSafeInteger(value) ? value : null;
  }

  function setPhase(phase) {
    state.phase = phase;
    root.dataset.state = phase;
    byId("fc-loading").hidden = phase !== "loading";
    byId("fc-deck").hidden = phase !== "cards";
    byId("fc-summary").hidden = phase !== "done";
    byId("fc-problem").hidden = phase !== "problem";
  }

  function showProblem(title, text, link) {
    byId("fc-problem-title").textContent = title;
    byId("fc-problem-text").textContent = text;
    if (link) {
      byId("fc-problem-link").href = link.href;
      byId("fc-problem-link").textContent = link.label;
    }
    setPhase("problem");
  }

  function shuffle(items) {
    const copy = items.slice();
    for (let i = copy.length - 1; i > 0; i -= 1) {
      const j = Math.floor(Math.random() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
  }

  function partsText(parts) {
    if (!Array.isArray(parts) || parts.length < 2) return "";
    return parts
      .map((part) => `${part.kanji} ${Array.isArray(part.romaji) ? part.romaji.join("/") : ""}`)
      .join(" · ");
  }

  // ---- the deck ----------------------------------------------------------------

  function showCard() {
    const card = state.cards[state.index];
    state.flipped = false;
    byId("fc-kanji").textContent = card.kanji;
    byId("fc-reading").textContent = card.romaji;
    byId("fc-parts").textContent = partsText(card.parts);
    byId("fc-meaning").textContent = card.english;
    byId("fc-back").hidden = true;
    byId("fc-flip").hidden = false;
    byId("fc-right-button").hidden = true;
    byId("fc-wrong-button").hidden = true;
    byId("fc-position").textContent = `Card ${state.index + 1} of ${state.cards.length}`;
    byId("fc-progress").max = state.cards.length;
    byId("fc-progress").value = state.index;
    byId("fc-right").textContent = String(state.right);
    byId("fc-wrong").textContent = String(state.wrong);
    byId("fc-card").classList.remove("flipped");
    byId("fc-card").focus({ preventScroll: true });
  }

  function flip() {
    if (state.phase !== "cards" || state.flipped) return;
    state.flipped = true;
    byId("fc-back").hidden = false;
    byId("fc-card").classList.add("flipped");
    byId("fc-flip").hidden = true;
    byId("fc-right-button").hidden = false;
    byId("fc-wrong-button").hidden = false;
    byId("fc-card").focus({ preventScroll: true });
  }

  function mark(correct) {
    if (state.phase !== "cards" || !state.flipped) return;
    const card = state.cards[state.index];
    state.pending.push({ word_id: card.id, is_correct: correct });
    if (correct) state.right += 1;
    else state.wrong += 1;
    if (state.pending.length >= BATCH_SIZE) queueBatch();
    state.index += 1;
    if (state.index < state.cards.length) {
      showCard();
    } else {
      finish();
    }
  }

  function onKey(event) {
    if (state.phase !== "cards" || event.altKey || event.ctrlKey || event.metaKey) return;
    // Space and Enter on a focused button press that button; leave those to the browser.
    const onControl = event.target.closest && event.target.closest("button, a, input, select, textarea");
    if (event.key === " " || event.key === "Spacebar" || (event.key === "Enter" && !onControl)) {
      if (onControl) return;
      event.preventDefault();
      flip();
    } else if (event.key === "ArrowRight" && state.flipped) {
      event.preventDefault();
      mark(true);
    } else if (event.key === "ArrowLeft" && state.flipped) {
      event.preventDefault();
      mark(false);
    }
  }

  // ---- saving ------------------------------------------------------------------

  function queueBatch() {
    if (!state.pending.length) return;
    state.outbox.push({ key: api.newIdempotencyKey(), reviews: state.pending.splice(0) });
    pump();
  }

  function unsaved() {
    return state.pending.length + state.outbox.reduce((sum, batch) => sum + batch.reviews.length, 0);
  }

  function renderSaveState(message) {
    const text = byId("fc-save-text");
    const retry = byId("fc-save-retry");
    const box = byId("fc-save");
    box.classList.toggle("error", Boolean(state.failure));
    retry.hidden = !state.failure;
    if (state.failure) {
      text.textContent = `${unsaved()} answers are not saved yet. ${state.failure.message}`;
    } else if (message) {
      text.textContent = message;
    } else if (state.phase === "saving") {
      text.textContent = "Saving your answers…";
    } else if (state.phase === "done") {
      text.textContent = `All ${state.saved} answers are saved.`;
    } else {
      text.textContent = "";
    }
  }

  async function pump() {
    if (state.sending || state.failure) return;
    state.sending = true;
    try {
      while (state.outbox.length) {
        const batch = state.outbox[0];
        try {
          await api.postJson(
            `/api/study-sessions/${state.sessionId}/review`,
            { reviews: batch.reviews },
            {
              idempotencyKey: batch.key,
              attempts: SAVE_ATTEMPTS,
              onRetry: () => renderSaveState("Connection trouble; still trying to save your answers…"),
            },
          );
        } catch (problem) {
          state.failure = problem; // the batch stays first in line, with its key
          return;
        }
        state.outbox.shift();
        state.saved += batch.reviews.length;
      }
    } finally {
      state.sending = false;
      afterSave();
    }
  }

  function afterSave() {
    if (state.phase === "saving" && !state.outbox.length && !state.pending.length) {
      showSummary();
    }
    renderSaveState();
  }

  function retrySaving() {
    state.failure = null;
    renderSaveState("Trying again…");
    pump();
  }

  function finish() {
    setPhase("saving");
    queueBatch();
    afterSave();
  }

  function showSummary() {
    byId("fc-summary-right").textContent = String(state.right);
    byId("fc-summary-wrong").textContent = String(state.wrong);
    byId("fc-summary-total").textContent = String(state.cards.length);
    setPhase("done");
    byId("fc-summary-title").focus();
  }

  // ---- start -------------------------------------------------------------------

  async function start() {
    const params = new URLSearchParams(window.location.search);
    state.groupId = parseId(params.get("group_id"));
    state.sessionId = parseId(params.get("session_id"));
    if (!state.groupId || !state.sessionId) {
      showProblem(
        "Start flashcards from the portal",
        "This activity needs a word group and a study session. Pick a group in the portal and start Flashcards from there.",
      );
      return;
    }
    byId("fc-session-link").href = `/portal/sessions/${state.sessionId}`;
    byId("fc-group-link").href = `/portal/groups/${state.groupId}`;
    let session;
    let group;
    try {
      [session, group] = await Promise.all([
        api.getJson(`/api/study-sessions/${state.sessionId}?per_page=1`),
        api.getJson(`/api/groups/${state.groupId}/words/raw`),
      ]);
    } catch (problem) {
      const title = problem.status === 404 ? "This session or group does not exist" : "The cards could not be loaded";
      showProblem(title, problem.message);
      return;
    }
    if (session.session.group_id !== state.groupId) {
      showProblem(
        "This session belongs to another group",
        `Session ${state.sessionId} was started for “${session.session.group_name}”. Start Flashcards again from the group you want to study.`,
      );
      return;
    }
    byId("group-name").textContent = `· ${group.group_name}`;
    document.title = `Flashcards · ${group.group_name} · lang-portal`;
    if (!group.words.length) {
      showProblem(
        "This group has no words yet",
        `“${group.group_name}” is empty, so there is nothing to study. Add words to it, then start again.`,
        { href: `/portal/groups/${state.groupId}`, label: "Back to the group" },
      );
      return;
    }
    state.cards = shuffle(group.words);
    setPhase("cards");
    showCard();
  }

  byId("fc-flip").addEventListener("click", flip);
  byId("fc-right-button").addEventListener("click", () => mark(true));
  byId("fc-wrong-button").addEventListener("click", () => mark(false));
  byId("fc-save-retry").addEventListener("click", retrySaving);
  document.addEventListener("keydown", onKey);
  // Leaving mid-deck: send what is not saved yet with keepalive, so it survives the page.
  // Each batch keeps its key, so if the regular request also lands, nothing doubles.
  window.addEventListener("pagehide", () => {
    if (state.phase !== "cards" && state.phase !== "saving") return;
    if (state.pending.length) {
      state.outbox.push({ key: api.newIdempotencyKey(), reviews: state.pending.splice(0) });
    }
    state.outbox.forEach((batch) => {
      fetch(`/api/study-sessions/${state.sessionId}/review`, {
        method: "POST",
        keepalive: true,
        headers: { "Content-Type": "application/json", "Idempotency-Key": batch.key },
        body: JSON.stringify({ reviews: batch.reviews }),
      }).catch(() => {});
    });
  });
  // When saving is known to be failing, ask before the answers are thrown away.
  window.addEventListener("beforeunload", (event) => {
    if (state.failure && unsaved() > 0) {
      event.preventDefault();
      event.returnValue = ""; // older browsers need this to ask
    }
  });
  start();
})();
