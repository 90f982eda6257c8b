/*
 * The Kanji Match activity.
 *
 * Opened as /activities/kanji-match/?group_id=G&session_id=S. The group's words are
 * dealt into boards of up to BOARD_SIZE: a grid of kanji tiles and a grid of tiles that
 * each show the reading or the meaning of one of them. The learner picks a kanji and
 * then its partner (or the other way round), against a clock that runs for the whole
 * round. A wrong pair is a miss for the kanji picked; each word is one review, right
 * only if it was never mis-paired. Loading, saving in batches and the summary are
 * shared with the other activities (js/activity.js).
 */
"use strict";

(function () {
  const { byId, clockText, launch, plainKey, showTally, shuffle, ReviewSaver, Screens } = window.LangPortal.activity;
  const BOARD_SIZE = 6;
  const MISS_FLASH_MS = 600;
  const screens = new Screens("km", "km-activity", {
    loading: "km-loading",
    play: "km-play",
    saving: null,
    done: "km-summary",
    problem: "km-problem",
  });
  const kanjiGrid = byId("km-kanji-tiles");
  const answerGrid = byId("km-answer-tiles");

  const state = {
    boards: [],
    board: 0,
    total: 0,
    found: 0,
    right: 0,
    wrong: 0,
    missed: new Set(), // ids of words mis-paired at least once
    tiles: new Map(), // button -> {kind: "kanji", word} | {kind: "answer", mode, text}
    picked: null,
    startedAt: 0,
    clock: null,
    saver: null,
  };

  /** What a word's answer tile shows in ``mode``: its reading or its meaning. */
  function answerText(word, mode) {
    return mode === "reading" ? word.romaji : word.english;
  }

  /**
   * Deal the words into boards so that no board holds two tiles with the same text:
   * a tile's partner is then never in doubt (速い and 早い are both "hayai").
   */
  function dealBoards(words) {
    const boards = [];
    shuffle(words).forEach((word) => {
      const fits = (board) =>
        board.length < BOARD_SIZE &&
        board.every(
          (other) => other.kanji !== word.kanji && other.romaji !== word.romaji && other.english !== word.english,
        );
      const board = boards.find(fits);
      if (board) board.push(word);
      else boards.push([word]);
    });
    return boards;
  }

  function makeTile(label, data, isKanji) {
    const tile = document.createElement("button");
    tile.type = "button";
    tile.className = `tile${isKanji ? " tile-kanji" : ""}`;
    tile.textContent = label;
    if (isKanji) tile.lang = "ja";
    tile.setAttribute("aria-pressed", "false");
    state.tiles.set(tile, data);
    return tile;
  }

  function showBoard() {
    const words = state.boards[state.board];
    state.tiles.clear();
    state.picked = null;
    kanjiGrid.replaceChildren(...words.map((word) => makeTile(word.kanji, { kind: "kanji", word }, true)));
    // Half the partners show the reading, half the meaning, in an order of their own.
    const modes = shuffle(words.map((_, index) => (index % 2 ? "meaning" : "reading")));
    const answers = shuffle(
      words.map((word, index) => {
        const mode = modes[index];
        return makeTile(answerText(word, mode), { kind: "answer", mode, text: answerText(word, mode) }, false);
      }),
    );
    answerGrid.replaceChildren(...answers);
    byId("km-position").textContent = `Board ${state.board + 1} of ${state.boards.length}`;
    renderCounts();
    focusFirst(kanjiGrid);
  }

  function renderCounts() {
    showTally("km", { done: state.found, total: state.total, right: state.right, wrong: state.wrong });
  }

  function openTiles(grid) {
    return Array.from(grid.querySelectorAll(".tile:not([disabled])"));
  }

  function focusFirst(grid) {
    const [first] = openTiles(grid);
    if (first) first.focus({ preventScroll: true });
  }

  function setPicked(tile) {
    if (state.picked) state.picked.setAttribute("aria-pressed", "false");
    state.picked = tile;
    if (tile) tile.setAttribute("aria-pressed", "true");
  }

  function say(text, kind) {
    const status = byId("km-status");
    status.textContent = text;
    status.className = `match-status${kind ? ` ${kind}` : ""}`;
  }

  function pick(tile) {
    if (screens.phase !== "play" || tile.disabled) return;
    const picked = state.picked;
    if (picked === tile) {
      setPicked(null);
      return;
    }
    if (!picked || state.tiles.get(picked).kind === state.tiles.get(tile).kind) {
      setPicked(tile);
      // Move on to the other grid, so the keyboard needs no Tab to reach the partner.
      focusFirst(state.tiles.get(tile).kind === "kanji" ? answerGrid : kanjiGrid);
      return;
    }
    const [kanjiTile, answerTile] = state.tiles.get(picked).kind === "kanji" ? [picked, tile] : [tile, picked];
    setPicked(null);
    const { word } = state.tiles.get(kanjiTile);
    const { mode, text } = state.tiles.get(answerTile);
    if (answerText(word, mode) === text) matched(word, kanjiTile, answerTile);
    else mismatched(word, kanjiTile, answerTile);
  }

  function matched(word, kanjiTile, answerTile) {
    const correct = !state.missed.has(word.id);
    state.saver.add(word.id, correct);
    if (correct) state.right += 1;
    else state.wrong += 1;
    state.found += 1;
    [kanjiTile, answerTile].forEach((tile) => {
      tile.disabled = true;
      tile.classList.add("matched");
    });
    say(`Pair: ${word.kanji} · ${word.romaji} · ${word.english}`, "right");
    renderCounts();
    if (openTiles(kanjiGrid).length) {
      focusFirst(kanjiGrid);
      return;
    }
    state.board += 1;
    if (state.board < state.boards.length) showBoard();
    else finish();
  }

  function mismatched(word, kanjiTile, answerTile) {
    state.missed.add(word.id);
    say(`Not a pair: ${word.kanji} is not “${answerTile.textContent}”.`, "wrong");
    [kanjiTile, answerTile].forEach((tile) => {
      tile.classList.add("miss");
      window.setTimeout(() => tile.classList.remove("miss"), MISS_FLASH_MS);
    });
    kanjiTile.focus({ preventScroll: true });
  }

  function tickClock() {
    byId("km-clock").textContent = clockText(Date.now() - state.startedAt);
  }

  function finish() {
    window.clearInterval(state.clock);
    tickClock();
    byId("km-summary-time").textContent = byId("km-clock").textContent;
    screens.show("saving");
    state.saver.finish();
  }

  function moveFocus(event) {
    const grid = event.target.closest(".tile-grid");
    if (!grid) return false;
    const tiles = openTiles(grid);
    const index = tiles.indexOf(event.target);
    if (index < 0 || !tiles.length) return false;
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (step) {
      tiles[(index + step + tiles.length) % tiles.length].focus();
      return true;
    }
    if (event.key === "Home" || event.key === "End") {
      tiles[event.key === "Home" ? 0 : tiles.length - 1].focus();
      return true;
    }
    return false;
  }

  function onKey(event) {
    if (screens.phase !== "play" || !plainKey(event)) return;
    if (event.key === "Escape" && state.picked) {
      event.preventDefault();
      const kind = state.tiles.get(state.picked).kind;
      setPicked(null);
      focusFirst(kind === "kanji" ? kanjiGrid : answerGrid);
    } else if (moveFocus(event)) {
      event.preventDefault();
    }
  }

  function onClick(event) {
    const tile = event.target.closest(".tile");
    if (tile && state.tiles.has(tile)) pick(tile);
  }

  async function start() {
    const study = await launch("Kanji Match", screens);
    if (!study) return;
    state.saver = new ReviewSaver("km", study.sessionId, () =>
      screens.summary(state.right, state.wrong, state.total),
    );
    state.total = study.group.words.length;
    state.boards = dealBoards(study.group.words);
    state.startedAt = Date.now();
    state.clock = window.setInterval(tickClock, 1000);
    screens.show("play");
    showBoard();
  }

  kanjiGrid.addEventListener("click", onClick);
  answerGrid.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  start();
})();
