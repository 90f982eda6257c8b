/*
 * The Typing Tutor activity.
 *
 * Opened as /activities/typing-tutor/?group_id=G&session_id=S. It shows the English
 * meaning of each word of the group and the learner types its reading in romaji
 * (checked by js/romaji.js). A right answer moves on at once; a miss, or Esc, shows the
 * right answer until Enter. Each word is one review. Loading, saving in batches and the
 * summary are shared with the other activities (js/activity.js).
 */
"use strict";

(function () {
  const { byId, clockText, launch, plainKey, showTally, shuffle, ReviewSaver, Screens } = window.LangPortal.activity;
  const { isCorrect } = window.LangPortal.romaji;
  const screens = new Screens("tt", "tt-activity", {
    loading: "tt-loading",
    play: "tt-play",
    saving: null,
    done: "tt-summary",
    problem: "tt-problem",
  });
  const answer = byId("tt-answer");

  const state = { words: [], index: 0, missed: false, right: 0, wrong: 0, startedAt: 0, saver: null };

  function setVerdict(text, kind) {
    const verdict = byId("tt-verdict");
    verdict.textContent = text;
    verdict.className = `typing-verdict${kind ? ` ${kind}` : ""}`;
  }

  function showWord() {
    const word = state.words[state.index];
    state.missed = false;
    byId("tt-meaning").textContent = word.english;
    byId("tt-solution").hidden = true;
    byId("tt-check").hidden = false;
    byId("tt-reveal").hidden = false;
    byId("tt-next").hidden = true;
    byId("tt-position").textContent = `Word ${state.index + 1} of ${state.words.length}`;
    showTally("tt", { done: state.index, total: state.words.length, right: state.right, wrong: state.wrong });
    answer.readOnly = false;
    answer.value = "";
    answer.focus({ preventScroll: true });
  }

  function showSolution(word) {
    byId("tt-solution-kanji").textContent = word.kanji;
    byId("tt-solution-romaji").textContent = word.romaji;
    byId("tt-solution").hidden = false;
  }

  function record(correct) {
    state.saver.add(state.words[state.index].id, correct);
    if (correct) state.right += 1;
    else state.wrong += 1;
  }

  function next() {
    state.index += 1;
    if (state.index < state.words.length) {
      showWord();
      return;
    }
    byId("tt-summary-time").textContent = clockText(Date.now() - state.startedAt);
    screens.show("saving");
    state.saver.finish();
  }

  function miss(verdict) {
    const word = state.words[state.index];
    record(false);
    state.missed = true;
    answer.readOnly = true;
    setVerdict(verdict, "wrong");
    showSolution(word);
    byId("tt-check").hidden = true;
    byId("tt-reveal").hidden = true;
    byId("tt-next").hidden = false;
    byId("tt-wrong").textContent = String(state.wrong);
    answer.focus({ preventScroll: true });
  }

  function check(event) {
    if (event) event.preventDefault();
    if (screens.phase !== "play") return;
    if (state.missed) {
      next();
      return;
    }
    const word = state.words[state.index];
    const typed = answer.value.trim();
    if (!typed) {
      setVerdict("Type the reading in romaji, or press Esc to see the answer.", "");
      return;
    }
    if (isCorrect(word, typed)) {
      record(true);
      setVerdict(`Right: ${word.kanji} is ${word.romaji}.`, "right");
      next();
    } else {
      miss(`Not quite: “${typed}” is not the reading.`);
    }
  }

  function reveal() {
    if (screens.phase !== "play" || state.missed) return;
    miss("Here is the answer.");
  }

  function onKey(event) {
    if (screens.phase !== "play" || !plainKey(event)) return;
    if (event.key === "Escape") {
      event.preventDefault();
      reveal();
    }
  }

  async function start() {
    const study = await launch("Typing Tutor", screens);
    if (!study) return;
    state.saver = new ReviewSaver("tt", study.sessionId, () =>
      screens.summary(state.right, state.wrong, state.words.length),
    );
    state.words = shuffle(study.group.words);
    state.startedAt = Date.now();
    screens.show("play");
    setVerdict("", "");
    showWord();
  }

  byId("tt-form").addEventListener("submit", check);
  byId("tt-reveal").addEventListener("click", reveal);
  byId("tt-next").addEventListener("click", () => check());
  document.addEventListener("keydown", onKey);
  start();
})();
