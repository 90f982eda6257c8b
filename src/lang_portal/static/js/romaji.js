/*
 * Checking a typed romaji answer against a word (used by the Typing Tutor).
 *
 * A word's `parts` list, for each kanji or kana, the kana-by-kana romaji of its reading:
 * 話す is [{kanji: "話", romaji: ["ha", "na"]}, {kanji: "す", romaji: ["su"]}], so
 * "hanasu". Each of those syllables may be typed in any common romanisation (Hepburn
 * "shi", Kunrei "si", wāpuro "nn" for ん, a doubled consonant for っ), and the answer is
 * any sequence of such spellings, or the word's own `romaji`. Before comparing, both
 * sides lose case and spaces, and long vowels get one spelling: ā/â = aa, ī/î = ii,
 * ū/û = uu, ē/ê = ee, and ō/ô = ou = oo.
 *
 * No DOM here: the module only adds LangPortal.romaji, so the tests can load it alone.
 */
"use strict";

(function () {
  // Spellings of one syllable that name the same kana, in Hepburn, Kunrei and Nihon-shiki.
  const VARIANTS = [
    ["shi", "si"],
    ["chi", "ti"],
    ["tsu", "tu"],
    ["fu", "hu"],
    ["ji", "zi"],
    ["sha", "sya"],
    ["shu", "syu"],
    ["sho", "syo"],
    ["cha", "tya"],
    ["chu", "tyu"],
    ["cho", "tyo"],
    ["ja", "zya", "jya"],
    ["ju", "zyu", "jyu"],
    ["jo", "zyo", "jyo"],
  ];
  const SPELLINGS = new Map();
  VARIANTS.forEach((group) => group.forEach((spelling) => SPELLINGS.set(spelling, group)));
  const LONG_VOWELS = { ā: "aa", â: "aa", ī: "ii", î: "ii", ū: "uu", û: "uu", ē: "ee", ê: "ee", ō: "ou", ô: "ou" };
  const MAX_SPELLINGS = 4096; // a long word's variants multiply; past this, only the stored ones
  const VOWELS = "aiueo";

  /** The answer as compared: lower case, no spaces, one spelling per long vowel. */
  function normalise(text) {
    return String(text)
      .normalize("NFC")
      .toLowerCase()
      .replace(/\s+/g, "")
      .replace(/[āâīîūûēêōô]/g, (vowel) => LONG_VOWELS[vowel])
      .replace(/oo/g, "ou");
  }

  /** Every spelling of syllables[from:], built from the end; null when there are too many. */
  function spellingsFrom(syllables, from, memo) {
    if (from === syllables.length) return [""];
    if (memo.has(from)) return memo.get(from);
    const rest = spellingsFrom(syllables, from + 1, memo);
    if (rest === null) return null;
    const syllable = syllables[from];
    const result = new Set();
    rest.forEach((tail) => {
      if (syllable === "n") {
        // ん: n, nn or n', and m before b, m and p (shimbun).
        ["n", "nn", "n'"].forEach((spelling) => result.add(spelling + tail));
        if (/^[bmp]/.test(tail)) result.add(`m${tail}`);
      } else if (/^[bcdfghjkmprstwz]$/.test(syllable)) {
        // っ: the stored consonant, or a doubling of whatever consonant follows (icchi, itchi).
        result.add(syllable + tail);
        if (tail && !VOWELS.includes(tail[0])) result.add(tail[0] + tail);
      } else {
        (SPELLINGS.get(syllable) || [syllable]).forEach((spelling) => result.add(spelling + tail));
      }
    });
    const spellings = result.size > MAX_SPELLINGS ? null : Array.from(result);
    memo.set(from, spellings);
    return spellings;
  }

  /** The syllables of a word, from its parts (empty when it has none). */
  function syllablesOf(word) {
    const parts = Array.isArray(word.parts) ? word.parts : [];
    const syllables = [];
    parts.forEach((part) => {
      (Array.isArray(part.romaji) ? part.romaji : []).forEach((syllable) => {
        const text = String(syllable).toLowerCase().trim();
        if (text) syllables.push(text);
      });
    });
    return syllables;
  }

  /** The set of normalised answers accepted for a word. */
  function acceptedAnswers(word) {
    const accepted = new Set();
    if (word.romaji) accepted.add(normalise(word.romaji));
    const syllables = syllablesOf(word);
    if (syllables.length) {
      const spellings = spellingsFrom(syllables, 0, new Map());
      if (spellings === null) accepted.add(normalise(syllables.join("")));
      else spellings.forEach((spelling) => accepted.add(normalise(spelling)));
    }
    return accepted;
  }

  /** True when ``answer`` is a spelling of the word's reading. */
  function isCorrect(word, answer) {
    const typed = normalise(answer);
    return typed !== "" && acceptedAnswers(word).has(typed);
  }

  window.LangPortal = window.LangPortal || {};
  window.LangPortal.romaji = { normalise, acceptedAnswers, isCorrect };
})();
