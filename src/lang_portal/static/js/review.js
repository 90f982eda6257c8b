/*
 * The Review activity: a group's due queue as flashcards, each rated Again, Hard, Good
 * or Easy.
 *
 * Opened as /activities/review/?group_id=G&session_id=S. It reads GET /api/study/due
 * for the group: the cards due now (most overdue first), then words never reviewed, up
 * to today's allowance. Each card flips (Space) to its reading and meaning; the learner
 * rates it with one of four buttons (keys 1 to 4), each labelled with how long until the
 * word would come back: the queue's `intervals` seen from when the queue was asked for.
 * That moment is read on this device's clock, corrected by the server's Date header
 * when the two disagree by more than a few seconds (the header has whole seconds only;
 * a moment taken just before the server computed the queue rounds steadily, so a 5.5
 * minute step reads "6m" every time).
 *
 * Each answer is posted at once, with its rating and how long the learner took (a batch
 * of one, with its own Idempotency-Key: js/activity.js ReviewSaver), and the due and
 * new counts drop as cards are answered. The round is the queue as it was loaded; a card
 * answered Again comes back after its step, in the next round ("Review more"). An empty
 * queue says so, and when the next card is due.
 */
"use strict";

(function () {
  const api = window.LangPortal;
  const { byId, flipKey, launch, partsText, plainKey, showTally, ReviewSaver, Screens } = api.activity;
  const intervals = api.intervals;
  const QUEUE_LIMIT = 100; // the most one GET /api/study/due gives
  const MAX_DURATION_MS = 3600000; // the API takes 0 to an hour
  const CLOCK_TOLERANCE_MS = 5000; // a device clock this close to the server's is trusted
  const screens = new Screens("rv", "rv-activity", {
    loading: "rv-loading",
    empty: "rv-empty",
    play: "rv-deck",
    saving: null,
    done: "rv-summary",
    problem: "rv-problem",
  });
  const ratingButtons = Array.from(document.querySelectorAll("#rv-ratings [data-rating]"));

  const state = {
    study: null, // {groupId, sessionId, group} from launch()
    items: [],
    index: 0,
    flipped: false,
    right: 0,
    wrong: 0,
    due: 0, // cards due now in the group, less the ones answered
    fresh: 0, // new words left today in the group, less the ones answered
    reference: 0, // when the server computed the intervals (milliseconds)
    shownAt: 0,
    saver: null,
  };

  function capitalised(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  /** How far this device's clock is behind the server's (ms), 0 when within tolerance. */
  function clockSkew(response) {
    const server = Date.parse(response.headers.get("Date") || "");
    const skew = Number.isFinite(server) ? server - Date.now() : 0;
    return Math.abs(skew) > CLOCK_TOLERANCE_MS ? skew : 0;
  }

  /** The group's queue and when it was asked for, on the server's clock: {queue, reference}. */
  async function loadQueue(groupId, limit) {
    const asked = Date.now();
    let skew = 0;
    const queue = await api.getJson(`/api/study/due?group_id=${groupId}&limit=${limit}`, {
      onResponse: (response) => {
        skew = clockSkew(response);
      },
    });
    return { queue, reference: asked + skew };
  }

  /** "in 10m (2026-11-22 10:15 UTC)", or null when nothing is scheduled. */
  function nextDueText(nextDueAt, reference) {
    if (!nextDueAt) return null;
    return `in ${intervals.until(nextDueAt, reference)} (${intervals.utc(nextDueAt)})`;
  }

  function showCounts() {
    byId("rv-due").textContent = String(state.due);
    byId("rv-new").textContent = String(state.fresh);
  }

  /** "New word", or the card's state and how long it has been due. */
  function kindText(item) {
    if (!item.card) return "New word";
    const overdue = intervals.text(state.reference - Date.parse(item.card.due));
    return `${capitalised(item.card.state)} · due ${overdue} ago`;
  }

  function showCard() {
    const item = state.items[state.index];
    state.flipped = false;
    byId("rv-kind").textContent = kindText(item);
    byId("rv-kanji").textContent = item.word.kanji;
    byId("rv-reading").textContent = item.word.romaji;
    byId("rv-parts").textContent = partsText(item.word.parts);
    byId("rv-meaning").textContent = item.word.english;
    ratingButtons.forEach((button) => {
      const due = item.intervals[button.dataset.rating];
      byId(`rv-interval-${button.dataset.rating}`).textContent = intervals.until(due, state.reference);
      button.title = `Comes back ${intervals.utc(due)}`;
    });
    byId("rv-back").hidden = true;
    byId("rv-flip").hidden = false;
    byId("rv-ratings").hidden = true;
    byId("rv-position").textContent = `Card ${state.index + 1} of ${state.items.length}`;
    showTally("rv", { done: state.index, total: state.items.length, right: state.right, wrong: state.wrong });
    showCounts();
    byId("rv-card").classList.remove("flipped");
    byId("rv-card").focus({ preventScroll: true });
    state.shownAt = Date.now();
  }

  function flip() {
    if (screens.phase !== "play" || state.flipped) return;
    state.flipped = true;
    byId("rv-back").hidden = false;
    byId("rv-card").classList.add("flipped");
    byId("rv-flip").hidden = true;
    byId("rv-ratings").hidden = false;
    byId("rv-card").focus({ preventScroll: true });
  }

  function rate(rating) {
    if (screens.phase !== "play" || !state.flipped) return;
    const item = state.items[state.index];
    const took = Math.min(Math.max(Math.round(Date.now() - state.shownAt), 0), MAX_DURATION_MS);
    state.saver.addReview({ word_id: item.word.id, rating, duration_ms: took });
    if (rating === "again") state.wrong += 1;
    else state.right += 1;
    if (item.card) state.due = Math.max(state.due - 1, 0);
    else state.fresh = Math.max(state.fresh - 1, 0);
    state.index += 1;
    if (state.index < state.items.length) {
      showCard();
    } else {
      showCounts();
      screens.show("saving");
      state.saver.finish();
    }
  }

  /** Every answer is saved: what is left in the group, and the way to go on. */
  async function showSummary() {
    const total = state.items.length;
    try {
      const { queue, reference } = await loadQueue(state.study.groupId, 1);
      byId("rv-summary-due").textContent = String(queue.due_count);
      byId("rv-summary-next").textContent = nextDueText(queue.next_due_at, reference) || "–";
      const more = byId("rv-more");
      more.href = window.location.href; // a new round in the same session
      more.hidden = queue.due_count + queue.new_count === 0;
    } catch (problem) {
      byId("rv-summary-next").textContent = problem.message;
    }
    byId("rv-next-group").hidden = false;
    screens.summary(state.right, state.wrong, total);
  }

  function showEmpty(queue, reference) {
    const name = state.study.group.group_name;
    const next = nextDueText(queue.next_due_at, reference);
    byId("rv-empty-text").textContent = next
      ? `Every card of “${name}” is done for now. The next one is due ${next}.`
      : `No card of “${name}” is scheduled yet, and today's new words are used up. Come back tomorrow.`;
    byId("rv-empty-group-link").href = `/portal/groups/${state.study.groupId}`;
    screens.show("empty");
    byId("rv-empty-title").focus();
  }

  function onKey(event) {
    if (screens.phase !== "play" || !plainKey(event)) return;
    if (flipKey(event, flip)) return;
    const button = ratingButtons.find((candidate) => candidate.dataset.key === event.key);
    if (button && state.flipped) {
      event.preventDefault();
      rate(button.dataset.rating);
    }
  }

  async function start() {
    const study = await launch("Review", screens);
    if (!study) return;
    state.study = study;
    let loaded;
    try {
      loaded = await loadQueue(study.groupId, QUEUE_LIMIT);
    } catch (problem) {
      screens.problem("The cards could not be loaded", problem.message);
      return;
    }
    const { queue, reference } = loaded;
    state.reference = reference;
    if (!queue.items.length) {
      showEmpty(queue, reference);
      return;
    }
    state.items = queue.items;
    state.due = queue.due_count;
    state.fresh = queue.new_count;
    state.saver = new ReviewSaver("rv", study.sessionId, showSummary, { batchSize: 1 });
    screens.show("play");
    showCard();
  }

  byId("rv-flip").addEventListener("click", flip);
  ratingButtons.forEach((button) => button.addEventListener("click", () => rate(button.dataset.rating)));
  document.addEventListener("keydown", onKey);
  start();
})();
