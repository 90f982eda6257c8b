/*
 * The flashcards activity.
 *
 * Opened as /activities/flashcards/?group_id=G&session_id=S. It shows each kanji of the
 * group, flips to the reading and meaning (Space), and the learner marks it right (→)
 * or wrong (←). Loading, saving in batches and the summary are shared with the other
 * activities (js/activity.js).
 */
"use strict";

(function () {
  const { byId, flipKey, launch, partsText, plainKey, showTally, shuffle, ReviewSaver, Screens } = window.LangPortal.activity;
  const screens = new Screens("fc", "flashcards", {
    loading: "fc-loading",
    play: "fc-deck",
    saving: null,
    done: "fc-summary",
    problem: "fc-problem",
  });

  const state = { cards: [], index: 0, flipped: false, right: 0, wrong: 0, saver: null };

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
    showTally("fc", { done: state.index, total: state.cards.length, right: state.right, wrong: state.wrong });
    byId("fc-card").classList.remove("flipped");
    byId("fc-card").focus({ preventScroll: true });
  }

  function flip() {
    if (screens.phase !== "play" || state.flipped) return;
    state.flipped = true;
    byId("fc-back").hidden = false;
    byId("fc-card").classList.add("flipped");
    byId("fc-flip").hidden = true;
    byId("fc-right-button").hidden = false;
    byId("fc-wrong-button").hidden = false;
    byId("fc-card").focus({ preventScroll: true });
  }

  function mark(correct) {
    if (screens.phase !== "play" || !state.flipped) return;
    state.saver.add(state.cards[state.index].id, correct);
    if (correct) state.right += 1;
    else state.wrong += 1;
    state.index += 1;
    if (state.index < state.cards.length) {
      showCard();
    } else {
      screens.show("saving");
      state.saver.finish();
    }
  }

  function onKey(event) {
    if (screens.phase !== "play" || !plainKey(event)) return;
    if (flipKey(event, flip)) return;
    if (event.key === "ArrowRight" && state.flipped) {
      event.preventDefault();
      mark(true);
    } else if (event.key === "ArrowLeft" && state.flipped) {
      event.preventDefault();
      mark(false);
    }
  }

  async function start() {
    const study = await launch("Flashcards", screens);
    if (!study) return;
    state.saver = new ReviewSaver("fc", study.sessionId, () =>
      screens.summary(state.right, state.wrong, state.cards.length),
    );
    state.cards = shuffle(study.group.words);
    screens.show("play");
    showCard();
  }

  byId("fc-flip").addEventListener("click", flip);
  byId("fc-right-button").addEventListener("click", () => mark(true));
  byId("fc-wrong-button").addEventListener("click", () => mark(false));
  document.addEventListener("keydown", onKey);
  start();
})();
