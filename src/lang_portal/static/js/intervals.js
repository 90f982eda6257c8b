/*
 * How long until a word comes back, in a few characters: "1m", "10m", "3h", "3d",
 * "1.5mo", "2y" (used by the Review activity on its rating buttons).
 *
 * Minutes, hours and days are whole; months (30.44 days) and years (365.25 days) keep
 * one decimal, without a trailing ".0". Anything under a minute and a half is "1m": the
 * shortest step FSRS schedules is a minute. Also a time in UTC as the pages print one.
 *
 * No DOM here: the module only adds LangPortal.intervals, so the tests can load it alone.
 */
"use strict";

(function () {
  const MINUTE = 60 * 1000;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;
  const MONTH = 30.44 * DAY;
  const YEAR = 365.25 * DAY;

  /** "1.5" or "2": one decimal, none when it is zero. */
  function oneDecimal(value) {
    return String(Math.round(value * 10) / 10);
  }

  /** The length of ``milliseconds`` in the largest unit that keeps it readable. */
  function text(milliseconds) {
    const length = Math.max(milliseconds, 0);
    if (Math.round(length / MINUTE) < 60) return `${Math.max(1, Math.round(length / MINUTE))}m`;
    if (Math.round(length / HOUR) < 24) return `${Math.round(length / HOUR)}h`;
    if (Math.round(length / DAY) < 30) return `${Math.round(length / DAY)}d`;
    if (Math.round((length / MONTH) * 10) < 120) return `${oneDecimal(length / MONTH)}mo`;
    return `${oneDecimal(length / YEAR)}y`;
  }

  /** The text for a due time (an RFC 3339 string) seen from ``now`` (milliseconds). */
  function until(due, now) {
    return text(Date.parse(due) - now);
  }

  /** "2026-11-22 10:15 UTC", the way the portal's pages print a time. */
  function utc(moment) {
    const iso = new Date(moment).toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
  }

  window.LangPortal = window.LangPortal || {};
  window.LangPortal.intervals = { text, until, utc };
})();
