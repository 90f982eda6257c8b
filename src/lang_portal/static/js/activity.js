/*
 * What every built-in study activity shares (Flashcards, Typing Tutor, Kanji Match, Review).
 *
 * An activity is opened as /activities/<name>/?group_id=G&session_id=S (the portal's
 * launch form adds both). LangPortal.activity.launch() reads those, loads the session
 * and the group's words through the API, checks that they belong together, and either
 * shows a problem in words or hands the words to the activity.
 *
 * ReviewSaver posts the answers in batches to /api/study-sessions/S/review. Each batch
 * gets its own Idempotency-Key, fixed with its contents before the first try, so a
 * retry after a lost answer replays instead of recording the reviews twice. Batches
 * are sent one at a time, in order; leaving the page sends what is left with keepalive.
 *
 * The page's sections follow one naming scheme, with a prefix per activity ("fc", "tt",
 * "km", "rv"): <prefix>-loading, -problem (-problem-title, -problem-text, -problem-link),
 * -summary (-summary-title, -summary-right, -summary-wrong, -summary-total,
 * -session-link, -group-link) and -save (-save-text, -save-retry); the templates build
 * them with the macros in templates/activities/_activity.html.
 */
"use strict";

(function () {
  const api = window.LangPortal;
  const byId = (id) => document.getElementById(id);

  /** A positive id from the query string, or null. */
  function parseId(raw) {
    if (!/^[1-9][0-9]{0,15}$/.test(raw || "")) return null;
    const value = Number(raw);
    return Number.isSafeInteger(value) ? value : null;
  }

  /** A shuffled copy (Fisher–Yates). */
  function shuffle(items) {
    const copy = items.slice();
    for (let i = copy.length - 1; i > 0; i -= 1) {
      const j = Math.floor(Math.random() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
  }

  /** "食 ta · べ be": a word's parts and their readings, or "" for a single part. */
  function partsText(parts) {
    if (!Array.isArray(parts) || parts.length < 2) return "";
    return parts
      .map((part) => `${part.kanji} ${Array.isArray(part.romaji) ? part.romaji.join("") : ""}`)
      .join(" · ");
  }

  /** "1:05": whole seconds as minutes and seconds. */
  function clockText(milliseconds) {
    const seconds = Math.max(0, Math.floor(milliseconds / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  /**
   * The visible sections of one activity page: one per phase, the others hidden.
   * ``root`` is the id of the element that holds them; ``sections`` maps each phase
   * (loading, play, saving, done, problem) to the id of its section, or to null.
   */
  class Screens {
    constructor(prefix, root, sections) {
      this.prefix = prefix;
      this.sections = sections;
      this.root = byId(root);
      this.phase = "loading";
    }

    show(phase) {
      this.phase = phase;
      this.root.dataset.state = phase;
      Object.entries(this.sections).forEach(([name, id]) => {
        if (id) byId(id).hidden = name !== phase;
      });
    }

    problem(title, text, link) {
      byId(`${this.prefix}-problem-title`).textContent = title;
      byId(`${this.prefix}-problem-text`).textContent = text;
      if (link) {
        byId(`${this.prefix}-problem-link`).href = link.href;
        byId(`${this.prefix}-problem-link`).textContent = link.label;
      }
      this.show("problem");
    }

    summary(right, wrong, total) {
      byId(`${this.prefix}-summary-right`).textContent = String(right);
      byId(`${this.prefix}-summary-wrong`).textContent = String(wrong);
      byId(`${this.prefix}-summary-total`).textContent = String(total);
      this.show("done");
      byId(`${this.prefix}-summary-title`).focus();
    }
  }

  /** Posts reviews in batches, each with its own Idempotency-Key, and shows how it goes. */
  class ReviewSaver {
    constructor(prefix, sessionId, onAllSaved, options = {}) {
      this.prefix = prefix;
      this.sessionId = sessionId;
      this.onAllSaved = onAllSaved;
      this.batchSize = options.batchSize || 10;
      this.attempts = options.attempts || 8;
      this.pending = []; // answers not yet in a batch
      this.outbox = []; // batches waiting to be saved: {key, reviews}
      this.saved = 0;
      this.sending = false;
      this.failure = null;
      this.finishing = false;
      this.done = false;
      byId(`${prefix}-save-retry`).addEventListener("click", () => this.retry());
      // Leaving mid-round: send what is not saved yet with keepalive, so it survives the
      // page. Each batch keeps its key, so if the regular request also lands, nothing doubles.
      window.addEventListener("pagehide", () => this.sendOnLeaving());
      // When saving is known to be failing, ask before the answers are thrown away.
      window.addEventListener("beforeunload", (event) => {
        if (this.failure && this.unsaved() > 0) {
          event.preventDefault();
          event.returnValue = ""; // older browsers need this to ask
        }
      });
    }

    get url() {
      return `/api/study-sessions/${this.sessionId}/review`;
    }

    /** Record one right or wrong answer; a full batch is sent at once. */
    add(wordId, isCorrect) {
      this.addReview({ word_id: wordId, is_correct: isCorrect });
    }

    /** Record one review item as the API takes it ({word_id, rating, duration_ms...}). */
    addReview(review) {
      this.pending.push(review);
      if (this.pending.length >= this.batchSize) this.queueBatch();
    }

    /** The round is over: send the rest, then call onAllSaved once everything is saved. */
    finish() {
      this.finishing = true;
      this.queueBatch();
      this.afterSave();
    }

    unsaved() {
      return this.pending.length + this.outbox.reduce((sum, batch) => sum + batch.reviews.length, 0);
    }

    queueBatch() {
      if (!this.pending.length) return;
      this.outbox.push({ key: api.newIdempotencyKey(), reviews: this.pending.splice(0) });
      this.pump();
    }

    async pump() {
      if (this.sending || this.failure) return;
      this.sending = true;
      try {
        while (this.outbox.length) {
          const batch = this.outbox[0];
          try {
            await api.postJson(
              this.url,
              { reviews: batch.reviews },
              {
                idempotencyKey: batch.key,
                attempts: this.attempts,
                onRetry: () => this.render("Connection trouble; still trying to save your answers…"),
              },
            );
          } catch (problem) {
            this.failure = problem; // the batch stays first in line, with its key
            return;
          }
          this.outbox.shift();
          this.saved += batch.reviews.length;
        }
      } finally {
        this.sending = false;
        this.afterSave();
      }
    }

    afterSave() {
      if (this.finishing && !this.done && !this.outbox.length && !this.pending.length) {
        this.done = true;
        this.onAllSaved();
      }
      this.render();
    }

    retry() {
      this.failure = null;
      this.render("Trying again…");
      this.pump();
    }

    render(message) {
      const text = byId(`${this.prefix}-save-text`);
      byId(`${this.prefix}-save`).classList.toggle("error", Boolean(this.failure));
      byId(`${this.prefix}-save-retry`).hidden = !this.failure;
      if (this.failure) {
        text.textContent = `${this.unsaved()} answers are not saved yet. ${this.failure.message}`;
      } else if (message) {
        text.textContent = message;
      } else if (this.done) {
        text.textContent = `All ${this.saved} answers are saved.`;
      } else if (this.finishing) {
        text.textContent = "Saving your answers…";
      } else {
        text.textContent = "";
      }
    }

    sendOnLeaving() {
      if (this.done) return;
      if (this.pending.length) {
        this.outbox.push({ key: api.newIdempotencyKey(), reviews: this.pending.splice(0) });
      }
      this.outbox.forEach((batch) => {
        fetch(this.url, {
          method: "POST",
          keepalive: true,
          headers: { "Content-Type": "application/json", "Idempotency-Key": batch.key },
          body: JSON.stringify({ reviews: batch.reviews }),
        }).catch(() => {});
      });
    }
  }

  /**
   * Read group_id and session_id, load the session and the group's words, and check
   * them. Resolves to {groupId, sessionId, group} when the activity can start, or to null
   * after showing what is wrong on ``screens``.
   */
  async function launch(name, screens) {
    const prefix = screens.prefix;
    const params = new URLSearchParams(window.location.search);
    const groupId = parseId(params.get("group_id"));
    const sessionId = parseId(params.get("session_id"));
    if (!groupId || !sessionId) {
      screens.problem(
        `Start ${name.toLowerCase()} from the portal`,
        `This activity needs a word group and a study session. Pick a group in the portal and start ${name} from there.`,
      );
      return null;
    }
    byId(`${prefix}-session-link`).href = `/portal/sessions/${sessionId}`;
    byId(`${prefix}-group-link`).href = `/portal/groups/${groupId}`;
    let session;
    let group;
    try {
      [session, group] = await Promise.all([
        api.getJson(`/api/study-sessions/${sessionId}?per_page=1`),
        api.getJson(`/api/groups/${groupId}/words/raw`),
      ]);
    } catch (problem) {
      const title = problem.status === 404 ? "This session or group does not exist" : "The words could not be loaded";
      screens.problem(title, problem.message);
      return null;
    }
    if (session.session.group_id !== groupId) {
      screens.problem(
        "This session belongs to another group",
        `Session ${sessionId} was started for “${session.session.group_name}”. Start ${name} again from the group you want to study.`,
      );
      return null;
    }
    byId("group-name").textContent = `· ${group.group_name}`;
    document.title = `${name} · ${group.group_name} · lang-portal`;
    if (!group.words.length) {
      screens.problem(
        "This group has no words yet",
        `“${group.group_name}” is empty, so there is nothing to study. Add words to it, then start again.`,
        { href: `/portal/groups/${groupId}`, label: "Back to the group" },
      );
      return null;
    }
    return { groupId, sessionId, group };
  }

  /**
   * Show how far the learner is in the deck-status block every activity page has: the
   * progress bar (``done`` of ``total``) and the right and wrong tallies.
   */
  function showTally(prefix, { done, total, right, wrong }) {
    const progress = byId(`${prefix}-progress`);
    progress.max = total;
    progress.value = done;
    byId(`${prefix}-right`).textContent = String(right);
    byId(`${prefix}-wrong`).textContent = String(wrong);
  }

  /** True for a key press the activity may take (no modifier held). */
  function plainKey(event) {
    return !(event.altKey || event.ctrlKey || event.metaKey);
  }

  // Space, and Enter away from any control, flip a card; on a focused button Space and
  // Enter press that button, so those are left to the browser. True when handled.
  function flipKey(event, flip) {
    const onControl = event.target.closest && event.target.closest("button, a, input, select, textarea");
    if (!(event.key === " " || event.key === "Spacebar" || (event.key === "Enter" && !onControl))) {
      return false;
    }
    if (!onControl) {
      event.preventDefault();
      flip();
    }
    return true;
  }

  window.LangPortal.activity = {
    byId,
    clockText,
    launch,
    parseId,
    partsText,
    plainKey,
    flipKey,
    showTally,
    shuffle,
    ReviewSaver,
    Screens,
  };
})();
